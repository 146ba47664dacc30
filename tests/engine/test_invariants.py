"""Invariants: handlers come from the registry (a plugin handler referenced from an overlay runs),
built-in handlers detect what validation would otherwise prevent, violations trigger enforcement."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from labtrust_gym.engine.golden import base_state
from labtrust_gym.engine.invariants_runtime import (
    get_invariant_handler,
    list_invariant_handlers,
    register_invariant_handler,
)
from labtrust_gym.errors import PolicyError

from .helpers import make_engine

OVERLAY = """
version: "0.1"
invariants:
  - invariant_id: INV-TEST-001
    severity: medium
    scope: {action_types: [TICK]}
    logic_template: {type: state, parameters: {check: test_tick_budget, max_ticks: 2}}
    reason_code: ENF.AGENT_THROTTLED
"""


def test_builtin_handlers_are_registered() -> None:
    ids = list_invariant_handlers()
    for key in (
        "zone.adjacency",
        "zone.restricted_occupancy",
        "zone.door_open_too_long",
        "token.single_use",
        "critical.acked_before_release",
        "critical.readback_match",
        "stability.within_window",
        "cold_chain.no_excursion_accepted",
        "fill.citrate_ratio",
    ):
        assert key in ids


def test_plugin_handler_from_overlay_registry_runs(tmp_path: Path) -> None:
    calls: list[dict[str, Any]] = []

    def tick_budget(env: Any, event: dict[str, Any], params: dict[str, Any]) -> Any:
        calls.append(params)
        n = len(calls)
        return (n <= params["max_ticks"], None, {"ticks": n})

    register_invariant_handler("state", "test_tick_budget", tick_budget)
    assert get_invariant_handler("state.test_tick_budget") is tick_budget
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(OVERLAY)
    eng = make_engine(base_state(), invariant_overlays=[str(overlay)])
    results = [eng.step({"t_s": 0, "agent_id": "ops_0", "action_type": "TICK"}) for _ in range(3)]
    assert calls == [{"max_ticks": 2}] * 3
    assert [r["violations"] for r in results[:2]] == [[], []]
    assert results[2]["violations"] == [
        {
            "invariant_id": "INV-TEST-001",
            "status": "VIOLATION",
            "reason_code": "ENF.AGENT_THROTTLED",
        }
    ]
    # the handler is not called for out-of-scope actions
    eng.step(
        {"t_s": 0, "agent_id": "ops_0", "action_type": "MOVE", "args": {"to_zone": "Z_SORTING"}}
    )
    assert len(calls) == 3


def test_overlay_naming_an_unregistered_handler_fails_at_reset(tmp_path: Path) -> None:
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(OVERLAY.replace("test_tick_budget", "no_such_check"))
    with pytest.raises(PolicyError, match=r"state\.no_such_check"):
        make_engine(base_state(), invariant_overlays=[str(overlay)])


def test_report_passing_invariants_lists_pass_entries() -> None:
    eng = make_engine(base_state(), report_passing_invariants=True)
    res = eng.step(
        {"t_s": 0, "agent_id": "runner_0", "action_type": "MOVE", "args": {"to_zone": "Z_SORTING"}}
    )
    ids = {v["invariant_id"] for v in res["violations"] if v["status"] == "PASS"}
    assert {"INV-ZONE-001", "INV-ZONE-003", "INV-ZONE-004"} <= ids


def test_adjacency_handler_detects_a_teleport() -> None:
    """Defence in depth: if state were corrupted (agent teleported), the handler catches it."""
    from labtrust_gym.engine.builtin_invariants import zone_adjacency

    eng = make_engine(base_state())
    eng.ctx_agent = eng.agents["runner_0"]
    eng.ctx_prev_zone = "Z_RECEPTION"
    eng.agents["runner_0"].zone_id = "Z_ANALYZER_HALL_B"
    passed, code, details = zone_adjacency(eng, {}, {})
    assert not passed and code == "ZONE.NOT_ADJACENT" and details["to"] == "Z_ANALYZER_HALL_B"


def test_single_use_handler_detects_reuse() -> None:
    from labtrust_gym.engine.builtin_invariants import token_single_use
    from labtrust_gym.engine.records import TokenRec

    eng = make_engine(base_state())
    tok = TokenRec("T9", "RESTRICTED_ENTRY", {"zone_id": "Z_AIRLOCK"}, None, None)
    tok.uses = 2
    eng.tokens["T9"] = tok
    eng.ctx_consumed = ["T9"]
    assert token_single_use(eng, {}, {})[:2] == (False, "TOKEN.ALREADY_USED")


def test_violation_enforcement_freezes_zone_via_map() -> None:
    """INV-CRIT-001 maps to freeze_zone: forcing its handler to fail freezes the agent's zone."""
    from labtrust_gym.engine import builtin_invariants

    def always_fail(env: Any, event: dict[str, Any], params: dict[str, Any]) -> Any:
        return (False, None, None)

    register_invariant_handler("critical", "acked_before_release", always_fail, replace=True)
    st = base_state()
    st["arrivals"] = [
        {"specimen_id": "S1", "t_s": 0, "priority": "STAT", "panel": "CBC", "patient_id": "P1"}
    ]
    st["agents"][1]["zone_id"] = "Z_ANALYZER_HALL_B"
    eng = make_engine(st)
    for action, args in (
        ("CREATE_ACCESSION", {"specimen_id": "S1"}),
        ("ACCEPT_SPECIMEN", {"specimen_id": "S1"}),
    ):
        assert (
            eng.step({"t_s": 0, "agent_id": "reception_0", "action_type": action, "args": args})[
                "status"
            ]
            == "ACCEPTED"
        )
    eng.step(
        {
            "t_s": 0,
            "agent_id": "ops_0",
            "action_type": "QUEUE_RUN",
            "args": {"device_id": "DEV_HAEM_B1", "specimen_id": "S1"},
        }
    )
    eng.step(
        {
            "t_s": 0,
            "agent_id": "ops_0",
            "action_type": "START_RUN",
            "args": {"device_id": "DEV_HAEM_B1"},
        }
    )
    res = eng.step(
        {
            "t_s": 90,
            "agent_id": "ops_0",
            "action_type": "RELEASE_RESULT",
            "args": {"result_id": "R_S1"},
        }
    )
    assert res["status"] == "ACCEPTED"
    assert res["violations"][0]["reason_code"] == "CRIT.NOT_ACKNOWLEDGED"
    assert "ENFORCEMENT_APPLIED" in res["emits"]
    assert eng.query("zone_state(Z_ANALYZER_HALL_B)")["frozen"] is True
    nxt = eng.step({"t_s": 90, "agent_id": "ops_0", "action_type": "TICK"})
    assert nxt["blocked_reason_code"] == "ENF.ZONE_FROZEN"
    assert builtin_invariants.BUILTIN_HANDLERS["critical.acked_before_release"] is not always_fail


