"""The domain adapter contract (``LabTrustEnvAdapter``) and the step-result shape.

A domain factory ``factory(workflow_spec, config)`` returns an object satisfying
``LabTrustEnvAdapter``. ``step`` returns a ``StepResult`` dict (the runner output contract);
``step_batch`` must mean exactly "step each event in order".
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, TypedDict, runtime_checkable


class Violation(TypedDict):
    invariant_id: str
    status: Literal["PASS", "VIOLATION"]
    reason_code: str | None


class HashChainState(TypedDict):
    head_hash: str
    length: int
    last_event_hash: str | None


class StepResult(TypedDict):
    """What ``step`` returns. ``blocked_reason_code`` is set exactly when ``status`` is BLOCKED,
    and a BLOCKED step changes no state."""

    event_id: str | None
    status: Literal["ACCEPTED", "BLOCKED"]
    emits: list[str]
    violations: list[Violation]
    blocked_reason_code: str | None
    token_consumed: list[str]
    hashchain: HashChainState


STEP_RESULT_KEYS = frozenset(StepResult.__annotations__)


@runtime_checkable
class LabTrustEnvAdapter(Protocol):
    """What a domain provides to the environments and the runner."""

    def reset(
        self, initial_state: dict[str, Any] | None, *, deterministic: bool = True, rng_seed: int = 0
    ) -> Any:
        """Start an episode from ``initial_state`` (None = the domain's default)."""

    def step(self, event: dict[str, Any]) -> StepResult:
        """Apply one event; bad input is BLOCKED with a reason code, never raised."""

    def step_batch(self, events: list[dict[str, Any]]) -> list[StepResult]:
        """Same semantics as ``[step(e) for e in events]``."""

    def query(self, expr: str) -> Any:
        """Answer a read-only query; an unknown query raises ``LabTrustError``."""


def step_batch_fallback(adapter: Any, events: list[dict[str, Any]]) -> list[Any]:
    """``step_batch`` for adapters that only implement ``step``."""
    batch = getattr(adapter, "step_batch", None)
    if batch is not None:
        return list(batch(events))
    return [adapter.step(e) for e in events]
