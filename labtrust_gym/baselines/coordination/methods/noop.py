"""``noop``: every agent waits, every step (a reference: any method should beat it).

Releases nothing; its metrics are what "no coordination at all" looks like.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labtrust_gym.baselines.coordination.interface import CoordinationMethod


class NoopMethod(CoordinationMethod):
    """Proposes nothing: agents left out of the joint action do NOOP."""

    @property
    def method_id(self) -> str:
        return "noop"

    def propose_actions(
        self, obs: Mapping[str, Any], infos: Mapping[str, Any], t: int
    ) -> dict[str, int]:
        return {}

    def coordination_report(self) -> dict[str, int]:
        return {
            "planning_work": 0,
            "replans": 0,
            "cell_conflicts_avoided": 0,
            "swaps_avoided": 0,
            "combine_conflicts": 0,
            "messages_sent": 0,
            "messages_dropped": 0,
        }


def factory(
    policy: dict[str, Any],
    repo_root: Path | None,
    scale_config: Mapping[str, Any] | None,
    params: dict[str, Any],
) -> NoopMethod:
    return NoopMethod()
