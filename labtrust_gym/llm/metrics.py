"""Per-episode LLM call metrics and the price table (``policy/llm/prices.v0.1.yaml``).

:class:`LLMCallMetrics` accumulates one episode's calls: answers, errors by kind, tokens, cost,
invalid answers, repairs and latency. :meth:`LLMCallMetrics.summary` returns the ``llm_*``
metrics; with ``deterministic=True`` (the default, as for results files) the wall-clock fields
:data:`WALL_CLOCK_FIELDS` are ``None`` so the summary is byte-identical across runs.

Cost uses the price table, keyed by model, per 1,000 tokens. A model with no price, or an answer
whose server reported no token counts, makes the cost ``None`` with a note saying why — an
unknown cost is never reported as 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from labtrust_gym.errors import LLMError
from labtrust_gym.llm.contract import LLMRequest, LLMResponse
from labtrust_gym.llm.registry import LLMBackend, complete_checked

PRICES_FILE = ("llm", "prices.v0.1.yaml")
PRICES_SCHEMA = ("schemas", "llm_prices.v0.1.schema.json")
#: Summary fields measured on the wall clock: ``None`` in deterministic mode.
WALL_CLOCK_FIELDS = ("llm_latency_p50_s", "llm_latency_p95_s")


@attrs.frozen
class ModelPrice:
    prompt_per_1k: float
    completion_per_1k: float


@attrs.frozen
class PriceTable:
    """Prices per 1,000 tokens, keyed by the model name a server reports."""

    currency: str
    models: Mapping[str, ModelPrice]
    source: str | None = None

    def cost(
        self, model: str | None, prompt_tokens: int | None, completion_tokens: int | None
    ) -> float | None:
        """The cost of one answer, or ``None`` when the model or the token counts are unknown."""
        price = self.models.get(model) if model is not None else None
        if price is None or prompt_tokens is None or completion_tokens is None:
            return None
        return (
            prompt_tokens * price.prompt_per_1k + completion_tokens * price.completion_per_1k
        ) / 1000.0


def load_price_table(root: Path | str | None = None) -> PriceTable:
    """Read and validate ``policy/llm/prices.v0.1.yaml`` under the policy root ``root``."""
    from labtrust_gym.config import get_repo_root, policy_path
    from labtrust_gym.fileio import load_yaml, validate_with_schema

    base = root if root is not None else get_repo_root()
    path = policy_path(base, *PRICES_FILE)
    document = load_yaml(path)
    validate_with_schema(document, policy_path(base, *PRICES_SCHEMA), what=str(path))
    models = {
        name: ModelPrice(float(entry["prompt_per_1k"]), float(entry["completion_per_1k"]))
        for name, entry in sorted(document["models"].items())
    }
    return PriceTable(currency=document["currency"], models=models, source=str(path))


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (``None`` for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class LLMCallMetrics:
    """One episode's LLM calls. Use :meth:`complete` to call a backend and count the call."""

    def __init__(self, prices: PriceTable | None = None) -> None:
        self.prices = prices
        self.answers = 0
        self.invalid_answers = 0
        self.repairs = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.tokens_unreported = 0
        self.errors_by_kind: dict[str, int] = {}
        self.latencies: list[float] = []
        self._costs: list[float] = []
        self._unpriced: set[str] = set()

    def complete(self, backend: LLMBackend, request: LLMRequest) -> LLMResponse:
        """``backend.complete(request)``, counted; an error is counted, then re-raised."""
        try:
            response = complete_checked(backend, request)
        except LLMError as exc:
            self.record_error(exc)
            raise
        self.record(response)
        return response

    def record(self, response: LLMResponse) -> None:
        self.answers += 1
        self.repairs += response.repairs
        if not response.valid:
            self.invalid_answers += 1
        self.latencies.append(response.latency_s)
        if response.prompt_tokens is None or response.completion_tokens is None:
            self.tokens_unreported += 1
        else:
            self.prompt_tokens += response.prompt_tokens
            self.completion_tokens += response.completion_tokens
        cost = (
            self.prices.cost(response.model, response.prompt_tokens, response.completion_tokens)
            if self.prices is not None
            else None
        )
        if cost is not None:
            self._costs.append(cost)
        elif self.prices is not None and response.model not in self.prices.models:
            self._unpriced.add(str(response.model))

    def record_error(self, error: LLMError) -> None:
        kind = error.error_kind
        self.errors_by_kind[kind] = self.errors_by_kind.get(kind, 0) + 1

    def summary(self, *, deterministic: bool = True) -> dict[str, Any]:
        """The ``llm_*`` metrics (wall-clock fields ``None`` when ``deterministic``)."""
        errors = sum(self.errors_by_kind.values())
        notes = []
        if self.prices is None:
            notes.append("no price table")
        if self._unpriced:
            notes.append(f"no price for model(s) {', '.join(sorted(self._unpriced))}")
        if self.tokens_unreported:
            notes.append(f"token counts not reported for {self.tokens_unreported} answer(s)")
        if not self.answers:
            cost: float | None = 0.0  # nothing was answered, nothing was spent
        else:
            cost = None if notes else math.fsum(self._costs)
        return {
            "llm_calls": self.answers + errors,
            "llm_answers": self.answers,
            "llm_errors": errors,
            "llm_errors_by_kind": dict(sorted(self.errors_by_kind.items())),
            "llm_invalid_answers": self.invalid_answers,
            "llm_invalid_answer_rate": (
                self.invalid_answers / self.answers if self.answers else None
            ),
            "llm_repairs": self.repairs,
            "llm_prompt_tokens": self.prompt_tokens,
            "llm_completion_tokens": self.completion_tokens,
            "llm_cost": cost,
            "llm_cost_currency": self.prices.currency if self.prices is not None else None,
            "llm_cost_note": "; ".join(notes) if notes and self.answers else None,
            "llm_latency_p50_s": None if deterministic else percentile(self.latencies, 50),
            "llm_latency_p95_s": None if deterministic else percentile(self.latencies, 95),
        }
