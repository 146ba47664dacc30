"""Event authentication primitives: Ed25519 signatures, the key registry, session keys and MACs.

Two ways to authenticate an event (docs/engine.md, "Signed events"):

* **Ed25519 per event**: ``key_id`` + ``seq`` + ``signature`` (base64 Ed25519 over the event's
  canonical JSON without ``signature``/``mac``).
* **Session**: one Ed25519-signed event that also carries ``session_pub`` (an X25519 public key)
  opens a session; both sides derive a 32-byte key from X25519 with the engine's per-episode key
  and HKDF-SHA256; later events carry ``session_id`` + ``seq`` + ``mac`` (hex HMAC-SHA256 over
  the canonical JSON without ``mac``).

``cryptography`` is imported lazily, only when a strict lab or these helpers are used.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from typing import Any

import orjson

from labtrust_gym.engine.hashchain import canonical_bytes

_SORT = orjson.OPT_SORT_KEYS
_AUTH_FIELDS = frozenset(("signature", "mac"))
SESSION_INFO = b"labtrust-gym session key v1|"


def signing_message(event: dict[str, Any]) -> bytes:
    """What a signature or MAC covers: the canonical JSON of the event without them."""
    return canonical_bytes({k: v for k, v in event.items() if k not in _AUTH_FIELDS})


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
    """Base64 Ed25519 signature of ``event`` (its ``key_id`` and ``seq`` must already be set)."""
    return base64.b64encode(private_key.sign(signing_message(event))).decode("ascii")


# ------------------------------------------------------------------ sessions
def x25519_keypair(seed: bytes) -> tuple[Any, str]:
    """A deterministic X25519 key pair from 32+ bytes of seed: ``(private, public_b64)``."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    private = X25519PrivateKey.from_private_bytes(hashlib.sha256(seed).digest())
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return private, base64.b64encode(public).decode("ascii")


def private_bytes(private: Any) -> bytes:
    """The raw 32 bytes of an Ed25519 or X25519 private key."""
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    raw: bytes = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return raw


def session_key(private: Any, peer_public_b64: str, session_id: str, agent_id: str) -> bytes | None:
    """The 32-byte session key both sides derive (None if the peer key is not a valid X25519
    public key): HKDF-SHA256 over the X25519 shared secret, bound to the session and agent."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    try:
        raw = base64.b64decode(peer_public_b64, validate=True)
        shared = private.exchange(X25519PublicKey.from_public_bytes(raw))
    except ValueError:  # bad base64, wrong length, or a low-order point (all-zero secret)
        return None
    info = SESSION_INFO + session_id.encode("utf-8") + b"|" + agent_id.encode("utf-8")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(shared)


# ------------------------------------------------------------------ keys
class KeyRing:
    """Public keys by id, with the checks every authenticated event passes."""

    def __init__(self, keys: list[dict[str, Any]]) -> None:
        self._keys = {k["key_id"]: k for k in keys}
        self._loaded: dict[str, Any] = {}

    def public_keys(self) -> list[dict[str, Any]]:
        """Every key of the ring as plain data, sorted by key id (a log anchor records them so a
        verifier can re-check the logged signatures)."""
        return [dict(self._keys[k]) for k in sorted(self._keys)]

    def key_check(self, key_id: str, agent_id: str, now: float, role: str | None) -> str | None:
        """The key exists, is active and in its window at ``now``, and belongs to this agent
        (and role, when bound to one); else the reason code."""
        key = self._keys.get(key_id)
        if key is None:
            return "SIG.UNKNOWN_KEY"
        if key.get("status", "active") != "active":
            return "SIG.KEY_REVOKED"
        if now < key.get("not_before_s", float("-inf")) or now > key.get(
            "not_after_s", float("inf")
        ):
            return "SIG.KEY_OUT_OF_WINDOW"
        owner = key.get("agent_id")  # a verifier's key file may leave the binding out
        if owner is not None and owner != agent_id:
            return "SIG.KEY_AGENT_MISMATCH"
        if key.get("role") is not None and key["role"] != role:
            return "SIG.KEY_ROLE_MISMATCH"
        return None

    def window(self, key_id: str) -> tuple[float, float]:
        key = self._keys[key_id]
        return key.get("not_before_s", float("-inf")), key.get("not_after_s", float("inf"))

    def verify(self, key_id: str, signature: str, message: bytes) -> bool:
        """The Ed25519 signature (base64) of ``message`` under a known key verifies."""
        pub = self._loaded.get(key_id)
        if pub is None:
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

            try:
                pub = Ed25519PublicKey.from_public_bytes(
                    base64.b64decode(self._keys[key_id]["public_key_b64"])
                )
            except ValueError:
                return False
            self._loaded[key_id] = pub
        try:
            pub.verify(base64.b64decode(signature, validate=True), message)
        except Exception:  # InvalidSignature or undecodable base64
            return False
        return True


# ------------------------------------------------------------------ the agent's side
def open_session(
    event: dict[str, Any],
    key_id: str,
    seq: int,
    private_key: Any,
    ephemeral_seed: bytes,
    engine_public_b64: str,
) -> tuple[str, bytes]:
    """Make ``event`` a session handshake (``key_id``, ``seq``, ``session_pub``, Ed25519
    ``signature``) and return ``(session_id, session_key)`` as the engine will derive them."""
    eph, pub = x25519_keypair(ephemeral_seed)
    event["key_id"] = key_id
    event["seq"] = seq
    event["session_pub"] = pub
    event["signature"] = sign_event(event, private_key)
    session_id = f"{key_id}#{seq}"
    key = session_key(eph, engine_public_b64, session_id, event["agent_id"])
    if key is None:
        raise ValueError(f"engine session public key {engine_public_b64!r} is not an X25519 key")
    return session_id, key


class HmacSha256:
    """HMAC-SHA256 under one key with the keyed inner and outer SHA-256 states computed once
    (RFC 2104): per message two state copies and two short hashes — about half the cost of a
    one-shot ``hmac.digest``, whose OpenSSL 3 call sets up the key schedule every time."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        key = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def hexdigest(self, message: bytes) -> str:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


def mac_sign(event: dict[str, Any], session_id: str, seq: int, key: bytes | HmacSha256) -> None:
    """Authenticate ``event`` within a session: set ``session_id``, ``seq`` and ``mac`` (hex
    HMAC-SHA256 of the canonical JSON of the event without ``mac``)."""
    event["session_id"] = session_id
    event["seq"] = seq
    mac = key if isinstance(key, HmacSha256) else HmacSha256(key)
    event["mac"] = mac.hexdigest(orjson.dumps(event, option=_SORT))
