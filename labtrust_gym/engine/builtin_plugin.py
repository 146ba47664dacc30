"""The engine's built-in plugin: the ``hospital_lab`` domain and the built-in invariant handlers.

Listed in ``labtrust_gym.plugins.BUILTIN_PLUGINS``. Nothing heavy is imported at module scope
(numpy and the engine load only when the domain factory is called).
"""

from __future__ import annotations

from typing import Any

from labtrust_gym.hookspecs import Register, hookimpl


def hospital_lab_factory(workflow_spec: Any = None, config: Any = None) -> Any:
    """``factory(workflow_spec, config) -> HospitalLabEngine`` (registered as ``hospital_lab``)."""
    from labtrust_gym.engine.core import HospitalLabEngine

    return HospitalLabEngine(workflow_spec, config)


@hookimpl
def labtrust_register_domains(register: Register) -> None:
    register("hospital_lab", hospital_lab_factory)


@hookimpl
def labtrust_register_invariant_handlers(register: Register) -> None:
    from labtrust_gym.engine.builtin_invariants import BUILTIN_HANDLERS

    for key, handler in BUILTIN_HANDLERS.items():
        register(key, handler)
