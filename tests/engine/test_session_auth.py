"""Session authentication end to end: the env's signer opens sessions and MACs events, the
engine verifies them, the epoch key is disclosed at close, and ``verify-log`` re-checks every
accepted MAC (and, given the keys, every signature) — catching a consistently re-hashed edit."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from labtrust_gym.engine.domain_env.events import EventSigner
from labtrust_gym.engine.golden import base_state
from labtrust_gym.engine.hashchain import GENESIS_HASH, line_bytes, verify_chain
from labtrust_gym.engine.logcheck import recheck_authentication
from labtrust_gym.engine.signing import derive_keypair
from labtrust_gym.errors import ChainIntegrityError

from .helpers import make_engine

AGENTS = ("ops_0", "runner_0", "runner_1")


def _run(mode: str, steps: int = 6) -> Any:
    st = base_state()
    st["strict_signatures"] = True
    st["signature_mode"] = mode
    st["keys"] = [
        {
            "key_id": f"K_{a}",
            "agent_id": a,
            "status": "active",
            "public_key_b64": derive_keypair(a)[1],
        }
        for a in AGENTS
    ]
    eng = make_engine(st)
    signer = EventSigner(keys={a: derive_keypair(a)[0] for a in AGENTS})
    for k in range(steps):
        eng.advance_to(k * 10.0)
        batch = [
            {"t_s": k * 10.0, "agent_id": a, "action_type": "TICK", "args": {}} for a in AGENTS
        ]
        signer.sign(batch, eng)
        assert [r["status"] for r in eng.step_batch(batch)] == ["ACCEPTED"] * 3
    return eng


def _rehash(lines: list[bytes], edit: Any) -> list[bytes]:
    """Apply ``edit(records)`` and rebuild a consistent chain (what a forger with write access
    to the log, but no keys, can do)."""
    records = [json.loads(line)["record"] for line in lines]
    edit(records)
    out, prev = [], GENESIS_HASH
    for rec in records:
        rec["prev_hash"] = prev
        data = orjson.dumps(rec, option=orjson.OPT_SORT_KEYS)
        prev = hashlib.sha256(data).hexdigest()
        out.append(line_bytes(prev, data))
    return out


def test_session_mode_handshakes_once_then_macs_and_verify_log_rechecks(tmp_path: Path) -> None:
    from labtrust_gym.cli.app import main

    eng = _run("session")
    events = [json.loads(x)["record"]["event"] for x in eng.episode_log_lines()]
    assert sum("signature" in e for e in events) == 3  # one handshake per agent
    assert sum("mac" in e for e in events) == 15
    assert sorted(eng.close_sessions()["sessions"]) == ["K_ops_0#1", "K_runner_0#1", "K_runner_1#1"]
    lines = eng.episode_log_lines()
    counts = recheck_authentication(lines)
    by_key = {"K_ops_0": 5, "K_runner_0": 5, "K_runner_1": 5}  # MACs by their session's opener
    assert counts == {
        "signatures_checked": 0,
        "macs_checked": 15,
        "macs_by_key": by_key,
        "unchecked": 3,
    }
    keys = [{"key_id": f"K_{a}", "public_key_b64": derive_keypair(a)[1]} for a in AGENTS]
    assert recheck_authentication(lines, keys)["signatures_checked"] == 3
    log = eng.write_episode_log(tmp_path / "log.jsonl")
    assert main(["verify-log", "--chain-only", str(log)]) == 0

    def retarget(records: list[dict[str, Any]]) -> None:  # an accepted MAC'd event rewritten
        records[5]["event"]["action_type"] = "KILL_SWITCH"

    forged = _rehash(lines, retarget)
    verify_chain(forged)  # the chain alone cannot tell
    with pytest.raises(ChainIntegrityError, match="line 6: the session MAC"):
        recheck_authentication(forged)

    def redirect(records: list[dict[str, Any]]) -> None:  # the disclosed session list edited
        for entry in records[-1]["sessions_closed"]["sessions"].values():
            entry[1] = records[-1]["sessions_closed"]["engine_session_public_b64"]

    forged = _rehash(lines, redirect)
    verify_chain(forged)
    with pytest.raises(ChainIntegrityError, match="line 4: the session MAC"):
        recheck_authentication(forged)
    bad = tmp_path / "forged.jsonl"
    bad.write_bytes(b"".join(x + b"\n" for x in forged))
    assert main(["verify-log", "--chain-only", str(bad)]) == 2


def test_ed25519_mode_signs_every_event_and_keys_recheck_signatures(tmp_path: Path) -> None:
    eng = _run("ed25519", steps=3)
    lines = eng.episode_log_lines()
    assert eng.close_sessions() is None
    keys = [{"key_id": f"K_{a}", "public_key_b64": derive_keypair(a)[1]} for a in AGENTS]
    assert recheck_authentication(lines, keys) == {
        "signatures_checked": 9,
        "macs_checked": 0,
        "macs_by_key": {},
        "unchecked": 0,
    }
    keyfile = tmp_path / "keys.yaml"
    keyfile.write_text(json.dumps({"keys": keys}), encoding="utf-8")
    log = eng.write_episode_log(tmp_path / "log.jsonl")
    from typer.testing import CliRunner

    from labtrust_gym.cli.app import build_app

    res = CliRunner().invoke(
        build_app(), ["verify-log", "--chain-only", str(log), "--keys", str(keyfile)]
    )
    assert res.exit_code == 0 and "9 signatures" in res.output

    def replay(records: list[dict[str, Any]]) -> None:  # an accepted event recorded twice
        records.append(json.loads(json.dumps(records[0])))
        records[-1]["outcome"]["seq"] = len(records)

    with pytest.raises(ChainIntegrityError, match="a replay was accepted"):
        recheck_authentication(_rehash(lines, replay), keys)


def test_session_expiry_and_close_make_the_signer_handshake_again() -> None:
    eng = _run("session", steps=2)
    eng.close_sessions()
    signer = EventSigner(keys={a: derive_keypair(a)[0] for a in AGENTS})
    batch = [{"t_s": 10.0, "agent_id": a, "action_type": "TICK", "args": {}} for a in AGENTS]
    signer.sign(batch, eng)
    assert all("session_pub" in e for e in batch)
    assert [r["status"] for r in eng.step_batch(batch)] == ["ACCEPTED"] * 3
    later = eng.policy.engine["signatures"]["session_ttl_s"] + 20.0
    eng.advance_to(later)
    batch = [{"t_s": later, "agent_id": a, "action_type": "TICK", "args": {}} for a in AGENTS]
    signer.sign(batch, eng)
    assert all("session_pub" in e for e in batch)  # expired: a new handshake
    assert [r["status"] for r in eng.step_batch(batch)] == ["ACCEPTED"] * 3


@pytest.mark.parametrize("key", [b"", b"k" * 32, b"x" * 64, b"y" * 65, bytes(range(200))])
def test_precomputed_hmac_is_standard_hmac_sha256(key: bytes) -> None:
    import hmac

    from labtrust_gym.engine.signing import HmacSha256

    for msg in (b"", b"m", b"z" * 1000):
        assert HmacSha256(key).hexdigest(msg) == hmac.new(key, msg, "sha256").hexdigest()
