"""The first stages of the engine's step pipeline: parsing an event and checking its
arguments. Pure functions of the event (and the action's argument spec); the engine calls them
before the gate's and the handler's checks (see :meth:`HospitalLabEngine.step`).
"""

from __future__ import annotations

from typing import Any

from labtrust_gym.engine.hashchain import dumps_with_option

_EMPTY: dict[str, Any] = {}
_MAX_T = 1e15  # seconds; event times beyond this (or NaN/inf) are malformed
_MAX_INT = 2**53
_INF = float("inf")
_BASIC_KEYS = frozenset(("t_s", "agent_id", "action_type", "args"))
_EVENT_KEYS = frozenset(
    (
        "event_id",
        "t_s",
        "agent_id",
        "action_type",
        "args",
        "reason_code",
        "token_refs",
        "key_id",
        "signature",
    )
)
_dumps, _SORT = dumps_with_option()


def parse_event(ev: Any) -> Any:
    """Stage 1: the event's fields ``(t, agent_id, action_type, args, event_id, reason_code,
    basic)`` or the reason code it is malformed with. ``basic`` = the env's common shape (only
    ``t_s``, ``agent_id``, ``action_type``, ``args``), checked on a fast path."""
    if type(ev) is not dict:
        return "EVENT.MALFORMED"
    if len(ev) == 4:
        try:  # the common shape (what the env sends): no optional fields to look at
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
                return "EVENT.MALFORMED"
            if type(args) is not dict:
                if args is not None:
                    return "EVENT.MALFORMED"
                args = _EMPTY
            return t, agent_id, at, args, None, None, True
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
        return "EVENT.MALFORMED"
    args = get("args")
    if args is None:
        args = _EMPTY
    elif type(args) is not dict:
        return "EVENT.MALFORMED"
    eid = get("event_id")
    if eid is not None and type(eid) is not str:
        return "EVENT.MALFORMED"
    refs = get("token_refs")
    if refs is not None and (type(refs) is not list or any(type(r) is not str for r in refs)):
        return "EVENT.MALFORMED"
    rc = get("reason_code")
    if rc is not None and type(rc) is not str:
        return "EVENT.MALFORMED"
    return t, agent_id, at, args, eid, rc, False


def check_args(
    ev: dict[str, Any],
    args: dict[str, Any],
    plan: tuple[Any, ...],
    rc: str | None,
    eid: str | None,
    basic: bool,
) -> str | bytes | None:
    """Stage 3: argument types (``EVENT.BAD_ARGS``) and serialisability (``EVENT.MALFORMED``).

    Returns the reason code, else the event's canonical bytes when they had to be computed now
    (anything beyond known keys with checked ASCII values is serialised before the handler runs,
    so a non-serialisable event is BLOCKED instead of failing half-way), else None (the record
    is serialised in one call after the handler).
    """
    arg_spec, needs_rc, _handler, _invariants, arg_names = plan
    non_ascii = False
    for name, types, required in arg_spec:
        v = args.get(name)
        if v is None:
            if required:
                return "EVENT.BAD_ARGS"
        elif (
            type(v) not in types
            or (types[0] is list and any(type(x) is not str for x in v))
            or (type(v) is int and not -_MAX_INT < v < _MAX_INT)  # JSON-safe integers only
            or (type(v) is float and not -_INF < v < _INF)  # no NaN / infinity
        ):
            return "EVENT.BAD_ARGS"
        elif type(v) is str:
            # non-ASCII text may hold lone surrogates, which cannot be serialised
            non_ascii = non_ascii or not v.isascii()
        elif type(v) is list:
            non_ascii = non_ascii or not all(x.isascii() for x in v)
    if rc is None and needs_rc:
        return "EVENT.BAD_ARGS"
    if basic:
        serialise_now = non_ascii or (bool(args) and not args.keys() <= arg_names)
    else:
        serialise_now = (
            non_ascii
            or not (
                ev.keys() <= _EVENT_KEYS
                and args.keys() <= arg_names
                and type(ev.get("key_id", "")) is str
                and type(ev.get("signature", "")) is str
            )
            or not all(
                x.isascii()
                for x in (
                    eid or "",
                    rc or "",
                    ev.get("key_id") or "",
                    ev.get("signature") or "",
                    *(ev.get("token_refs") or ()),
                )
            )
        )
    if not serialise_now:
        return None
    try:
        out: bytes = _dumps(ev, option=_SORT)
    except (TypeError, ValueError):
        return "EVENT.MALFORMED"
    return out
