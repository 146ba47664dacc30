"""``swarm_reactive``: local rules only (``protocols.swarm``).

Every agent sees its own zone and the adjacent ones, nothing more, and keeps no memory between
steps (wiring: :mod:`.protocol_bridge`). Each step: (1) an agent whose zone holds a unit of work
its role may do that no agent before it (by id) took, takes it; (2) else an agent with nothing to
do there takes a unit of the work done anywhere (releases, critical calls, approvals), agents in
row order; (3) else each adjacent zone attracts it with ``work there - repulsion · idle agents
there`` and it steps into one with positive attraction (drawn in proportion, or the most
attractive with ``choice: greedy``); (4) else it explores a random adjacent zone with probability
``explore``; (5) else it waits. Draws come from ``default_rng([seed, step])``.

Planning work counts the agents and work units the rules looked at. No messages.

Known weakness: short-sighted — work two or more zones away is invisible, so agents in a quiet
part of the lab wander (``explore``) or stay idle while a far room queues up; random steps and
moves into full zones are refused by the engine (cell conflicts).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labtrust_gym.baselines.coordination.methods.protocol_bridge import (
    ProtocolBridge,
    protocol_params,
)
from labtrust_gym.baselines.coordination.protocols import SwarmParams, swarm_step
from labtrust_gym.baselines.coordination.toolkit import CoordinationView, ToolkitMethod


class SwarmReactive(ToolkitMethod):
    ID = "swarm_reactive"

    def on_reset(self) -> None:
        self.swarm = SwarmParams.from_mapping(protocol_params(self.params))
        self.bridge = ProtocolBridge(self.layout, self.work, self.router)
        self.rows = self.bridge.participants(self.view.rows)

    def decide(self, view: CoordinationView) -> dict[int, int]:
        bridge = self.bridge
        zoned, anywhere = bridge.items(view, self.work)
        items, back = bridge.protocol_items(zoned)
        _rows, agents = bridge.agents(view, self.rows)
        res = swarm_step(agents, items, bridge.graph, self.swarm, seed=self.seed,
                         step=max(view.t, 0))
        self.counters.planning_work += len(agents) + len(items)
        return bridge.act_local(view, self.rows, res.decisions, back, anywhere)


def factory(
    policy: dict[str, Any],
    repo_root: Path | None,
    scale_config: Mapping[str, Any] | None,
    params: dict[str, Any],
) -> SwarmReactive:
    return SwarmReactive(policy, repo_root, scale_config, params)
