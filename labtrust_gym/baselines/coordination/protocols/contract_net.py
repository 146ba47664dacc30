"""Contract-net sealed-bid auction: the manager announces work, eligible agents bid, the lowest
acceptable bid wins.

**Round.** Items are announced one at a time in service order (priority, deadline, id —
:func:`~.common.service_key`). Each announcement is *focused* (Smith's contract net): it goes to
the ``bids_per_task`` eligible agents (able to do the item, with capacity left, the item's zone
reachable) whose deterministic bid part is lowest. Each addressed agent returns a sealed bid::

    bid = f · (distance_weight · hops(agent zone, item zone) + load_weight · load + bias) + noise

where ``load`` = the agent's load plus the awards it already won this round, ``bias`` its
private bias (a per-call mapping, default 0), ``noise`` ~ Normal(0, ``noise_sd``) its private
estimation error, and ``f`` = 1 (honest). The manager awards the item to the lowest bid (tie:
smaller ``agent_id``) if it is at most ``reserve_price``; otherwise the item stays unassigned
(``reserve_rejections``). An agent wins at most ``capacity`` items per round. With
``noise_sd = 0`` and no collusion the winner is exactly the cheapest eligible agent with
capacity left, i.e. the nearest (then least loaded, then smallest id) — greedy in service order.

**Social cost.** An award's ``cost`` is ``distance_weight · hops + load_weight · load`` (no bias,
noise or shading: what the lab really pays); ``true_cost`` sums it over awards.

**Collusion** (issue 10 injects it): :class:`Collusion` names a ring of agent ids and a scheme:

* ``shade`` — ring members multiply their bids by ``1 - shade`` to corner work they are not the
  cheapest for (``f = 1 - shade``);
* ``rotate`` — bid rotation: for the j-th announcement only ring member ``ring[j mod |ring|]``
  (ring sorted by id) bids, marked up by ``1 + markup``; the other members abstain.

With a ring present the round is also run honestly (same seed, same noise draws) and the result
reports ``honest_true_cost``, ``honest_unassigned`` and ``welfare_loss`` = (``true_cost`` +
``reserve_price`` · ``unassigned``) - the same for the honest run (an undone item is valued at
the most the manager would pay; with an infinite reserve the unassigned terms are left out).
Greedy allocation is not optimal, so a ring can in rare cases lower the cost (negative loss).

**Complexity.** Agents are put in buckets by (zone, capability, ring member?), each sorted by the
distance-free bid part: O(N·(C+1)·log N). Each (item zone, capability) group keeps one lazy
heap merging its buckets by distance, so an announcement costs O(k · log(Z + k)) plus the
entries it discards (agents out of capacity — each discarded once per group). A round is
O(N·(C+1)·log N + M·log M + G·Z + M·k·log(Z + k)) for G item groups: no N x M term. A ring
doubles the work (the honest rerun).

Counters: ``announcements``, ``addressed`` (agents an announcement went to), ``bids``,
``abstentions`` (ring members that stayed silent), ``awards``, ``unassigned``,
``reserve_rejections``, ``no_bidder`` (items no eligible agent could take), ``payment`` (sum of
winning bids: the manager pays first price), ``true_cost``, ``colluder_awards``; with a ring also
``honest_true_cost``, ``honest_unassigned``, ``honest_payment``, ``welfare_loss``.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from labtrust_gym.errors import InvalidInputError

from .common import (
    AgentInfo,
    Counters,
    WorkItem,
    ZoneGraph,
    build_params,
    range_validator,
    seeded_rng,
    service_key,
    str_frozenset,
)

SCHEMES = ("shade", "rotate")


@attrs.frozen(kw_only=True)
class AuctionParams:
    """Parameters (defaults = the method's ``default_params``)."""

    distance_weight: float = attrs.field(default=1.0, validator=range_validator(0.0))
    load_weight: float = attrs.field(default=0.5, validator=range_validator(0.0))
    reserve_price: float = attrs.field(default=20.0, validator=range_validator(0.0, low_open=True))
    bids_per_task: int = attrs.field(default=4, validator=range_validator(1))
    capacity: int = attrs.field(default=1, validator=range_validator(1))
    noise_sd: float = attrs.field(default=0.0, validator=range_validator(0.0))

    @classmethod
    def from_mapping(cls, params: Mapping[str, Any] | None) -> AuctionParams:
        return build_params(cls, params, "contract-net")


@attrs.frozen
class Collusion:
    """A bidder ring: ``members`` (agent ids) and its ``scheme`` (``shade`` | ``rotate``)."""

    members: frozenset[str] = attrs.field(converter=str_frozenset)
    scheme: str = attrs.field(default="shade")
    shade: float = attrs.field(default=0.3, validator=range_validator(0.0, 1.0))
    markup: float = attrs.field(default=0.3, validator=range_validator(0.0))

    @scheme.validator
    def _scheme(self, _attr: Any, value: str) -> None:
        if value not in SCHEMES:
            raise InvalidInputError(
                f"Unknown collusion scheme {value!r}; use one of: {', '.join(SCHEMES)}."
            )


@attrs.frozen
class Award:
    """``item_id`` goes to ``agent_id`` for its ``bid``; ``cost`` is the social cost."""

    item_id: str
    agent_id: str
    bid: float
    cost: float


@attrs.frozen
class AuctionResult:
    """Awards and unassigned item ids, both in announcement (service) order; counters."""

    awards: tuple[Award, ...]
    unassigned: tuple[str, ...]
    counters: Counters


class ContractNet:
    """A contract-net manager; :meth:`run_round` is pure in (seed, round_index, inputs)."""

    def __init__(self, params: AuctionParams | Mapping[str, Any] | None = None, *, seed: int = 0):
        self.params = params if isinstance(params, AuctionParams) else AuctionParams.from_mapping(
            params
        )
        self.seed = int(seed)

    def run_round(
        self,
        agents: Sequence[AgentInfo],
        items: Sequence[WorkItem],
        graph: ZoneGraph,
        *,
        round_index: int = 0,
        collusion: Collusion | None = None,
        bias: Mapping[str, float] | None = None,
    ) -> AuctionResult:
        """Announce every item of ``items`` once and award it (see the module docstring)."""
        if round_index < 0:
            raise InvalidInputError(f"round_index must be >= 0, got {round_index}.")
        ring = collusion if collusion is not None and collusion.members else None
        result = _Round(self.params, agents, items, graph, bias or {}, ring).run(
            self._noise(len(items), round_index)
        )
        if ring is None:
            return result
        honest = _Round(self.params, agents, items, graph, bias or {}, None).run(
            self._noise(len(items), round_index)
        )
        counters = result.counters
        reserve = self.params.reserve_price
        undone = 0.0 if math.isinf(reserve) else reserve
        counters["honest_true_cost"] = honest.counters["true_cost"]
        counters["honest_unassigned"] = honest.counters["unassigned"]
        counters["honest_payment"] = honest.counters["payment"]
        counters["welfare_loss"] = (
            counters["true_cost"] + undone * counters["unassigned"]
        ) - (honest.counters["true_cost"] + undone * honest.counters["unassigned"])
        return result

    def _noise(self, n_items: int, round_index: int) -> np.ndarray | None:
        """Noise per (announcement, bid slot), from a generator seeded by (seed, round)."""
        if self.params.noise_sd <= 0.0 or n_items == 0:
            return None
        rng = seeded_rng(self.seed, round_index)
        return rng.normal(0.0, self.params.noise_sd, size=(n_items, self.params.bids_per_task))


class _Round:
    """One auction round's working state (buckets, per-group heaps, capacities)."""

    def __init__(
        self,
        params: AuctionParams,
        agents: Sequence[AgentInfo],
        items: Sequence[WorkItem],
        graph: ZoneGraph,
        bias: Mapping[str, float],
        ring: Collusion | None,
    ) -> None:
        self.p = params
        self.agents = agents
        self.items = items
        self.graph = graph
        self.ring = ring
        n = len(agents)
        order = sorted(range(n), key=lambda i: agents[i].agent_id)
        self.rank = [0] * n
        for r, i in enumerate(order):
            self.rank[i] = r
        if len(set(a.agent_id for a in agents)) != n:
            raise InvalidInputError("Contract net: agent ids must be unique; an id is repeated.")
        members = ring.members if ring is not None else frozenset()
        self.member = [a.agent_id in members for a in agents]
        shade = ring.shade if ring is not None and ring.scheme == "shade" else 0.0
        self.factor = [1.0 - shade if m else 1.0 for m in self.member]
        self.zone = [graph.zone_index(a.zone) for a in agents]
        self.load = [float(a.load) for a in agents]
        self.bias = [float(bias.get(a.agent_id, 0.0)) for a in agents]
        self.won = [0] * n
        # ring members in id order, for bid rotation
        self.rotation = [i for i in order if self.member[i]]
        # buckets: (zone, capability or None, ring member?) -> agent positions by distance-free key
        buckets: dict[tuple[int, str | None, bool], list[int]] = {}
        for i, a in enumerate(agents):
            for cap in (None, *sorted(a.capabilities)):
                buckets.setdefault((self.zone[i], cap, self.member[i]), []).append(i)
        for members_of in buckets.values():
            members_of.sort(key=lambda i: (self._key(i, 0, 0), self.rank[i]))
        self.buckets = buckets
        self.heaps: dict[tuple[int, str | None], list[tuple[float, int, int, int, int]]] = {}
        self.bucket_list: list[list[int]] = []

    def _key(self, i: int, hops: int, won: int | None = None) -> float:
        """Agent ``i``'s deterministic bid part for an item ``hops`` away (shading included),
        with the awards it has won so far (or ``won`` of them)."""
        p = self.p
        load = self.load[i] + (self.won[i] if won is None else won)
        return self.factor[i] * (
            p.distance_weight * hops + p.load_weight * load + self.bias[i]
        )

    def _heap(self, zone: int, cap: str | None) -> list[tuple[float, int, int, int, int]]:
        """The lazy candidate stream of an item group: one entry per non-empty bucket head.

        Entry = (key, agent rank, agent position, bucket number or -1, position in bucket). A
        bucket entry's key is the agent's key with no awards (buckets are sorted by it, and
        awards only raise keys), so every entry is a lower bound of its agent's true key; a
        popped entry below the true key is requeued at the true key.
        """
        heap = self.heaps.get((zone, cap))
        if heap is not None:
            return heap
        heap = []
        dist = self.graph.dist[zone]
        for zz in self.graph.by_distance[zone]:
            for member in (False, True):
                bucket = self.buckets.get((zz, cap, member))
                if bucket:
                    b = len(self.bucket_list)
                    self.bucket_list.append(bucket)
                    i = bucket[0]
                    heap.append((self._key(i, dist[zz], 0), self.rank[i], i, b, 0))
        heapq.heapify(heap)
        self.heaps[(zone, cap)] = heap
        return heap

    def run(self, noise: np.ndarray | None) -> AuctionResult:
        p = self.p
        k = p.bids_per_task
        rotate = self.ring is not None and self.ring.scheme == "rotate"
        markup = 1.0 + (self.ring.markup if self.ring is not None else 0.0)
        c: Counters = {
            "announcements": 0, "addressed": 0, "bids": 0, "abstentions": 0, "awards": 0,
            "unassigned": 0, "reserve_rejections": 0, "no_bidder": 0, "payment": 0.0,
            "true_cost": 0.0, "colluder_awards": 0,
        }
        awards: list[Award] = []
        unassigned: list[str] = []
        seen_ids: set[str] = set()
        for j, item in enumerate(sorted(self.items, key=service_key)):
            if item.item_id in seen_ids:
                raise InvalidInputError(
                    f"Contract net: work item id {item.item_id!r} is repeated; ids must be unique."
                )
            seen_ids.add(item.item_id)
            z = self.graph.zone_index(item.zone)
            dist = self.graph.dist[z]
            heap = self._heap(z, item.capability)
            designated = self.rotation[j % len(self.rotation)] if rotate and self.rotation else -1
            c["announcements"] += 1
            addressed: list[tuple[float, int, int]] = []
            silent: list[tuple[float, int, int]] = []
            while heap and len(addressed) < k:
                key, r, i, b, pos = heapq.heappop(heap)
                if b >= 0 and pos + 1 < len(self.bucket_list[b]):
                    nxt = self.bucket_list[b][pos + 1]
                    heapq.heappush(
                        heap, (self._key(nxt, dist[self.zone[nxt]], 0), self.rank[nxt], nxt, b,
                               pos + 1)
                    )
                if self.won[i] >= p.capacity:
                    continue  # out of capacity for the rest of the round: leaves this stream
                cur = self._key(i, dist[self.zone[i]])
                if cur > key:  # its load rose since it was queued: requeue at its true key
                    heapq.heappush(heap, (cur, r, i, -1, 0))
                    continue
                if rotate and self.member[i] and i != designated:
                    silent.append((cur, r, i))
                    continue
                addressed.append((cur, r, i))
            c["addressed"] += len(addressed)
            c["abstentions"] += len(silent)
            best: tuple[float, int, int] | None = None
            for slot, (cur, r, i) in enumerate(addressed):
                bid = cur * (markup if rotate and i == designated else 1.0)
                if noise is not None:
                    bid += float(noise[j, slot])
                if best is None or (bid, r) < (best[0], best[1]):
                    best = (bid, r, i)
            c["bids"] += len(addressed)
            for cur, r, i in addressed + silent:
                if best is None or i != best[2] or best[0] > p.reserve_price:
                    heapq.heappush(heap, (cur, r, i, -1, 0))
            if best is None:
                c["no_bidder"] += 1
                c["unassigned"] += 1
                unassigned.append(item.item_id)
                continue
            bid, r, i = best
            if bid > p.reserve_price:
                c["reserve_rejections"] += 1
                c["unassigned"] += 1
                unassigned.append(item.item_id)
                continue
            hops = dist[self.zone[i]]
            cost = p.distance_weight * hops + p.load_weight * (self.load[i] + self.won[i])
            self.won[i] += 1
            if self.won[i] < p.capacity:
                heapq.heappush(heap, (self._key(i, hops), r, i, -1, 0))
            awards.append(Award(item.item_id, self.agents[i].agent_id, bid, cost))
            c["awards"] += 1
            c["payment"] += bid
            c["true_cost"] += cost
            c["colluder_awards"] += int(self.member[i])
        return AuctionResult(tuple(awards), tuple(unassigned), c)


def run_auction(
    agents: Sequence[AgentInfo],
    items: Sequence[WorkItem],
    graph: ZoneGraph,
    params: AuctionParams | Mapping[str, Any] | None = None,
    *,
    seed: int = 0,
    round_index: int = 0,
    collusion: Collusion | None = None,
    bias: Mapping[str, float] | None = None,
) -> AuctionResult:
    """One round of :class:`ContractNet` (a convenience)."""
    return ContractNet(params, seed=seed).run_round(
        agents, items, graph, round_index=round_index, collusion=collusion, bias=bias
    )


__all__ = [
    "SCHEMES",
    "AuctionParams",
    "AuctionResult",
    "Award",
    "Collusion",
    "ContractNet",
    "run_auction",
]
