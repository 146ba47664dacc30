"""The ``labtrust`` command line."""
