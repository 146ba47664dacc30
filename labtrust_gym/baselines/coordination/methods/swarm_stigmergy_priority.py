"""``swarm_stigmergy_priority``: agents follow a decaying per-zone pheromone field
(:mod:`~labtrust_gym.baselines.coordination.protocols.stigmergy`).

The lab keeps one pheromone row per kind of work (the role set that may do it; wiring:
:mod:`.protocol_bridge`). Every step each open unit of zone-bound work deposits ``deposit · (1 +
priority_gain · priority)`` in its zone (priority 2 for critical calls, 1 for releases, else 0),
the field evaporates by ``evaporation`` and diffuses to adjacent zones (``diffusion``), so the
scent of a busy room reaches agents several zones away and fades once the work is done. Agents
then act on local rules: work in their own zone when there is a unit they may do; else take a
unit of the work done anywhere (row order); else climb the field they can serve — step to an
adjacent zone where it rises by more than ``follow_threshold`` (in proportion to the rise, or the
steepest with ``choice: greedy``); else explore with probability ``explore``; else wait.

Planning work counts agents, work units and field cells updated. No messages (the field is the
medium).

Known weakness: the field lags — it keeps pulling agents to a room for several steps after its
work is done (evaporation), builds up slowly for new work, and every agent that smells the same
gradient climbs it together, so the scent's source gets crowded while other work waits.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labtrust_gym.baselines.coordination.methods.protocol_bridge import (
    ProtocolBridge,
    protocol_params,
)
from labtrust_gym.baselines.coordination.protocols import PheromoneField, StigmergyParams
from labtrust_gym.baselines.coordination.toolkit import CoordinationView, ToolkitMethod


class SwarmStigmergyPriority(ToolkitMethod):
    ID = "swarm_stigmergy_priority"

    def on_reset(self) -> None:
        params = StigmergyParams.from_mapping(protocol_params(self.params))
        self.bridge = ProtocolBridge(self.layout, self.work, self.router)
        self.field = PheromoneField(self.bridge.graph, params, seed=self.seed)
        self.rows = self.bridge.participants(self.view.rows)

    def decide(self, view: CoordinationView) -> dict[int, int]:
        bridge = self.bridge
        zoned, anywhere = bridge.items(view, self.work)
        items, back = bridge.protocol_items(zoned)
        _rows, agents = bridge.agents(view, self.rows)
        res = self.field.step(agents, items, max(view.t, 0))
        self.counters.planning_work += len(agents) + len(items) + int(res.field.size)
        return bridge.act_local(view, self.rows, res.decisions, back, anywhere)


def factory(
    policy: dict[str, Any],
    repo_root: Path | None,
    scale_config: Mapping[str, Any] | None,
    params: dict[str, Any],
) -> SwarmStigmergyPriority:
    return SwarmStigmergyPriority(policy, repo_root, scale_config, params)
