"""Coordination methods from the command line: listing, doctor, run options, the warning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from labtrust_gym.baselines.coordination.builtin_plugin import BUILTIN_METHODS
from labtrust_gym.cli import main
from labtrust_gym.testing import registered


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_id_class_and_description(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run(capsys, "list", "coordination-methods")
    assert code == 0
    rows = {line.split("\t")[0]: line.split("\t") for line in out.splitlines()}
    assert set(BUILTIN_METHODS) <= set(rows)
    assert rows["kernel_whca"][1] == "kernel"
    assert "reservation table" in rows["kernel_whca"][2]
    assert rows["noop"][1] == "reference"
    code, out, _err = run(capsys, "list", "coordination-methods", "--json")
    entry = next(r for r in json.loads(out) if r["id"] == "centralized_planner")
    assert entry["scale_capable"] is True and entry["max_agents"] == 500


def _raising(policy: Any, root: Any, scale: Any, params: Any) -> Any:
    raise RuntimeError("no lab for me")


def _not_a_method(policy: Any, root: Any, scale: Any, params: Any) -> Any:
    return {"not": "a method"}


def test_doctor_builds_every_method_and_reports_bad_factories(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _err = run(capsys, "plugins", "doctor")
    assert code == 0, out
    with registered("coordination_methods", "raising_method", _raising), registered(
        "coordination_methods", "dict_method", _not_a_method
    ):
        code, out, _err = run(capsys, "plugins", "doctor")
    assert code == 1
    problems = [line for line in out.splitlines() if line.startswith("PROBLEM")]
    assert any("'raising_method'" in p and "RuntimeError: no lab for me" in p for p in problems)
    assert any("'dict_method'" in p and "returned a dict, which lacks" in p for p in problems)


def test_doctor_reports_a_policy_entry_without_a_factory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layer = tmp_path / "policy" / "coordination"
    layer.mkdir(parents=True)
    shipped = Path(__file__).resolve().parents[2] / "policy" / "coordination"
    text = (shipped / "coordination_methods.v0.1.yaml").read_text()
    text += "  - {method_id: sealed_lottery, description: not wired yet}\n"
    (layer / "coordination_methods.v0.1.yaml").write_text(text)
    monkeypatch.setenv("LABTRUST_POLICY_DIR", str(tmp_path / "policy"))
    code, out, _err = run(capsys, "plugins", "doctor")
    assert code == 1
    assert "entry 'sealed_lottery' names a coordination method no plugin registers" in out


def test_run_benchmark_options_reach_the_factory_and_warn_when_nothing_is_released(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "noop.json"
    code, _out, err = run(
        capsys, "run-benchmark", "--task", "coord_scale", "--scale", "small_smoke",
        "--coord-method", "noop", "--compute-budget", "9", "--out", str(out),
    )
    assert code == 0
    warning = [line for line in err.splitlines() if line.startswith("warning:")]
    assert warning == [
        "warning: coordination method 'noop' released nothing in any of the 1 episode(s) of "
        "task 'coord_scale'."
    ]
    doc = json.loads(out.read_text())
    assert doc["config"]["coord_params"] == {"compute_budget": 9, "proposal_backend": None}
    metrics = doc["episodes"][0]["metrics"]
    assert metrics["coord_idle_rate"] == 1.0 and metrics["coord_planning_wall_ms_per_step"] is None
    code, _out, err = run(
        capsys, "run-benchmark", "--task", "coord_scale", "--coord-method", "noop",
        "--proposal-backend", "no_such_backend", "--out", str(out),
    )
    assert code == 2 and "Unknown LLM backend 'no_such_backend'" in err
