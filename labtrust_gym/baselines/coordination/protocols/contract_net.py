"""Contract-net sealed-bid auction: the manager announces work, eligible agents bid, the lowest
acceptable bid wins.

**Round.** Items are announced one at a time in service order (priority, deadline, id —
:func:`~.common.service_key`). Each announcement is *focused* (Smith's contract net): it goes to
the ``bids_per_task`` eligible agents (able to do the item, with capacity left, the item's zone
reachable) whose deterministic bid part is lowest. Each addressed agent returns a sealed bid::

    bid = f · (distance_weight · hops(agent zone, item zone) + load term) + noise
    load term = load_weight · load + bias

where ``load`` = the agent's load plus the awards it already won this round, ``bias`` its
private bias (a per-call mapping, default 0), ``noise`` ~ Normal(0, ``noise_sd``) its private
estimation error, and ``f`` = 1 (honest). The manager awards the item to the lowest bid (ties:
the smaller load term, then the smaller ``agent_id``) if it is at most ``reserve_price``;
otherwise the item stays unassigned (``reserve_rejections``). An agent wins at most ``capacity``
items per round. With ``noise_sd = 0`` and no collusion the winner is exactly the eligible agent
with capacity left and the lowest bid: greedy in service order (tests compare it with a brute
force). Bids are evaluated exactly as written (that grouping), so equal bids compare equal.

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
heap merging its buckets, adding rings of zones by hops only when they could hold a better key,
so an announcement costs O(k · log(Z + k)) plus the entries it discards (agents out of capacity
— each discarded once per group). A round is O(N·(C+1)·log N + M·log M + G·Z + M·k·log(Z + k))
for G item groups (G <= Z·(C+1)): no N x M term. A ring doubles the work (the honest rerun).

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
    ParamsRecord,
    WorkItem,
    ZoneGraph,
    range_validator,
    seeded_rng,
    service_key,
    str_frozenset,
)

SCHEMES = ("shade", "rotate")


@attrs.frozen(kw_only=True)
class AuctionParams(ParamsRecord):
    """Parameters (defaults = the method's ``default_params``)."""

    protocol = "contract-net"

    distance_weight: float = attrs.field(default=1.0, validator=range_validator(0.0))
    load_weight: float = attrs.field(default=0.5, validator=range_validator(0.0))
    reserve_price: float = attrs.field(default=20.0, validator=range_validator(0.0, low_open=True))
    bids_per_task: int = attrs.field(default=4, validator=range_validator(1))
    capacity: int = attrs.field(default=1, validator=range_validator(1))
    noise_sd: float = attrs.field(default=0.0, validator=range_validator(0.0))



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
        self.params = AuctionParams.coerce(params)
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
    """One auction round's working state (buckets, per-group heaps, capacities).

    An agent's deterministic bid part for an item ``hops`` away after ``won`` awards is
    ``factor[i] * (wd * hops + (wl * (load[i] + won) + bias[i]))`` — the module docstring's
    formula, evaluated in exactly this order everywhere so that equal bids compare equal —
    computed inline in the hot loop. Candidates are ranked by (that part, load term, id rank).
    """

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
        if len({a.agent_id for a in agents}) != n:
            raise InvalidInputError("Contract net: agent ids must be unique; an id is repeated.")
        members = ring.members if ring is not None else frozenset()
        self.member = [a.agent_id in members for a in agents]
        shade = ring.shade if ring is not None and ring.scheme == "shade" else 0.0
        self.factor = [1.0 - shade if m else 1.0 for m in self.member]
        self.zone = [graph.zone_index(a.zone) for a in agents]
        self.load = [float(a.load) for a in agents]
        self.bias = [float(bias.get(a.agent_id, 0.0)) for a in agents]
        wl = params.load_weight
        # the key's last term with no awards: buckets are sorted by it
        self.base = [wl * (load + 0) + b for load, b in zip(self.load, self.bias, strict=True)]
        self.won = [0] * n
        # ring members in id order, for bid rotation
        self.rotation = [i for i in order if self.member[i]]
        # buckets: (zone, capability or None, ring member?) -> agents by distance-free key
        buckets: dict[tuple[int, str | None, bool], list[int]] = {}
        for i, a in enumerate(agents):
            z, m = self.zone[i], self.member[i]
            buckets.setdefault((z, None, m), []).append(i)
            for cap in a.capabilities:
                buckets.setdefault((z, cap, m), []).append(i)
        base, rank = self.base, self.rank
        for members_of in buckets.values():
            members_of.sort(key=lambda i: (base[i], rank[i]))  # factor and hops: same in a bucket
        self.buckets = buckets
        self.streams: dict[tuple[int, str | None], list[Any]] = {}
        self.bucket_list: list[list[int]] = []
        # for _ring_bound: the smallest shading factor and the smallest no-award term
        self.low_factor = min(self.factor, default=1.0)
        self.min_base = min(self.base, default=0.0)

    def _stream(self, zone: int, cap: str | None) -> list[Any]:
        """The lazy candidate stream of an item group: ``[heap, next ring, its key bound]``.

        Heap entry = (key, load term, agent rank, agent position, bucket number or -1, position
        in bucket), ordered as bids are ranked. A bucket enters the heap through its head, with
        the head's key and load term with no awards (buckets are sorted by them, and awards only
        raise both), so every entry is a lower bound of its agent's true rank; a popped entry
        below the true one is requeued at the true one. Rings
        of zones (by hops from the item) are added only when the heap's best key reaches the
        lowest key the ring could hold (:meth:`_fill`).
        """
        stream = self.streams.get((zone, cap))
        if stream is None:
            stream = self.streams[(zone, cap)] = [[], 0, -math.inf]
        return stream

    def _fill(self, stream: list[Any], zone: int, cap: str | None) -> None:
        """Add the next rings while one of them could hold a key <= the heap's best."""
        heap, ring, _ = stream
        rings = self.graph.rings[zone]
        dist = self.graph.dist[zone]
        wd = self.p.distance_weight
        while ring < len(rings) and (not heap or heap[0][0] >= self._ring_bound(wd * ring)):
            for zz in rings[ring]:
                for member in (False, True):
                    bucket = self.buckets.get((zz, cap, member))
                    if bucket:
                        b = len(self.bucket_list)
                        self.bucket_list.append(bucket)
                        i = bucket[0]
                        key = self.factor[i] * (wd * dist[zz] + self.base[i])
                        heapq.heappush(heap, (key, self.base[i], self.rank[i], i, b, 0))
            ring += 1
        stream[1] = ring
        stream[2] = self._ring_bound(wd * ring) if ring < len(rings) else math.inf

    def _ring_bound(self, ring_distance: float) -> float:
        """No key in a ring ``ring_distance`` (= wd * hops) away is below this: every key is
        ``f * (ring_distance + x)`` with ``x >= min_base`` and ``low_factor <= f <= 1``."""
        inner = ring_distance + self.min_base
        return self.low_factor * inner if inner >= 0 else inner

    def run(self, noise: np.ndarray | None) -> AuctionResult:
        p = self.p
        k, capacity, reserve = p.bids_per_task, p.capacity, p.reserve_price
        rotate = self.ring is not None and self.ring.scheme == "rotate"
        markup = 1.0 + (self.ring.markup if self.ring is not None else 0.0)
        heappop, heappush = heapq.heappop, heapq.heappush
        wd, wl = p.distance_weight, p.load_weight
        factor, load, bias, base, won = self.factor, self.load, self.bias, self.base, self.won
        zone, rank, member, buckets = self.zone, self.rank, self.member, self.bucket_list
        c: Counters = {
            "announcements": 0, "addressed": 0, "bids": 0, "abstentions": 0, "awards": 0,
            "unassigned": 0, "reserve_rejections": 0, "no_bidder": 0, "payment": 0.0,
            "true_cost": 0.0, "colluder_awards": 0,
        }
        addressed_total = abstentions = 0
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
            stream = self._stream(z, item.capability)
            heap = stream[0]
            designated = self.rotation[j % len(self.rotation)] if rotate and self.rotation else -1
            # (deterministic bid part, load term, rank, agent) of the agents addressed / silent
            addressed: list[tuple[float, float, int, int]] = []
            silent: list[tuple[float, float, int, int]] = []
            while len(addressed) < k:
                if not heap or heap[0][0] >= stream[2]:
                    self._fill(stream, z, item.capability)
                    if not heap:
                        break
                key, term, r, i, b, pos = heappop(heap)
                if b >= 0 and pos + 1 < len(buckets[b]):
                    nxt = buckets[b][pos + 1]
                    heappush(heap, (factor[nxt] * (wd * dist[zone[nxt]] + base[nxt]), base[nxt],
                                    rank[nxt], nxt, b, pos + 1))
                if won[i] >= capacity:
                    continue  # out of capacity for the rest of the round: leaves this stream
                now_term = wl * (load[i] + won[i]) + bias[i]
                cur = factor[i] * (wd * dist[zone[i]] + now_term)
                if (cur, now_term) > (key, term):  # it won since it was queued: requeue
                    heappush(heap, (cur, now_term, r, i, -1, 0))
                    continue
                if rotate and member[i] and i != designated:
                    silent.append((cur, now_term, r, i))
                    continue
                addressed.append((cur, now_term, r, i))
            addressed_total += len(addressed)
            abstentions += len(silent)
            best: tuple[float, float, int, int] | None = None
            for slot, (cur, term, r, i) in enumerate(addressed):
                bid = cur * markup if rotate and i == designated else cur
                if noise is not None:
                    bid += float(noise[j, slot])
                if best is None or (bid, term, r) < best[:3]:
                    best = (bid, term, r, i)
            accepted = best is not None and best[0] <= reserve
            for cur, term, r, i in addressed + silent:
                if not accepted or best is None or i != best[3]:
                    heappush(heap, (cur, term, r, i, -1, 0))
            if best is None or not accepted:
                c["no_bidder" if best is None else "reserve_rejections"] += 1
                unassigned.append(item.item_id)
                continue
            bid, _, r, i = best
            hops = dist[zone[i]]
            cost = wd * hops + wl * (load[i] + won[i])
            won[i] += 1
            if won[i] < capacity:
                term = wl * (load[i] + won[i]) + bias[i]
                heappush(heap, (factor[i] * (wd * hops + term), term, r, i, -1, 0))
            awards.append(Award(item.item_id, self.agents[i].agent_id, bid, cost))
            c["payment"] += bid
            c["true_cost"] += cost
            c["colluder_awards"] += int(member[i])
        c["announcements"] = len(seen_ids)
        c["addressed"] = c["bids"] = addressed_total
        c["abstentions"] = abstentions
        c["awards"] = len(awards)
        c["unassigned"] = len(unassigned)
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
