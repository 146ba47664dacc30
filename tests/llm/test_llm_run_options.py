"""How a run's ``--llm-*`` options reach (or are refused before) an LLM method: replay keyed by
model and backend, a record file that must be new, configuration errors that stop the run, a
price table that must load, and options a method without LLM calls refuses (review of issue 14).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labtrust_gym.cli import main
from tests.llm.conftest import needs_openai

COMMON = ["run-benchmark", "--task", "coord_scale", "--coord-method", "llm_central_planner",
          "--scale", "small_smoke", "--quiet"]


def test_replay_is_keyed_by_model_and_backend_and_a_record_file_must_be_new(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = tmp_path / "calls.jsonl"
    first, second = tmp_path / "recorded.json", tmp_path / "replayed.json"
    heuristic = [*COMMON, "--llm-backend", "heuristic"]
    assert main([*heuristic, "--llm-record", str(record), "--out", str(first)]) == 0
    doc = json.loads(first.read_text())
    assert doc["config"]["llm"] == {"backend": "heuristic", "model": None}
    request = json.loads(record.read_text().splitlines()[0])["request"]
    assert request["metadata"]["backend"] == "heuristic" and request["model"] is None
    # recording again into the same file is refused before anything is appended
    size = record.stat().st_size
    capsys.readouterr()
    assert main([*heuristic, "--llm-record", str(record), "--out", str(second)]) == 2
    assert "choose a new file or delete it" in capsys.readouterr().err
    assert record.stat().st_size == size and not second.exists()
    # replay without --llm-backend uses the recorded backend: byte-identical results
    assert main([*COMMON, "--llm-replay", str(record), "--out", str(second)]) == 0
    assert first.read_bytes() == second.read_bytes()
    # another model (or backend) is another request: the replay has no answer for it
    capsys.readouterr()
    other = tmp_path / "other.json"
    code = main([*COMMON, "--llm-replay", str(record), "--llm-model", "other-model",
                 "--out", str(other)])
    assert code == 2 and "has no answer for request hash" in capsys.readouterr().err
    assert not other.exists()


def test_a_record_directory_suggests_a_jsonl_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    code = main([*COMMON, "--llm-record", str(tmp_path), "--out", str(tmp_path / "r.json")])
    err = capsys.readouterr().err
    assert code == 2 and "llm_calls.jsonl" in err and "results.json" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--llm-backend", "nosuch"], "nosuch"),
        (["--coord-method", "scripted", "--llm-record", "{tmp}/r.jsonl"],
         "coordination method 'scripted' makes no LLM calls; drop --llm-record"),
        (["--coord-method", "kernel_whca", "--llm-backend", "openai_compatible"],
         "makes no LLM calls; drop --llm-backend"),
        (["--llm-model", "m"], "add --coord-method"),
    ],
)
def test_llm_options_a_run_cannot_use_are_refused(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.json"
    args = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    capsys.readouterr()
    code = main(["run-benchmark", "--task", "throughput_sla", "--quiet", *args, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and message.lower() in err.lower(), err
    assert not out.exists() and not (tmp_path / "r.jsonl").exists()


def test_an_invalid_price_table_stops_the_run_a_missing_one_makes_cost_unknown(
    tmp_path: Path,
) -> None:
    from labtrust_gym.baselines.coordination.methods.llm_base import price_table
    from labtrust_gym.config import get_repo_root
    from labtrust_gym.errors import LabTrustError

    assert price_table(get_repo_root()) is not None
    prices = tmp_path / "policy" / "llm" / "prices.v0.1.yaml"
    prices.parent.mkdir(parents=True)
    prices.write_text("currency: USD\nmodels: {m: {prompt_per_1k: -1}}\n")
    with pytest.raises(LabTrustError, match="prices"):
        price_table(tmp_path)
    prices.write_text("currency: [USD\n")
    with pytest.raises(LabTrustError, match="prices"):
        price_table(tmp_path)


def test_a_missing_price_table_makes_cost_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    from labtrust_gym.baselines.coordination.methods import llm_base

    monkeypatch.setattr("labtrust_gym.llm.metrics.PRICES_FILE", ("llm", "no_such_prices.yaml"))
    assert llm_base.price_table(None) is None


@needs_openai
def test_a_refused_key_is_a_configuration_error_not_results(
    chat_server: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LABTRUST_LLM_BASE_URL", chat_server)
    out = tmp_path / "r.json"
    capsys.readouterr()
    code = main([*COMMON, "--llm-backend", "openai_compatible", "--llm-model", "401",
                 "--allow-network", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "(auth)" in err and "401" in err, err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


@needs_openai
def test_failed_calls_are_counted_by_kind_and_an_all_failed_episode_warns(
    chat_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labtrust_gym.benchmarks.runner import run_benchmark

    monkeypatch.setenv("LABTRUST_LLM_BASE_URL", chat_server)
    monkeypatch.setenv("LABTRUST_LLM_MAX_RETRIES", "0")
    with pytest.warns(UserWarning, match="every one of the episode's"):
        doc = run_benchmark(
            "coord_scale", 1, 1, tmp_path / "r.json", coord_method="llm_central_planner",
            scale="small_smoke", proposal_backend="openai_compatible",
            llm_settings={"model": "500-always", "allow_network": True},
        )
    m = doc["episodes"][0]["metrics"]
    assert m["llm_errors"] == m["llm_calls"] > 0
    assert m["llm_errors_by_kind"] == {"server_error": m["llm_calls"]}
    assert doc["config"]["llm"] == {"backend": "openai_compatible", "model": "500-always"}
