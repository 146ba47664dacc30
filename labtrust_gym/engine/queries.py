"""``engine.query(expr)``: read-only questions about the simulation (see docs/engine.md).

``expr`` is ``name`` or ``name(arg, ...)``. An unknown query, a wrong number of arguments or an
unknown id raises ``InvalidInputError`` — never ``None`` by accident.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from labtrust_gym.engine.actions_lab import acceptance_failure, heard_read_back, inspect_specimen
from labtrust_gym.engine.initial_state import UNLIMITED
from labtrust_gym.errors import InvalidInputError, did_you_mean

if TYPE_CHECKING:
    from labtrust_gym.engine.core import HospitalLabEngine

_EXPR = re.compile(r"^\s*([a-z_]+)\s*(?:\((.*)\))?\s*$")


def _lookup(table: dict[str, Any], ident: str, kind: str) -> Any:
    obj = table.get(ident)
    if obj is None:
        raise InvalidInputError(f"Unknown {kind} {ident!r} in query.{did_you_mean(ident, table)}")
    return obj


def _spec(e: HospitalLabEngine, sid: str) -> Any:
    return _lookup(e.specimens, sid, "specimen")


def _dev(e: HospitalLabEngine, did: str) -> Any:
    return _lookup(e.devices, did, "device")


def _res(e: HospitalLabEngine, rid: str) -> Any:
    return _lookup(e.results, rid, "result")


def _zone(e: HospitalLabEngine, z: str) -> str:
    if z not in e.zone_index:
        raise InvalidInputError(f"Unknown zone {z!r} in query.{did_you_mean(z, e.zone_ids)}")
    return z


def _specimen_dict(e: HospitalLabEngine, sid: str) -> dict[str, Any]:
    s = _spec(e, sid)
    d = s.as_dict()
    d["route"] = list(s.route)
    d["next_device_type"] = s.route[s.step] if s.step < len(s.route) else None
    return d


def _device_state(e: HospitalLabEngine, did: str) -> dict[str, Any]:
    d = _dev(e, did)
    return {
        "device_id": d.device_id,
        "device_type": d.device_type,
        "zone_id": d.zone_id,
        "busy": d.busy_until is not None,
        "busy_until": d.busy_until,
        "queue_len": len(d.queue),
        "running": list(d.running),
        "qc_state": d.qc_state,
        "fault": d.fault,
        "maintenance": d.maintenance,
        "reagent": d.reagent,
    }


def _queue(e: HospitalLabEngine, did: str) -> list[str]:
    return [entry[3] for entry in sorted(_dev(e, did).queue)]


def _queue_head(e: HospitalLabEngine, did: str) -> str | None:
    q = _dev(e, did).queue
    return q[0][3] if q else None


def _next_device_type(e: HospitalLabEngine, sid: str) -> str | None:
    s = _spec(e, sid)
    if s.status not in ("accepted", "staged"):
        return None
    return str(s.route[s.step])


def _devices_for_specimen(e: HospitalLabEngine, sid: str) -> list[str]:
    t = _next_device_type(e, sid)
    return list(e.devices_by_type[t]) if t else []


def _devices_for_panel(e: HospitalLabEngine, panel: str) -> list[str]:
    p = _lookup(e.policy.panels, panel, "panel")
    return list(e.devices_by_type[p["route"][-1]])


def _specimens(e: HospitalLabEngine, status: str) -> list[str]:
    if status == "all":
        return list(e.specimens)
    if status not in e.stage_counts:
        raise InvalidInputError(
            f"Unknown specimen status {status!r}; known: {sorted(e.stage_counts)}."
        )
    return [s.specimen_id for s in sorted(e.by_status[status].values(), key=lambda s: s._seq)]


def _specimens_at(e: HospitalLabEngine, site: str, status: str) -> list[str]:
    if site not in e.policy.site_ids:
        raise InvalidInputError(f"Unknown site {site!r}; known: {sorted(e.policy.site_ids)}.")
    return [sid for sid in _specimens(e, status) if e.specimens[sid].site_id == site]


_RESULT_STATUSES = ("generated", "qc_hold", "invalidated", "released")


def _results(e: HospitalLabEngine, status: str) -> list[str]:
    if status != "all" and status not in _RESULT_STATUSES:
        raise InvalidInputError(
            f"Unknown result status {status!r}; known: {list(_RESULT_STATUSES)}."
        )
    if status == "all":
        return list(e.results)
    return [r.result_id for r in sorted(e.results_by_status[status].values(), key=lambda r: r._seq)]


def _zone_state(e: HospitalLabEngine, z: str) -> dict[str, Any]:
    _zone(e, z)
    zi = e.zone_index[z]
    cap = e.zone_capacity[zi]
    return {
        "zone_id": z,
        "agents": [a for a, r in e.agents.items() if r.zone_id == z],
        "occupancy": e.zone_occupancy[zi],
        "capacity": cap if cap < UNLIMITED else None,
        "frozen": z in e.frozen_zones,
        "restricted": z in e.policy.restricted_zones,
        "devices": [d for d, r in e.devices.items() if r.zone_id == z],
        "doors": sorted(d for d, spec in e.policy.doors.items() if z in spec["zones"]),
    }


def _agent_state(e: HospitalLabEngine, aid: str) -> dict[str, Any]:
    a = _lookup(e.agents, aid, "agent")
    return {
        "agent_id": aid,
        "role": a.role,
        "zone_id": a.zone_id,
        "throttled_until": a.throttled_until if a.throttled_until > float("-inf") else None,
        "authorized_zones": sorted(a.authorized_zones),
    }


def _next_hop(e: HospitalLabEngine, za: str, zb: str) -> str | None:
    i = int(e.next_hop_table[e.zone_index[_zone(e, za)], e.zone_index[_zone(e, zb)]])
    return e.zone_ids[i] if i >= 0 else None


def _path(e: HospitalLabEngine, za: str, zb: str) -> list[str]:
    out = [_zone(e, za)]
    _zone(e, zb)
    while out[-1] != zb:
        nxt = _next_hop(e, out[-1], zb)
        if nxt is None:
            return []
        out.append(nxt)
    return out


def _door_state(e: HospitalLabEngine, door_id: str) -> dict[str, Any]:
    spec = _lookup(e.policy.doors, door_id, "door")
    return {
        "door_id": door_id,
        "open": door_id in e.doors_open,
        "opened_t_s": e.doors_open.get(door_id),
        "max_open_s": spec["max_open_s"],
        "zones": list(spec["zones"]),
    }


_CONSIGNMENT_STATUSES = ("created", "in_transit", "arrived", "received")


def _consignments(e: HospitalLabEngine, status: str) -> list[str]:
    if status != "all" and status not in _CONSIGNMENT_STATUSES:
        raise InvalidInputError(
            f"Unknown consignment status {status!r}; known: {list(_CONSIGNMENT_STATUSES)}."
        )
    return [c for c, r in e.consignments.items() if status == "all" or r.status == status]


def _token(e: HospitalLabEngine, tid: str) -> dict[str, Any]:
    t = _lookup(e.tokens, tid, "token")
    d: dict[str, Any] = t.as_dict()
    if t.status == "active" and t.expires_t_s is not None and e.now_s >= t.expires_t_s:
        d["status"] = "expired"
    return d


def _result_dict(e: HospitalLabEngine, rid: str) -> dict[str, Any]:
    d: dict[str, Any] = _res(e, rid).as_dict()
    return d


def _stats(e: HospitalLabEngine) -> dict[str, Any]:
    st = e.stats
    return {
        "accepted": e.n_accepted,
        "blocked": st["blocked"],
        "blocked_by_reason": dict(st["blocked_by_reason"]),
        "violations_by_invariant": dict(st["violations_by_invariant"]),
        "released": e.n_released,
        "arrived": len(e.specimens),
        "critical_results": sum(1 for r in e.results.values() if r.critical),
        "critical_pending": e.n_critical_pending,
        "stage_counts": dict(e.stage_counts),
        "chain_length": e.chain_head()["length"],
    }


def _critical_call(e: HospitalLabEngine, rid: str) -> dict[str, Any]:
    """What the agents phoning a critical result know of the call (role-visible)."""
    r = _res(e, rid)
    return {
        "result_id": rid,
        "critical": r.critical,
        "tier": r.tier,
        "notified_t_s": r.tier_t_s,
        "read_back_heard": heard_read_back(r),
        "acknowledged": r.acked,
    }


#: The lab-wide work counts of :func:`work_counts`, in order (observations show them).
WORK_COUNT_FIELDS: tuple[str, ...] = (
    "to_accession",  # specimens arrived at the lab site
    "to_accept",  # accessioned, awaiting the acceptance decision
    "held",  # held at acceptance
    "remote_waiting",  # arrived at a collection site, awaiting transport
    "releasable",  # results awaiting release that may be released (not an unacked critical)
    "critical_to_notify",  # critical results not yet phoned through
    "critical_to_ack",  # critical results notified, awaiting the read-back
    "qc_held",  # results on QC hold
    "consignments_to_sign",  # dispatched consignments awaiting the custody signature
    "consignments_to_receive",  # consignments arrived at the lab
    "pending_tokens",  # tokens awaiting approvals
)


def work_counts(e: HospitalLabEngine) -> tuple[int, ...]:
    """The lab's work queues as counts (:data:`WORK_COUNT_FIELDS` order): what any agent on the
    floor can see on the lab's work lists, without naming specimens or results."""
    lab = e.lab_site_id
    at_lab = sum(1 for s in e.by_status["arrived"].values() if s.site_id == lab)
    notify = ack = crit_generated = 0
    for r in e.crit_pending.values():
        if r.tier == 0:
            notify += 1
        else:
            ack += 1
        if r.status == "generated":
            crit_generated += 1
    to_sign = to_receive = 0
    for c in e.consignments.values():
        if c.status == "created":
            to_sign += 1
        elif c.status == "arrived":
            to_receive += 1
    return (
        at_lab,
        e.stage_counts["accessioned"],
        e.stage_counts["held"],
        e.stage_counts["arrived"] - at_lab,
        e.n_results_awaiting_release - crit_generated,
        notify,
        ack,
        len(e.results_by_status["qc_hold"]),
        to_sign,
        to_receive,
        sum(1 for t in e.tokens.values() if t.status == "pending"),
    )


