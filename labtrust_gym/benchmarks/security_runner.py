"""Security suite providers: ``register_security_suite_provider(provider_id, provider)``.

A provider offers ``load_suite(policy_root, partner_id) -> dict`` and
``run_suite(policy_root, repo_root, ...) -> list[dict]``; it may be registered as an instance, a
class or a zero-argument factory (resolved once, then checked for both methods). A lab profile
selects one with ``security_suite_provider_id``. Replacing the default provider can weaken the
evidence a run produces, so overrides should be audited.
"""

from __future__ import annotations

from typing import Any

from labtrust_gym.plugins import registry


def register_security_suite_provider(
    provider_id: str, provider: Any, *, replace: bool = False
) -> None:
    """Register a security suite provider (instance, class or factory)."""
    registry("security_suite_providers").register(provider_id, provider, replace=replace)


def get_security_suite_provider(provider_id: str) -> Any:
    """The resolved provider instance registered as ``provider_id``."""
    return registry("security_suite_providers").get(provider_id)


def list_security_suite_providers() -> list[str]:
    """Registered security suite provider ids, sorted."""
    return registry("security_suite_providers").ids()
