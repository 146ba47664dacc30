"""A worked LabTrust-Gym plugin that implements several hooks from one module (``plugin``)."""
