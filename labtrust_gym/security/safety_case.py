"""Safety case providers: ``register_safety_case_provider(provider_id, provider)``.

A provider offers ``load_claims(policy_root) -> dict`` and ``build_safety_case(policy_root) ->
dict``; instance, class or zero-argument factory, resolved once and checked for both methods.
A lab profile selects one with ``safety_case_provider_id``.
"""

from __future__ import annotations

from typing import Any

from labtrust_gym.plugins import registry


def register_safety_case_provider(
    provider_id: str, provider: Any, *, replace: bool = False
) -> None:
    """Register a safety case provider (instance, class or factory)."""
    registry("safety_case_providers").register(provider_id, provider, replace=replace)


def get_safety_case_provider(provider_id: str) -> Any:
    """The resolved provider instance registered as ``provider_id``."""
    return registry("safety_case_providers").get(provider_id)


def list_safety_case_providers() -> list[str]:
    """Registered safety case provider ids, sorted."""
    return registry("safety_case_providers").ids()
