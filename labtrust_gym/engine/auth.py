"""Strict-mode authentication of events: Ed25519 or session MAC, and replay protection.

:meth:`Authenticator.check` is pure (the gate calls it, and so does the dry run
``engine.check``); :meth:`Authenticator.commit` records what an authenticated event changes in the
security state — the agent's sequence number high-water mark, and a session it opens — and the
engine calls it as soon as the event has passed the gate, even if a later stage refuses it
(otherwise an event refused now could be replayed later, when it would be accepted).

This state is not simulation state: :meth:`state` is part of the engine's audit state, beside
the hash chain (a BLOCKED step changes neither the simulation nor time, but it is recorded).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import orjson

from labtrust_gym.engine.signing import (
    HmacSha256,
    KeyRing,
    private_bytes,
    session_key,
    signing_message,
    x25519_keypair,
)

_SORT = orjson.OPT_SORT_KEYS


@dataclass
class Session:
    session_id: str  # "<key_id>#<seq of the handshake>"
    agent_id: str
    key_id: str  # the Ed25519 key that signed the handshake
    key: bytes
    opened_t_s: float
    expires_t_s: float
    key_window: tuple[float, float]  # the signing key's validity window (static per episode)

    def __post_init__(self) -> None:
        self.hmac = HmacSha256(self.key)


class Authenticator:
    """Key registry + per-agent sequence numbers + open sessions of one episode."""

    def __init__(
        self, keyring: KeyRing, mode: str, session_ttl_s: float, secret: bytes, seed: int
    ) -> None:
        self.keyring = keyring
        self.mode = mode
        self.session_ttl_s = float(session_ttl_s)
        self.last_seq: dict[str, int] = {}
        self.sessions: dict[str, Session] = {}  # agent_id -> its open session
        self.opened: dict[str, list[str]] = {}  # this epoch: session_id -> [agent, session_pub]
        self.epoch = 0
        self._secret = secret
        self._seed = seed
        self._engine_key: Any = None
        self._public_b64: str | None = None
        self._pending: tuple[Any, Session] | None = None  # (event, session it opens)
        self._checked: Any = None  # the last event check() authenticated

    # ------------------------------------------------------------------ engine session key
    def _engine_seed(self) -> bytes:
        return b"|".join(
            (
                b"labtrust-gym engine session key",
                self._secret,
                b"%d" % self._seed,
                b"%d" % self.epoch,
            )
        )

    @property
    def session_public_key_b64(self) -> str:
        """The engine's X25519 public key of the current epoch (what agents key sessions to)."""
        if self._public_b64 is None:
            self._engine_key, self._public_b64 = x25519_keypair(self._engine_seed())
        return self._public_b64

    # ------------------------------------------------------------------ the check
    def check(self, ev: dict[str, Any], now: float, role: str | None) -> str | None:
        """``None`` when the event is authenticated and fresh, else the blocking reason code."""
        agent_id = ev["agent_id"]
        seq = ev.get("seq")
        sig = ev.get("signature")
        if sig is not None:
            key_id = ev.get("key_id")
            if not key_id or not sig:
                return "SIG.MISSING"
            code = self.keyring.key_check(key_id, agent_id, now, role)
            if code is not None:
                return code
            if seq is not None and seq <= self.last_seq.get(agent_id, 0):
                return "SIG.REPLAY"  # before the (costly) verification: replays are cheap
            pub = ev.get("session_pub")
            if pub is not None and self.mode != "session":
                return "SIG.SESSION_DISABLED"
            if not self.keyring.verify(key_id, sig, signing_message(ev)):
                return "SIG.INVALID"
            if seq is None:  # authentic but without a sequence number: replayable
                return "SIG.MISSING"
            if pub is not None:
                sid = f"{key_id}#{seq}"
                self.session_public_key_b64  # noqa: B018 - derives the engine key
                key = session_key(self._engine_key, pub, sid, agent_id)
                if key is None:
                    return "SIG.INVALID"
                self._pending = (
                    ev,
                    Session(
                        sid,
                        agent_id,
                        key_id,
                        key,
                        now,
                        now + self.session_ttl_s,
                        self.keyring.window(key_id),
                    ),
                )
            self._checked = ev
            return None
        mac = ev.get("mac")
        if mac is None or seq is None or not ev.get("session_id"):
            return "SIG.MISSING"
        if self.mode != "session":
            return "SIG.SESSION_DISABLED"
        s = self.sessions.get(agent_id)
        if s is None or s.session_id != ev["session_id"]:
            return "SIG.SESSION_UNKNOWN"
        # the handshake checked the key's status, owner and role (all fixed for the episode);
        # its validity window and the session's lifetime are checked per event
        if not s.key_window[0] <= now <= s.key_window[1]:
            return "SIG.KEY_OUT_OF_WINDOW"
        if now > s.expires_t_s:
            return "SIG.SESSION_EXPIRED"
        if seq <= self.last_seq.get(agent_id, 0):
            return "SIG.REPLAY"
        if len(mac) != 64 or not mac.isascii():
            return "SIG.INVALID"
        unmac = ev.copy()
        del unmac["mac"]
        msg = orjson.dumps(unmac, option=_SORT)
        if not hmac.compare_digest(s.hmac.hexdigest(msg), mac):
            return "SIG.INVALID"
        self._checked = ev
        return None

    def commit(self, ev: dict[str, Any]) -> None:
        """If :meth:`check` authenticated ``ev`` (whatever the later gate stages said): use up
        its sequence number and open the session it carries."""
        if self._checked is not ev:
            return
        self._checked = None
        self.last_seq[ev["agent_id"]] = ev["seq"]
        pending = self._pending
        if pending is not None and pending[0] is ev:
            self.sessions[ev["agent_id"]] = pending[1]
            self.opened[pending[1].session_id] = [ev["agent_id"], ev["session_pub"]]
        self._pending = None

    # ------------------------------------------------------------------ closing and state
    def close_all(self) -> dict[str, Any]:
        """End every session and disclose this epoch's engine key with every session opened in
        the epoch (id → agent, ``session_pub``), so a verifier can re-derive every session key
        and re-check its MACs; the next epoch gets a fresh key."""
        self.session_public_key_b64  # noqa: B018
        disclosed = {
            "epoch": self.epoch,
            "engine_session_private_b64": base64.b64encode(private_bytes(self._engine_key)).decode(
                "ascii"
            ),
            "engine_session_public_b64": self._public_b64,
            "sessions": dict(sorted(self.opened.items())),
        }
        self.sessions = {}
        self.opened = {}
        self.epoch += 1
        self._engine_key = self._public_b64 = None
        self._pending = None
        return disclosed

    def state(self) -> dict[str, Any]:
        return {
            "last_seq": dict(sorted(self.last_seq.items())),
            "sessions": {
                a: [s.session_id, hashlib.sha256(s.key).hexdigest(), s.expires_t_s]
                for a, s in sorted(self.sessions.items())
            },
            "epoch": self.epoch,
        }
