"""An LLM coordination method against the scripted chat-completions server, end to end:
``openai_compatible`` over loopback HTTP, invalid answers counted, record then replay giving a
byte-identical results file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labtrust_gym.cli import main
from tests.llm.conftest import needs_openai


@needs_openai
@pytest.mark.slow
def test_openai_compatible_against_the_test_server_records_and_replays_byte_identically(
    chat_server: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LABTRUST_LLM_BASE_URL", chat_server)
    common = ["run-benchmark", "--task", "coord_scale", "--coord-method", "llm_central_planner",
              "--llm-backend", "openai_compatible", "--llm-model", "lab-mixed:e2e",
              "--scale", "small_smoke", "--quiet"]
    record = tmp_path / "calls.jsonl"
    first, second = tmp_path / "recorded.json", tmp_path / "replayed.json"
    code = main([*common, "--allow-network", "--llm-record", str(record), "--out", str(first)])
    assert code == 0, capsys.readouterr()
    m = json.loads(first.read_text())["episodes"][0]["metrics"]
    assert m["llm_calls"] == m["steps"] == len(record.read_text().splitlines())
    assert m["llm_invalid_answers"] == m["steps"] // 3  # every third answer is malformed
    assert m["llm_tokens_in"] > 0 and m["llm_latency_p95_ms"] >= m["llm_latency_p50_ms"] > 0
    # the server answered with work actions the masks allowed: something was done
    assert m["coord_idle_rate"] < 1.0
    monkeypatch.setenv("LABTRUST_LLM_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens
    code = main([*common, "--llm-replay", str(record), "--out", str(second)])
    assert code == 0, capsys.readouterr()
    assert first.read_bytes() == second.read_bytes()
