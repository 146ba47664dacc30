"""``llm_agent``: one LLM call per agent decides that agent's action, every ``k`` steps.

Each due agent gets its own request: the observation text (zone map, the step's work list, its own
role, zone and allowed actions by name; ``labtrust_gym.llm.lab_prompt``) and is asked for one
action. Agent ``row`` is due at steps where ``(t + row) % k == 0`` (``k`` param, default 1: every
step), so with ``k > 1`` the calls of a step are spread over the agents. Between its calls an agent
repeats its last proposed action while its mask still allows it, else it waits (NOOP).

``call_budget`` (param; None = unlimited) caps the calls of one step; a due agent over the
budget repeats its last action while its mask allows it, else waits (counted:
``llm_budget_waits``); which due agents are served rotates every step, on both paths, so no
agent always waits. Above
``max_agents`` (policy entry) the runner takes the per-agent path (``propose_agent`` +
``combine_submissions``), which makes the same calls under the same budget.

Each agent's prompt is its own view, bounded whatever the lab's size: the ``prompt_work``
(param, default 8) nearest work items its role may do (listed in priority order) and only the
zones on its way to them plus its zone's neighbours — not the whole zone map and work list,
which made a large lab's prompts O(N·(Z+W)) per step. On the per-agent (scale) path an unset
``call_budget`` defaults to ``scale_call_budget`` (param, default 128) calls per step.

The backend is ``proposal_backend`` (default ``heuristic``: offline, deterministic); see
``methods/llm_base.py`` for invalid answers, counting and the audit records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from labtrust_gym.baselines.coordination.methods.llm_base import LLMMethod
from labtrust_gym.baselines.coordination.toolkit import FAR, CoordinationView, submission
from labtrust_gym.llm.lab_prompt import LabPrompt, ZoneLine


class LLMAgent(LLMMethod):
    ID = "llm_agent"

    def on_reset(self) -> None:
        super().on_reset()
        self.k = max(1, int(self.params.get("k", 1)))
        self.agent_tokens = int(self.params.get("max_tokens", 256))
        self.last: dict[int, int] = {}
        self._served_step = -1
        self._served: set[int] = set()
        work = self.params.get("prompt_work", 8)
        self.prompt_work = None if work is None else max(1, int(work))
        self.scale_call_budget = max(1, int(self.params.get("scale_call_budget", 128)))
        self._zone_lines: tuple[ZoneLine, ...] | None = None

    def prompt(self, view: CoordinationView, rows: Sequence[int], **extra: Any) -> LabPrompt:
        """One agent's own view (module docstring); several agents (or ``prompt_work`` None):
        the whole lab."""
        if len(rows) != 1 or self.prompt_work is None:
            return super().prompt(view, rows, **extra)
        row = rows[0]
        lay = self.layout
        role = lay.agent_role[row]
        here = view.zone[row]
        dist, hop = self.routes.table(role)
        near = []
        for pos, it in enumerate(self.items):
            if it.roles and role not in it.roles:
                continue
            d, target = min(((dist[here][z], z) for z in it.zones), default=(0, here))
            near.append((d, pos, target, it))
        near.sort(key=lambda n: (n[0], n[1]))
        shown = sorted(near[: self.prompt_work], key=lambda n: n[1])  # priority order
        zones = {here, *lay.neighbors[here]}
        for d, _pos, target, _it in shown:
            z = here
            for _ in range(min(d, len(lay.zone_ids))):  # the zones on its way there
                if d >= FAR or z == target or hop[z][target] < 0:
                    break
                z = hop[z][target]
                zones.add(z)
        if self._zone_lines is None:
            self._zone_lines = self.zone_lines()
        return LabPrompt(
            step=view.t,
            t_s=view.t_s,
            zones=tuple(self._zone_lines[z] for z in sorted(zones)),
            work=self.work_lines([n[3] for n in shown]),
            notes=tuple(self.notes_text(view)),
            agents=(self.agent_line(view, row),),
            decide=(lay.agent_ids[row],),
            **extra,
        )

    def decide_row(self, view: CoordinationView, row: int) -> int | None:
        t = view.t
        if (t + row) % self.k != 0:
            entry = self.last.get(row)
            return entry if entry is not None and view.can(row, entry) else None
        if row not in self.served(view) or not self.budget_left(t):
            self.budget_waits += 1  # over the budget: as between calls, its last action
            entry = self.last.get(row)
            return entry if entry is not None and view.can(row, entry) else None
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
        if self.call_budget is None:  # the scale path: bounded calls per step by default
            self.call_budget = self.scale_call_budget
        return submission(self.decide_row(view, row), None, row)


def factory(
    policy: dict[str, Any],
    repo_root: Path | None,
    scale_config: Mapping[str, Any] | None,
    params: dict[str, Any],
) -> LLMAgent:
    return LLMAgent(policy, repo_root, scale_config, params)
