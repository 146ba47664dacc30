"""Run a task or a coordination method for N steps through the real runner, checking contracts.

:func:`run_steps` runs one episode of ``steps`` env steps with ``labtrust run-benchmark``'s own
machinery (lab build, env, scripted baseline or coordination method, metrics, results schema),
so what passes here runs in a benchmark. On the way it checks:

* the task: it instantiates without arguments and validates, and ``get_initial_state(seed)``
  is deterministic in the seed (two calls give the same state);
* a coordination method: its factory accepts the four positional arguments and returns an object
  with a ``method_id`` string and ``propose_actions``; every step ``propose_actions`` returns a
  mapping from current agent ids to actions, each an ``int`` index or a dict with an integer
  ``action_index`` (within the agent's action mask) and/or a string ``action_type``
  (:func:`check_actions`);
* the results document validates against the results schema (the runner checks it).

A broken contract raises :class:`ContractViolation` (an ``AssertionError``, so pytest shows it as
a failed assertion) naming the step, the agent and what was wrong.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from labtrust_gym.testing.isolation import registered


class ContractViolation(AssertionError):
    """A plugin broke the task or coordination-method contract."""


@dataclass(frozen=True)
class StepsReport:
    """What :func:`run_steps` saw.

    :ivar task: the task id that ran (``<task>:checked``, a copy limited to ``steps`` steps).
    :ivar coord_method: the coordination method id, or None for the scripted baseline.
    :ivar steps: env steps the episode ran.
    :ivar proposals: agent actions the coordination method proposed over the episode.
    :ivar masked: proposals whose ``action_index`` the agent's action mask did not allow (the
        engine refuses those; allowed by the contract, but worth a look).
    :ivar metrics: the episode's metrics (``throughput``, ``blocked_total``, …).
    :ivar results: the whole results document (validated against its schema).
    """

    task: str
    coord_method: str | None
    steps: int
    proposals: int
    masked: int
    metrics: dict[str, Any] = field(repr=False)
    results: dict[str, Any] = field(repr=False)


def _violation(who: str, t: int, message: str) -> ContractViolation:
    return ContractViolation(f"{who}, step {t}: {message}")


def _check_one(who: str, t: int, agent: str, action: Any, ob: Any) -> bool:
    """Check one agent's action; return True when its mask forbids the index."""
    if isinstance(action, bool) or not isinstance(action, int | Mapping):
        raise _violation(
            who, t, f"the action for {agent!r} is {action!r}; expected an int action index or a "
            "dict with 'action_index' and/or 'action_type'."
        )
    index: Any = action
    if isinstance(action, Mapping):
        index = action.get("action_index")
        kind = action.get("action_type")
        if index is None and kind is None:
            raise _violation(who, t, f"the action for {agent!r} has neither 'action_index' nor "
                             f"'action_type': {dict(action)!r}.")
        if kind is not None and not isinstance(kind, str):
            raise _violation(who, t, f"'action_type' for {agent!r} must be a string: {kind!r}.")
        if not isinstance(action.get("args", {}), Mapping):
            raise _violation(who, t, f"'args' for {agent!r} must be a mapping.")
    if index is None:
        return False
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise _violation(who, t, f"'action_index' for {agent!r} must be a non-negative int, got "
                         f"{index!r}.")
    mask = ob.get("action_mask") if isinstance(ob, Mapping) else None
    if mask is None:
        return False
    if index >= len(mask):
        raise _violation(who, t, f"'action_index' {index} for {agent!r} is out of range: the agent "
                         f"has {len(mask)} actions.")
    return not bool(mask[index])


def check_actions(
    actions: Any, obs: Mapping[str, Any], t: int, *, who: str = "propose_actions"
) -> tuple[int, int]:
    """Check a joint action against the action contract; return ``(actions, masked)``.

    ``obs`` is the env's observation dict of this step (its keys are the agents that may act).
    """
    if not isinstance(actions, Mapping):
        raise _violation(who, t, f"returned {type(actions).__name__}; expected a mapping "
                         "{agent_id: action}.")
    masked = 0
    for agent, action in actions.items():
        if not isinstance(agent, str) or agent not in obs:
            raise _violation(who, t, f"proposed an action for {agent!r}, which is not an agent "
                             f"acting at this step (agents: {', '.join(sorted(obs)) or 'none'}).")
        masked += _check_one(who, t, agent, action, obs[agent])
    return len(actions), masked


class _Tally:
    def __init__(self) -> None:
        self.proposals = 0
        self.masked = 0


