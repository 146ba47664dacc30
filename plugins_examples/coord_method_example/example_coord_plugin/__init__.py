"""A worked LabTrust-Gym extension: the coordination method ``example_noop_coord``."""
