"""``kernel_centralized_edf``: allocation by earliest deadline first, BFS routing.

Every work item carries an estimated deadline (toolkit ``WorkModel``): the arrival of its oldest
waiting unit plus the task's turnaround SLA minus the nominal service time still ahead of it (a
critical result: its notification deadline). Each step the kernel sorts the global work list by
deadline and allocates in that order — the most urgent item takes its nearest free agent first
(at most ``walkers`` walk to one item), then the next — and agents route along their role's BFS
shortest paths. A batch device (centrifuge, aliquoter) is started as soon as its queue's deadline
slack falls below ``start_slack_s``, or when the batch is full; until then it keeps filling.

Planning work counts the items sorted plus ring positions visited. Above ``max_agents`` each agent
takes the work of its own zone and contested claims go to the earliest deadline (scale path).

Known weakness: deadlines are estimates from counts (the view never sees which specimen is which),
and urgency beats distance — an urgent item far away pulls an agent across the lab while nearer
work waits, so it walks more than the distance-greedy planner.
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
    assign_in_order,
)


class KernelCentralizedEDF(ScaleCapable):
    ID = "kernel_centralized_edf"

    def on_reset(self) -> None:
        self._rings: dict[tuple[object, ...], Any] = {}
        self.start_slack_s = float(self.params.get("start_slack_s", 600.0))
        self.walkers = int(self.params.get("walkers", 2))

    def step_items(self, view: CoordinationView) -> list[WorkItem]:
        items = [
            it
            for it in self.work.items(view)
            if it.kind != "start" or it.full or it.deadline_s - view.t_s < self.start_slack_s
        ]
        items.sort(key=lambda it: (it.deadline_s, it.key))
        return items

    def decide(self, view: CoordinationView) -> dict[int, int]:
        pool = AgentPool(self.layout, self.routes, self._rings, self.compute_budget)
        pool.fill(view, view.rows)
        pairs = assign_in_order(pool, self.items, walkers=self.walkers)
        self.counters.planning_work += pool.work + len(self.items)
        return self.act(view, pairs)

    def rank(self, row: int, item: WorkItem | None, distance: int) -> tuple[float, int]:
        return (item.deadline_s if item is not None else float("inf"), distance)


def factory(
    policy: dict[str, Any],
    repo_root: Path | None,
    scale_config: Mapping[str, Any] | None,
    params: dict[str, Any],
) -> KernelCentralizedEDF:
    return KernelCentralizedEDF(policy, repo_root, scale_config, params)
