"""LabTrust-Gym: a multi-agent hospital-laboratory benchmark built as a pluggy platform."""

__version__ = "0.1.0"

__all__ = ["__version__"]
