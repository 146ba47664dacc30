"""``random``: each agent takes an entry drawn uniformly from those its mask allows (seeded).

A reference: it acts through the same catalog and masks as every method, so it shows what blind
but valid activity achieves. Draws come from ``random.Random("random:<seed>")``, one per driven
agent per step in agent order, so an episode is a pure function of its seed. The valid entries
of each distinct mask are listed once per step (masks are shared per role and zone).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labtrust_gym.baselines.coordination.toolkit import CoordinationView, ToolkitMethod


class RandomMethod(ToolkitMethod):
    ID = "random"

    def decide(self, view: CoordinationView) -> dict[int, int]:
        listed: dict[bytes, list[int]] = {}
        draw = self.rng.randrange
        out: dict[int, int] = {}
        for row in view.rows:
            flags = view.ok[row]
            valid = listed.get(flags)
            if valid is None:
                valid = listed[flags] = [i for i, f in enumerate(flags) if f]
            if valid:
                out[row] = valid[draw(len(valid))]
        self.counters.planning_work += len(view.rows)
        return out


def factory(
    policy: dict[str, Any],
    repo_root: Path | None,
    scale_config: Mapping[str, Any] | None,
    params: dict[str, Any],
) -> RandomMethod:
    return RandomMethod(policy, repo_root, scale_config, params)
