"""Regressions found in review: unserialisable text, malformed handler codes, batch overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from labtrust_gym.engine.initial_state import default_initial_state
from labtrust_gym.engine.invariants_runtime import register_invariant_handler

from .helpers import make_engine


@pytest.mark.parametrize(
    "event",
    [
        {"event_id": "e\ud800", "t_s": 0, "agent_id": "ops_0", "action_type": "TICK", "args": {}},
        {"t_s": 0, "agent_id": "supervisor_0", "action_type": "MINT_TOKEN",
         "args": {"token_type": "RESTRICTED_ENTRY",
                  "scope": {"zone_id": "Z_RESTRICTED_BIOHAZARD"}, "token_id": "T\ud800"}},
        {"t_s": 0, "agent_id": "ops_0", "action_type": "TICK", "args": {},
         "token_refs": ["\udcff"]},
    ],
    ids=["event_id", "arg", "token_ref"],
)
def test_unserialisable_text_is_blocked_and_changes_nothing(event: dict[str, Any]) -> None:
    eng = make_engine()
    before = eng.snapshot()
    result = eng.step(event)
    assert result["status"] == "BLOCKED" and result["blocked_reason_code"] == "EVENT.MALFORMED"
    assert eng.snapshot() == before
    assert eng.step({"t_s": 0, "agent_id": "ops_0", "action_type": "TICK"})["status"] == "ACCEPTED"
    assert eng.audit_chain()


def test_handler_returning_an_unhashable_code_is_a_violation_not_a_crash(tmp_path: Path) -> None:
    def sloppy(env: Any, event: dict[str, Any], params: dict[str, Any]) -> Any:
        return (False, ["not", "a", "code"], None)

    register_invariant_handler("state", "sloppy_code", sloppy)
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(
        'version: "0.1"\ninvariants:\n'
        "  - invariant_id: INV-SLOPPY-001\n    severity: low\n"
        "    scope: {action_types: [TICK]}\n"
        "    logic_template: {type: state, parameters: {check: sloppy_code}}\n"
        "    reason_code: INV.HANDLER_ERROR\n")
    eng = make_engine(invariant_overlays=[str(overlay)])
    result = eng.step({"t_s": 0, "agent_id": "ops_0", "action_type": "TICK"})
    assert result["status"] == "ACCEPTED"
    assert result["violations"] == [{"invariant_id": "INV-SLOPPY-001", "status": "VIOLATION",
                                     "reason_code": "INV.HANDLER_ERROR"}]


def test_one_start_run_may_carry_a_stability_override_per_expired_specimen() -> None:
    state = default_initial_state()
    state["start_t_s"] = 20000
    state["arrivals"] = [
        {"specimen_id": s, "t_s": 20000, "priority": "ROUTINE", "panel": "CHEM",
         "patient_id": "P" + s, "collected_t_s": 0}
        for s in ("S1", "S2")
    ]
    state["tokens"] = [
        {"token_id": f"T{k}", "token_type": "STABILITY_OVERRIDE", "scope": {"specimen_id": f"S{k}"}}
        for k in (1, 2)
    ]
    eng = make_engine(state)

    def go(agent: str, action: str, args: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return eng.step({"t_s": 20000, "agent_id": agent, "action_type": action, "args": args,
                         **extra})

    for s in ("S1", "S2"):
        go("reception_0", "CREATE_ACCESSION", {"specimen_id": s})
        go("reception_0", "ACCEPT_SPECIMEN", {"specimen_id": s})
        go("runner_1", "QUEUE_RUN", {"device_id": "DEV_CENTRIFUGE_1", "specimen_id": s})
    only_one = go("runner_1", "START_RUN", {"device_id": "DEV_CENTRIFUGE_1"}, token_refs=["T1"])
    assert only_one["blocked_reason_code"] == "TOKEN.SCOPE_MISMATCH"
    both = go("runner_1", "START_RUN", {"device_id": "DEV_CENTRIFUGE_1"}, token_refs=["T2", "T1"])
    assert both["status"] == "ACCEPTED" and sorted(both["token_consumed"]) == ["T1", "T2"]
