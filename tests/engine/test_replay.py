"""Signed events carry a per-agent sequence number; a replayed or out-of-order signed event is
BLOCKED SIG.REPLAY (issue 11)."""

from __future__ import annotations

import copy
from typing import Any

from labtrust_gym.engine.golden import base_state
from labtrust_gym.engine.signing import derive_keypair, sign_event

from .helpers import make_engine


def _strict_lab(mode: str = "ed25519") -> dict[str, Any]:
    st = base_state()
    st["strict_signatures"] = True
    st["signature_mode"] = mode
    st["keys"] = [
        {
            "key_id": "K_runner_0",
            "agent_id": "runner_0",
            "status": "active",
            "public_key_b64": derive_keypair("runner_0")[1],
        }
    ]
    return st


def _signed(t: float, seq: int | None, action: str = "TICK") -> dict[str, Any]:
    ev: dict[str, Any] = {
        "t_s": t,
        "agent_id": "runner_0",
        "action_type": action,
        "args": {},
        "key_id": "K_runner_0",
    }
    if seq is not None:
        ev["seq"] = seq
    ev["signature"] = sign_event(ev, derive_keypair("runner_0")[0])
    return ev


def test_the_same_signed_event_is_accepted_once() -> None:
    eng = make_engine(_strict_lab())
    ev = _signed(0, 1)
    results = [eng.step(copy.deepcopy(ev))["blocked_reason_code"] for _ in range(3)]
    assert results == [None, "SIG.REPLAY", "SIG.REPLAY"]


def test_out_of_order_and_gapped_sequences() -> None:
    eng = make_engine(_strict_lab())
    assert eng.step(_signed(0, 5))["status"] == "ACCEPTED"
    assert eng.step(_signed(0, 3))["blocked_reason_code"] == "SIG.REPLAY"
    assert eng.step(_signed(0, 5))["blocked_reason_code"] == "SIG.REPLAY"
    assert eng.step(_signed(0, 9))["status"] == "ACCEPTED"  # gaps are allowed, never going back
    assert eng.check(_signed(0, 9)) == "SIG.REPLAY"


def test_signed_event_without_sequence_is_refused() -> None:
    eng = make_engine(_strict_lab())
    assert eng.step(_signed(0, None))["blocked_reason_code"] == "SIG.MISSING"


def test_a_refused_signed_event_still_uses_up_its_sequence_number() -> None:
    """Otherwise an event refused now (e.g. the door is closed) could be replayed later."""
    eng = make_engine(_strict_lab())
    ev = _signed(0, 1, "MOVE")
    ev_args = {
        "t_s": 0,
        "agent_id": "runner_0",
        "action_type": "MOVE",
        "args": {"to_zone": "Z_NOPE"},
        "key_id": "K_runner_0",
        "seq": 1,
    }
    ev_args["signature"] = sign_event(ev_args, derive_keypair("runner_0")[0])
    assert eng.step(ev_args)["blocked_reason_code"] == "ZONE.UNKNOWN"
    assert eng.step(ev)["blocked_reason_code"] == "SIG.REPLAY"


def test_an_authenticated_event_refused_by_a_later_gate_stage_uses_up_its_number() -> None:
    eng = make_engine(_strict_lab())
    ev = _signed(0, 1, "KILL_SWITCH")  # runner may not: RBAC comes after the signature
    assert eng.step(copy.deepcopy(ev))["blocked_reason_code"] == "RBAC.ACTION_DENIED"
    assert eng.audit_snapshot()["auth"]["last_seq"] == {"runner_0": 1}
    assert eng.step(ev)["blocked_reason_code"] == "SIG.REPLAY"
