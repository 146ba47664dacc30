"""``ToolkitMethod``: the base of the built-in methods — observe, decide, act.

A subclass implements :meth:`ToolkitMethod.decide` (``view -> {agent row: catalog entry}``) and,
if it is ``scale_capable``, :meth:`ToolkitMethod.submit` (one agent's own decision) and
:meth:`ToolkitMethod.resolve` (its conflict rule over all submissions). The base class does the
rest the same way for every method: it builds the layout tables from ``policy["lab"]`` once,
updates the :class:`CoordinationView` once per step (the per-agent path calls ``propose_agent``
N times with the same step), turns rows into agent ids and counts decisions.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from labtrust_gym.baselines.coordination.interface import CoordinationMethod
from labtrust_gym.baselines.coordination.toolkit.act import Counters, Router
from labtrust_gym.baselines.coordination.toolkit.layout import LabLayout, Routes
from labtrust_gym.baselines.coordination.toolkit.local import LocalBoard, resolve_claims
from labtrust_gym.baselines.coordination.toolkit.view import CoordinationView
from labtrust_gym.baselines.coordination.toolkit.work import WorkItem, WorkModel, batch_due
from labtrust_gym.errors import InvalidInputError

#: Turnaround budget (s) deadlines are estimated against when the task has no SLA.
DEFAULT_SLA_S = 1200.0


def lab_layout(policy: Mapping[str, Any] | None, method_id: str) -> LabLayout:
    """``policy["lab"]``, the :class:`LabLayout` the runner passes to factories and ``reset``."""
    lab = (policy or {}).get("lab")
    if not isinstance(lab, LabLayout):
        raise InvalidInputError(
            f"Coordination method {method_id!r} needs policy['lab'], the lab layout the "
            "benchmark runner passes (labtrust_gym.baselines.coordination.toolkit.LabLayout."
            "from_env(env)); build it from the env when calling the factory yourself."
        )
    return lab


class ToolkitMethod(CoordinationMethod):
    """Shared machinery of the built-in methods (see the module docstring).

    Class attributes: ``ID`` (the registered id). ``params`` are the factory's merged params;
    ``compute_budget`` (if set) caps the method's planning work per step (each method says in
    what unit; docs/coordination.md).
    """

    ID = "toolkit"

    def __init__(
        self,
        policy: Mapping[str, Any] | None,
        repo_root: Any,
        scale_config: Mapping[str, Any] | None,
        params: Mapping[str, Any],
    ) -> None:
        self.params = dict(params)
        self.compute_budget = _budget(self.params.get("compute_budget"), self.ID)
        self._bind(lab_layout(policy, self.ID), policy)
        self.seed = 0
        self.rng = random.Random(f"{self.ID}:0")
        self.counters = Counters()
        self.on_reset()

    @property
    def method_id(self) -> str:
        return self.ID

    def _bind(self, layout: LabLayout, policy: Mapping[str, Any] | None) -> None:
        self.layout = layout
        self.policy_root = (policy or {}).get("policy_root")
        self.routes = Routes(layout)
        self.router = Router(layout, self.routes)
        task = (policy or {}).get("task") or {}
        sla = task.get("sla_turnaround_s") or DEFAULT_SLA_S
        self.work = WorkModel(layout, sla_s=float(sla))
        self.view = CoordinationView(layout)

    # ---- the contract ------------------------------------------------------------------------
    def reset(
        self, seed: int, policy: Mapping[str, Any] | None, scale_config: Mapping[str, Any] | None
    ) -> None:
        layout = lab_layout(policy, self.ID)
        if layout is not self.layout:
            self._bind(layout, policy)
        else:
            self.view = CoordinationView(layout)
        self.seed = int(seed)
        self.rng = random.Random(f"{self.ID}:{seed}")
        self.counters = Counters()
        self.on_reset()

    def propose_actions(
        self, obs: Mapping[str, Any], infos: Mapping[str, Any], t: int
    ) -> dict[str, int]:
        view = self.observe(obs, infos, t)
        ids = self.layout.agent_ids
        return {ids[row]: e for row, e in self.decide(view).items()}

    def coordination_report(self) -> dict[str, int]:
        return self.counters.report()

    # ---- for subclasses ----------------------------------------------------------------------
    def observe(self, obs: Mapping[str, Any], infos: Mapping[str, Any], t: int) -> CoordinationView:
        """The view of step ``t`` (updated once per step however often it is asked)."""
        if self.view.t != t:
            self.view.update(obs, infos, t)
            self.on_observe(self.view)
        return self.view

    def on_reset(self) -> None:
        """Per-episode state of the subclass (after :meth:`reset` set ``seed`` and ``rng``)."""

    def on_observe(self, view: CoordinationView) -> None:
        """Called once per step after the view is updated (before any decision)."""

    def decide(self, view: CoordinationView) -> dict[int, int]:
        """``{agent row: catalog entry}`` for this step (rows left out wait)."""
        raise NotImplementedError

    def act(self, view: CoordinationView, pairs: list[tuple[int, WorkItem]]) -> dict[int, int]:
        """The router's entry for every assigned ``(row, item)`` (walk there, or do it)."""
        out: dict[int, int] = {}
        act_on = self.router.act_on
        for row, it in pairs:
            e = act_on(view, row, it)
            if e is not None:
                out[row] = e
        return out


