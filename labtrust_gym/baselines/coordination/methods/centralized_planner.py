"""``centralized_planner``: one global work list, greedy nearest-agent assignment, shortest paths.

Every step the planner reads the whole lab from the coordination view, builds the global work
list (device starts and queues, QC reruns, reception, releases, critical calls, transport,
approvals; :class:`~labtrust_gym.baselines.coordination.toolkit.work.WorkModel`) and assigns
agents to it greedily by travel distance — every item first takes the agents already where it is
done, then those one hop away, and so on (at most ``walkers`` agents walk to one item) — and each
assigned agent acts through the router: the item's entry when it is there, else one hop along its
role's shortest path (opening a closed door in the way). A batch device starts when its batch is
full, when its queue head has waited ``batch_wait_s`` or when no more specimens of its type are
ready. Unassigned agents wait.

Planning work counts ring positions visited by the assignment plus the items considered. Above
``max_agents`` (policy entry) each agent takes the work of its own zone, spread by its position
among the agents there, and contested claims go to the nearest agent (scale path).

Known weakness: memoryless and congestion-blind — it re-assigns from scratch every step, so agents
walking to far work can be re-targeted, and several agents may head for the same doorway or the
last free cell of a zone (the engine then refuses all but one, counted as conflicts).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labtrust_gym.baselines.coordination.toolkit import (
    AgentPool,
    CoordinationView,
    ScaleCapable,
    WorkItem,
    assign_by_distance,
)


class CentralizedPlanner(ScaleCapable):
    ID = "centralized_planner"

    def on_reset(self) -> None:
        self._rings: dict[tuple[object, ...], Any] = {}
        self.batch_wait_s = float(self.params.get("batch_wait_s", 60.0))
        self.walkers = int(self.params.get("walkers", 2))

    def decide(self, view: CoordinationView) -> dict[int, int]:
        pool = AgentPool(self.layout, self.routes, self._rings, self.compute_budget)
        pool.fill(view, view.rows)
        pairs = assign_by_distance(pool, self.items, walkers=self.walkers)
        self.counters.planning_work += pool.work + len(self.items)
        return self.act(view, pairs)

    def rank(self, row: int, item: WorkItem | None, distance: int) -> tuple[int, int]:
        return (distance, 0)


def factory(
    policy: dict[str, Any],
    repo_root: Path | None,
    scale_config: Mapping[str, Any] | None,
    params: dict[str, Any],
) -> CentralizedPlanner:
    return CentralizedPlanner(policy, repo_root, scale_config, params)
