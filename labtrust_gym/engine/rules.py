"""The engine's acceptance rules as pure functions: the gate and the target rules handlers share.

Every event passes the **gate** (:func:`gate`: kill switch, throttle, signature, role, frozen zone,
action zones), then its arguments' types, then its handler's **check** (``check_<action>`` in
:mod:`~labtrust_gym.engine.actions_lab` / :mod:`~labtrust_gym.engine.actions_trust`), and only
then is anything mutated. The checks are composed of the small rules below, split along what
they depend on — the agent's role and zone (:func:`device_access`, :func:`door_access`,
:func:`move_static`), lab state only (:func:`move_passable`, :func:`door_can_open`, …), or the
agent's identity (tokens) — so that the environment can evaluate the *same* functions over the
(role, zone) keys, the targets and the few identity-dependent cases to build action masks that
tell the truth, instead of re-implementing them.

A rule returns ``None`` when it passes, else the reason code the engine blocks with. Functions
taking an ``agent`` need only its ``agent_id``, ``role``, ``_policy`` (the role's
:class:`~labtrust_gym.engine.policy.RolePolicy`), ``zone_id`` and ``throttled_until``: a
:func:`probe` stands in for "any agent of this role in this zone".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labtrust_gym.engine.records import AgentRec

if TYPE_CHECKING:
    from labtrust_gym.engine.core import HospitalLabEngine
    from labtrust_gym.engine.policy import CompiledPolicy, RolePolicy

#: ``agent_id`` of probe agents: never an agent of any lab, so identity rules never match it.
PROBE_ID = "\x00probe"


def probe(role: str | None, role_policy: RolePolicy | None, zone_id: str) -> AgentRec:
    """An anonymous agent of ``role`` standing in ``zone_id`` (for evaluating rules by key)."""
    return AgentRec(PROBE_ID, -1, role, role_policy, zone_id)


# ------------------------------------------------------------------ the gate
def gate(
    eng: HospitalLabEngine, agent: AgentRec, at: str, ev: dict[str, Any] | None, now: float
) -> str | None:
    """The checks every event passes before its arguments are looked at, in the engine's order.

    ``ev=None`` skips the signature check (a caller that signs its own events, like the env,
    asks about everything else).
    """
    if eng.killed:
        return "ENF.KILL_SWITCH"
    if agent.throttled_until > now:
        return "ENF.AGENT_THROTTLED"
    if eng.strict and ev is not None and at != "NOOP":
        sig = eng.auth.check(ev, now, agent.role)
        if sig is not None:
            return sig
    role = agent._policy
    if role is None:
        return "RBAC.NO_ROLE"
    if at not in role.actions:
        return "RBAC.ACTION_DENIED"
    if at == "NOOP":
        return None
    if eng.frozen_zones and agent.zone_id in eng.frozen_zones:
        return "ENF.ZONE_FROZEN"
    zones = eng.policy.action_zones.get(at)
    if zones is not None and agent.zone_id not in zones:
        return "ZONE.WRONG_ZONE_FOR_ACTION"
    return None


# ------------------------------------------------------------------ devices
def device_access(agent: AgentRec, dev: Any) -> str | None:
    """The agent's role may operate the device's type and the agent stands at the device."""
    dts = agent._policy.device_types  # type: ignore[union-attr]
    if dts is not None and dev.device_type not in dts:
        return "RBAC.DEVICE_DENIED"
    if dev.zone_id != agent.zone_id:
        return "ZONE.NOT_COLOCATED"
    return None


# ------------------------------------------------------------------ movement
def move_static(pol: CompiledPolicy, role: RolePolicy | None, here: str, to: str) -> str | None:
    """Rules of a move that never change during an episode: the target zone exists, is adjacent
    and the role may enter it."""
    nbrs = pol.neighbors.get(to)
    if nbrs is None:
        return "ZONE.UNKNOWN"
    if here not in nbrs:
        return "ZONE.NOT_ADJACENT"
    zones = role.zones if role is not None else None
    if zones is not None and to not in zones:
        return "RBAC.ZONE_DENIED"
    return None


def move_passable(eng: HospitalLabEngine, here: str, to: str) -> str | None:
    """Rules of a move that depend on the lab's state (the same for every agent): the way is
    open (:func:`move_open`) and there is space (:func:`move_space`). ``here`` and ``to`` must
    be adjacent."""
    return move_open(eng, here, to) or move_space(eng, here, to)


def move_open(eng: HospitalLabEngine, here: str, to: str) -> str | None:
    """The target is not frozen and the edge's door (if any) is open."""
    if to in eng.frozen_zones:
        return "ENF.ZONE_FROZEN"
    door = eng.policy.neighbors[to][here]
    if door is not None and door not in eng.doors_open:
        return "DOOR.CLOSED"
    return None


