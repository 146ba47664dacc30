"""The CoordinationMethod contract: one object that proposes every agent's action each step.

A minimal method subclasses :class:`CoordinationMethod` and implements only ``method_id`` and
``propose_actions``; every other hook has a do-nothing default. Methods are built by a factory
registered under their id::

    def factory(policy, repo_root, scale_config, params) -> CoordinationMethod

``params`` is the method's ``default_params`` from
``policy/coordination/coordination_methods.v0.1.yaml`` merged with the runner's keys
(``compute_budget``, ``pz_to_engine``, ``proposal_backend``; docs/coordination.md). The factory's
four positional parameters may have any names.

Two optional members beyond the seed's: ``coordination_report()`` (counters for the coordination
metrics; default: none reported) and ``propose_agent(agent_id, obs, infos, t)`` — one agent's own
submission on the scale path, required of a method that is ``scale_capable`` in its policy entry
(above its ``max_agents`` the runner calls it for every agent, then ``combine_submissions``).

This module is imported by plugins; it must stay free of numpy, gymnasium and the engine.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

ActionDict = dict[str, Any]


class CoordinationMethod(ABC):
    """Base class of coordination methods (centralised planners, auctions, gossip, …)."""

    @property
    @abstractmethod
    def method_id(self) -> str:
        """The id this method is registered under."""

    def reset(
        self, seed: int, policy: Mapping[str, Any] | None, scale_config: Mapping[str, Any] | None
    ) -> None:
        """Called once at the start of every episode, before the first ``propose_actions``."""
        return None

    @abstractmethod
    def propose_actions(
        self, obs: Mapping[str, Any], infos: Mapping[str, Any], t: int
    ) -> Mapping[str, ActionDict | int]:
        """Return ``{agent_id: action}`` for step ``t``.

        An action is an index of the lab's action catalog (``0..5`` keep their seed meanings;
        docs/envs.md) or a dict ``{"action_index"?, "entry"?, "action_type"?, "args"?,
        "reason_code"?, "token_refs"?}`` (``entry`` names a catalog entry, e.g.
        ``"START_RUN@DEV_CHEM_A1"``). Agents left out take ``NOOP``.
        """

    def on_step_result(self, step_outputs: Sequence[Mapping[str, Any]]) -> None:
        """Observe the engine's step results of the step just taken (optional)."""
        return None

    def on_episode_end(self, metrics: Mapping[str, Any]) -> None:
        """Observe the finished episode's metrics (optional)."""
        return None

    def coordination_report(self) -> Mapping[str, int | float]:
        """Counters for the coordination metrics (``planning_work``, ``replans``,
        ``cell_conflicts_avoided``, ``swaps_avoided``, ``combine_conflicts``, ``messages_sent``,
        ``messages_dropped``; docs/metrics.md). A counter left out is reported as ``None``."""
        return {}

    def combine_submissions(
        self, submissions: Mapping[str, Mapping[str, Any]], obs: Mapping[str, Any], t: int
    ) -> Mapping[str, ActionDict | int]:
        """Merge per-agent submissions into one joint action (used at very large N).

        The default accepts every agent's own submission unchanged.
        """
        return {agent_id: dict(sub) for agent_id, sub in submissions.items()}


@runtime_checkable
class CoordinationMethodFactory(Protocol):
    def __call__(
        self,
        policy: dict[str, Any],
        repo_root: Any,
        scale_config: dict[str, Any] | None,
        params: dict[str, Any],
        /,
    ) -> CoordinationMethod: ...


def is_coordination_method(obj: object) -> bool:
    """Duck-typed check used on a factory's return value (subclassing is not required)."""
    return callable(getattr(obj, "propose_actions", None)) and isinstance(
        getattr(obj, "method_id", None), str
    )


__all__ = [
    "ActionDict",
    "CoordinationMethod",
    "CoordinationMethodFactory",
    "is_coordination_method",
]
