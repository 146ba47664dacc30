"""``market_auction``: contract-net sealed bids on distance and load, every step.

Each step a manager auctions the step's work list
(:mod:`~labtrust_gym.baselines.coordination.protocols.contract_net`, wiring:
:mod:`.protocol_bridge`): every free unit of work is announced in service order (critical calls,
then releases, then the rest; earliest estimated deadline first) to the ``bids_per_task`` eligible
agents with the lowest bid parts, and each returns a sealed bid

    bid = distance_weight · hops(agent zone, item zone) + load_weight · load

where ``load`` is the agent's recent workload — the awards it won, decayed by half every step —
plus its awards this round. The lowest bid at most ``reserve_price`` wins; an agent wins at most
``capacity`` items per round. Work done anywhere (releases, critical calls, approvals, dispatch)
is auctioned in a second round among the agents left, on load alone (one zone: hops are 0).
Winners act through the router: walk one hop towards the item, or do it there.

A bidder ring can be injected (issue 10, risk injections) with :meth:`MarketAuction.set_collusion`
(``protocols.contract_net.Collusion``: bid shading or bid rotation); the protocol then reruns each
round honestly and the method reports the ring's awards (``colluder_awards``) and the social cost
it caused (``welfare_loss``) summed over the episode. The ring then *serves its work at a markup*
(slow-walking): every step a ring member acts on an award it adds ``markup`` to its debt, and
while the debt is at least 1 it idles that step instead (paying 1 back) — so a member takes about
``1 + markup`` times as many steps over the work it won (``ring_idle_steps`` counts the idled
steps). Cornering work (shading) plus slow service is what costs the lab turnaround.

Counted: messages = announcements to each addressed agent + sealed bids + award notices
(no message is lost: dropped = 0); planning work = announcements + bids.

Known weakness: memoryless and myopic — the round is re-run from scratch every step (an agent
walking to far work may be outbid and re-targeted), greedy in service order (a later item may
have needed the agent an earlier one took), bids use hop counts over the whole floor (not the
role's allowed zones) and the first of an item's zones, and an item further than the reserve
price is never auctioned off.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from labtrust_gym.baselines.coordination.methods.protocol_bridge import (
    ProtocolBridge,
    protocol_params,
)
from labtrust_gym.baselines.coordination.protocols import (
    AuctionParams,
    Collusion,
    ContractNet,
    ZoneGraph,
)
from labtrust_gym.baselines.coordination.toolkit import CoordinationView, ToolkitMethod

#: The single zone the second round (work done anywhere) is auctioned in.
ANYWHERE = "*"
#: Share of an agent's load that carries over to the next step.
LOAD_DECAY = 0.5


class MarketAuction(ToolkitMethod):
    ID = "market_auction"

    def __init__(
        self,
        policy: Mapping[str, Any] | None,
        repo_root: Any,
        scale_config: Mapping[str, Any] | None,
        params: Mapping[str, Any],
    ) -> None:
        self.collusion: Collusion | None = None
        super().__init__(policy, repo_root, scale_config, params)

    def on_reset(self) -> None:
        self.auction = AuctionParams.from_mapping(protocol_params(self.params))
        self.net = ContractNet(self.auction, seed=self.seed)
        self.bridge = ProtocolBridge(self.layout, self.work, self.router)
        # a second bridge for the anywhere round: its own cache of (zone-free) agent records
        self.bridge_anywhere = ProtocolBridge(self.layout, self.work, self.router)
        self.anywhere_graph = ZoneGraph((ANYWHERE,), ((),))
        self.rows = self.bridge.participants(self.view.rows)
        self.load = [0.0] * len(self.layout.agent_ids)
        self.colluder_awards = 0
        self.welfare_loss = 0.0
        self.ring_debt: dict[int, float] = {}
        self.ring_idle_steps = 0

    def set_collusion(
        self,
        members: Iterable[str],
        scheme: str = "shade",
        shade: float = 0.3,
        markup: float = 0.3,
    ) -> None:
        """Make ``members`` (agent ids) a bidder ring from the next auction on (``scheme``:
        ``shade`` or ``rotate``; contract_net.Collusion); no members clears the ring."""
        ids = sorted(set(members))
        self.ring_debt = {}
        if not ids:
            self.collusion = None
            return
        rows = self.bridge.row_of(ids)  # unknown ids are an error
        self.collusion = Collusion(frozenset(ids), scheme, shade, markup)
        self.ring_debt = {int(r): 0.0 for r in rows}

    def decide(self, view: CoordinationView) -> dict[int, int]:
        bridge = self.bridge
        zoned, anywhere = bridge.items(view, self.work)
        load = self.load
        out: dict[int, int] = {}
        won: list[int] = []
        t = max(view.t, 0)
        self.idle_now: set[int] = set()
        if zoned:
            items, back = bridge.protocol_items(zoned)
            needed = {w.capability for w in items if w.capability}
            _rows, agents = bridge.agents(view, self.rows, load, needed)
            res = self.net.run_round(agents, items, bridge.graph, round_index=2 * t,
                                     collusion=self.collusion)
            self._award(view, res, back, out, won)
        if anywhere:
            free = [row for row in self.rows if row not in out and row not in self.idle_now]
            items, back = bridge.protocol_items(anywhere, ANYWHERE)
            needed = {w.capability for w in items if w.capability}
            _rows, agents = self.bridge_anywhere.agents(view, free, load, needed, ANYWHERE)
            res = self.net.run_round(agents, items, self.anywhere_graph,
                                     round_index=2 * t + 1, collusion=self.collusion)
            self._award(view, res, back, out, won)
        for row in self.rows:
            load[row] *= LOAD_DECAY
        for row in won:
            load[row] += 1.0
        return out

    def _award(
        self,
        view: CoordinationView,
        res: Any,
        back: Mapping[str, Any],
        out: dict[int, int],
        won: list[int],
    ) -> None:
        rc = res.counters
        c = self.counters
        n_awards = len(res.awards)
        c.messages_sent += int(rc["addressed"] + rc["bids"]) + n_awards
        c.planning_work += int(rc["announcements"] + rc["bids"])
        self.colluder_awards += int(rc["colluder_awards"])
        self.welfare_loss += float(rc.get("welfare_loss", 0.0))
        row_of = self.layout.agent_row
        act_on = self.router.act_on
        for award in res.awards:
            row = row_of[award.agent_id]
            if row in out:
                continue
            won.append(row)
            e = act_on(view, row, back[award.item_id])
            if e is not None:
                if self._slow_walks(row):
                    self.idle_now.add(row)  # waits: the ring serves its work at a markup
                    continue
                out[row] = e

    def _slow_walks(self, row: int) -> bool:
        """Whether ring member ``row`` idles this step instead of acting on its award."""
        debt = self.ring_debt.get(row)
        if debt is None or self.collusion is None:
            return False
        debt += self.collusion.markup
        if debt >= 1.0:
            self.ring_debt[row] = debt - 1.0
            self.ring_idle_steps += 1
            return True
        self.ring_debt[row] = debt
        return False

    def coordination_report(self) -> dict[str, Any]:
        report: dict[str, Any] = dict(self.counters.report())
        report["colluder_awards"] = self.colluder_awards
        report["welfare_loss"] = self.welfare_loss
        report["ring_idle_steps"] = self.ring_idle_steps
        return report


def factory(
    policy: dict[str, Any],
    repo_root: Path | None,
    scale_config: Mapping[str, Any] | None,
    params: dict[str, Any],
) -> MarketAuction:
    return MarketAuction(policy, repo_root, scale_config, params)
