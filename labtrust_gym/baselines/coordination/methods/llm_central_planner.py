"""``llm_central_planner``: one LLM call per step proposes the joint action.

The request shows the whole lab (zone map, the step's work list, every driven agent's role, zone
and allowed actions by name; ``labtrust_gym.llm.lab_prompt``) and asks for one action per agent.
Agents the answer leaves out, or names with an unknown action, wait; an invalid answer makes every
agent wait that step (counted). ``max_tokens_per_agent`` sizes the answer budget.

Above ``max_agents`` (policy entry) one prompt would be too long: the runner takes the per-agent
path, and the planner splits the agents into groups of at most ``batch_agents`` (param, default
32), neighbours together (sorted by zone, then agent order); the first agent of a group asked
for its submission triggers that group's joint call, under ``call_budget`` (None = unlimited; a
group over it waits, each agent counted in ``llm_budget_waits``). Same-step contention between
groups is left to the env.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labtrust_gym.baselines.coordination.methods.llm_base import LLMMethod
from labtrust_gym.baselines.coordination.toolkit import CoordinationView, submission


class LLMCentralPlanner(LLMMethod):
    ID = "llm_central_planner"

    def on_reset(self) -> None:
        super().on_reset()
        self.per_agent_tokens = int(self.params.get("max_tokens_per_agent", 48))
        self.batch_agents = max(1, int(self.params.get("batch_agents", 32)))
        self._groups_step = -1
        self._group_of: dict[int, int] = {}
        self._groups: list[list[int]] = []
        self._asked: set[int] = set()
        self._chosen: dict[int, int] = {}

    def decide(self, view: CoordinationView) -> dict[int, int]:
        rows = list(view.rows)
        if not rows:
            return {}
        if not self.budget_left(view.t):
            self.budget_waits += len(rows)
            return {}
        return self.joint(view, rows)

    def joint(self, view: CoordinationView, rows: list[int]) -> dict[int, int]:
        """One call deciding ``rows`` together."""
        ids = [self.layout.agent_ids[r] for r in rows]
        tokens = 64 + self.per_agent_tokens * len(rows)
        response = self.call(self.prompt(view, rows).render(), ids, view.t, tokens)
        return self.actions_of(view, response, rows)

    # ---- the scale path: one joint call per group of neighbours ------------------------------
    def submit(self, view: CoordinationView, row: int) -> Mapping[str, Any]:
        if self._groups_step != view.t:
            order = sorted(view.rows, key=lambda r: (view.zone[r], r))
            size = self.batch_agents
            self._groups = [order[i : i + size] for i in range(0, len(order), size)]
            self._group_of = {r: g for g, rows in enumerate(self._groups) for r in rows}
            self._groups_step, self._asked, self._chosen = view.t, set(), {}
        group = self._group_of.get(row)
        if group is not None and group not in self._asked:
            self._asked.add(group)
            rows = self._groups[group]
            if self.budget_left(view.t):
                self._chosen.update(self.joint(view, rows))
            else:
                self.budget_waits += len(rows)
        return submission(self._chosen.get(row), None, row)


def factory(
    policy: dict[str, Any],
    repo_root: Path | None,
    scale_config: Mapping[str, Any] | None,
    params: dict[str, Any],
) -> LLMCentralPlanner:
    return LLMCentralPlanner(policy, repo_root, scale_config, params)
