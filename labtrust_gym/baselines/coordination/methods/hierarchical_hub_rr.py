"""``hierarchical_hub_rr``: a hub deals the work to regions round-robin; local controllers act.

The floor is cut into ``regions`` regions: the zones in breadth-first order from the first zone,
in contiguous runs of equal size (so a region is a connected neighbourhood). Every agent belongs
to the region it starts in, for the whole episode. Each step the hub takes the global work list
(toolkit ``WorkModel``, batch starts as in ``centralized_planner``) and deals the items to the
regions in turn — item after item, starting one region further each step so no region is always
first; a region whose controller has no free agent able to do the item passes it to the next.
Each region's local controller assigns the items it was dealt to its own agents only, nearest
first (``walkers`` limits agents walking to one item), and the agents act through the router.

Planning work counts items dealt (hub) plus ring positions visited (controllers). Above
``max_agents`` each agent takes, from its own zone, the items dealt to its region; contested
claims go to the region whose turn it is, then the nearest agent (scale path).

Known weakness: the dealing ignores where work is — a region is handed items in other regions'
rooms while agents standing there belong to another region and idle, so agents walk far more than
under the distance-greedy planner; its strength is an even spread of work over the regions.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from labtrust_gym.baselines.coordination.toolkit import (
    AgentPool,
    ClaimSet,
    CoordinationView,
    LocalBoard,
    ScaleCapable,
    WorkItem,
    resolve_claims,
)


def regions_of(neighbors: tuple[tuple[int, ...], ...], count: int) -> list[int]:
    """Region of every zone: BFS order from zone 0 (unreached zones appended in order), cut into
    ``count`` contiguous runs of equal size."""
    n = len(neighbors)
    order: list[int] = []
    seen = [False] * n
    for start in range(n):
        if seen[start]:
            continue
        seen[start] = True
        queue = deque([start])
        while queue:
            z = queue.popleft()
            order.append(z)
            for nb in neighbors[z]:
                if not seen[nb]:
                    seen[nb] = True
                    queue.append(nb)
    count = max(1, min(count, n))
    region = [0] * n
    for i, z in enumerate(order):
        region[z] = i * count // n
    return region


class HierarchicalHubRR(ScaleCapable):
    ID = "hierarchical_hub_rr"

    def on_reset(self) -> None:
        lay = self.layout
        self.n_regions = max(1, int(self.params.get("regions", 3)))
        self.batch_wait_s = float(self.params.get("batch_wait_s", 60.0))
        self.walkers = int(self.params.get("walkers", 2))
        zone_region = regions_of(lay.neighbors, self.n_regions)
        self.n_regions = max(zone_region) + 1
        self.agent_region = [zone_region[z] for z in lay.agent_start]
        self.members: list[list[int]] = [[] for _ in range(self.n_regions)]
        for row in self.view.rows:
            self.members[self.agent_region[row]].append(row)
        self._rings: dict[tuple[object, ...], Any] = {}
        self.turn = 0
        self.dealt: dict[str, int] = {}

    def step_items(self, view: CoordinationView) -> list[WorkItem]:
        self.turn = view.t % self.n_regions  # the region dealt to first rotates every step
        return super().step_items(view)

    def decide(self, view: CoordinationView) -> dict[int, int]:
        pools = []
        budget = self.compute_budget
        share = None if budget is None else max(1, budget // self.n_regions)
        for rows in self.members:
            pool = AgentPool(self.layout, self.routes, self._rings, share)
            pool.fill(view, rows)
            pools.append(pool)
        r = self.n_regions
        nxt = self.turn
        out: dict[int, int] = {}
        act = self.router.act_on
        for it in self.items:
            for k in range(r):  # the region whose turn it is, else the next one able to
                region = (nxt + k) % r
                pool = pools[region]
                if not pool.has(it.roles):
                    continue
                taken = pool.take(it, it.slots, walkers=self.walkers)
                if not taken:
                    continue
                for row, _d in taken:
                    e = act(view, row, it)
                    if e is not None:
                        out[row] = e
                nxt = (region + 1) % r
                break
        self.counters.planning_work += len(self.items) + sum(p.work for p in pools)
        return out

    # ---- scale path ---------------------------------------------------------------------------
    def on_observe(self, view: CoordinationView) -> None:
        super().on_observe(view)
        self._boards: list[LocalBoard] | None = None

    def _region_boards(self) -> list[LocalBoard]:
        """The hub deals the items round-robin; one local board per region over its dealt items
        and its own agents."""
        if self._boards is None:
            r = self.n_regions
            dealt: list[list[WorkItem]] = [[] for _ in range(r)]
            self.dealt = {}
            for i, it in enumerate(self.items):
                region = (self.turn + i) % r
                dealt[region].append(it)
                self.dealt[it.key] = region
            self._boards = [
                LocalBoard(self.layout, self.routes, self.view, dealt[k], self.members[k])
                for k in range(r)
            ]
        return self._boards

    def submit(self, view: CoordinationView, row: int) -> Mapping[str, Any]:
        self.counters.planning_work += 1
        board = self._region_boards()[self.agent_region[row]]
        return board.choose(self.router, row, self.rank)

    def rank(self, row: int, item: WorkItem | None, distance: int) -> tuple[int, int]:
        return (distance, (self.agent_region[row] - self.turn) % self.n_regions)

    def resolve(
        self, view: CoordinationView, submissions: Mapping[int, Mapping[str, Any]]
    ) -> dict[int, int]:
        return resolve_by_regions(self, view, self._region_boards(), submissions)


def resolve_by_regions(
    method: ScaleCapable,
    view: CoordinationView,
    boards: Sequence[LocalBoard],
    submissions: Mapping[int, Mapping[str, Any]],
) -> dict[int, int]:
    """The hub methods' combine rule: every zone offers its free cells and the work its region
    boards still need there; submissions claim them in order, a refused one is counted as a
    combine conflict."""
    claims = ClaimSet(method.items)
    lay = method.layout
    for z in range(len(lay.zone_ids)):
        claims.offer(f"cell:{z}", max(0, lay.capacity[z] - view.occupancy[z]))
        claims.offer(f"need:{z}", sum(b.claims.left(f"need:{z}") for b in boards))
    chosen, refused = resolve_claims(claims, submissions)
    method.counters.combine_conflicts += refused
    return chosen


def factory(
    policy: dict[str, Any],
    repo_root: Path | None,
    scale_config: Mapping[str, Any] | None,
    params: dict[str, Any],
) -> HierarchicalHubRR:
    return HierarchicalHubRR(policy, repo_root, scale_config, params)
