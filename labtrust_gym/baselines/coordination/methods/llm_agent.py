"""``llm_agent``: one LLM call per agent decides that agent's action, every ``k`` steps.

Each due agent gets its own request: the observation text (zone map, the step's work list, its own
role, zone and allowed actions by name; ``labtrust_gym.llm.lab_prompt``) and is asked for one
action. Agent ``row`` is due at steps where ``(t + row) % k == 0`` (``k`` param, default 1: every
step), so with ``k > 1`` the calls of a step are spread over the agents. Between its calls an agent
repeats its last proposed action while its mask still allows it, else it waits (NOOP).

``call_budget`` (param; None = unlimited) caps the calls of one step; a due agent over the budget
waits (counted: ``llm_budget_waits``); which due agents are served rotates every step, on
both paths, so no agent always waits. Above
``max_agents`` (policy entry) the runner takes the per-agent path (``propose_agent`` +
``combine_submissions``), which makes the same calls under the same budget.

The backend is ``proposal_backend`` (default ``heuristic``: offline, deterministic); see
``methods/llm_base.py`` for invalid answers, counting and the audit records.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labtrust_gym.baselines.coordination.methods.llm_base import LLMMethod
from labtrust_gym.baselines.coordination.toolkit import CoordinationView, submission


class LLMAgent(LLMMethod):
    ID = "llm_agent"

    def on_reset(self) -> None:
        super().on_reset()
        self.k = max(1, int(self.params.get("k", 1)))
        self.agent_tokens = int(self.params.get("max_tokens", 256))
        self.last: dict[int, int] = {}
        self._served_step = -1
        self._served: set[int] = set()

    def decide_row(self, view: CoordinationView, row: int) -> int | None:
        t = view.t
        if (t + row) % self.k != 0:
            entry = self.last.get(row)
            return entry if entry is not None and view.can(row, entry) else None
        if row not in self.served(view) or not self.budget_left(t):
            self.budget_waits += 1
            self.last.pop(row, None)
            return None
        aid = self.layout.agent_ids[row]
        response = self.call(self.prompt(view, [row]).render(), [aid], t, self.agent_tokens)
        entry = self.actions_of(view, response, [row]).get(row)
        if entry is None:
            self.last.pop(row, None)
        else:
            self.last[row] = entry
        return entry

    def served(self, view: CoordinationView) -> set[int]:
        """The due agents the step's call budget serves: the budget's worth of them, starting
        one budget further along the agents every step (so none always waits)."""
        if self._served_step != view.t:
            rows = list(view.rows)
            start = (view.t * (self.call_budget or 1)) % max(1, len(rows))
            due = [r for r in rows[start:] + rows[:start] if (view.t + r) % self.k == 0]
            self._served = set(due if self.call_budget is None else due[: self.call_budget])
            self._served_step = view.t
        return self._served

    def decide(self, view: CoordinationView) -> dict[int, int]:
        out: dict[int, int] = {}
        for row in view.rows:
            entry = self.decide_row(view, row)
            if entry is not None:
                out[row] = entry
        return out

    def submit(self, view: CoordinationView, row: int) -> Mapping[str, Any]:
        return submission(self.decide_row(view, row), None, row)


def factory(
    policy: dict[str, Any],
    repo_root: Path | None,
    scale_config: Mapping[str, Any] | None,
    params: dict[str, Any],
) -> LLMAgent:
    return LLMAgent(policy, repo_root, scale_config, params)
