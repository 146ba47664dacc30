"""Per-episode LLM call metrics: counts, tokens, cost, latency, deterministic summaries."""

from __future__ import annotations

from pathlib import Path

import pytest

from labtrust_gym.errors import LLMBackendError, LLMReplayError, SchemaValidationError
from labtrust_gym.fileio import canonical_json
from labtrust_gym.llm.contract import build_response
from labtrust_gym.llm.metrics import (
    WALL_CLOCK_FIELDS,
    LLMCallMetrics,
    ModelPrice,
    PriceTable,
    load_price_table,
    percentile,
)
from tests.llm.conftest import EchoBackend, request

PRICES = PriceTable(currency="USD", models={"echo-1": ModelPrice(0.5, 2.0)})


def _answer(text: str, *, model: str = "echo-1", tokens: tuple[int, int] | None = (1000, 500),
            latency: float = 0.1) -> object:
    prompt, completion = tokens if tokens else (None, None)
    return build_response(request(), text, backend_id="b", model=model, prompt_tokens=prompt,
                          completion_tokens=completion, latency_s=latency)


def test_calls_tokens_cost_and_errors_are_counted() -> None:
    meter = LLMCallMetrics(PRICES)
    backend = EchoBackend()
    meter.complete(backend, request("MOVE"))
    meter.complete(backend, request('{"reason": "no action"}'))  # schema violation
    with pytest.raises(LLMBackendError):
        meter.complete(backend, request("fail"))  # counted, then re-raised
    meter.record_error(LLMReplayError("no answer"))
    summary = meter.summary()
    assert summary["llm_calls"] == 4 and summary["llm_answers"] == 2
    assert summary["llm_errors"] == 2
    assert summary["llm_errors_by_kind"] == {"replay": 1, "server_error": 1}
    assert (summary["llm_invalid_answers"], summary["llm_invalid_answer_rate"]) == (1, 0.5)
    assert (summary["llm_prompt_tokens"], summary["llm_completion_tokens"]) == (6, 4)
    assert summary["llm_cost"] == pytest.approx(2 * (3 * 0.5 + 2 * 2.0) / 1000)
    assert summary["llm_cost_currency"] == "USD" and summary["llm_cost_note"] is None


def test_unknown_cost_is_null_with_a_note_never_zero() -> None:
    meter = LLMCallMetrics(PRICES)
    meter.record(_answer('{"action": "MOVE"}'))
    meter.record(_answer('{"action": "MOVE"}', model="mystery-7b"))
    summary = meter.summary()
    assert summary["llm_cost"] is None
    assert summary["llm_cost_note"] == "no price for model(s) mystery-7b"
    meter = LLMCallMetrics(PRICES)
    meter.record(_answer('{"action": "MOVE"}', tokens=None))
    assert meter.summary()["llm_cost"] is None
    assert "token counts not reported for 1 answer(s)" in meter.summary()["llm_cost_note"]
    meter = LLMCallMetrics()
    meter.record(_answer('{"action": "MOVE"}'))
    assert (meter.summary()["llm_cost"], meter.summary()["llm_cost_note"]) == (
        None, "no price table")
    assert LLMCallMetrics().summary()["llm_cost"] == 0.0  # no calls, nothing spent


def test_latency_percentiles_are_wall_clock_and_excluded_when_deterministic() -> None:
    fast, slow = LLMCallMetrics(PRICES), LLMCallMetrics(PRICES)
    for index in range(20):
        fast.record(_answer('{"action": "MOVE"}', latency=0.01 * (index + 1)))
        slow.record(_answer('{"action": "MOVE"}', latency=1.0 * (index + 1)))
    assert canonical_json(fast.summary()) == canonical_json(slow.summary())
    assert all(fast.summary()[field] is None for field in WALL_CLOCK_FIELDS)
    timed = fast.summary(deterministic=False)
    assert (timed["llm_latency_p50_s"], timed["llm_latency_p95_s"]) == (
        pytest.approx(0.10), pytest.approx(0.19))


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0], 95) == 3.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.0
    assert percentile([float(v) for v in range(1, 101)], 95) == 95.0


def test_price_table_ships_validated(tmp_path: Path) -> None:
    table = load_price_table()
    assert table.currency == "USD" and table.cost("gpt-4o-mini", 1000, 1000) == pytest.approx(
        0.00075)
    assert table.cost("unknown", 10, 10) is None and table.cost("gpt-4o", None, 10) is None
    (tmp_path / "llm").mkdir()
    (tmp_path / "schemas").mkdir()
    shipped = Path(__file__).resolve().parents[2] / "policy"
    (tmp_path / "schemas" / "llm_prices.v0.1.schema.json").write_bytes(
        (shipped / "schemas" / "llm_prices.v0.1.schema.json").read_bytes())
    (tmp_path / "llm" / "prices.v0.1.yaml").write_text(
        'version: "0.1"\ncurrency: USD\nmodels:\n  m: {prompt_per_1k: -1, completion_per_1k: 0}\n')
    with pytest.raises(SchemaValidationError, match="models/m/prompt_per_1k"):
        load_price_table(tmp_path)
