"""The golden suite runs under pytest: one test per scenario, plus coverage of every action type
and every reason code the engine can emit."""

from __future__ import annotations

import pytest

from labtrust_gym.engine.golden import coverage, load_scenarios, run_scenario
from labtrust_gym.engine.policy import load_policy

SCENARIOS = load_scenarios()


def test_at_least_35_scenarios() -> None:
    assert len(SCENARIOS) >= 35


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s["id"] for s in SCENARIOS])
def test_golden_scenario(scenario: dict) -> None:
    result = run_scenario(scenario)
    assert result["passed"], "\n".join(result["failures"])


def test_golden_covers_every_action_type() -> None:
    cov = coverage(SCENARIOS)
    assert set(load_policy().actions) - cov["actions"] == set()


def test_golden_covers_every_reason_code_and_only_registered_ones() -> None:
    cov = coverage(SCENARIOS)
    codes = load_policy().reason_codes
    # the runner shield's codes (emitted_by: runner) never come from the engine
    engine_codes = {c for c, rec in codes.items() if rec.get("emitted_by", "engine") == "engine"}
    assert {c for c in codes if c.startswith("SHIELD.")} <= set(codes) - engine_codes
    assert engine_codes - cov["reason_codes"] == set()
    assert cov["reason_codes"] - engine_codes == set()


def test_golden_runner_reports_a_wrong_expectation() -> None:
    sc = {
        "id": "GS-999",
        "title": "deliberately wrong",
        "steps": [{"agent": "ops_0", "action": "TICK", "expect": {"blocked": "ENF.KILL_SWITCH"}}],
    }
    result = run_scenario(sc)
    assert not result["passed"]
    assert any("status" in f for f in result["failures"])


def test_golden_cli_runs_one_scenario(tmp_path) -> None:
    from typer.testing import CliRunner

    from labtrust_gym.cli.app import build_app

    out = tmp_path / "golden.json"
    res = CliRunner().invoke(build_app(), ["golden", "--scenario", "GS-001", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "PASS  GS-001" in res.output
    assert '"passed": 1' in out.read_text()


def test_golden_emits_are_exactly_the_vocabulary() -> None:
    vocab = set(load_policy().emits)
    seen: set[str] = set()
    for sc in SCENARIOS:
        seen.update(run_scenario(sc)["emits_seen"])
    assert seen - vocab == set(), "engine emitted names missing from emits_vocab"
    assert vocab - seen == set(), "vocabulary entries no golden scenario produces"


def test_golden_scenarios_use_every_query() -> None:
    import re

    from labtrust_gym.engine.queries import QUERIES

    used: set[str] = set()
    for sc in SCENARIOS:
        for st in sc["steps"]:
            for expr in [*(st.get("queries") or {}), *(st.get("query_fields") or {})]:
                used.add(re.match(r"[a-z_]+", expr).group(0))  # type: ignore[union-attr]
            for expr, _field in (st.get("args_from_query") or {}).values():
                used.add(re.match(r"[a-z_]+", expr).group(0))  # type: ignore[union-attr]
    assert set(QUERIES) - used == set()
