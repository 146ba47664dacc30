"""Regressions of issue 13's engine breaks: state changes before validation, refused events
moving time, unbounded catch-up work, guessable token ids and unchecked invariant output."""

from __future__ import annotations

import resource
import time
from typing import Any

import pytest

from labtrust_gym.engine.golden import base_state
from labtrust_gym.engine.hashchain import verify_chain

from .helpers import ev, make_engine


def _supervisor_lab() -> dict[str, Any]:
    st = base_state()
    st["agents"] = [
        {"agent_id": "supervisor_0", "role": "supervisor", "zone_id": "Z_QC_SUPERVISOR"},
        {"agent_id": "runner_0", "role": "runner", "zone_id": "Z_AIRLOCK"},
    ]
    return st


def _mint(eng: Any, scope: dict[str, Any], **extra: Any) -> dict[str, Any]:
    args = {"token_type": "RESTRICTED_ENTRY", "scope": scope, **extra}
    return eng.step(
        {"t_s": eng.now_s, "agent_id": "supervisor_0", "action_type": "MINT_TOKEN", "args": args}
    )


# ------------------------------------------------------------------ 1. validate before mutating
@pytest.mark.parametrize(
    "scope",
    [
        {"zone_id": "Z_RESTRICTED_BIOHAZARD", "note": "\ud800"},  # lone surrogate in a value
        {"zone_id": "Z_RESTRICTED_BIOHAZARD", "\udfff": "x"},  # ... and in a key
    ],
)
def test_mint_with_surrogate_in_scope_is_blocked_and_mints_nothing(scope: dict[str, Any]) -> None:
    eng = make_engine(_supervisor_lab())
    before = eng.snapshot()
    res = _mint(eng, scope, holder_agent_id="runner_0")
    assert res["status"] == "BLOCKED"
    assert res["blocked_reason_code"] == "EVENT.MALFORMED"
    assert eng.snapshot() == before  # no token
    assert eng.tokens == {}
    audit = eng.step(
        {"t_s": eng.now_s, "agent_id": "supervisor_0", "action_type": "AUDIT_CHAIN", "args": {}}
    )
    assert audit["status"] == "ACCEPTED" and audit["emits"] == ["CHAIN_VERIFIED"]
    verify_chain(eng.episode_log_lines())


@pytest.mark.parametrize(
    "bad",
    [
        {"args": {"to_zone": "Z_SORTING", "extra": float("nan")}},
        {"args": {"to_zone": "Z_SORTING", "extra": {"deep": float("inf")}}},
        {"args": {"to_zone": "Z_SORTING"}, "note": [float("-inf")]},
        {"args": {"to_zone": "Z_SORTING"}, "note": 2**60},
        {"args": {"to_zone": "Z_SORTING", "n": -(2**53)}},
        {"args": {"to_zone": "Z_SORTING"}, "token_refs": ["T\ud800"]},
        {"args": {"to_zone": "Z_SORTING"}, "event_id": "e\udc00"},
        {"args": {"to_zone": "Z_SORTING"}, "agent_id": "runner_0\ud800"},
        {"args": {"to_zone": "Z_SORTING", 3: "int key"}},
        {"args": {"to_zone": "Z_SORTING", "when": object()}},
        {"args": {"to_zone": "Z_SORTING", "t": (1, 2)}},
    ],
)
def test_unloggable_values_anywhere_are_malformed(bad: dict[str, Any]) -> None:
    st = base_state()
    eng = make_engine(st)
    ev = {"t_s": 0, "agent_id": "runner_0", "action_type": "MOVE", **bad}
    before = eng.snapshot()
    res = eng.step(ev)
    assert res["status"] == "BLOCKED" and res["blocked_reason_code"] == "EVENT.MALFORMED"
    assert eng.snapshot() == before
    assert eng.check(ev) == "EVENT.MALFORMED"
    verify_chain(eng.episode_log_lines())


def test_nesting_deeper_than_the_bound_is_malformed() -> None:
    eng = make_engine(base_state())
    deep: Any = "leaf"
    for _ in range(5000):
        deep = {"d": deep}
    ev = {"t_s": 0, "agent_id": "runner_0", "action_type": "TICK", "args": {"x": deep}}
    res = eng.step(ev)
    assert res["blocked_reason_code"] == "EVENT.MALFORMED"
    verify_chain(eng.episode_log_lines())