class ScaleCapable(ToolkitMethod):
    """A method with a per-agent path (``scale_capable`` in its policy entry): above its
    ``max_agents`` the runner calls :meth:`propose_agent` for every agent and merges the
    submissions with :meth:`combine_submissions`, whose conflict rule is :meth:`resolve`.

    The default per-agent decision is the toolkit's local one (:class:`LocalBoard`: the agent's
    own zone first) and the default rule grants claims in the order of :meth:`rank`, which each
    method defines; the step's work list is :meth:`step_items`.
    """

    items: list[WorkItem] = []
    #: a batch device's queue waits this long for a full batch (``batch_wait_s`` param)
    batch_wait_s = 60.0

    def on_observe(self, view: CoordinationView) -> None:
        self.items = self.step_items(view)
        self._local: LocalBoard | None = None

    def step_items(self, view: CoordinationView) -> list[WorkItem]:
        """The work this method acts on this step (default: the work list, starting a batch
        device only when :func:`batch_due` says so)."""
        lay, wait = self.layout, self.batch_wait_s
        items = self.work.items(view)
        return [it for it in items if it.kind != "start" or batch_due(view, lay, it, wait)]

    def local(self) -> LocalBoard:
        """This step's :class:`LocalBoard` (built on first use)."""
        if self._local is None:
            self._local = LocalBoard(self.layout, self.routes, self.view, self.items)
        return self._local

    def propose_agent(
        self, agent_id: str, obs: Mapping[str, Any], infos: Mapping[str, Any], t: int
    ) -> Mapping[str, Any]:
        view = self.view
        if view.t != t:
            view = self.observe(obs, infos, t)
        return self.submit(view, self.layout.agent_row[agent_id])

    def combine_submissions(
        self, submissions: Mapping[str, Mapping[str, Any]], obs: Mapping[str, Any], t: int
    ) -> dict[str, int]:
        row = self.layout.agent_row
        chosen = self.resolve(self.view, {row[a]: sub for a, sub in submissions.items()})
        ids = self.layout.agent_ids
        return {ids[r]: e for r, e in chosen.items()}

    def submit(self, view: CoordinationView, row: int) -> Mapping[str, Any]:
        """One agent's own decision (a :func:`~labtrust_gym.baselines.coordination.toolkit.act.
        submission`), from its own zone and the step's shared facts."""
        self.counters.planning_work += 1
        return self.local().choose(self.router, row, self.rank)

    def rank(self, row: int, item: WorkItem | None, distance: int) -> Any:
        """Order in which contested claims are granted (smaller first)."""
        raise NotImplementedError

    def resolve(
        self, view: CoordinationView, submissions: Mapping[int, Mapping[str, Any]]
    ) -> dict[int, int]:
        """The method's conflict rule: ``{row: entry}`` from every agent's submission; each
        overruled submission is counted in ``counters.combine_conflicts``."""
        chosen, refused = resolve_claims(self.local().claims, submissions)
        self.counters.combine_conflicts += refused
        return chosen


def _budget(value: Any, method_id: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise InvalidInputError(
            f"Coordination method {method_id!r}: compute_budget must be a positive number of "
            f"planning-work units per step, or null; got {value!r}."
        )
    return int(value)


__all__ = ["DEFAULT_SLA_S", "ScaleCapable", "ToolkitMethod", "lab_layout"]
