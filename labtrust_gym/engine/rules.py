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
    """Rules of a move that depend on the lab's state: the target is not frozen and the edge's
    door (if any) is open. ``here`` and ``to`` must be adjacent."""
    if to in eng.frozen_zones:
        return "ENF.ZONE_FROZEN"
    door = eng.policy.neighbors[to][here]
    if door is not None and door not in eng.doors_open:
        return "DOOR.CLOSED"
    return None


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
    "move_passable",
    "move_static",
    "probe",
]
