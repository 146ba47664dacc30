"""Coordination method registry: ``register_coordination_method(method_id, factory)``.

A factory is ``factory(policy, repo_root, scale_config, params) -> CoordinationMethod`` (its four
positional parameters may have any names). Thin façade over the plugin manager; entry-point group
``labtrust_gym.coordination_methods``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from labtrust_gym.plugins import registry

CoordinationFactory = Callable[..., Any]


def register_coordination_method(
    method_id: str, factory: CoordinationFactory, *, replace: bool = False
) -> None:
    """Register a coordination method factory under ``method_id``."""
    registry("coordination_methods").register(method_id, factory, replace=replace)


def get_coordination_method_factory(method_id: str) -> CoordinationFactory:
    """The factory registered as ``method_id`` (``UnknownIdError`` lists the known ids)."""
    factory: CoordinationFactory = registry("coordination_methods").get(method_id)
    return factory


def list_coordination_methods() -> list[str]:
    """Registered coordination method ids, sorted."""
    return registry("coordination_methods").ids()
