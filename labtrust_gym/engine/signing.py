"""Ed25519 event signatures (strict mode) and the key registry check.

The signed message is the canonical JSON of the event without its ``signature`` field. Keys come
from ``policy/keys/key_registry.v0.1.yaml`` plus ``initial_state.keys``; each key has an owner
agent, a status and an optional validity window. ``cryptography`` is imported lazily, only when
strict mode or these helpers are used.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from typing import Any

from labtrust_gym.engine.hashchain import canonical_bytes


def signing_message(event: dict[str, Any]) -> bytes:
    return canonical_bytes({k: v for k, v in event.items() if k != "signature"})


@functools.lru_cache(maxsize=8192)  # pure in its arguments; ~40 µs each, needed every reset
def derive_keypair(agent_id: str, secret: bytes = b"labtrust-gym-test-keys") -> tuple[Any, str]:
    """A deterministic Ed25519 key pair for ``agent_id``: ``(private_key, public_key_b64)``.

    For tests, goldens and generated labs only — a real deployment provisions its own keys.
    """
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    seed = hashlib.sha256(secret + b"|" + agent_id.encode("utf-8")).digest()
    private = Ed25519PrivateKey.from_private_bytes(seed)
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return private, base64.b64encode(public).decode("ascii")


def sign_event(event: dict[str, Any], private_key: Any) -> str:
    """Base64 Ed25519 signature of ``event`` (its ``key_id`` must already be set)."""
    return base64.b64encode(private_key.sign(signing_message(event))).decode("ascii")


class KeyRing:
    """Public keys by id, with the checks strict mode applies to every event."""

    def __init__(self, keys: list[dict[str, Any]]) -> None:
        self._keys = {k["key_id"]: k for k in keys}
        self._loaded: dict[str, Any] = {}

    def public_keys(self) -> list[dict[str, Any]]:
        """Every key of the ring as plain data, sorted by key id (a log anchor records them so a
        verifier can re-check the logged signatures)."""
        return [dict(self._keys[k]) for k in sorted(self._keys)]

    def key_problem(self, key_id: str, agent_id: Any, role: str | None, now: float) -> str | None:
        """Whether ``agent_id`` (of ``role``) may sign with ``key_id`` at ``now``: the reason code
        if not (the checks of :meth:`check` before the signature itself is verified)."""
        key = self._keys.get(key_id)
        if key is None:
            return "SIG.UNKNOWN_KEY"
        if key["status"] != "active":
            return "SIG.KEY_REVOKED"
        if now < key.get("not_before_s", float("-inf")) or now > key.get(
            "not_after_s", float("inf")
        ):
            return "SIG.KEY_OUT_OF_WINDOW"
        if key["agent_id"] != agent_id:
            return "SIG.KEY_AGENT_MISMATCH"
        if key.get("role") is not None and key["role"] != role:
            return "SIG.KEY_ROLE_MISMATCH"
        return None

    def check(self, event: dict[str, Any], now: float, role: str | None) -> str | None:
        """``None`` when the event is validly signed, else the blocking reason code."""
        key_id = event.get("key_id")
        sig = event.get("signature")
        if not isinstance(key_id, str) or not isinstance(sig, str) or not key_id or not sig:
            return "SIG.MISSING"
        problem = self.key_problem(key_id, event["agent_id"], role, now)
        if problem is not None:
            return problem
        key = self._keys[key_id]
        pub = self._loaded.get(key_id)
        if pub is None:
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

            try:
                pub = Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key_b64"]))
            except ValueError:
                return "SIG.INVALID"
            self._loaded[key_id] = pub
        try:
            pub.verify(base64.b64decode(sig, validate=True), signing_message(event))
        except Exception:  # InvalidSignature or undecodable base64
            return "SIG.INVALID"
        return None
