"""Handlers for movement, doors, tokens, transport and enforcement actions.

A handler is ``(engine, agent, args, event) -> reason_code | (emits, token_consumed)``. It checks
everything first and only then mutates, so returning a reason code leaves the engine unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labtrust_gym.engine.clock import TRANSPORT
from labtrust_gym.engine.records import AgentRec, ConsignmentRec, TokenRec

if TYPE_CHECKING:
    from labtrust_gym.engine.core import HospitalLabEngine

Out = str | tuple[list[str], list[str]]


def check_token(
    eng: HospitalLabEngine,
    agent: AgentRec,
    ev: dict[str, Any],
    token_type: str,
    scope_value: str,
    missing_code: str,
) -> TokenRec | str:
    """Find a usable ``token_type`` token in ``ev['token_refs']`` scoped to ``scope_value``.

    Returns the token or the reason code: any unknown ref → TOKEN.UNKNOWN; no ref of this type →
    ``missing_code`` (no refs) or TOKEN.WRONG_TYPE; then status, expiry, scope and holder checks.
    """
    refs = ev.get("token_refs") or ()
    if not refs:
        return missing_code
    tokens = eng.tokens
    key = eng.policy.token_types[token_type]["scope_key"]
    candidate = None
    for ref in refs:
        tok = tokens.get(ref)
        if tok is None:
            return "TOKEN.UNKNOWN"
        # one event may carry several tokens of a type (e.g. a stability override per specimen
        # of a batch): use the one scoped to this check; report on the first otherwise
        if tok.token_type == token_type and (
            candidate is None
            or (tok.scope.get(key) == scope_value and candidate.scope.get(key) != scope_value)
        ):
            candidate = tok
    if candidate is None:
        return "TOKEN.WRONG_TYPE"
    tok = candidate
    if tok.status == "revoked":
        return "TOKEN.REVOKED"
    if tok.status == "consumed":
        return "TOKEN.ALREADY_USED"
    if tok.status == "pending":
        return "TOKEN.NOT_APPROVED"
    if tok.expires_t_s is not None and eng.now_s >= tok.expires_t_s:
        return "TOKEN.EXPIRED"
    if tok.scope.get(key) != scope_value:
        return "TOKEN.SCOPE_MISMATCH"
    if tok.holder_agent_id is not None and tok.holder_agent_id != agent.agent_id:
        return "TOKEN.HOLDER_MISMATCH"
    return tok


def consume(tok: TokenRec) -> None:
    tok.uses += 1
    tok.status = "consumed"


# ------------------------------------------------------------------ movement and doors
def move(eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]) -> Out:
    to = args["to_zone"]
    pol = eng.policy
    nbrs = pol.neighbors.get(to)
    if nbrs is None:
        return "ZONE.UNKNOWN"
    here = agent.zone_id
    if here not in nbrs:
        return "ZONE.NOT_ADJACENT"
    zones = agent._policy.zones  # type: ignore[union-attr]
    if zones is not None and to not in zones:
        return "RBAC.ZONE_DENIED"
    if to in eng.frozen_zones:
        return "ENF.ZONE_FROZEN"
    door = nbrs[here]
    if door is not None and door not in eng.doors_open:
        return "DOOR.CLOSED"
    tok = None
    if to in pol.restricted_zones:
        tok = check_token(eng, agent, ev, "RESTRICTED_ENTRY", to, "ZONE.RESTRICTED_NO_TOKEN")
        if tok.__class__ is str:
            return tok
    # ---- mutate
    if here in agent.authorized_zones:
        agent.authorized_zones.discard(here)
    if eng.restricted_unauthorized:
        eng.restricted_unauthorized.discard(agent.agent_id)
    agent.zone_id = to
    eng.agent_zone[agent.idx] = eng.zone_index[to]
    if tok is not None:
        consume(tok)  # type: ignore[arg-type]
        agent.authorized_zones.add(to)
        return ["AGENT_MOVED", "TOKEN_CONSUMED"], [tok.token_id]  # type: ignore[union-attr]
    return ["AGENT_MOVED"], []


def _door(eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any]) -> dict[str, Any] | str:
    door = eng.policy.doors.get(args["door_id"])
    if door is None:
        return "DOOR.UNKNOWN"
    if agent.zone_id not in door["zones"]:
        return "DOOR.NOT_AT_DOOR"
    return door


def open_door(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    d = _door(eng, agent, args)
    if d.__class__ is str:
        return d
    door_id = args["door_id"]
    if door_id in eng.doors_open:
        return "DOOR.ALREADY_OPEN"
    eng.doors_open[door_id] = eng.now_s
    eng.door_due = None
    eng.door_open[eng.door_index[door_id]] = 1
    return ["DOOR_OPENED"], []


def close_door(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    d = _door(eng, agent, args)
    if d.__class__ is str:
        return d
    door_id = args["door_id"]
    if door_id not in eng.doors_open:
        return "DOOR.ALREADY_CLOSED"
    del eng.doors_open[door_id]
    eng.door_due = None
    eng.door_overdue_reported.discard(door_id)
    eng.door_open[eng.door_index[door_id]] = 0
    return ["DOOR_CLOSED"], []


# ------------------------------------------------------------------ tokens
def mint_token(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    ttype = args["token_type"]
    spec = eng.policy.token_types.get(ttype)
    if spec is None:
        return "TOKEN.UNKNOWN_TYPE"
    if agent.role not in spec["mint_roles"]:
        return "TOKEN.MINT_NOT_ALLOWED"
    scope = args["scope"]
    sv = scope.get(spec["scope_key"])
    if type(sv) is not str or any(
        type(k) is not str or type(v) is not str for k, v in scope.items()
    ):
        return "EVENT.BAD_ARGS"
    if spec["scope_key"] == "zone_id" and sv not in eng.zone_index:
        return "ZONE.UNKNOWN"
    holder = args.get("holder_agent_id")
    if holder is not None and holder not in eng.agents:
        return "EVENT.UNKNOWN_AGENT"
    tid = args.get("token_id")
    if tid is None:
        tid = f"TOK-{eng._token_seq + 1:04d}"
        while tid in eng.tokens:
            tid += "x"
    elif tid in eng.tokens:
        return "TOKEN.DUPLICATE_ID"
    # ---- mutate
    eng._token_seq += 1
    tok = TokenRec(tid, ttype, dict(scope), holder, agent.agent_id)
    eng.tokens[tid] = tok
    if spec["approvals_required"] == 0:
        _activate(eng, tok, spec)
        return ["TOKEN_MINTED", "TOKEN_ACTIVATED"], []
    return ["TOKEN_MINTED"], []


def approve_token(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    tok = eng.tokens.get(args["token_id"])
    if tok is None:
        return "TOKEN.UNKNOWN"
    spec = eng.policy.token_types[tok.token_type]
    if agent.role not in spec["approver_roles"]:
        return "TOKEN.APPROVER_NOT_ALLOWED"
    if tok.status != "pending":
        return "TOKEN.NOT_PENDING"
    if agent.agent_id == tok.minted_by:
        return "TOKEN.SELF_APPROVAL"
    if agent.agent_id in tok.approvals:
        return "TOKEN.DUPLICATE_APPROVER"
    tok.approvals.append(agent.agent_id)
    if len(tok.approvals) >= spec["approvals_required"]:
        _activate(eng, tok, spec)
        return ["TOKEN_APPROVED", "TOKEN_ACTIVATED"], []
    return ["TOKEN_APPROVED"], []


def _activate(eng: HospitalLabEngine, tok: TokenRec, spec: dict[str, Any]) -> None:
    """A token becomes usable once its approvals are in; its TTL runs from now."""
    tok.status = "active"
    tok.expires_t_s = eng.now_s + spec["ttl_s"]


def revoke_token(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    tok = eng.tokens.get(args["token_id"])
    if tok is None:
        return "TOKEN.UNKNOWN"
    if tok.status == "revoked":
        return "TOKEN.REVOKED"
    if tok.status == "consumed":
        return "TOKEN.ALREADY_USED"
    tok.status = "revoked"
    return ["TOKEN_REVOKED"], []


# ------------------------------------------------------------------ transport
def dispatch_transport(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    route = eng.policy.routes.get(args["route_id"])
    if route is None:
        return "TRANSPORT.UNKNOWN_ROUTE"
    sids = args["specimen_ids"]
    if not sids or len(set(sids)) != len(sids):
        return "EVENT.BAD_ARGS"
    cid = args.get("consignment_id")
    if cid is not None and cid in eng.consignments:
        return "EVENT.BAD_ARGS"
    specs = eng.specimens
    for sid in sids:
        s = specs.get(sid)
        if s is None:
            return "SPEC.UNKNOWN"
        if s.site_id != route["from_site"]:
            return "SPEC.WRONG_SITE"
        if s.status != "arrived":
            return "SPEC.WRONG_STATUS"
    if cid is None:
        cid = f"CN-{eng._consignment_seq + 1:04d}"
        while cid in eng.consignments:
            cid += "x"
    eng._consignment_seq += 1
    eng.consignments[cid] = ConsignmentRec(cid, route["route_id"], list(sids))
    for sid in sids:
        eng.set_status(specs[sid], "in_transit")
    return ["TRANSPORT_DISPATCHED"], []


def custody_sign(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    c = eng.consignments.get(args["consignment_id"])
    if c is None:
        return "TRANSPORT.UNKNOWN_CONSIGNMENT"
    if c.status != "created":
        return "TRANSPORT.WRONG_STATUS"
    route = eng.policy.routes[c.route_id]
    c.status = "in_transit"
    c.signed_by = agent.agent_id
    c.dispatch_t_s = eng.now_s
    c.arrive_t_s = eng.now_s + route["transit_s"]
    for x in eng.initial_state["transport_excursions"]:
        if (
            x["route_id"] == c.route_id
            and x["start_s"] < c.arrive_t_s
            and x["end_s"] > c.dispatch_t_s
        ):
            c.excursion = True
    eng.push_timeline(c.arrive_t_s, TRANSPORT, c.consignment_id)
    return ["CUSTODY_SIGNED"], []


def receive_transport(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    c = eng.consignments.get(args["consignment_id"])
    if c is None:
        return "TRANSPORT.UNKNOWN_CONSIGNMENT"
    if c.status == "in_transit":
        return "TRANSPORT.IN_TRANSIT"
    if c.status != "arrived":
        return "TRANSPORT.WRONG_STATUS"
    c.status = "received"
    dest = eng.policy.routes[c.route_id]["to_site"]
    for sid in c.specimen_ids:
        s = eng.specimens[sid]
        s.site_id = dest
        s.excursion = s.excursion or c.excursion
        eng.set_status(s, "arrived")
    return ["TRANSPORT_RECEIVED"], []


# ------------------------------------------------------------------ enforcement and audit
def apply_enforcement(eng: HospitalLabEngine, agent: AgentRec, rule: dict[str, Any]) -> None:
    action = rule["action"]
    if action == "throttle_agent":
        until = eng.now_s + float(rule["duration_s"])
        agent.throttled_until = until
        eng.agent_throttled_until[agent.idx] = until
    elif action == "freeze_zone":
        _set_frozen(eng, agent.zone_id, True)
    else:
        eng.killed = True


def throttle_agent(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    target = eng.agents.get(args["agent_id"])
    if target is None:
        return "EVENT.UNKNOWN_AGENT"
    if args["duration_s"] <= 0:
        return "EVENT.BAD_ARGS"
    apply_enforcement(eng, target, {"action": "throttle_agent", "duration_s": args["duration_s"]})
    return ["AGENT_THROTTLED"], []


def freeze_zone(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    z = args["zone_id"]
    if z not in eng.zone_index:
        return "ZONE.UNKNOWN"
    _set_frozen(eng, z, True)
    return ["ZONE_FROZEN"], []


def unfreeze_zone(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    z = args["zone_id"]
    if z not in eng.zone_index:
        return "ZONE.UNKNOWN"
    _set_frozen(eng, z, False)
    return ["ZONE_UNFROZEN"], []


def _set_frozen(eng: HospitalLabEngine, zone_id: str, frozen: bool) -> None:
    """Freeze or unfreeze a zone (the set the checks read and the env's numpy view)."""
    if frozen:
        eng.frozen_zones.add(zone_id)
    else:
        eng.frozen_zones.discard(zone_id)
    eng.zone_frozen[eng.zone_index[zone_id]] = int(frozen)


def kill_switch(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    eng.killed = True
    return ["KILL_SWITCH_ENGAGED"], []


def audit_chain(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    if not eng.record_log:
        return "EVENT.BAD_ARGS"
    if eng.audit_chain():
        return ["CHAIN_VERIFIED"], []
    return ["CHAIN_BROKEN"], []


def tick(eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]) -> Out:
    return ["TICKED"], []


HANDLERS = {
    "NOOP": tick,
    "TICK": tick,
    "MOVE": move,
    "OPEN_DOOR": open_door,
    "CLOSE_DOOR": close_door,
    "MINT_TOKEN": mint_token,
    "APPROVE_TOKEN": approve_token,
    "REVOKE_TOKEN": revoke_token,
    "DISPATCH_TRANSPORT": dispatch_transport,
    "CHAIN_OF_CUSTODY_SIGN": custody_sign,
    "RECEIVE_TRANSPORT": receive_transport,
    "THROTTLE_AGENT": throttle_agent,
    "FREEZE_ZONE": freeze_zone,
    "UNFREEZE_ZONE": unfreeze_zone,
    "KILL_SWITCH": kill_switch,
    "AUDIT_CHAIN": audit_chain,
}