def test_raising_or_sloppy_plugin_handler_is_recorded_not_crashing(tmp_path: Path) -> None:
    def boom(env: Any, event: dict[str, Any], params: dict[str, Any]) -> Any:
        raise RuntimeError("plugin bug")

    def sloppy(env: Any, event: dict[str, Any], params: dict[str, Any]) -> Any:
        return (False, "NOT.A_CODE", None)

    register_invariant_handler("state", "test_tick_budget", boom)
    register_invariant_handler("state", "test_sloppy", sloppy)
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(
        OVERLAY
        + OVERLAY.split("invariants:\n")[1]
        .replace("INV-TEST-001", "INV-TEST-002")
        .replace("test_tick_budget", "test_sloppy")
    )
    eng = make_engine(base_state(), invariant_overlays=[str(overlay)])
    res = eng.step({"t_s": 0, "agent_id": "ops_0", "action_type": "TICK"})
    assert res["status"] == "ACCEPTED"
    assert [(v["invariant_id"], v["reason_code"]) for v in res["violations"]] == [
        ("INV-TEST-001", "INV.HANDLER_ERROR"),
        ("INV-TEST-002", "ENF.AGENT_THROTTLED"),
    ]
    assert "plugin bug" in eng.violation_log[0]["details"]["error"]
    assert eng.violation_log[1]["details"] == {"unregistered_reason_code": "NOT.A_CODE"}
    assert eng.chain_head()["length"] == 1
