"""Handlers for movement, doors, tokens, transport and enforcement actions.

A handler is ``(engine, agent, args, event) -> reason_code | (emits, token_consumed)``. Each calls
its pure ``check_<action>(engine, agent, args, event)`` first — which returns the blocking reason
code or what the mutation needs — and only then mutates, so returning a reason code leaves the
engine unchanged. The checks are built from the rules in :mod:`labtrust_gym.engine.rules`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labtrust_gym.engine.clock import TRANSPORT
from labtrust_gym.engine.records import AgentRec, ConsignmentRec, TokenRec
from labtrust_gym.engine.rules import (
    door_access,
    door_can_close,
    door_can_open,
    move_open,
    move_space,
    move_static,
    record_move,
)

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
def check_move(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any] | None
) -> str | TokenRec | None:
    """A move's reason code, else the RESTRICTED_ENTRY token it uses (None: no token needed).

    In order: the static rules, an open way, the entry token, then space (authorisation is
    judged before congestion)."""
    to = args["to_zone"]
    here = agent.zone_id
    code = move_static(eng.policy, agent._policy, here, to) or move_open(eng, here, to)
    if code is not None:
        return code
    if to in eng.policy.restricted_zones:
        tok = check_token(eng, agent, ev or {}, "RESTRICTED_ENTRY", to, "ZONE.RESTRICTED_NO_TOKEN")
        if isinstance(tok, str):
            return tok
        return move_space(eng, here, to, agent.idx) or tok
    return move_space(eng, here, to, agent.idx)


def move(eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]) -> Out:
    tok = check_move(eng, agent, args, ev)
    if isinstance(tok, str):
        return tok
    # ---- mutate
    to = args["to_zone"]
    here = agent.zone_id
    if here in agent.authorized_zones:
        agent.authorized_zones.discard(here)
    if eng.restricted_unauthorized:
        eng.restricted_unauthorized.discard(agent.agent_id)
    record_move(eng, here, to, agent.idx)
    agent.zone_id = to
    eng.agent_zone[agent.idx] = eng.zone_index[to]
    if tok is not None:
        consume(tok)
        agent.authorized_zones.add(to)
        return ["AGENT_MOVED", "TOKEN_CONSUMED"], [tok.token_id]
    return ["AGENT_MOVED"], []


def check_open_door(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any] | None
) -> str | None:
    door_id = args["door_id"]
    return door_access(eng.policy, agent.zone_id, door_id) or door_can_open(eng, door_id)


def check_close_door(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any] | None
) -> str | None:
    door_id = args["door_id"]
    return door_access(eng.policy, agent.zone_id, door_id) or door_can_close(eng, door_id)


def open_door(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    code = check_open_door(eng, agent, args, ev)
    if code is not None:
        return code
    door_id = args["door_id"]
    eng.doors_open[door_id] = eng.now_s
    eng.door_opened_by[door_id] = agent.agent_id
    eng.door_due = None
    eng.door_open[eng.door_index[door_id]] = 1
    return ["DOOR_OPENED"], []


def jam_door_open(eng: HospitalLabEngine, door_id: str) -> bool:
    """A physical fault, not an agent's event (nothing is logged): ``door_id`` is open from now
    on, opened by nobody (as a door open at reset). Returns whether it was closed before.
    Risk injections use it (``INJ-DOOR-STUCK-*``); the door invariants see it like any open
    door."""
    if door_id in eng.doors_open:
        return False
    eng.doors_open[door_id] = eng.now_s
    eng.door_opened_by.pop(door_id, None)
    eng.door_due = None
    eng.door_open[eng.door_index[door_id]] = 1
    return True


def close_door(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    code = check_close_door(eng, agent, args, ev)
    if code is not None:
        return code
    door_id = args["door_id"]
    del eng.doors_open[door_id]
    eng.door_opened_by.pop(door_id, None)
    eng.door_due = None
    eng.door_overdue_reported.discard(door_id)
    eng.door_open[eng.door_index[door_id]] = 0
    return ["DOOR_CLOSED"], []


# ------------------------------------------------------------------ tokens
def check_mint_token(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any] | None
) -> str | tuple[str, dict[str, Any]]:
    """The reason code, else ``(token_id, token type spec)`` of the token to mint."""
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
    if holder is None:
        if not spec["bearer"]:
            return "TOKEN.HOLDER_REQUIRED"
    elif holder not in eng.agents:
        return "EVENT.UNKNOWN_AGENT"
    tid = args.get("token_id")
    if tid is None:  # unguessable (see HospitalLabEngine.token_id)
        tid = eng.token_id(eng._token_seq + 1)
        while tid in eng.tokens:
            tid += "x"
    elif tid in eng.tokens:
        return "TOKEN.DUPLICATE_ID"
    return tid, spec


def mint_token(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    ok = check_mint_token(eng, agent, args, ev)
    if isinstance(ok, str):
        return ok
    tid, spec = ok
    # ---- mutate
    eng._token_seq += 1
    tok = TokenRec(
        tid, args["token_type"], dict(args["scope"]), args.get("holder_agent_id"), agent.agent_id
    )
    eng.tokens[tid] = tok
    if spec["approvals_required"] == 0:
        _activate(eng, tok, spec)
        return ["TOKEN_MINTED", "TOKEN_ACTIVATED"], []
    return ["TOKEN_MINTED"], []


def check_approve_token(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any] | None
) -> str | TokenRec:
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
    return tok


def approve_token(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    tok = check_approve_token(eng, agent, args, ev)
    if isinstance(tok, str):
        return tok
    spec = eng.policy.token_types[tok.token_type]
    tok.approvals.append(agent.agent_id)
    if len(tok.approvals) >= spec["approvals_required"]:
        _activate(eng, tok, spec)
        return ["TOKEN_APPROVED", "TOKEN_ACTIVATED"], []
    return ["TOKEN_APPROVED"], []


def _activate(eng: HospitalLabEngine, tok: TokenRec, spec: dict[str, Any]) -> None:
    """A token becomes usable once its approvals are in; its TTL runs from now."""
    tok.status = "active"
    tok.expires_t_s = eng.now_s + spec["ttl_s"]


def check_revoke_token(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any] | None
) -> str | TokenRec:
    tok = eng.tokens.get(args["token_id"])
    if tok is None:
        return "TOKEN.UNKNOWN"
    if tok.status == "revoked":
        return "TOKEN.REVOKED"
    if tok.status == "consumed":
        return "TOKEN.ALREADY_USED"
    return tok


def revoke_token(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    tok = check_revoke_token(eng, agent, args, ev)
    if isinstance(tok, str):
        return tok
    tok.status = "revoked"
    return ["TOKEN_REVOKED"], []


# ------------------------------------------------------------------ transport
def check_dispatch_transport(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any] | None
) -> str | dict[str, Any]:
    """The reason code, else the route."""
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
    return route


def dispatch_transport(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    route = check_dispatch_transport(eng, agent, args, ev)
    if isinstance(route, str):
        return route
    sids = args["specimen_ids"]
    cid = args.get("consignment_id")
    if cid is None:
        cid = f"CN-{eng._consignment_seq + 1:04d}"
        while cid in eng.consignments:
            cid += "x"
    eng._consignment_seq += 1
    eng.consignments[cid] = ConsignmentRec(cid, route["route_id"], list(sids))
    for sid in sids:
        eng.set_status(eng.specimens[sid], "in_transit")
    return ["TRANSPORT_DISPATCHED"], []


def check_custody_sign(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any] | None
) -> str | ConsignmentRec:
    c = eng.consignments.get(args["consignment_id"])
    if c is None:
        return "TRANSPORT.UNKNOWN_CONSIGNMENT"
    if c.status != "created":
        return "TRANSPORT.WRONG_STATUS"
    return c


def custody_sign(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    c = check_custody_sign(eng, agent, args, ev)
    if isinstance(c, str):
        return c
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


def check_receive_transport(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any] | None
) -> str | ConsignmentRec:
    c = eng.consignments.get(args["consignment_id"])
    if c is None:
        return "TRANSPORT.UNKNOWN_CONSIGNMENT"
    if c.status == "in_transit":
        return "TRANSPORT.IN_TRANSIT"
    if c.status != "arrived":
        return "TRANSPORT.WRONG_STATUS"
    return c


def receive_transport(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    c = check_receive_transport(eng, agent, args, ev)
    if isinstance(c, str):
        return c
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


def check_throttle_agent(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any] | None
) -> str | AgentRec:
    target = eng.agents.get(args["agent_id"])
    if target is None:
        return "EVENT.UNKNOWN_AGENT"
    if args["duration_s"] <= 0:
        return "EVENT.BAD_ARGS"
    return target


def throttle_agent(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    target = check_throttle_agent(eng, agent, args, ev)
    if isinstance(target, str):
        return target
    rule = {"action": "throttle_agent", "duration_s": args["duration_s"]}
    apply_enforcement(eng, target, rule)
    return ["AGENT_THROTTLED"], []


def check_zone_arg(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any] | None
) -> str | None:
    """FREEZE_ZONE / UNFREEZE_ZONE: the zone exists."""
    return None if args["zone_id"] in eng.zone_index else "ZONE.UNKNOWN"


def freeze_zone(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    code = check_zone_arg(eng, agent, args, ev)
    if code is not None:
        return code
    _set_frozen(eng, args["zone_id"], True)
    return ["ZONE_FROZEN"], []


def unfreeze_zone(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    code = check_zone_arg(eng, agent, args, ev)
    if code is not None:
        return code
    _set_frozen(eng, args["zone_id"], False)
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


def check_audit_chain(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any] | None
) -> str | None:
    return None if eng.record_log else "EVENT.BAD_ARGS"


def audit_chain(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    code = check_audit_chain(eng, agent, args, ev)
    if code is not None:
        return code
    if eng.audit_chain():
        return ["CHAIN_VERIFIED"], []
    return ["CHAIN_BROKEN"], []


def check_nothing(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any] | None
) -> None:
    """Actions whose only rules are the gate's (NOOP, TICK, KILL_SWITCH)."""
    return None


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

#: The pure precondition part of every handler above: ``(engine, agent, args, event) ->
#: reason_code | what the mutation needs`` (a reason code is a ``str``; anything else passes).
CHECKS = {
    "NOOP": check_nothing,
    "TICK": check_nothing,
    "MOVE": check_move,
    "OPEN_DOOR": check_open_door,
    "CLOSE_DOOR": check_close_door,
    "MINT_TOKEN": check_mint_token,
    "APPROVE_TOKEN": check_approve_token,
    "REVOKE_TOKEN": check_revoke_token,
    "DISPATCH_TRANSPORT": check_dispatch_transport,
    "CHAIN_OF_CUSTODY_SIGN": check_custody_sign,
    "RECEIVE_TRANSPORT": check_receive_transport,
    "THROTTLE_AGENT": check_throttle_agent,
    "FREEZE_ZONE": check_zone_arg,
    "UNFREEZE_ZONE": check_zone_arg,
    "KILL_SWITCH": check_nothing,
    "AUDIT_CHAIN": check_audit_chain,
}
