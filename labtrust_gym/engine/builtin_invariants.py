"""The built-in invariant handlers (registered as ``type.check`` by the engine's plugin).

Each is ``(engine, event, params) -> (passed, reason_code, details) | None`` and runs after an
accepted step; ``engine.ctx_*`` holds what the step did (acting agent, its previous zone, tokens
consumed, specimens started, stability overrides used). A violation is the acting agent's unless
``details["responsible_agent_id"]`` names another agent or is None (nobody's in particular): a
door left open too long is its opener's, an overdue escalation nobody's.
"""

from __future__ import annotations

from typing import Any

Result = tuple[bool, str | None, dict[str, Any] | None] | None
_PASS = (True, None, None)


def zone_adjacency(eng: Any, ev: dict[str, Any], params: dict[str, Any]) -> Result:
    agent = eng.ctx_agent
    prev = eng.ctx_prev_zone
    if agent.zone_id == prev or agent.zone_id in eng.policy.neighbors[prev]:
        return _PASS
    return (
        False,
        "ZONE.NOT_ADJACENT",
        {"agent_id": agent.agent_id, "from": prev, "to": agent.zone_id},
    )


def zone_colocation(eng: Any, ev: dict[str, Any], params: dict[str, Any]) -> Result:
    dev = eng.devices.get((ev.get("args") or {}).get("device_id"))
    if dev is None:
        return None
    agent = eng.ctx_agent
    if dev.zone_id == agent.zone_id:
        return _PASS
    return False, "ZONE.NOT_COLOCATED", {"agent_id": agent.agent_id, "device_id": dev.device_id}


def zone_restricted_occupancy(eng: Any, ev: dict[str, Any], params: dict[str, Any]) -> Result:
    agent = eng.ctx_agent
    z = agent.zone_id
    if z not in eng.policy.restricted_zones or z in agent.authorized_zones:
        return _PASS
    return False, "ZONE.RESTRICTED_OCCUPANCY", {"agent_id": agent.agent_id, "zone_id": z}


def zone_door_open_too_long(eng: Any, ev: dict[str, Any], params: dict[str, Any]) -> Result:
    # O(1) on most steps: the earliest deadline is cached until a door opens/closes or a report
    now = eng.now_s
    due = eng.door_due
    if due is not None and now <= due:
        return _PASS
    if due is None:
        doors = eng.policy.doors
        reported = eng.door_overdue_reported
        dues = [
            opened + doors[d]["max_open_s"]
            for d, opened in eng.doors_open.items()
            if d not in reported
        ]
        eng.door_due = min(dues) if dues else float("inf")
    if now <= eng.door_due:
        return _PASS
    doors = eng.policy.doors
    reported = eng.door_overdue_reported
    for door_id, opened in eng.doors_open.items():
        if door_id not in reported and now - opened > doors[door_id]["max_open_s"]:
            reported.add(door_id)  # report each overdue opening once
            eng.door_due = None
            opener = eng.door_opened_by.get(door_id)  # None: open from the start (nobody)
            return (
                False,
                "DOOR.OPEN_TOO_LONG",
                {"door_id": door_id, "open_s": now - opened, "responsible_agent_id": opener},
            )
    return _PASS


def token_single_use(eng: Any, ev: dict[str, Any], params: dict[str, Any]) -> Result:
    if not eng.ctx_consumed:
        return None
    for tid in eng.ctx_consumed:
        if eng.tokens[tid].uses > 1:
            return False, "TOKEN.ALREADY_USED", {"token_id": tid}
    return _PASS


def critical_acked_before_release(eng: Any, ev: dict[str, Any], params: dict[str, Any]) -> Result:
    r = eng.results.get(ev["args"].get("result_id"))
    if r is None or not r.critical:
        return None
    if r.acked:
        return _PASS
    return False, "CRIT.NOT_ACKNOWLEDGED", {"result_id": r.result_id}


def critical_readback_match(eng: Any, ev: dict[str, Any], params: dict[str, Any]) -> Result:
    r = eng.results.get(ev["args"].get("result_id"))
    if r is None:
        return None
    if ev["args"].get("read_back") == r.readback:
        return _PASS
    return False, "CRIT.READBACK_MISMATCH", {"result_id": r.result_id}


