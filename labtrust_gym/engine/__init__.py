"""The hospital_lab simulation engine (see docs/engine.md).

Attributes are loaded lazily so that importing a light submodule (the built-in plugin, the
invariant handlers) does not pull numpy or the engine core.
"""

from __future__ import annotations

from typing import Any

__all__ = ["HospitalLabEngine", "default_initial_state", "verify_chain"]


def __getattr__(name: str) -> Any:
    if name == "HospitalLabEngine":
        from labtrust_gym.engine.core import HospitalLabEngine

        return HospitalLabEngine
    if name == "default_initial_state":
        from labtrust_gym.engine.initial_state import default_initial_state

        return default_initial_state
    if name == "verify_chain":
        from labtrust_gym.engine.hashchain import verify_chain

        return verify_chain
    raise AttributeError(f"module 'labtrust_gym.engine' has no attribute {name!r}")
