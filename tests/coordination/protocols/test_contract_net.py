"""Contract net: winner determination, reserve, capacity, collusion, determinism."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labtrust_gym.baselines.coordination.protocols import (
    AuctionParams,
    Collusion,
    ContractNet,
    run_auction,
    service_key,
)
from labtrust_gym.baselines.coordination.protocols.common import AgentInfo, WorkItem, ZoneGraph
from labtrust_gym.baselines.coordination.protocols.synthetic import KINDS, make_scene
from labtrust_gym.errors import InvalidInputError

from .helpers import agent, item, line_graph


def _winners(result) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {a.item_id: a.agent_id for a in result.awards}


def test_nearest_eligible_agent_wins() -> None:
    g = line_graph(6)
    agents = [
        agent("near_but_unable", "Z3", caps=("release",)),
        agent("far", "Z0", caps=("run",)),
        agent("near", "Z5", caps=("run",)),
    ]
    r = run_auction(agents, [item("w", "Z3", cap="run")], g)
    assert _winners(r) == {"w": "near"}
    assert r.awards[0].bid == 2.0 and r.awards[0].cost == 2.0
    assert r.counters["announcements"] == 1 and r.counters["bids"] == 2  # two eligible agents


def test_load_penalty_then_id_break_ties() -> None:
    g = line_graph(3)
    loaded = [agent("a", "Z0", load=2), agent("b", "Z2")]
    assert _winners(run_auction(loaded, [item("w", "Z1")], g)) == {"w": "b"}
    even = [agent("b", "Z0"), agent("a", "Z2")]
    assert _winners(run_auction(even, [item("w", "Z1")], g)) == {"w": "a"}


def test_service_order_and_capacity() -> None:
    g = line_graph(3)
    agents = [agent("x", "Z0"), agent("y", "Z2")]
    items = [item("routine", "Z0"), item("stat", "Z0", priority=2)]
    r = run_auction(agents, items, g)
    # the STAT item is announced first and takes the nearest agent; capacity 1 sends the
    # routine item to the other agent
    assert [a.item_id for a in r.awards] == ["stat", "routine"]
    assert _winners(r) == {"stat": "x", "routine": "y"}
    r2 = run_auction(agents, items, g, {"capacity": 2})
    assert _winners(r2) == {"stat": "x", "routine": "x"}  # 0 + 0.5 (load) < 2 hops
    assert r2.awards[1].cost == 0.5


def test_reserve_price_and_no_bidder() -> None:
    g = line_graph(10)
    agents = [agent("far", "Z0")]
    r = run_auction(agents, [item("w", "Z9"), item("qc", "Z1", cap="qc")], g,
                    {"reserve_price": 5.0})
    assert r.awards == () and r.unassigned == ("qc", "w")  # service order: same rank, by id
    assert r.counters["reserve_rejections"] == 1 and r.counters["no_bidder"] == 1
    assert r.counters["unassigned"] == 2
    unreachable = ZoneGraph(["A", "B"], [[], []])
    r = run_auction([agent("a", "A")], [item("w", "B")], unreachable)
    assert r.counters["no_bidder"] == 1


def test_shading_ring_raises_social_cost() -> None:
    g = line_graph(4)
    agents = [agent("honest", "Z0", load=4), agent("ring1", "Z3"), agent("ring2", "Z3")]
    items = [item("w", "Z0")]
    ring = Collusion({"ring1", "ring2"}, "shade", shade=0.8)
    # honest bid 0 hops + 0.5 * 4 = 2.0; ring1's 3 hops shaded to 3 * 0.2 = 0.6
    r = run_auction(agents, items, g, collusion=ring)
    assert _winners(r) == {"w": "ring1"} and r.awards[0].bid == pytest.approx(0.6)
    assert r.counters["true_cost"] == 3.0 and r.counters["honest_true_cost"] == 2.0
    assert r.counters["welfare_loss"] == 1.0 and r.counters["colluder_awards"] == 1


def test_rotating_ring_suppresses_its_nearest_member() -> None:
    g = line_graph(4)
    agents = [agent("r_a", "Z3"), agent("r_b", "Z0"), agent("other", "Z2")]
    ring = Collusion({"r_a", "r_b"}, "rotate", markup=0.5)
    # announcement 0 is r_a's turn: the nearer member r_b stays silent, r_a bids 3 * 1.5
    r = run_auction(agents, [item("w", "Z0")], g, collusion=ring)
    assert _winners(r) == {"w": "other"} and r.counters["abstentions"] == 1
    assert r.counters["welfare_loss"] == 2.0  # 2 hops instead of r_b's 0


@pytest.mark.parametrize("scheme", ["shade", "rotate"])
def test_collusion_measurably_raises_cost_at_scale(scheme: str) -> None:
    scene = make_scene(400, 200, seed=3)
    ring = Collusion({a.agent_id for a in scene.agents[::8]}, scheme, shade=0.5, markup=0.5)
    r = run_auction(scene.agents, scene.items, scene.graph, collusion=ring)
    assert r.counters["welfare_loss"] > 0.0
    assert r.counters["true_cost"] > r.counters["honest_true_cost"]
    honest = run_auction(scene.agents, scene.items, scene.graph)
    assert honest.counters["true_cost"] == r.counters["honest_true_cost"]
    assert "welfare_loss" not in honest.counters
    empty = run_auction(scene.agents, scene.items, scene.graph, collusion=Collusion(set()))
    assert empty == honest


def test_bias_moves_bids_not_social_cost() -> None:
    g = line_graph(3)
    agents = [agent("a", "Z0"), agent("b", "Z2")]
    r = run_auction(agents, [item("w", "Z0")], g, bias={"a": 5.0})
    assert _winners(r) == {"w": "b"} and r.awards[0].cost == 2.0 and r.awards[0].bid == 2.0


def test_noise_is_seeded_per_round() -> None:
    scene = make_scene(300, 150, seed=1)
    net = ContractNet({"noise_sd": 1.0}, seed=5)
    a = net.run_round(scene.agents, scene.items, scene.graph, round_index=2)
    assert a == ContractNet({"noise_sd": 1.0}, seed=5).run_round(
        scene.agents, scene.items, scene.graph, round_index=2)
    b = net.run_round(scene.agents, scene.items, scene.graph, round_index=3)
    c = ContractNet({"noise_sd": 1.0}, seed=6).run_round(
        scene.agents, scene.items, scene.graph, round_index=2)
    assert [w.bid for w in a.awards] != [w.bid for w in b.awards]
    assert [w.bid for w in a.awards] != [w.bid for w in c.awards]
    # noise only perturbs bids: each winner's bid is its deterministic part plus a noise draw
    assert any(w.bid != w.cost for w in a.awards)


def test_bids_per_announcement_are_bounded() -> None:
    scene = make_scene(1000, 500, seed=0)
    r = run_auction(scene.agents, scene.items, scene.graph, {"bids_per_task": 3})
    assert r.counters["bids"] <= 3 * r.counters["announcements"]
    assert r.counters["awards"] + r.counters["unassigned"] == 500


def test_bad_inputs() -> None:
    g = line_graph(2)
    with pytest.raises(InvalidInputError, match="repeated"):
        run_auction([agent("a", "Z0"), agent("a", "Z1")], [], g)
    with pytest.raises(InvalidInputError, match="'w' is repeated"):
        run_auction([agent("a", "Z0")], [item("w", "Z0"), item("w", "Z1")], g)
    with pytest.raises(InvalidInputError, match="Unknown zone 'Z7'"):
        run_auction([agent("a", "Z0")], [item("w", "Z7")], g)
    with pytest.raises(InvalidInputError, match="collusion scheme"):
        Collusion({"a"}, "bribe")


def _reference(agents: list[AgentInfo], items: list[WorkItem], g: ZoneGraph, p: AuctionParams,
               bias: dict[str, float], shaded: set[str], shade: float
               ) -> list[tuple[str, str | None]]:
    """Brute force: per item in service order, the lowest bid of the able agents with capacity
    left (ties: smaller load term, then smaller id)."""
    won = {a.agent_id: 0 for a in agents}
    out: list[tuple[str, str | None]] = []
    for w in sorted(items, key=service_key):
        z = g.index[w.zone]
        best = None
        for a in agents:
            d = g.dist[z][g.index[a.zone]]
            if d < 0 or won[a.agent_id] >= p.capacity:
                continue
            if w.capability is not None and w.capability not in a.capabilities:
                continue
            f = 1.0 - shade if a.agent_id in shaded else 1.0
            # the documented formula, grouped as documented (floats: equal bids stay equal)
            term = p.load_weight * (a.load + won[a.agent_id]) + bias.get(a.agent_id, 0.0)
            bid = f * (p.distance_weight * d + term)
            if best is None or (bid, term, a.agent_id) < best:
                best = (bid, term, a.agent_id)
        if best is None or best[0] > p.reserve_price:
            out.append((w.item_id, None))
        else:
            won[best[2]] += 1
            out.append((w.item_id, best[2]))
    return out


@settings(max_examples=80, deadline=None)
@given(
    n_agents=st.integers(1, 40),
    n_items=st.integers(0, 40),
    seed=st.integers(0, 10_000),
    capacity=st.integers(1, 3),
    weights=st.sampled_from([(1.0, 0.0), (1.0, 0.5), (0.5, 2.0), (0.0, 1.0), (0.7, 0.3)]),
    reserve=st.sampled_from([1.0, 3.0, math.inf]),
    biased=st.booleans(),
    shade=st.sampled_from([0.0, 0.25, 0.3, 0.5, 1.0]),
)
def test_noiseless_auction_equals_brute_force_greedy(
    n_agents: int, n_items: int, seed: int, capacity: int, weights: tuple[float, float],
    reserve: float, biased: bool, shade: float,
) -> None:
    """The buckets, lazy rings and heaps find exactly the lowest bid, for honest and shading
    bidders, with biases (even negative ones) and capacities."""
    scene = make_scene(n_agents, n_items, seed, rows=3, cols=4)
    p = AuctionParams(capacity=capacity, distance_weight=weights[0], load_weight=weights[1],
                      reserve_price=reserve)
    ids = [a.agent_id for a in scene.agents]
    bias = {i: float((k * 7) % 5 - 2) for k, i in enumerate(ids)} if biased else {}
    shaded = set(ids[::3]) if shade else set()
    ring = Collusion(shaded, "shade", shade=shade) if shaded else None
    r = run_auction(scene.agents, scene.items, scene.graph, p, bias=bias, collusion=ring)
    got = [(a.item_id, a.agent_id) for a in r.awards]
    want = _reference(list(scene.agents), list(scene.items), scene.graph, p, bias, shaded, shade)
    assert got == [x for x in want if x[1] is not None]
    assert list(r.unassigned) == [i for i, who in want if who is None]
    assert {c for a in scene.agents for c in a.capabilities} <= set(KINDS)