# ------------------------------------------------------------------ 2. refused events and time
@pytest.mark.parametrize(
    "ev",
    [
        {"t_s": 1e15 - 1, "agent_id": "nobody", "action_type": "TICK", "args": {}},
        {"t_s": 9.9e14, "agent_id": "runner_0", "action_type": "FLY", "args": {}},
        {"t_s": 9.9e14, "agent_id": "runner_0", "action_type": "MOVE", "args": {}},
        {"t_s": 9.9e14, "agent_id": "runner_0", "action_type": "KILL_SWITCH", "args": {}},
    ],
)
def test_blocked_event_far_ahead_leaves_the_clock(ev: dict[str, Any]) -> None:
    eng = make_engine(base_state())
    res = eng.step(ev)
    assert res["status"] == "BLOCKED"
    assert eng.now_s == 0.0
    ok = eng.step({"t_s": 10, "agent_id": "runner_0", "action_type": "TICK", "args": {}})
    assert ok["status"] == "ACCEPTED"


@pytest.mark.parametrize(("t", "code"), [(1e15 - 1, "TIME.TOO_FAR_AHEAD"), (86_000, "SIG.MISSING")])
def test_unsigned_event_far_ahead_in_strict_mode_leaves_the_clock(t: float, code: str) -> None:
    st = base_state()
    st["strict_signatures"] = True
    eng = make_engine(st)
    res = eng.step({"t_s": t, "agent_id": "runner_0", "action_type": "TICK", "args": {}})
    assert res["blocked_reason_code"] == code
    assert eng.now_s == 0.0
    noop = eng.step({"t_s": 5, "agent_id": "runner_0", "action_type": "NOOP", "args": {}})
    assert noop["status"] == "ACCEPTED" and eng.now_s == 5.0


def test_event_further_ahead_than_the_policy_bound_is_refused() -> None:
    eng = make_engine(base_state())
    lead = eng.policy.engine["max_event_lead_s"]
    far = {"t_s": lead + 1, "agent_id": "runner_0", "action_type": "TICK", "args": {}}
    res = eng.step(far)
    assert res["blocked_reason_code"] == "TIME.TOO_FAR_AHEAD"
    assert eng.check(far) == "TIME.TOO_FAR_AHEAD"
    assert eng.now_s == 0.0
    near = {"t_s": lead, "agent_id": "runner_0", "action_type": "TICK", "args": {}}
    assert eng.step(near)["status"] == "ACCEPTED"
    assert eng.now_s == lead


def test_handler_refusal_after_clock_effects_rolls_time_back() -> None:
    """An event whose judgement needed the clock effects due by its time (an arrival) is
    refused by its handler: the effects are undone and the clock stays where it was."""
    st = base_state()
    st["arrivals"] = [
        {"specimen_id": "S1", "t_s": 50, "priority": "ROUTINE", "panel": "CBC", "patient_id": "P1"}
    ]
    eng = make_engine(st)
    before = eng.snapshot()
    res = eng.step(
        {
            "t_s": 60,
            "agent_id": "reception_0",
            "action_type": "ACCEPT_SPECIMEN",
            "args": {"specimen_id": "S1"},
        }
    )  # arrived at 50, but not accessioned
    assert res["status"] == "BLOCKED"
    assert eng.snapshot() == before and eng.now_s == 0.0
    assert eng.drain_system_emits() == []
    ok = eng.step(
        {
            "t_s": 60,
            "agent_id": "reception_0",
            "action_type": "CREATE_ACCESSION",
            "args": {"specimen_id": "S1"},
        }
    )
    assert ok["status"] == "ACCEPTED" and eng.now_s == 60.0