# ------------------------------------------------------------------ space (cells and doorways)
def init_space(eng: HospitalLabEngine, st: dict[str, Any]) -> None:
    """Per reset: each zone's capacity and occupancy, each edge's lanes, no traversals yet."""
    from labtrust_gym.engine.initial_state import edge_lanes, zone_capacities

    eng.zone_capacity = zone_capacities(st, eng.policy)
    occupancy = [0] * len(eng.zone_ids)
    index = eng.zone_index
    for a in st["agents"]:
        occupancy[index[a["zone_id"]]] += 1
    eng.zone_occupancy = occupancy
    eng.edge_lanes = edge_lanes(st, eng.policy)
    eng.edge_instant = None  # the event time of the traversals in edge_traffic
    eng.edge_traffic = {}  # edge index -> [direction, traversals, lone agent] (record_move)


def move_space(eng: HospitalLabEngine, here: str, to: str, agent_idx: int = -1) -> str | None:
    """Space for a move, O(1): the target zone has a free cell (``ZONE.AT_CAPACITY``), and the
    edge has not carried another agent the other way at this instant (``ZONE.SWAP``; an agent
    turning back through the doorway it alone just crossed is not a swap) nor used up its lanes
    this way (``ZONE.EDGE_BUSY``). An instant is one event time."""
    zi = eng.zone_index[to]
    if eng.zone_occupancy[zi] >= eng.zone_capacity[zi]:
        return "ZONE.AT_CAPACITY"
    if eng.edge_instant == eng.now_s:
        edge, direction, _lanes = eng.policy.edges[here][to]
        used = eng.edge_traffic.get(edge)
        if used is not None:
            if used[0] != direction:
                return None if used[2] == agent_idx >= 0 else "ZONE.SWAP"
            if used[1] >= eng.edge_lanes[edge]:
                return "ZONE.EDGE_BUSY"
    return None


def record_move(eng: HospitalLabEngine, here: str, to: str, agent_idx: int) -> None:
    """Book an accepted move: occupancy of both zones and the edge's traversal at this instant
    (``edge_traffic[edge] = [direction, traversals, the one agent that made them or -1]``)."""
    index = eng.zone_index
    eng.zone_occupancy[index[here]] -= 1
    eng.zone_occupancy[index[to]] += 1
    now = eng.now_s
    if eng.edge_instant != now:
        eng.edge_instant = now
        eng.edge_traffic = {}
    edge, direction, _lanes = eng.policy.edges[here][to]
    used = eng.edge_traffic.get(edge)
    if used is None or used[0] != direction:  # first crossing, or the lone agent turning back
        eng.edge_traffic[edge] = [direction, 1, agent_idx]
    else:
        used[1] += 1
        if used[2] != agent_idx:
            used[2] = -1


# ------------------------------------------------------------------ doors
def door_access(pol: CompiledPolicy, zone_id: str, door_id: str) -> str | None:
    """The door exists and the agent stands in one of its two zones."""
    door = pol.doors.get(door_id)
    if door is None:
        return "DOOR.UNKNOWN"
    if zone_id not in door["zones"]:
        return "DOOR.NOT_AT_DOOR"
    return None


def door_can_open(eng: HospitalLabEngine, door_id: str) -> str | None:
    return "DOOR.ALREADY_OPEN" if door_id in eng.doors_open else None


def door_can_close(eng: HospitalLabEngine, door_id: str) -> str | None:
    return None if door_id in eng.doors_open else "DOOR.ALREADY_CLOSED"


__all__ = [
    "PROBE_ID",
    "device_access",
    "door_access",
    "door_can_close",
    "door_can_open",
    "gate",
    "init_space",
    "move_open",
    "move_passable",
    "move_space",
    "move_static",
    "probe",
    "record_move",
]
