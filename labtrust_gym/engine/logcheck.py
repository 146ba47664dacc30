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
            _check_macs(closed, pending, counts)
            pending = []
            continue
        refused = rec.get("refused")
        ev = rec.get("event") if refused is None else refused.get("event")
        if not isinstance(ev, dict):
            continue
        if refused is not None or "seq" not in ev:
            continue  # refused events took no effect; unauthenticated ones carry nothing
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


def _check_macs(
    closed: dict[str, Any],
    pending: list[tuple[int, dict[str, Any]]],
    counts: dict[str, Any],
) -> None:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    engine_key = X25519PrivateKey.from_private_bytes(
        base64.b64decode(closed["engine_session_private_b64"])
    )
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
