"""The first stages of the engine's step pipeline: parsing an event (every value in it) and
checking its declared arguments. Pure functions of the event and the policy's limits; the engine
calls them before the gate's and the handler's checks (see :meth:`HospitalLabEngine.step`).

An event is *loggable* when it is plain JSON data the hash chain can record faithfully: dicts
with string keys, lists, strings without lone surrogates, integers within ±(2**53 - 1), finite
floats, booleans and null, nested at most ``max_event_depth`` containers deep. Anything else,
anywhere in the event (keys, declared or undeclared args, nested dicts such as MINT_TOKEN's
``scope``, ``token_refs``, ids), is ``EVENT.MALFORMED``: the event is serialised here, once,
before any state changes, and those bytes are what the chain records.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

_EMPTY: dict[str, Any] = {}
_MAX_T = 1e15  # seconds; event times beyond this (or NaN/inf) are malformed
_MAX_SEQ = 2**53 - 1
_INF = float("inf")
_dumps = orjson.dumps
#: canonical JSON (sorted keys) that also refuses integers beyond 53 bits
_STRICT = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER
_STR_FIELDS = ("event_id", "reason_code", "key_id", "signature", "session_id", "session_pub", "mac")
MALFORMED = "EVENT.MALFORMED"
_MAC_SHAPE = frozenset(("t_s", "agent_id", "action_type", "args", "session_id", "seq", "mac"))


def _loggable(v: Any, depth: int) -> bool:
    """Plain JSON types, finite floats, at most ``depth`` more containers deep. (Lone surrogates,
    non-string keys and unsafe integers are refused by the strict serialiser afterwards.)"""
    t = type(v)
    if t is str or t is int or t is bool or v is None:
        return True
    if t is float:
        return -_INF < v < _INF
    if depth <= 0:
        return False
    if t is dict:
        for x in v.values():
            tx = type(x)
            if tx is not str and tx is not int and not _loggable(x, depth - 1):
                return False
        return True
    if t is list:
        for x in v:
            tx = type(x)
            if tx is not str and tx is not int and not _loggable(x, depth - 1):
                return False
        return True
    return False


def parse_event(ev: Any, max_depth: int) -> Any:
    """Stage 1: ``(t, agent_id, action_type, args, event_id, reason_code, event_bytes)`` or the
    reason code the event is malformed with. ``event_bytes`` is the event's canonical JSON, or
    None when the event is of one of the env's plain shapes (``t_s``, ``agent_id``,
    ``action_type``, ``args``, optionally ``session_id``, ``seq``, ``mac``; ASCII text and
    JSON-safe numbers), which cannot fail to serialise (see :func:`event_bytes`).
    ``max_depth`` counts the event itself as the first container."""
    if type(ev) is not dict:
        return MALFORMED
    n = len(ev)
    if n == 4 or (n == 7 and ev.keys() == _MAC_SHAPE):
        try:  # the env's common shapes: plain, or session-authenticated
            t: Any = ev["t_s"]
            agent_id = ev["agent_id"]
            at = ev["action_type"]
            args = ev["args"]
        except KeyError:
            pass
        else:
            tt = type(t)
            if (
                (tt is not int and tt is not float)
                or type(agent_id) is not str
                or type(at) is not str
                or not -1e15 < t < 1e15  # _MAX_T; also rejects NaN and ±inf
            ):
                return MALFORMED
            # ASCII strings, JSON-safe ints and finite floats cannot fail to serialise: then
            # the bytes are left to the record (one serialisation instead of two)
            plain = agent_id.isascii() and at.isascii()
            if n == 7:
                seq = ev["seq"]
                if (
                    type(ev["mac"]) is not str
                    or type(ev["session_id"]) is not str
                    or type(seq) is not int
                    or not 0 <= seq <= _MAX_SEQ
                ):
                    return MALFORMED
                plain = plain and ev["mac"].isascii() and ev["session_id"].isascii()
            if type(args) is dict:
                for k, v in args.items():
                    tv = type(v)
                    if tv is str:
                        plain = plain and v.isascii()
                    elif tv is int:
                        plain = plain and -_MAX_SEQ <= v <= _MAX_SEQ
                    elif _loggable(v, max_depth - 2):
                        plain = plain and (tv is float or tv is bool or v is None)
                    else:
                        return MALFORMED
                    if plain and (type(k) is not str or not k.isascii()):
                        plain = False
            elif args is None:
                args = _EMPTY
            else:
                return MALFORMED
            if plain:
                return t, agent_id, at, args, None, None, None
            try:
                return t, agent_id, at, args, None, None, _dumps(ev, option=_STRICT)
            except TypeError:  # orjson.JSONEncodeError: surrogates, key types, big integers
                return MALFORMED
    get = ev.get
    t = get("t_s")
    agent_id = get("agent_id")
    at = get("action_type")
    tt = type(t)
    if (
        (tt is not int and tt is not float)
        or type(agent_id) is not str
        or type(at) is not str
        or not -_MAX_T < t < _MAX_T  # also rejects NaN and ±inf
    ):
        return MALFORMED
    args = get("args")
    if args is None:
        args = _EMPTY
    elif type(args) is not dict:
        return MALFORMED
    for name in _STR_FIELDS:
        v = get(name)
        if v is not None and type(v) is not str:
            return MALFORMED
    refs = get("token_refs")
    if refs is not None and (type(refs) is not list or any(type(r) is not str for r in refs)):
        return MALFORMED
    seq = get("seq")
    if seq is not None and (type(seq) is not int or not 0 <= seq <= _MAX_SEQ):
        return MALFORMED
    if not _loggable(ev, max_depth):
        return MALFORMED
    try:
        data = _dumps(ev, option=_STRICT)
    except TypeError:
        return MALFORMED
    return t, agent_id, at, args, get("event_id"), get("reason_code"), data


def event_bytes(ev: dict[str, Any]) -> bytes:
    """The canonical JSON of an event that passed :func:`parse_event`."""
    return _dumps(ev, option=_STRICT)


def check_args(args: dict[str, Any], plan: tuple[Any, ...], rc: str | None) -> str | None:
    """Stage 3: the declared arguments' presence and types (``EVENT.BAD_ARGS``). The values are
    already known to be loggable (stage 1)."""
    for name, types, required in plan[0]:
        v = args.get(name)
        if v is None:
            if required:
                return "EVENT.BAD_ARGS"
        elif type(v) not in types or (types[0] is list and any(type(x) is not str for x in v)):
            return "EVENT.BAD_ARGS"
    if rc is None and plan[1]:
        return "EVENT.BAD_ARGS"
    return None


# ------------------------------------------------------------------ refusal summaries
def _render(v: Any, depth: int) -> str:
    """A deterministic, lossless-enough text of any value (surrogates escaped, NaN spelled out,
    unknown objects by type name only: their repr may hold a memory address)."""
    t = type(v)
    if t is str:
        return ascii(v)
    if v is None or t is bool or t is int or t is float:
        return repr(v)
    if depth <= 0:
        return "<too deep>"
    if t is dict:
        items = sorted(f"{_render(k, depth - 1)}:{_render(x, depth - 1)}" for k, x in v.items())
        return "{" + ",".join(items) + "}"
    if t is list or t is tuple:
        inner = ",".join(_render(x, depth - 1) for x in v)
        return f"[{inner}]" if t is list else f"({inner})"
    return f"<{t.__module__}.{t.__qualname__}>"


def refusal_summary(ev: Any, data: bytes | None) -> dict[str, Any]:
    """What a refusal record keeps of an event it does not hold verbatim: a digest, the size,
    and the short, clean scalar fields (``event_id``, ``agent_id``, ``action_type``, ``t_s``).

    ``data`` is the event's canonical JSON when it has one (digest ``canonical_json``), else the
    digest is of :func:`_render`'s text (``rendering``)."""
    if data is not None:
        out: dict[str, Any] = {"digest_of": "canonical_json"}
    else:
        data = _render(ev, 64).encode("ascii")
        out = {"digest_of": "rendering"}
    out["sha256"] = hashlib.sha256(data).hexdigest()
    out["bytes"] = len(data)
    if type(ev) is dict:
        for k in ("event_id", "agent_id", "action_type"):
            v = ev.get(k)
            if type(v) is str and len(v) <= 128 and v.isascii() and v.isprintable():
                out[k] = v
        t = ev.get("t_s")
        if (type(t) is int or type(t) is float) and -_MAX_T < t < _MAX_T:
            out["t_s"] = t
    return out
