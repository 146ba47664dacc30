"""Refused (BLOCKED) events enter the hash chain as refusal records; the simulation state is
unchanged, the chain head moves, and verify_chain accepts both record kinds."""

from __future__ import annotations

import json
from typing import Any

from labtrust_gym.engine.golden import base_state
from labtrust_gym.engine.hashchain import verify_chain

from .helpers import make_engine


def _records(eng: Any) -> list[dict[str, Any]]:
    return [json.loads(line)["record"] for line in eng.episode_log_lines()]


def test_blocked_event_is_chained_as_a_refusal_record() -> None:
    eng = make_engine(base_state())
    sim = eng.snapshot()
    ev = {
        "event_id": "x1",
        "t_s": 0,
        "agent_id": "runner_0",
        "action_type": "KILL_SWITCH",
        "args": {},
    }
    res = eng.step(ev)
    assert res["status"] == "BLOCKED" and res["blocked_reason_code"] == "RBAC.ACTION_DENIED"
    assert eng.snapshot() == sim  # simulation state untouched
    assert res["hashchain"]["length"] == 1
    assert res["hashchain"] == eng.chain_head()
    (rec,) = _records(eng)
    assert rec["refused"] == {"event": ev}
    assert rec["outcome"] == {"blocked_reason_code": "RBAC.ACTION_DENIED", "seq": 1, "t_s": 0.0}
    ok = eng.step({"t_s": 0, "agent_id": "runner_0", "action_type": "TICK", "args": {}})
    assert ok["hashchain"]["length"] == 2
    assert verify_chain(eng.episode_log_lines())["length"] == 2


def test_unserialisable_event_is_recorded_as_a_digest() -> None:
    eng = make_engine(base_state())
    bad = {"t_s": 0, "agent_id": "runner_0\ud800", "action_type": "TICK", "args": {}}
    res = eng.step(bad)
    assert res["blocked_reason_code"] == "EVENT.MALFORMED"
    (rec,) = _records(eng)
    summary = rec["refused"]
    assert "event" not in summary
    assert len(summary["sha256"]) == 64
    assert summary["action_type"] == "TICK"  # clean fields are kept
    assert "agent_id" not in summary  # the unloggable one is not
    not_a_dict = eng.step(["nope"])  # type: ignore[arg-type]
    assert not_a_dict["blocked_reason_code"] == "EVENT.MALFORMED"
    assert verify_chain(eng.episode_log_lines())["length"] == 2


def test_verify_chain_detects_an_edited_refusal_record() -> None:
    import pytest

    from labtrust_gym.errors import ChainIntegrityError

    eng = make_engine(base_state())
    eng.step({"t_s": 0, "agent_id": "nobody", "action_type": "TICK", "args": {}})
    eng.step({"t_s": 0, "agent_id": "runner_0", "action_type": "TICK", "args": {}})
    lines = eng.episode_log_lines()
    edited = [lines[0].replace(b"EVENT.UNKNOWN_AGENT", b"EVENT.UNKNOWN_AGENX"), lines[1]]
    with pytest.raises(ChainIntegrityError, match="line 1"):
        verify_chain(edited)


def test_dry_run_check_does_not_chain() -> None:
    eng = make_engine(base_state())
    assert eng.check({"t_s": 0, "agent_id": "nobody", "action_type": "TICK"}) == (
        "EVENT.UNKNOWN_AGENT"
    )
    assert eng.chain_head()["length"] == 0


def test_a_large_refused_event_is_recorded_as_a_digest_within_the_bound() -> None:
    eng = make_engine(base_state())
    big = {"t_s": 0, "agent_id": "nobody", "action_type": "TICK", "args": {"x": "y" * 10_000}}
    res = eng.step(big)
    assert res["blocked_reason_code"] == "EVENT.UNKNOWN_AGENT"
    (line,) = eng.episode_log_lines()
    assert len(line) < eng.policy.engine["max_refusal_record_bytes"] + 100
    summary = json.loads(line)["record"]["refused"]
    assert summary["digest_of"] == "canonical_json" and summary["agent_id"] == "nobody"
    import hashlib

    import orjson

    assert summary["sha256"] == hashlib.sha256(
        orjson.dumps(big, option=orjson.OPT_SORT_KEYS)
    ).hexdigest()