class _CheckedMethod:
    """Wraps a coordination method; checks every ``propose_actions`` result."""

    def __init__(self, inner: Any, tally: _Tally) -> None:
        from labtrust_gym.baselines.coordination.interface import is_coordination_method

        if not is_coordination_method(inner):
            raise ContractViolation(
                f"the factory returned {type(inner).__name__}, which lacks a 'method_id' string "
                "property or a 'propose_actions' method."
            )
        self._inner = inner
        self._tally = tally

    @property
    def method_id(self) -> str:
        return str(self._inner.method_id)

    def propose_actions(self, obs: Mapping[str, Any], infos: Mapping[str, Any], t: int) -> Any:
        actions = self._inner.propose_actions(obs, infos, t)
        count, masked = check_actions(actions, obs, t, who=f"{self.method_id}.propose_actions")
        self._tally.proposals += count
        self._tally.masked += masked
        return actions

    def combine_submissions(
        self, submissions: Mapping[str, Any], obs: Mapping[str, Any], t: int
    ) -> Any:
        """The scale path's joint action, checked like ``propose_actions``'."""
        actions = self._inner.combine_submissions(submissions, obs, t)
        count, masked = check_actions(actions, obs, t, who=f"{self.method_id}.combine_submissions")
        self._tally.proposals += count
        self._tally.masked += masked
        return actions

    def __getattr__(self, name: str) -> Any:  # reset, on_step_result, on_episode_end, …
        return getattr(self._inner, name)


def _checked_factory(factory: Callable[..., Any], tally: _Tally) -> Callable[..., Any]:
    def build(policy: Any, repo_root: Any, scale_config: Any, params: Any) -> Any:
        return _CheckedMethod(factory(policy, repo_root, scale_config, params), tally)

    return build


def _limited(task_class: type, steps: int) -> type:
    """``task_class`` with ``max_steps`` set to ``steps`` (after its own ``__init__``)."""

    class Limited(task_class):
        def __init__(self) -> None:
            super().__init__()
            self.max_steps = steps

    Limited.__name__ = Limited.__qualname__ = f"{task_class.__name__}Checked"
    return Limited


def _check_deterministic(task: Any, seed: int) -> None:
    first = json.dumps(task.get_initial_state(seed), sort_keys=True, default=str)
    second = json.dumps(task.get_initial_state(seed), sort_keys=True, default=str)
    if first != second:
        raise ContractViolation(
            f"task {task.name!r}: get_initial_state({seed}) returned different states on two "
            "calls; it must be a pure function of the seed."
        )


def run_steps(
    *,
    task: str | type = "throughput_sla",
    coord_method: str | Callable[..., Any] | None = None,
    steps: int = 20,
    seed: int = 0,
    scale: str | None = None,
) -> StepsReport:
    """Run ``task`` (an id or a ``BenchmarkTask`` class) for ``steps`` steps with the scripted
    baseline, or with ``coord_method`` (an id or a factory) driving every lab agent; check the
    contracts on the way (module docstring) and return what happened.

    :param scale: a scale preset (e.g. ``"small_smoke"``) for a generated lab.
    """
    from labtrust_gym.benchmarks.episode import instantiate_task
    from labtrust_gym.benchmarks.runner import resolve_coord_params, run_benchmark
    from labtrust_gym.benchmarks.tasks import get_task
    from labtrust_gym.config import get_repo_root
    from labtrust_gym.plugins import registry

    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}.")
    task_class = get_task(task) if isinstance(task, str) else task
    probe = instantiate_task(getattr(task_class, "__name__", str(task)), task_class)
    _check_deterministic(probe, seed)
    task_id = f"{probe.name}:checked"
    tally = _Tally()
    method_id: str | None = None
    entry_id: str | None = None
    params: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        stack.enter_context(registered("tasks", task_id, _limited(task_class, steps)))
        if coord_method is not None:
            if isinstance(coord_method, str):
                factory = registry("coordination_methods").get(coord_method)
                params = resolve_coord_params(coord_method, get_repo_root(), None)
                base = entry_id = coord_method
            else:
                factory, base = coord_method, getattr(coord_method, "__name__", "method")
            method_id = f"{base}:checked"
            stack.enter_context(
                registered("coordination_methods", method_id, _checked_factory(factory, tally))
            )
        doc = run_benchmark(
            task_id,
            1,
            seed,
            None,
            coord_method=method_id,
            scale=scale,
            coord_params=params,
            coord_entry_id=entry_id,
        )
    metrics = dict(doc["episodes"][0]["metrics"])
    return StepsReport(
        task=task_id,
        coord_method=method_id,
        steps=int(metrics.get("steps", 0)),
        proposals=tally.proposals,
        masked=tally.masked,
        metrics=metrics,
        results=doc,
    )


__all__ = ["ContractViolation", "StepsReport", "check_actions", "run_steps"]
