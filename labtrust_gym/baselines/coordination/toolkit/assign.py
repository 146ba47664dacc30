"""Nearest-agent assignment without looking at every (agent, item) pair.

:class:`AgentPool` buckets the step's free agents by (role, zone), built in O(N). An item asks for
agents nearest to its zones: the pool walks the zones around the item ring by ring (BFS order of
each eligible role's routes, precomputed once per (roles, zones)) and pops free agents from the
buckets, so one request costs O(zones x roles + agents taken) — never O(N). Items done anywhere
take any free eligible agent (lowest zone first).
"""

from __future__ import annotations

from collections.abc import Iterable

from labtrust_gym.baselines.coordination.toolkit.layout import FAR, LabLayout, Routes
from labtrust_gym.baselines.coordination.toolkit.view import CoordinationView
from labtrust_gym.baselines.coordination.toolkit.work import WorkItem

Ring = list[tuple[int, int, str]]  # (distance, zone, role), nearest first


class AgentPool:
    """The free agents of one step, by (role, zone)."""

    def __init__(
        self,
        layout: LabLayout,
        routes: Routes,
        rings: dict[tuple[object, ...], Ring],
        budget: int | None = None,
    ) -> None:
        self.layout = layout
        self.routes = routes
        self._rings = rings  # shared across steps (static)
        self.buckets: dict[str, list[list[int]]] = {}
        self.free: dict[str, int] = {}
        self.work = 0  # bucket visits: the assignment's planning work
        #: the most bucket visits this step (a method's ``compute_budget``); then nobody more
        #: is assigned
        self.budget = budget if budget is not None else 1 << 62

    def fill(self, view: CoordinationView, rows: Iterable[int]) -> None:
        """Put ``rows`` (in this order; the last one is taken first) into their buckets."""
        z = len(self.layout.zone_ids)
        roles = self.layout.agent_role
        buckets = self.buckets
        free = self.free
        zone = view.zone
        for row in rows:
            role = roles[row]
            if role is None:
                continue
            b = buckets.get(role)
            if b is None:
                b = buckets[role] = [[] for _ in range(z)]
                free[role] = 0
            b[zone[row]].append(row)
            free[role] += 1

    def ring(self, roles: frozenset[str], zones: tuple[int, ...]) -> Ring:
        """Zones around ``zones`` for each of ``roles``, nearest first (cached)."""
        key = (roles, zones)
        ring = self._rings.get(key)
        if ring is None:
            ring = []
            for role in sorted(roles):
                dist, _hop = self.routes.table(role)
                for q in range(len(self.layout.zone_ids)):
                    d = min((dist[q][z] for z in zones), default=0)
                    if d < FAR:
                        ring.append((d, q, role))
            ring.sort()
            self._rings[key] = ring
        return ring

    def take(self, item: WorkItem, count: int, *, walkers: int = 1) -> list[tuple[int, int]]:
        """Up to ``count`` free agents for ``item`` as ``(row, distance)``, nearest first; agents
        not already there are limited to ``walkers`` (more than one walking to the same unit of
        work only makes a queue)."""
        out: list[tuple[int, int]] = []
        buckets = self.buckets
        walking = 0
        for d, q, role in self.ring(item.roles, item.zones):
            if len(out) >= count or (d > 0 and walking >= walkers) or self.work >= self.budget:
                break
            b = buckets.get(role)
            if b is None:
                continue
            self.work += 1
            cell = b[q]
            while cell and len(out) < count and (d == 0 or walking < walkers):
                out.append((cell.pop(), d))
                self.free[role] -= 1
                if d > 0:
                    walking += 1
        return out

    def has(self, roles: frozenset[str]) -> bool:
        return any(self.free.get(r, 0) for r in roles)


def assign_in_order(
    pool: AgentPool, items: Iterable[WorkItem], *, walkers: int = 1
) -> list[tuple[int, WorkItem]]:
    """Each item in turn takes its nearest free agents (earlier items choose first)."""
    out: list[tuple[int, WorkItem]] = []
    for it in items:
        if pool.has(it.roles):
            out.extend((row, it) for row, _d in pool.take(it, it.slots, walkers=walkers))
    return out


def assign_by_distance(
    pool: AgentPool,
    items: list[WorkItem],
    *,
    walkers: int = 1,
    room: list[int] | None = None,
) -> list[tuple[int, WorkItem]]:
    """Globally greedy by travel distance: every item takes the free agents standing where it is
    done, then every item the agents one hop away, and so on (ties by item order); agents not
    already there are limited to ``walkers`` per item, and — when ``room`` (free cells per zone)
    is given — to the free cells left in the item's zones (space-aware allocation: nobody is
    sent to wait at the door of a full room)."""
    out: list[tuple[int, WorkItem]] = []
    rings = [pool.ring(it.roles, it.zones) for it in items]
    left = [it.slots if pool.has(it.roles) else 0 for it in items]
    cursor = [0] * len(items)
    walked = [0] * len(items)
    free = list(room) if room is not None else None
    buckets = pool.buckets
    far = max((r[-1][0] for r in rings if r), default=-1)

    def may_walk(i: int, it: WorkItem) -> bool:
        if walked[i] >= walkers:
            return False
        return free is None or not it.zones or max(free[z] for z in it.zones) > 0

    for d in range(far + 1):
        for i, it in enumerate(items):
            if left[i] <= 0:
                continue
            ring = rings[i]
            cur = cursor[i]
            while cur < len(ring) and ring[cur][0] == d and left[i] > 0:
                if pool.work >= pool.budget:
                    return out
                if d > 0 and not may_walk(i, it):
                    left[i] = 0
                    break
                _d, q, role = ring[cur]
                pool.work += 1
                cell = buckets.get(role)
                cell_q = cell[q] if cell is not None else None
                while cell_q and left[i] > 0 and (d == 0 or may_walk(i, it)):
                    out.append((cell_q.pop(), it))
                    pool.free[role] -= 1
                    left[i] -= 1
                    if d > 0:
                        walked[i] += 1
                        if free is not None and it.zones:  # a free cell is spoken for
                            z = max(it.zones, key=lambda z: free[z])
                            free[z] -= 1
                if not cell_q:
                    cur += 1
                else:
                    break
            cursor[i] = cur
    return out


__all__ = ["AgentPool", "Ring", "assign_by_distance", "assign_in_order"]
