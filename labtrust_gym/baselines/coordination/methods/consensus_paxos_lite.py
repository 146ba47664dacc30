"""``consensus_paxos_lite``: the agents agree on each step's plan with a single-decree Paxos
round (:mod:`~labtrust_gym.baselines.coordination.protocols.paxos_lite`).

Every taking-part agent (wiring: :mod:`.protocol_bridge`) is a proposer, in id order; the
protocol draws ``acceptors`` of them as acceptors. Each step the step's proposer (the rotation
``proposers[step mod P]``) computes a plan — the centralised planner's greedy nearest-agent
assignment of the step's work list (at most ``WALKERS`` agents walking to one item) — and runs
one Paxos instance for it: prepare/promise, then accept/accepted with a majority of the
acceptors, through the lossy channel (``drop_rate``, ``delay_rate``, ``max_delay_rounds``), at
most ``max_rounds_per_step`` message rounds per step. When the instance is decided, every agent
acts on the decided plan (Paxos may have made the proposer adopt an earlier proposer's accepted
plan). When it is not, the decision is *delayed*, never replaced: the instance continues next
step and meanwhile the agents keep acting on the newest decided plan, whose items may be gone
(those agents wait) — lost messages show as stale decisions.

Counted: messages sent and dropped (the channel's), planning work = assignment ring positions
visited + items + message rounds.

Known weakness: every step pays a consensus round for a plan a central planner would just issue
— a lost prepare, promise or accept delays the decision and the lab runs on an old plan
(acting on items already done, missing new ones); the plan itself is the greedy, congestion-blind
assignment of ``centralized_planner``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labtrust_gym.baselines.coordination.methods.protocol_bridge import (
    ProtocolBridge,
    protocol_params,
)
from labtrust_gym.baselines.coordination.protocols import PaxosLite, PaxosParams
from labtrust_gym.baselines.coordination.toolkit import (
    AgentPool,
    CoordinationView,
    ToolkitMethod,
    assign_by_distance,
)

#: At most this many agents walk to one unit of work in a plan.
WALKERS = 2


class ConsensusPaxosLite(ToolkitMethod):
    ID = "consensus_paxos_lite"

    def on_reset(self) -> None:
        params = PaxosParams.from_mapping(protocol_params(self.params))
        lay = self.layout
        self.bridge = ProtocolBridge(lay, self.work, self.router)
        self.rows = self.bridge.participants(self.view.rows)
        self.paxos = PaxosLite.for_agents([lay.agent_ids[r] for r in self.rows], params,
                                          seed=self.seed)
        self._rings: dict[tuple[object, ...], Any] = {}
        self.undecided_steps = 0

    def decide(self, view: CoordinationView) -> dict[int, int]:
        zoned, anywhere = self.bridge.items(view, self.work)
        items = zoned + anywhere
        pool = AgentPool(self.layout, self.routes, self._rings, self.compute_budget)
        pool.fill(view, self.rows)
        plan = tuple((row, it.key) for row, it in assign_by_distance(pool, items,
                                                                     walkers=WALKERS))
        res = self.paxos.run_step(max(view.t, 0), plan)
        rc = res.counters
        c = self.counters
        c.messages_sent += int(rc["messages_sent"])
        c.messages_dropped += int(rc["messages_dropped"])
        c.planning_work += pool.work + len(items) + int(rc["rounds"])
        if res.decided:
            agreed = res.value
        else:
            self.undecided_steps += 1
            agreed = res.latest[1] if res.latest is not None else ()
        by_key = {it.key: it for it in items}
        act_on = self.router.act_on
        out: dict[int, int] = {}
        for row, key in agreed:
            it = by_key.get(key)
            if it is None:  # the plan's item is gone: the agent waits
                continue
            e = act_on(view, row, it)
            if e is not None:
                out[row] = e
        return out


def factory(
    policy: dict[str, Any],
    repo_root: Path | None,
    scale_config: Mapping[str, Any] | None,
    params: dict[str, Any],
) -> ConsensusPaxosLite:
    return ConsensusPaxosLite(policy, repo_root, scale_config, params)
