"""Offline re-check of the authentication recorded in an episode log (``verify-log``).

After the chain itself verifies (:func:`labtrust_gym.engine.hashchain.verify_chain`), every
*accepted* event that carried authentication is checked again, as the engine did before it took
effect:

* an Ed25519 ``signature`` against the public key of its ``key_id`` (when the verifier is given
  the key registry);
* a session ``mac`` against the session key, which the verifier re-derives from the engine's
  epoch key and the session's ``session_pub``, both disclosed by the ``sessions_closed`` record
  that ended the epoch (the engine lists every session it opened, so a forged handshake in a
  refusal record cannot redirect the check);
* per agent, sequence numbers of accepted authenticated events strictly increase (no replay).

Anything that does not hold is a :class:`~labtrust_gym.errors.ChainIntegrityError` naming the
line; what could not be checked (no keys given, an epoch never closed) is counted, not hidden.
MACs are also counted by the key that opened their session (``macs_by_key``): a MAC is only as
trustworthy as the handshake signature behind it.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Iterable
from typing import Any

import orjson

from labtrust_gym.engine.hashchain import parse_line
from labtrust_gym.engine.signing import KeyRing, session_key, signing_message
from labtrust_gym.errors import ChainIntegrityError

_SORT = orjson.OPT_SORT_KEYS


def _records(lines: Iterable[bytes | str]) -> list[dict[str, Any]]:
    """The records of the lines, parsed under the chain's depth bound (hashchain.parse_line)."""
    return [parse_line(line, lineno) for lineno, line in enumerate(lines, start=1)]


def recheck_authentication(
    lines: Iterable[bytes | str], keys: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Re-check a verified log's authenticated events; returns the counts (see module doc)."""
    keyring = KeyRing(keys) if keys is not None else None
    owners = {k["key_id"]: k.get("agent_id") for k in keys or ()}
    counts: dict[str, Any] = {
        "signatures_checked": 0,
        "macs_checked": 0,
        "macs_by_key": {},
        "unchecked": 0,
    }
    pending: list[tuple[int, dict[str, Any]]] = []  # MAC'd events of the open epoch
    last_seq: dict[str, int] = {}
    for lineno, rec in enumerate(_records(lines), start=1):
        closed = rec.get("sessions_closed")
        if closed is not None:
            _check_macs(_closure(closed, lineno), pending, counts)
            pending = []
            continue
        refused = rec.get("refused")
        ev = rec.get("event") if refused is None else refused.get("event")
        if not isinstance(ev, dict):
            continue
        if refused is not None or "seq" not in ev:
            continue  # refused events took no effect; unauthenticated ones carry nothing
        check_auth_fields(ev, lineno)
        agent, seq = ev["agent_id"], ev["seq"]
        if seq <= last_seq.get(agent, 0):
            raise ChainIntegrityError(
                f"Episode log line {lineno}: accepted event of {agent!r} with sequence number "
                f"{seq} after {last_seq[agent]} (a replay was accepted)."
            )
        last_seq[agent] = seq
        if "signature" in ev:
            if keyring is None or ev.get("key_id") not in owners:
                counts["unchecked"] += 1
            elif owners[ev["key_id"]] not in (None, agent):
                raise ChainIntegrityError(
                    f"Episode log line {lineno}: accepted event of {agent!r} signed with key "
                    f"{ev['key_id']!r}, which belongs to {owners[ev['key_id']]!r}."
                )
            elif not keyring.verify(ev["key_id"], ev["signature"], signing_message(ev)):
                raise ChainIntegrityError(
                    f"Episode log line {lineno}: the Ed25519 signature of an accepted event "
                    f"(key {ev['key_id']!r}) does not verify."
                )
            else:
                counts["signatures_checked"] += 1
        elif "mac" in ev:
            pending.append((lineno, ev))
    counts["unchecked"] += len(pending)  # an epoch never closed: its key was not disclosed
    return counts


#: The types of the authentication fields of an accepted event, as the engine writes them (it
#: refuses any other event), so the re-check never trips over a hand-made line.
_AUTH_FIELDS: dict[str, type] = {
    "agent_id": str,
    "seq": int,
    "key_id": str,
    "signature": str,
    "session_id": str,
    "mac": str,
    "session_pub": str,
}


class MalformedRecordError(ChainIntegrityError):
    """A chain line the engine could not have written (it verifies as a chain, but its fields
    have types or values the engine never logs)."""


def _malformed(lineno: int, what: str) -> MalformedRecordError:
    return MalformedRecordError(
        f"Episode log line {lineno}: {what}; the engine never logs that, so the line was made "
        "by hand."
    )


def check_auth_fields(ev: dict[str, Any], lineno: int) -> None:
    """Refuse (:class:`MalformedRecordError`) an accepted, authenticated event whose
    authentication fields are not what the engine writes (types, a negative ``seq``, values
    canonical JSON cannot hold)."""
    for name, kind in _AUTH_FIELDS.items():
        value = ev.get(name)
        if (name in ev or name in ("agent_id", "seq")) and (
            not isinstance(value, kind) or isinstance(value, bool)
        ):
            raise _malformed(lineno, f"an accepted event whose {name} is {value!r:.40}")
    if ev["seq"] < 0:
        raise _malformed(lineno, f"an accepted event with the sequence number {ev['seq']}")
    try:
        orjson.dumps(ev, option=_SORT)
    except TypeError:  # e.g. an integer beyond 64 bits: no signature could cover it
        raise _malformed(lineno, "an accepted event with values no canonical JSON holds") from None


def _closure(closed: Any, lineno: int) -> dict[str, Any]:
    """A ``sessions_closed`` record, its fields checked (the epoch key: 32 bytes of base64)."""
    key = closed.get("engine_session_private_b64") if isinstance(closed, dict) else None
    sessions = closed.get("sessions") if isinstance(closed, dict) else None
    try:
        raw = base64.b64decode(key, validate=True) if isinstance(key, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != 32 or not isinstance(sessions, dict) or not all(
        isinstance(v, list) and len(v) == 2 and all(isinstance(x, str) for x in v)
        for v in sessions.values()
    ):
        raise _malformed(lineno, "a session closure without a 32-byte epoch key and session list")
    return {**closed, "engine_session_private": raw}


def _check_macs(
    closed: dict[str, Any],
    pending: list[tuple[int, dict[str, Any]]],
    counts: dict[str, Any],
) -> None:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    engine_key = X25519PrivateKey.from_private_bytes(closed["engine_session_private"])
    keys: dict[str, bytes | None] = {}
    for lineno, ev in pending:
        sid = ev["session_id"]
        if sid not in keys:
            hs = closed["sessions"].get(sid)  # the engine's own list: [agent, session_pub]
            keys[sid] = session_key(engine_key, hs[1], sid, hs[0]) if hs else None
        key = keys[sid]
        msg = orjson.dumps({k: v for k, v in ev.items() if k != "mac"}, option=_SORT)
        if key is None or not hmac.compare_digest(
            hmac.new(key, msg, "sha256").hexdigest(), str(ev["mac"])
        ):
            raise ChainIntegrityError(
                f"Episode log line {lineno}: the session MAC of an accepted event (session "
                f"{sid!r}) does not verify under the disclosed session key."
            )
        counts["macs_checked"] += 1
        opener = sid.rpartition("#")[0]  # a session id is "<key_id>#<seq>" of its handshake
        counts["macs_by_key"][opener] = counts["macs_by_key"].get(opener, 0) + 1
