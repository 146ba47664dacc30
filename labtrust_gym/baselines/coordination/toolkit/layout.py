"""The static lab a coordination method may know: floor plan, devices, roles, the action catalog.

:class:`LabLayout` is built once per env by the runner (:meth:`LabLayout.from_env`) and handed to
methods as ``policy["lab"]``; nothing in it changes during an episode. :class:`Routes` adds the
shortest-path tables over the zone graph (BFS per role, over the zones the role may enter,
restricted zones excluded), built once per layout: ``dist[role][a][b]`` hops and
``next_hop[role][a][b]``, plus every zone's other zones ordered by distance. Everything is
plain Python lists and tuples: the per-step code indexes them millions of times.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

import attrs

from labtrust_gym.envs.action_contract import NEXT, ActionCatalog, entry_name

#: Distance of an unreachable zone (larger than any path).
FAR = 1 << 20
#: Roles whose agents are never driven by a coordination method (threat scripts drive them).
THREAT_ROLES = frozenset({"adversary", "insider"})
#: Work-queue entries a method may choose (``<ACTION_TYPE>@next``).
QUEUE_ENTRIES = (
    "CREATE_ACCESSION",
    "ACCEPT_SPECIMEN",
    "HOLD_SPECIMEN",
    "REJECT_SPECIMEN",
    "RELEASE_RESULT",
    "NOTIFY_CRITICAL",
    "ACK_CRITICAL",
    "RECEIVE_TRANSPORT",
    "CHAIN_OF_CUSTODY_SIGN",
    "APPROVE_TOKEN",
)


def _index_or_none(catalog: ActionCatalog, name: str) -> int | None:
    return catalog.index(name) if name in catalog else None


@attrs.frozen(eq=False)
class LabLayout:
    """What a method may know about the lab before the first step (``policy["lab"]``).

    Zones, devices and agents are numbered in the engine's order (``zone_ids``, ``device_ids``,
    ``agent_ids``); per-zone, per-device and per-agent fields are tuples aligned with them. Catalog
    indices of the entries methods use are precomputed (``move[z]``, ``start_run[d]``, …; ``None``
    where the lab has no such entry)."""

    zone_ids: tuple[str, ...]
    zone_index: Mapping[str, int]
    neighbors: tuple[tuple[int, ...], ...]
    edge_door: Mapping[tuple[int, int], str]
    capacity: tuple[int, ...]
    lanes: Mapping[tuple[int, int], int]
    restricted: frozenset[int]
    action_zones: Mapping[str, tuple[int, ...]]
    device_ids: tuple[str, ...]
    device_type: tuple[str, ...]
    device_zone: tuple[int, ...]
    batch_capacity: tuple[int, ...]
    queue_max: tuple[int, ...]
    service_s: tuple[float, ...]
    device_type_ids: tuple[str, ...]
    remaining_s: Mapping[str, float]
    role_zones: Mapping[str, frozenset[int] | None]
    role_actions: Mapping[str, frozenset[str]]
    role_device_types: Mapping[str, frozenset[str] | None]
    agent_ids: tuple[str, ...]
    agent_row: Mapping[str, int]
    agent_role: tuple[str | None, ...]
    agent_start: tuple[int, ...]
    catalog: ActionCatalog
    move: tuple[int | None, ...]
    open_door: Mapping[str, int]
    queue_run: tuple[int | None, ...]
    start_run: tuple[int | None, ...]
    run_qc: tuple[int | None, ...]
    restock: tuple[int | None, ...]
    queue: Mapping[str, int | None]
    dispatch: tuple[int, ...]
    mint_stability: int | None
    notify_within_s: float

    @classmethod
    def from_env(cls, env: Any) -> LabLayout:
        """The layout of ``env``'s current lab (a hospital_lab ``LabTrustParallelEnv``)."""
        eng = env.engine
        pol = eng.policy
        cat: ActionCatalog = env.action_catalog
        zones = tuple(eng.zone_ids)
        zi = {z: i for i, z in enumerate(zones)}
        neighbors = tuple(
            tuple(sorted(zi[b] for b in pol.neighbors[z])) for z in zones
        )
        edge_door = {
            (zi[a], zi[b]): door
            for a, nbrs in pol.neighbors.items()
            for b, door in nbrs.items()
            if door is not None
        }
        lanes = {
            (zi[a], zi[b]): int(eng.edge_lanes[edge])
            for a, nbrs in pol.edges.items()
            for b, (edge, _direction, _l) in nbrs.items()
        }
        devices = tuple(eng.device_ids)
        dtype = tuple(eng.devices[d].device_type for d in devices)
        spec = pol.device_types
        roles = {r: rp for r, rp in pol.roles.items()}
        role_ids = list(eng.role_ids)
        agent_role = tuple(
            role_ids[int(r)] if int(r) >= 0 else None for r in eng.agent_role.tolist()
        )
        crit = pol.raw["critical"]["notification_ladder"]
        return cls(
            zone_ids=zones,
            zone_index=zi,
            neighbors=neighbors,
            edge_door=edge_door,
            capacity=tuple(int(c) for c in eng.zone_capacity),
            lanes=lanes,
            restricted=frozenset(zi[z] for z in pol.restricted_zones),
            action_zones={
                a: tuple(sorted(zi[z] for z in zs)) for a, zs in pol.action_zones.items()
            },
            device_ids=devices,
            device_type=dtype,
            device_zone=tuple(int(z) for z in eng.device_zone.tolist()),
            batch_capacity=tuple(int(spec[t]["capacity"]) for t in dtype),
            queue_max=tuple(int(eng.devices[d]._spec["queue_max"]) for d in devices),
            service_s=tuple(float(spec[t]["service_time_s"]) for t in dtype),
            device_type_ids=tuple(eng.device_type_ids),
            remaining_s=_remaining_service(pol),
            role_zones={
                r: None if rp.zones is None else frozenset(zi[z] for z in rp.zones)
                for r, rp in roles.items()
            },
            role_actions={r: frozenset(rp.actions) for r, rp in roles.items()},
            role_device_types={r: rp.device_types for r, rp in roles.items()},
            agent_ids=tuple(eng.agent_ids),
            agent_row={a: i for i, a in enumerate(eng.agent_ids)},
            agent_role=agent_role,
            agent_start=tuple(int(z) for z in eng.agent_zone.tolist()),
            catalog=cat,
            move=tuple(_index_or_none(cat, entry_name("MOVE", z)) for z in zones),
            open_door={
                d: cat.index(entry_name("OPEN_DOOR", d))
                for d in eng.door_ids
                if entry_name("OPEN_DOOR", d) in cat
            },
            queue_run=tuple(_index_or_none(cat, entry_name("QUEUE_RUN", d)) for d in devices),
            start_run=tuple(_index_or_none(cat, entry_name("START_RUN", d)) for d in devices),
            run_qc=tuple(_index_or_none(cat, entry_name("RUN_QC", d)) for d in devices),
            restock=tuple(_index_or_none(cat, entry_name("RESTOCK_REAGENT", d)) for d in devices),
            queue={q: _index_or_none(cat, entry_name(q, NEXT)) for q in QUEUE_ENTRIES},
            dispatch=tuple(e.index for e in cat if e.action_type == "DISPATCH_TRANSPORT"),
            mint_stability=_index_or_none(cat, entry_name("MINT_TOKEN", "STABILITY_OVERRIDE")),
            notify_within_s=float(crit["notify_within_s"]),
        )

    # ---- small questions methods ask ---------------------------------------------------------
    def may(self, role: str | None, action_type: str) -> bool:
        """Whether ``role`` may issue ``action_type`` at all (RBAC)."""
        return role is not None and action_type in self.role_actions.get(role, ())

    def may_operate(self, role: str | None, device: int) -> bool:
        """Whether ``role`` may operate device ``device`` (RBAC device types)."""
        if role is None:
            return False
        types = self.role_device_types.get(role)
        return types is None or self.device_type[device] in types

    def driven_rows(self) -> list[int]:
        """Rows of the agents a coordination method drives (threat roles excluded)."""
        return [i for i, r in enumerate(self.agent_role) if r not in THREAT_ROLES]