def _session(e: HospitalLabEngine, agent_id: str) -> dict[str, Any] | None:
    """The agent's open authentication session (never its key), or None."""
    _lookup(e.agents, agent_id, "agent")
    s = e.auth.sessions.get(agent_id)
    if s is None:
        return None
    return {
        "session_id": s.session_id,
        "key_id": s.key_id,
        "opened_t_s": s.opened_t_s,
        "expires_t_s": s.expires_t_s,
    }


QUERIES: dict[str, tuple[int, Callable[..., Any]]] = {
    "now": (0, lambda e: e.now_s),
    "specimen_status": (1, lambda e, s: _spec(e, s).status),
    "specimen": (1, _specimen_dict),
    "specimens": (1, _specimens),
    "specimens_at": (2, _specimens_at),
    "acceptance_check": (1, lambda e, s: acceptance_failure(e, _spec(e, s))),
    "inspect_specimen": (1, lambda e, s: inspect_specimen(e, _spec(e, s))),
    "critical_call": (1, _critical_call),
    "next_device_type": (1, _next_device_type),
    "devices_for_specimen": (1, _devices_for_specimen),
    "devices_for_panel": (1, _devices_for_panel),
    "queue_head": (1, _queue_head),
    "queue": (1, _queue),
    "device_state": (1, _device_state),
    "result_status": (1, lambda e, r: _res(e, r).status),
    "result": (1, _result_dict),
    "results": (1, _results),
    "critical_pending": (0, lambda e: list(e.crit_pending)),
    "released_results": (0, lambda e: [dict(r) for r in e.released]),
    "zone_state": (1, _zone_state),
    "agent_state": (1, _agent_state),
    "agent_zone": (1, lambda e, a: _lookup(e.agents, a, "agent").zone_id),
    "next_hop": (2, _next_hop),
    "path": (2, _path),
    "door_state": (1, _door_state),
    "token_state": (1, lambda e, t: _token(e, t)["status"]),
    "session": (1, lambda e, a: _session(e, a)),
    "token": (1, _token),
    "specimens_ready": (1, lambda e, t: e.ready_specimens(t)),
    "consignments": (1, _consignments),
    "consignment": (1, lambda e, c: _lookup(e.consignments, c, "consignment").as_dict()),
    "consignment_state": (1, lambda e, c: _lookup(e.consignments, c, "consignment").status),
    "chain_head": (0, lambda e: e.chain_head()),
    "work_counts": (0, lambda e: dict(zip(WORK_COUNT_FIELDS, work_counts(e), strict=True))),
    "stats": (0, _stats),
}


def run_query(e: HospitalLabEngine, expr: str) -> Any:
    if not isinstance(expr, str):
        raise InvalidInputError(f"A query is a string like 'specimen_status(S1)', got {expr!r}.")
    m = _EXPR.match(expr)
    if m is None:
        raise InvalidInputError(f"Malformed query {expr!r}; expected 'name' or 'name(arg, ...)'.")
    name, argtext = m.group(1), m.group(2)
    entry = QUERIES.get(name)
    if entry is None:
        raise InvalidInputError(
            f"Unknown query {name!r}. Known: {', '.join(sorted(QUERIES))}."
            f"{did_you_mean(name, QUERIES)}"
        )
    args = (
        [a.strip().strip("'\"") for a in argtext.split(",")] if argtext and argtext.strip() else []
    )
    if len(args) != entry[0]:
        raise InvalidInputError(
            f"Query {name!r} takes {entry[0]} argument(s), got {len(args)} in {expr!r}."
        )
    return entry[1](e, *args)
