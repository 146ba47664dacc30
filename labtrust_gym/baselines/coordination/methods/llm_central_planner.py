"""``llm_central_planner``: one LLM call per step proposes the joint action.

The request shows the whole lab (zone map, the step's work list, every driven agent's role, zone
and allowed actions by name; ``labtrust_gym.llm.lab_prompt``) and asks for one action per agent.
Agents the answer leaves out, or names with an unknown action, wait; an invalid answer makes every
agent wait that step (counted). ``max_tokens_per_agent`` sizes the answer budget.

Above ``max_agents`` (policy entry) one prompt would be too long: the runner takes the per-agent
path, where each agent gets its own call (as ``llm_agent`` with ``k = 1``) under ``call_budget``
(None = unlimited; agents over it wait, counted as ``llm_budget_waits``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labtrust_gym.baselines.coordination.methods.llm_base import LLMMethod
from labtrust_gym.baselines.coordination.toolkit import CoordinationView


class LLMCentralPlanner(LLMMethod):
    ID = "llm_central_planner"

    def on_reset(self) -> None:
        super().on_reset()
        self.per_agent_tokens = int(self.params.get("max_tokens_per_agent", 48))

    def decide(self, view: CoordinationView) -> dict[int, int]:
        rows = list(view.rows)
        if not rows:
            return {}
        if not self.budget_left(view.t):
            self.budget_waits += len(rows)
            return {}
        ids = [self.layout.agent_ids[r] for r in rows]
        tokens = 64 + self.per_agent_tokens * len(rows)
        response = self.call(self.prompt(view, rows).render(), ids, view.t, tokens)
        return self.actions_of(view, response, rows)


def factory(
    policy: dict[str, Any],
    repo_root: Path | None,
    scale_config: Mapping[str, Any] | None,
    params: dict[str, Any],
) -> LLMCentralPlanner:
    return LLMCentralPlanner(policy, repo_root, scale_config, params)