def _crit_due(eng: Any, r: Any) -> float:
    if r.tier == 0:
        return float(r.generated_t_s + eng.policy.notify_within_s)
    return float(r.tier_t_s + eng.policy.tiers[r.tier - 1]["deadline_s"])


def critical_escalation_deadline(eng: Any, ev: dict[str, Any], params: dict[str, Any]) -> Result:
    # the earliest unreported deadline is cached until a critical result changes (crit_due=None)
    now = eng.now_s
    due = eng.crit_due
    if due is not None and now <= due:
        return _PASS
    if due is None:
        dues = [
            _crit_due(eng, r) for r in eng.crit_pending.values() if r.tier not in r.overdue_reported
        ]
        eng.crit_due = min(dues) if dues else float("inf")
    if now <= eng.crit_due:
        return _PASS
    for r in eng.crit_pending.values():
        if now > _crit_due(eng, r) and r.tier not in r.overdue_reported:
            r.overdue_reported.add(r.tier)  # report each overdue tier once
            eng.crit_due = None
            # an omission of the lab's, not of the agent whose event happened to find it
            details = {"result_id": r.result_id, "tier": r.tier, "responsible_agent_id": None}
            return False, "CRIT.ESCALATION_OVERDUE", details
    return _PASS


def stability_within_window(eng: Any, ev: dict[str, Any], params: dict[str, Any]) -> Result:
    if not eng.ctx_started:
        return None
    now = eng.now_s
    for sid in eng.ctx_started:
        s = eng.specimens[sid]
        limit = eng.policy.stability.get(s.panel)
        if limit is not None and now - s.collected_t_s > limit and sid not in eng.ctx_overrides:
            return False, "STABILITY.EXPIRED", {"specimen_id": sid}
    return _PASS


def cold_chain_no_excursion_accepted(
    eng: Any, ev: dict[str, Any], params: dict[str, Any]
) -> Result:
    s = eng.specimens.get(ev["args"].get("specimen_id"))
    if s is None:
        return None
    if s.status == "accepted" and s.excursion:
        return False, "SPEC.TEMP_EXCURSION", {"specimen_id": s.specimen_id}
    return _PASS


def fill_citrate_ratio(eng: Any, ev: dict[str, Any], params: dict[str, Any]) -> Result:
    s = eng.specimens.get(ev["args"].get("specimen_id"))
    if s is None:
        return None
    min_fill = params.get("min_fill_ratio", eng.policy.panels[s.panel].get("min_fill_ratio"))
    if min_fill is None or s.status != "accepted" or s.fill_ratio >= min_fill:
        return _PASS
    return False, "SPEC.CITRATE_UNDERFILL", {"specimen_id": s.specimen_id}


# The engine may skip calling these while ``now <= engine.<attr>`` (their cached deadline); the
# handlers give the same answer (PASS) in that case, this only saves the call.
zone_door_open_too_long.labtrust_due_attr = "door_due"  # type: ignore[attr-defined]
critical_escalation_deadline.labtrust_due_attr = "crit_due"  # type: ignore[attr-defined]
# ... and may skip these while the named engine attribute is empty (then they would PASS / return
# None): nobody unauthorised in a restricted zone; no token consumed by this step.
zone_restricted_occupancy.labtrust_guard_attr = "restricted_unauthorized"  # type: ignore[attr-defined]
token_single_use.labtrust_guard_attr = "ctx_consumed"  # type: ignore[attr-defined]

BUILTIN_HANDLERS: dict[str, Any] = {
    "zone.adjacency": zone_adjacency,
    "zone.colocation": zone_colocation,
    "zone.restricted_occupancy": zone_restricted_occupancy,
    "zone.door_open_too_long": zone_door_open_too_long,
    "token.single_use": token_single_use,
    "critical.acked_before_release": critical_acked_before_release,
    "critical.readback_match": critical_readback_match,
    "critical.escalation_deadline": critical_escalation_deadline,
    "stability.within_window": stability_within_window,
    "cold_chain.no_excursion_accepted": cold_chain_no_excursion_accepted,
    "fill.citrate_ratio": fill_citrate_ratio,
}
