"""``kernel_whca``: windowed hierarchical cooperative A* over a space-time reservation table.

Allocation is the distance-greedy one of ``centralized_planner``; movement is planned. Every step
the kernel builds a reservation table over the next ``window`` instants: per transition k (from
instant k to k+1) how many agents *hold* each zone (its cells) and how many cross each doorway in
each direction. An agent that stays holds its zone; an agent that moves a→b holds **both** a and b
during that transition, so whatever order the engine applies the step's events in, no zone ever
exceeds its capacity — and a doorway carries at most its lanes one way and nothing the other way
(no swaps). Agents that do not move (working, waiting) hold their zone for the whole window.

Movers are planned one at a time in allocation order (cooperative A*): each searches space-time
states (zone, k) with waits allowed, the heuristic being the true BFS distance to its goal over
its role's routes (the "hierarchical" abstraction: exact when nobody is in the way), and reserves
the path it found. A plan is kept across steps while its goal is unchanged, the agent is where
the plan said and the path still fits the table; otherwise it is replanned (counted). A path that
cannot reach its goal inside the window ends at the best state at its edge. The first transition
is the step's action (the move, or opening the door in the way).

Guarantee: zero cell conflicts, zero doorway conflicts, zero swaps incurred (the engine never
refuses one of its moves for space) — tests/benchmarks/test_coordination_methods.py checks it.
Planning work counts A* node expansions plus assignment ring visits; ``compute_budget`` caps
expansions per step (movers beyond it wait this step). Conflicts avoided: movers whose shortest-
path next hop the table refused (a full cell, or a doorway used the other way / up to its lanes).

Scale path (above ``max_agents``): each agent plans alone against the table of last step's kept
plans; ``combine_submissions`` grants first transitions in allocation rank order against a fresh
table of this instant, and a mover whose first transition no longer fits waits (a counted combine
conflict) and replans next step — so the engine still never refuses a move.

Known weakness: a fixed priority order (allocation order) and a short window can leave low-priority
agents waiting behind others in tight corridors; holding both zones during a move halves what a
full corridor can pass per instant.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labtrust_gym.baselines.coordination.toolkit import (
    FAR,
    AgentPool,
    CoordinationView,
    LabLayout,
    ScaleCapable,
    WorkItem,
    assign_by_distance,
)


class Reservations:
    """Holds per zone and doorway traffic per transition k = 0..window-1."""

    def __init__(self, layout: LabLayout, occupancy: list[int], window: int) -> None:
        self.cap = layout.capacity
        self.lanes = layout.lanes
        self.window = window
        self.hold = [list(occupancy) for _ in range(window)]
        self.flow: list[dict[tuple[int, int], int]] = [{} for _ in range(window)]

    def fits(self, k: int, a: int, b: int) -> str | None:
        """None when the transition a→b (a == b: staying) at k fits; else why not (``cell`` or
        ``edge``). The agent is assumed not counted in the table."""
        hold = self.hold[k]
        cap = self.cap
        if hold[a] >= cap[a]:
            return "cell"
        if a == b:
            return None
        if hold[b] >= cap[b]:
            return "cell"
        flow = self.flow[k]
        if flow.get((b, a), 0) or flow.get((a, b), 0) >= self.lanes.get((a, b), 1):
            return "edge"
        return None

    def path_fits(self, start: int, path: list[int]) -> bool:
        a = start
        for k, b in enumerate(path):
            if self.fits(k, a, b) is not None:
                return False
            a = b
        return True

    def add(self, start: int, path: list[int], sign: int = 1) -> None:
        """Reserve (sign 1) or release (-1) ``path`` (zones after ``start``, one per transition)."""
        a = start
        for k, b in enumerate(path):
            self.hold[k][a] += sign
            if b != a:
                self.hold[k][b] += sign
                flow = self.flow[k]
                flow[(a, b)] = flow.get((a, b), 0) + sign
            a = b

    def stay(self, zone: int, sign: int) -> None:
        for hold in self.hold:
            hold[zone] += sign


class KernelWHCA(ScaleCapable):
    ID = "kernel_whca"

    def on_reset(self) -> None:
        self._rings: dict[tuple[object, ...], Any] = {}
        self.window = max(1, int(self.params.get("window", 8)))
        self.walkers = int(self.params.get("walkers", 2))
        self.batch_wait_s = float(self.params.get("batch_wait_s", 60.0))
        self.plans: dict[int, tuple[int, list[int]]] = {}  # row -> (goal, zones after now)
        lay = self.layout
        self._allowed: dict[str | None, list[bool]] = {}
        for role in set(lay.agent_role):
            zones = lay.role_zones.get(role) if role is not None else None
            self._allowed[role] = [
                (zones is None or z in zones) and z not in lay.restricted
                for z in range(len(lay.zone_ids))
            ]
        self._base: Reservations | None = None
        self._budget_left = 0
        self._moves = frozenset(e for e in lay.move if e is not None)

    # ---- centralised path ---------------------------------------------------------------------
    def decide(self, view: CoordinationView) -> dict[int, int]:
        pool = AgentPool(self.layout, self.routes, self._rings, self.compute_budget)
        pool.fill(view, view.rows)
        room = [c - o for c, o in zip(self.layout.capacity, view.occupancy, strict=True)]
        pairs = assign_by_distance(pool, self.items, walkers=self.walkers, room=room)
        self.counters.planning_work += pool.work + len(self.items)
        table = Reservations(self.layout, view.occupancy, self.window)
        self._budget_left = self.compute_budget if self.compute_budget is not None else 1 << 62
        out: dict[int, int] = {}
        plans: dict[int, tuple[int, list[int]]] = {}
        router = self.router
        for row, it in pairs:
            here = view.zone[row]
            if not it.zones or here in it.zones:
                e = router.entry_for(view, row, it)
                if e is not None:
                    out[row] = e
                continue
            goal = router.nearest(row, here, it.zones)
            if goal < 0:
                continue
            table.stay(here, -1)
            path = self._path(view, table, row, here, goal)
            table.add(here, path)
            plans[row] = (goal, path)
            if path and path[0] != here:
                e = router.hop_entry(view, row, here, path[0])
                if e is not None:
                    out[row] = e
        self.plans = plans
        return out

    def _path(
        self, view: CoordinationView, table: Reservations, row: int, here: int, goal: int
    ) -> list[int]:
        """The kept plan if it still fits, else a new A* plan (counted as a replan when a plan
        for the same goal existed)."""
        old = self.plans.get(row)
        if old is not None and old[0] == goal and old[1] and old[1][0] == here:
            kept = [*old[1][1:], old[1][-1]]
            if table.path_fits(here, kept):
                return kept
            self.counters.replans += 1
        elif old is not None and old[0] == goal:
            self.counters.replans += 1
        return self._astar(table, row, here, goal)

    def _astar(self, table: Reservations, row: int, here: int, goal: int) -> list[int]:
        """Space-time A* from (here, 0) towards ``goal`` over the window; waits allowed."""
        lay = self.layout
        role = lay.agent_role[row]
        dist, hop = self.routes.table(role)
        allowed = self._allowed[role]
        window = table.window
        naive = hop[here][goal]
        if naive >= 0:
            why = table.fits(0, here, naive)
            if why == "cell":
                self.counters.cell_conflicts_avoided += 1
            elif why == "edge":
                self.counters.swaps_avoided += 1
        if self._budget_left <= 0:
            return [here] * window
        h_goal = [dist[z][goal] for z in range(len(lay.zone_ids))]
        start = (h_goal[here], 0, here)
        frontier = [start]
        parent: dict[tuple[int, int], tuple[int, int] | None] = {(here, 0): None}
        best = (here, 0)
        best_key = (h_goal[here] + window, 0)
        expansions = 0
        neighbors = lay.neighbors
        fits = table.fits
        while frontier:
            _f, k, z = heapq.heappop(frontier)
            expansions += 1
            if z == goal or k == window:
                best = (z, k)
                break
            key = (h_goal[z] + window, -k) if h_goal[z] < FAR else (FAR, -k)
            if key < best_key:
                best, best_key = (z, k), key
            for nb in (z, *neighbors[z]):
                state = (nb, k + 1)
                if state in parent or (nb != z and not allowed[nb]) or h_goal[nb] >= FAR:
                    continue
                if fits(k, z, nb) is not None:
                    continue
                parent[state] = (z, k)
                heapq.heappush(frontier, (k + 1 + h_goal[nb], k + 1, nb))
        self._budget_left -= expansions
        self.counters.planning_work += expansions
        path: list[int] = []
        node: tuple[int, int] | None = best
        while node is not None and node[1] > 0:
            path.append(node[0])
            node = parent[node]
        path.reverse()
        last = path[-1] if path else here
        return path + [last] * (window - len(path))

    # ---- scale path ---------------------------------------------------------------------------
    def on_observe(self, view: CoordinationView) -> None:
        super().on_observe(view)
        self._base = None

    def _base_table(self, view: CoordinationView) -> Reservations:
        """Last step's kept plans over this instant's occupancy (what a lone agent plans
        against on the scale path)."""
        if self._base is None:
            table = Reservations(self.layout, view.occupancy, self.window)
            for row, (_goal, path) in self.plans.items():
                here = view.zone[row]
                if path and path[0] == here:
                    kept = [*path[1:], path[-1]]
                    table.stay(here, -1)
                    table.add(here, kept)
            self._base = table
            self._budget_left = (
                self.compute_budget if self.compute_budget is not None else 1 << 62
            )
        return self._base

    def submit(self, view: CoordinationView, row: int) -> Mapping[str, Any]:
        local = self.local()
        chosen = local.choose(self.router, row, self.rank)
        e = chosen["entry"]
        if e is None or e not in self._moves:
            return chosen  # work where it stands, or nothing: no path to plan
        here = view.zone[row]
        target = local.walk_to.get((self.layout.agent_role[row] or "", here), -1)
        if target < 0:
            return chosen
        sub = dict(chosen)
        table = self._base_table(view)
        old = self.plans.get(row)
        if old is not None and old[0] == target and old[1] and old[1][0] == here:
            path = [*old[1][1:], old[1][-1]]
        else:
            if old is not None:
                self.counters.replans += 1
            table.stay(here, -1)
            path = self._astar(table, row, here, target)
            table.stay(here, 1)
        first = path[0] if path else here
        sub["plan"] = (target, path)
        if first == here:
            sub["entry"] = None
        else:
            sub["entry"] = self.router.hop_entry(view, row, here, first)
            sub["hop"] = (here, first)
            sub["also"] = f"cell:{first}"
        return sub

    def resolve(
        self, view: CoordinationView, submissions: Mapping[int, Mapping[str, Any]]
    ) -> dict[int, int]:
        chosen = super().resolve(view, submissions)
        now = Reservations(self.layout, view.occupancy, 1)
        plans: dict[int, tuple[int, list[int]]] = {}
        for _rank, row in sorted((submissions[r]["rank"], r) for r in chosen):
            sub = submissions[row]
            hop = sub.get("hop")
            if hop is None:
                continue
            a, b = hop
            now.hold[0][a] -= 1
            if now.fits(0, a, b) is not None:
                now.hold[0][a] += 1
                del chosen[row]
                self.counters.combine_conflicts += 1
                continue
            now.add(a, [b])
            plans[row] = sub["plan"]
        self.plans = plans
        return chosen

    def rank(self, row: int, item: WorkItem | None, distance: int) -> tuple[int, int]:
        return (distance, row)


def factory(
    policy: dict[str, Any],
    repo_root: Path | None,
    scale_config: Mapping[str, Any] | None,
    params: dict[str, Any],
) -> KernelWHCA:
    return KernelWHCA(policy, repo_root, scale_config, params)