def _remaining_service(pol: Any) -> dict[str, float]:
    """Nominal service time still ahead of a specimen ready for each device type, that type
    included (the mean over the panels whose route contains it): what an earliest-deadline rule
    subtracts from the turnaround budget."""
    out: dict[str, float] = {}
    counts: dict[str, int] = {}
    for panel in pol.panels.values():
        route = panel["route"]
        for i, t in enumerate(route):
            rest = sum(float(pol.device_types[u]["service_time_s"]) for u in route[i:])
            out[t] = out.get(t, 0.0) + rest
            counts[t] = counts.get(t, 0) + 1
    return {t: out[t] / counts[t] for t in out}


class Routes:
    """Shortest paths over the zone graph per role, built once per layout (BFS from every zone,
    over the zones the role may enter; restricted zones excluded: methods do not plan through
    token-guarded rooms; an agent standing in a zone outside that set still gets a way out).
    ``dist[role][a][b]`` is the hop count (:data:`FAR` if unreachable), ``next_hop[role][a][b]``
    the first zone after ``a`` on a shortest path (-1 if none, ties by zone order),
    ``by_distance[role][a]`` the reachable zones ordered by distance from ``a``."""

    def __init__(self, layout: LabLayout) -> None:
        self.layout = layout
        self.dist: dict[str | None, list[list[int]]] = {}
        self.next_hop: dict[str | None, list[list[int]]] = {}
        self.by_distance: dict[str | None, list[list[int]]] = {}
        for role in sorted({r for r in layout.agent_role if r is not None}):
            self._build(role, layout.role_zones.get(role))
        self._build(None, None)  # any agent: the whole floor

    def _build(self, role: str | None, allowed: frozenset[int] | None) -> None:
        lay = self.layout
        z = len(lay.zone_ids)
        ok = [
            (allowed is None or i in allowed) and i not in lay.restricted for i in range(z)
        ]
        dist = [[FAR] * z for _ in range(z)]
        hop = [[-1] * z for _ in range(z)]
        for target in range(z):
            if not ok[target]:
                dist[target][target] = 0
                continue
            dist[target][target] = 0
            queue = deque([target])
            while queue:
                cur = queue.popleft()
                for nb in lay.neighbors[cur]:
                    if dist[nb][target] == FAR:
                        # a zone the role may not enter can still be where an agent stands
                        # (a start zone): it gets a way out, but no path runs through it
                        dist[nb][target] = dist[cur][target] + 1
                        hop[nb][target] = cur
                        if ok[nb]:
                            queue.append(nb)
        self.dist[role] = dist
        self.next_hop[role] = hop
        self.by_distance[role] = [
            [b for _d, b in sorted((dist[a][b], b) for b in range(z) if dist[a][b] < FAR)]
            for a in range(z)
        ]

    def table(self, role: str | None) -> tuple[list[list[int]], list[list[int]]]:
        """``(dist, next_hop)`` of ``role`` (a role without agents gets the whole floor's)."""
        key = role if role in self.dist else None
        return self.dist[key], self.next_hop[key]


__all__ = ["FAR", "THREAT_ROLES", "LabLayout", "Routes"]