def test_big_jump_with_mtbf_finishes_fast_with_bounded_memory(tmp_path: Any) -> None:
    import shutil

    from labtrust_gym.fileio import load_yaml

    src = make_engine(base_state()).policy.root
    root = tmp_path / "root"
    shutil.copytree(src / "policy" if (src / "policy").is_dir() else src, root / "policy")
    eq_path = root / "policy" / "equipment" / "equipment.v0.1.yaml"
    eq = load_yaml(eq_path)
    for d in eq["device_types"]:
        d["mtbf_s"] = 60.0
        d["repair_s"] = 5.0
    import yaml

    eq_path.write_text(yaml.safe_dump(eq), encoding="utf-8")
    eng = make_engine(base_state(), policy_root=str(root))
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    eng.advance_to(9e14)
    assert time.perf_counter() - t0 < 5.0
    assert len(eng.drain_system_emits()) < 10_000
    assert len(eng.timeline) < 1_000
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0 < 200_000  # KB
    res = eng.step({"t_s": 9e14, "agent_id": "runner_0", "action_type": "TICK", "args": {}})
    assert res["status"] == "ACCEPTED"


# ------------------------------------------------------------------ 3. token ids
def test_minted_token_ids_are_not_enumerable_and_deterministic_per_seed() -> None:
    ids = []
    for _ in range(2):
        eng = make_engine(_supervisor_lab(), seed=5)
        res = _mint(eng, {"zone_id": "Z_RESTRICTED_BIOHAZARD"}, holder_agent_id="runner_0")
        assert res["status"] == "ACCEPTED"
        (tid,) = eng.tokens
        ids.append(tid)
    assert ids[0] == ids[1]
    assert ids[0] != "TOK-0001" and len(ids[0]) >= 4 + 32
    other = make_engine(_supervisor_lab(), seed=6)
    _mint(other, {"zone_id": "Z_RESTRICTED_BIOHAZARD"}, holder_agent_id="runner_0")
    assert list(other.tokens) != ids[:1]


def test_guessed_token_id_is_refused() -> None:
    eng = make_engine(_supervisor_lab())
    _mint(eng, {"zone_id": "Z_RESTRICTED_BIOHAZARD"}, holder_agent_id="runner_0")
    eng.step(ev(eng, "runner_0", "OPEN_DOOR", door_id="D_AIRLOCK_INNER"))
    guess = {
        **ev(eng, "runner_0", "MOVE", to_zone="Z_RESTRICTED_BIOHAZARD"),
        "token_refs": ["TOK-0001"],
    }
    res = eng.step(guess)
    assert res["blocked_reason_code"] == "TOKEN.UNKNOWN"


def test_holderless_token_follows_the_token_type_policy() -> None:
    eng = make_engine(_supervisor_lab())
    assert eng.policy.token_types["RESTRICTED_ENTRY"]["bearer"] is False
    res = _mint(eng, {"zone_id": "Z_RESTRICTED_BIOHAZARD"})
    assert res["blocked_reason_code"] == "TOKEN.HOLDER_REQUIRED"
    assert eng.tokens == {}
    st = _supervisor_lab()
    st["tokens"] = [
        {
            "token_id": "T1",
            "token_type": "RESTRICTED_ENTRY",
            "scope": {"zone_id": "Z_RESTRICTED_BIOHAZARD"},
        }
    ]
    from labtrust_gym.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="holder_agent_id"):
        make_engine(st)


def test_surrogate_scope_through_the_env_is_refused_not_a_crash() -> None:
    from labtrust_gym.envs import LabTrustParallelEnv

    env = LabTrustParallelEnv()
    env.reset(seed=0)
    noop = dict.fromkeys(env.agents, 0)
    mint = {
        "action_index": 0,
        "action_type": "MINT_TOKEN",
        "args": {
            "token_type": "RESTRICTED_ENTRY",
            "holder_agent_id": "runner_0",
            "scope": {"zone_id": "Z_RESTRICTED_BIOHAZARD", "\udfff": "\ud800"},
        },
    }
    _obs, _r, _te, _tr, infos = env.step({**noop, "supervisor_0": mint})
    assert infos["supervisor_0"]["step_result"]["blocked_reason_code"] == "EVENT.MALFORMED"
    assert env.engine.tokens == {}
    _obs, _r, _te, _tr, infos = env.step(noop)  # the run goes on
    verify_chain(env.engine.episode_log_lines())
    env.close()
