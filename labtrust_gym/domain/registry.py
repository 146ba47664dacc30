"""Domain registry: ``register_domain(id, factory)``; the default domain is ``hospital_lab``.

A factory is ``factory(workflow_spec, config) -> LabTrustEnvAdapter``. Thin façade over the
plugin manager (``labtrust_gym.plugins``), so domains from entry points (``labtrust_gym.domains``),
plugin modules and runtime calls are listed and resolved alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from labtrust_gym.plugins import registry

DEFAULT_DOMAIN_ID = "hospital_lab"

DomainFactory = Callable[[Any, Any], Any]


def register_domain(domain_id: str, factory: DomainFactory, *, replace: bool = False) -> None:
    """Register a domain adapter factory under ``domain_id``."""
    registry("domains").register(domain_id, factory, replace=replace)


def get_domain_adapter_factory(domain_id: str = DEFAULT_DOMAIN_ID) -> DomainFactory:
    """The factory registered as ``domain_id`` (``UnknownIdError`` lists the known ids)."""
    factory: DomainFactory = registry("domains").get(domain_id)
    return factory


def list_domains() -> list[str]:
    """Registered domain ids, sorted."""
    return registry("domains").ids()
