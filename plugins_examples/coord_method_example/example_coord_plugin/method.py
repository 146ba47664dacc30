"""``example_noop_coord``: every agent does nothing, every step.

The smallest coordination method the contract allows: subclass ``CoordinationMethod``, implement
the ``method_id`` property and ``propose_actions``; ``reset``, ``on_step_result`` and
``on_episode_end`` keep their do-nothing defaults. A useful baseline too: any real method should
release more than this one, which releases nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labtrust_gym.baselines.coordination.interface import CoordinationMethod
from labtrust_gym.envs.action_contract import ACTION_NOOP


class ExampleNoopCoord(CoordinationMethod):
    """Proposes NOOP for every agent that may act."""

    @property
    def method_id(self) -> str:
        return "example_noop_coord"

    def propose_actions(
        self, obs: Mapping[str, Any], infos: Mapping[str, Any], t: int
    ) -> dict[str, dict[str, Any]]:
        return {agent: {"action_index": ACTION_NOOP, "action_type": "NOOP"} for agent in obs}


def factory(
    policy: dict[str, Any],
    repo_root: Path | None,
    scale_config: dict[str, Any] | None,
    params: dict[str, Any],
) -> CoordinationMethod:
    """The registered factory: ``(policy, repo_root, scale_config, params) -> method``."""
    return ExampleNoopCoord()
