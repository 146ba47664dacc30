"""Property: a BLOCKED step changes no simulation state — state, time, queues, tokens, doors,
enforcement — and adds exactly one refusal record to the audit chain; ``engine.check`` (the dry
run) predicts every step's verdict without changing anything."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labtrust_gym.engine.golden import base_state

from .helpers import assert_views_consistent, make_engine

AGENTS = [
    "reception_0",
    "ops_0",
    "runner_0",
    "runner_1",
    "qc_0",
    "supervisor_0",
    "ghost_0",
    "nobody",
]
ACTIONS = [
    "NOOP",
    "TICK",
    "MOVE",
    "OPEN_DOOR",
    "CLOSE_DOOR",
    "CREATE_ACCESSION",
    "ACCEPT_SPECIMEN",
    "HOLD_SPECIMEN",
    "REJECT_SPECIMEN",
    "QUEUE_RUN",
    "START_RUN",
    "RUN_QC",
    "RESTOCK_REAGENT",
    "RELEASE_RESULT",
    "NOTIFY_CRITICAL",
    "ACK_CRITICAL",
    "MINT_TOKEN",
    "APPROVE_TOKEN",
    "REVOKE_TOKEN",
    "DISPATCH_TRANSPORT",
    "CHAIN_OF_CUSTODY_SIGN",
    "RECEIVE_TRANSPORT",
    "THROTTLE_AGENT",
    "FREEZE_ZONE",
    "UNFREEZE_ZONE",
    "KILL_SWITCH",
    "AUDIT_CHAIN",
    "FLY",
]
ZONES = [
    "Z_RECEPTION",
    "Z_ACCESSIONING",
    "Z_SORTING",
    "Z_PREANALYTICS",
    "Z_CENTRIFUGE_BAY",
    "Z_ALIQUOT",
    "Z_ANALYZER_HALL_A",
    "Z_ANALYZER_HALL_B",
    "Z_AIRLOCK",
    "Z_RESTRICTED_BIOHAZARD",
    "Z_NOPE",
]
ids = st.sampled_from(
    [
        "S1",
        "S2",
        "S3",
        "S4",
        "R_S1",
        "R_S2",
        "DEV_HAEM_B1",
        "DEV_CENTRIFUGE_1",
        "DEV_CHEM_A1",
        "D_AIRLOCK_OUTER",
        "D_COLD_STORAGE",
        "TOK-0001",
        "T1",
        "C1",
        "CN-0001",
        "RT_NORTH_MAIN",
        "x",
    ]
)
arg_values = st.one_of(
    ids,
    st.sampled_from(ZONES),
    st.integers(-1, 4),
    st.none(),
    st.sampled_from(["RESTRICTED_ENTRY", "RELEASE_OVERRIDE", "runner_0"]),
    st.lists(ids, max_size=2),
    st.fixed_dictionaries({"zone_id": st.sampled_from(ZONES)}),
)
arg_names = st.sampled_from(
    [
        "to_zone",
        "door_id",
        "specimen_id",
        "device_id",
        "result_id",
        "tier",
        "read_back",
        "token_type",
        "scope",
        "token_id",
        "route_id",
        "specimen_ids",
        "consignment_id",
        "agent_id",
        "duration_s",
        "zone_id",
    ]
)
events = st.fixed_dictionaries(
    {
        "dt": st.sampled_from([0, 0, 0, 5, 60, 400]),
        "agent_id": st.sampled_from(AGENTS),
        "action_type": st.sampled_from(ACTIONS),
        "args": st.dictionaries(arg_names, arg_values, max_size=3),
    },
    optional={
        "token_refs": st.lists(st.sampled_from(["TOK-0001", "T1", "SO1"]), max_size=2),
        "reason_code": st.sampled_from(["SPEC.LEAK", "SPEC.ID_MISMATCH"]),
        "back_in_time": st.booleans(),
        "ahead_of_clock": st.booleans(),  # do not advance first: the step's own clock move
    },
)


def _state() -> dict[str, Any]:
    st_ = base_state()
    st_["agents"].append({"agent_id": "ghost_0", "role": None, "zone_id": "Z_RECEPTION"})
    st_["arrivals"] = [
        {
            "specimen_id": "S1",
            "t_s": 0,
            "priority": "STAT",
            "panel": "CBC",
            "patient_id": "P1",
            "force_critical": True,
        },
        {
            "specimen_id": "S2",
            "t_s": 0,
            "priority": "ROUTINE",
            "panel": "CHEM",
            "patient_id": "P2",
            "leak": True,
        },
        {
            "specimen_id": "S3",
            "t_s": 30,
            "priority": "URGENT",
            "panel": "CBC",
            "patient_id": "P3",
            "site_id": "SITE_NORTH",
        },
    ]
    st_["tokens"] = [
        {
            "token_id": "T1",
            "token_type": "RESTRICTED_ENTRY",
            "scope": {"zone_id": "Z_RESTRICTED_BIOHAZARD"},
            "holder_agent_id": "runner_0",
        }
    ]
    st_["qc_failures"] = [{"device_id": "DEV_HAEM_B1", "t_s": 500}]
    return st_


PRELUDE = [  # richer starting state: a queued specimen, a running device, an open door, a token
    ("reception_0", "CREATE_ACCESSION", {"specimen_id": "S1"}),
    ("reception_0", "ACCEPT_SPECIMEN", {"specimen_id": "S1"}),
    ("reception_0", "CREATE_ACCESSION", {"specimen_id": "S2"}),
    ("ops_0", "MOVE", {"to_zone": "Z_ANALYZER_HALL_B"}),
    ("ops_0", "QUEUE_RUN", {"device_id": "DEV_HAEM_B1", "specimen_id": "S1"}),
    ("ops_0", "START_RUN", {"device_id": "DEV_HAEM_B1"}),
    ("runner_0", "OPEN_DOOR", {"door_id": "D_AIRLOCK_OUTER"}),
    (
        "supervisor_0",
        "MINT_TOKEN",
        {
            "token_type": "RESTRICTED_ENTRY",
            "scope": {"zone_id": "Z_RESTRICTED_BIOHAZARD"},
            "holder_agent_id": "runner_0",
            "token_id": "TOK-0001",
        },
    ),
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(events, min_size=1, max_size=40))
def test_blocked_step_changes_nothing(seq: list[dict[str, Any]]) -> None:
    eng = make_engine(_state())
    for agent, action, args in PRELUDE:
        res = eng.step({"t_s": 0, "agent_id": agent, "action_type": action, "args": args})
        assert res["status"] == "ACCEPTED", res
    t = 0.0
    n_blocked = 0
    for i, e in enumerate(seq):
        t += e["dt"]
        event = {
            "event_id": f"e{i}",
            "t_s": t,
            "agent_id": e["agent_id"],
            "action_type": e["action_type"],
            "args": e["args"],
        }
        if e.get("back_in_time"):
            event["t_s"] = max(0.0, eng.now_s - 1.0) if eng.now_s > 0 else eng.now_s
        for k in ("token_refs", "reason_code"):
            if k in e:
                event[k] = e[k]
        ahead = bool(e.get("ahead_of_clock")) and event["t_s"] > eng.now_s
        if event["t_s"] > eng.now_s and not ahead:
            eng.advance_to(event["t_s"])  # the env's way: the clock first, then the events
        before = eng.snapshot()
        audit_before = eng.audit_snapshot()
        verdict = eng.check(event)  # the dry run changes nothing
        assert eng.snapshot() == before and eng.audit_snapshot() == audit_before
        res = eng.step(event)
        if not ahead:  # ahead of the clock, the handler judges after the clock effects
            assert verdict == res["blocked_reason_code"], (event, verdict, res)
        if res["status"] == "BLOCKED":
            n_blocked += 1
            assert res["blocked_reason_code"] in eng.policy.reason_codes
            assert eng.snapshot() == before, f"BLOCKED {res['blocked_reason_code']} changed state"
            assert res["hashchain"] == eng.chain_head()
            assert res["hashchain"]["length"] == audit_before["chain"]["length"] + 1
        else:
            assert res["blocked_reason_code"] is None
        assert_views_consistent(eng)


def test_property_exercises_blocked_steps() -> None:
    """Guard against a vacuous property: the same generators produce BLOCKED steps."""
    eng = make_engine(_state())
    before = eng.snapshot()
    res = eng.step({"t_s": 0, "agent_id": "ghost_0", "action_type": "TICK"})
    assert res["status"] == "BLOCKED" and eng.snapshot() == before
