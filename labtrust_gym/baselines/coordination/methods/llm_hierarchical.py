"""``llm_hierarchical``: an LLM hub deals the step's work to regions; classical controllers act.

The floor is cut into ``regions`` regions as in ``hierarchical_hub_rr`` (zones in breadth-first
order, contiguous runs; every agent belongs to the region it starts in). Once per step the hub —
one LLM call — gets the zone map, the step's work list and the regions (their zones and agents)
and answers ``{"assignments": [{"work": key, "region": n}]}``. Each region's local controller
(the toolkit's :class:`LocalBoard`, as in ``hierarchical_hub_rr``'s scale path) then assigns the
items dealt to its region to its own agents, nearest first, and they act through the router — so
every action is one the agent's mask allows. Contested claims go to the nearest agent.

Work the hub does not deal (or deals to an unknown region: counted as ``llm_unknown_actions``)
is not done that step; an invalid hub answer (counted) or a failed call leaves the whole step's
work undealt. ``call_budget`` 0 disables the hub (everyone waits; counted per agent). The same
path serves any number of agents: above ``max_agents`` the per-agent submissions are the local
controllers' and ``combine_submissions`` resolves the claims.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labtrust_gym.baselines.coordination.methods.hierarchical_hub_rr import (
    regions_of,
    resolve_by_regions,
)
from labtrust_gym.baselines.coordination.methods.llm_base import LLMMethod
from labtrust_gym.baselines.coordination.toolkit import (
    CoordinationView,
    LocalBoard,
    WorkItem,
)
from labtrust_gym.llm.lab_prompt import ASSIGNMENTS_SCHEMA, SYSTEM_ASSIGN, AgentLine, RegionLine


class LLMHierarchical(LLMMethod):
    ID = "llm_hierarchical"
    system_prompt = SYSTEM_ASSIGN
    answer_schema = ASSIGNMENTS_SCHEMA

    def on_reset(self) -> None:
        super().on_reset()
        lay = self.layout
        self.walkers = int(self.params.get("walkers", 2))
        self.hub_tokens = int(self.params.get("max_tokens", 1024))
        zone_region = regions_of(lay.neighbors, max(1, int(self.params.get("regions", 3))))
        self.n_regions = max(zone_region) + 1
        self.zone_region = zone_region
        self.agent_region = [zone_region[z] for z in lay.agent_start]
        self.members: list[list[int]] = [[] for _ in range(self.n_regions)]
        for row in self.view.rows:
            self.members[self.agent_region[row]].append(row)
        self._boards: list[LocalBoard] | None = None

    def on_observe(self, view: CoordinationView) -> None:
        super().on_observe(view)
        self._boards = None

    def region_lines(self) -> tuple[RegionLine, ...]:
        lay = self.layout
        return tuple(
            RegionLine(
                r,
                tuple(lay.zone_ids[z] for z, zr in enumerate(self.zone_region) if zr == r),
                tuple(lay.agent_ids[row] for row in self.members[r]),
            )
            for r in range(self.n_regions)
        )

    def hub(self, view: CoordinationView) -> list[list[WorkItem]]:
        """The hub's call: the items dealt to each region this step."""
        dealt: list[list[WorkItem]] = [[] for _ in range(self.n_regions)]
        if not self.items:
            return dealt
        rows = list(view.rows)
        if not self.budget_left(view.t):
            self.budget_waits += len(rows)
            return dealt
        lay = self.layout
        prompt = self.prompt(view, [], regions=self.region_lines())
        agents = tuple(
            AgentLine(lay.agent_ids[r], str(lay.agent_role[r]), lay.zone_ids[view.zone[r]], ())
            for r in rows
        )
        text = type(prompt)(**{**_fields(prompt), "agents": agents}).render()
        response = self.call(text, [lay.agent_ids[r] for r in rows], view.t, self.hub_tokens)
        if response is None or not response.valid or not isinstance(response.answer, dict):
            return dealt
        by_key = {it.key: it for it in self.items}
        taken: set[str] = set()
        for a in response.answer.get("assignments") or ():
            item = by_key.get(a.get("work"))
            region = a.get("region")
            if item is None or not isinstance(region, int) or not 0 <= region < self.n_regions:
                self.unknown_actions += 1
                continue
            if item.key not in taken:  # the first assignment of a key counts
                taken.add(item.key)
                dealt[region].append(item)
        return dealt

    def boards(self, view: CoordinationView) -> list[LocalBoard]:
        if self._boards is None:
            dealt = self.hub(view)
            self._boards = [
                LocalBoard(self.layout, self.routes, self.view, dealt[k], self.members[k])
                for k in range(self.n_regions)
            ]
        return self._boards

    def decide(self, view: CoordinationView) -> dict[int, int]:
        subs = {row: self.submit(view, row) for row in view.rows}
        return self.resolve(view, subs)

    def submit(self, view: CoordinationView, row: int) -> Mapping[str, Any]:
        self.counters.planning_work += 1
        board = self.boards(view)[self.agent_region[row]]
        return board.choose(self.router, row, self.rank)

    def resolve(
        self, view: CoordinationView, submissions: Mapping[int, Mapping[str, Any]]
    ) -> dict[int, int]:
        return resolve_by_regions(self, view, self.boards(view), submissions)

def _fields(prompt: Any) -> dict[str, Any]:
    import attrs

    return attrs.asdict(prompt, recurse=False)


def factory(
    policy: dict[str, Any],
    repo_root: Path | None,
    scale_config: Mapping[str, Any] | None,
    params: dict[str, Any],
) -> LLMHierarchical:
    return LLMHierarchical(policy, repo_root, scale_config, params)
