"""A worked LabTrust-Gym extension: one task, ``example_task``, declared by entry point."""
