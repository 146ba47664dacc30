"""Reactive swarm: the local rules, one at a time, and determinism."""

from __future__ import annotations

from collections import Counter

from labtrust_gym.baselines.coordination.protocols import SwarmParams, swarm_step
from labtrust_gym.baselines.coordination.protocols.common import MOVE, STAY, WORK
from labtrust_gym.baselines.coordination.protocols.synthetic import make_scene

from .helpers import agent, item, line_graph, star_graph

GREEDY = SwarmParams(choice="greedy", explore=0.0)


def test_work_here_is_done_first_in_service_order() -> None:
    g = line_graph(3)
    agents = [agent("b", "Z1"), agent("a", "Z1"), agent("c", "Z1", caps=("qc",))]
    items = [item("low", "Z1"), item("stat", "Z1", priority=2), item("q", "Z1", cap="qc")]
    r = swarm_step(agents, items, g, GREEDY)
    got = {d.agent_id: (d.action, d.item_id) for d in r.decisions}
    assert got == {"a": (WORK, "stat"), "b": (WORK, "low"), "c": (WORK, "q")}
    assert [d.agent_id for d in r.decisions] == ["b", "a", "c"]  # input order
    assert r.counters["workers"] == 3 and r.counters["work_left"] == 0


def test_moves_toward_the_neighbour_with_most_visible_work() -> None:
    g = line_graph(3)
    items = [item("l1", "Z0"), item("r1", "Z2"), item("r2", "Z2")]
    r = swarm_step([agent("a", "Z1")], items, g, GREEDY)
    assert (r.decisions[0].action, r.decisions[0].zone) == (MOVE, "Z2")
    tie = swarm_step([agent("a", "Z1")], items[:2], g, GREEDY)
    assert tie.decisions[0].zone == "Z0"  # equal attraction: the lower zone index


def test_only_work_it_can_do_attracts() -> None:
    g = line_graph(3)
    items = [item("l", "Z0", cap="qc"), item("r", "Z2", cap="run")]
    r = swarm_step([agent("a", "Z1", caps=("run",))], items, g, GREEDY)
    assert r.decisions[0].zone == "Z2"


def test_crowded_zones_repel() -> None:
    g = line_graph(3)
    # Z0: 3 items but 4 idle agents already there that cannot do them; Z2: 2 items, nobody
    agents = [agent("me", "Z1", caps=("run",))] + [agent(f"x{i}", "Z0") for i in range(4)]
    items = [item(f"l{i}", "Z0", cap="run") for i in range(3)] + [
        item("r0", "Z2", cap="run"), item("r1", "Z2", cap="run")]
    r = swarm_step(agents, items, g, SwarmParams(choice="greedy", explore=0.0, repulsion=0.5))
    assert r.decisions[0].zone == "Z2"  # 3 - 0.5*4 = 1 < 2 - 0
    r = swarm_step(agents, items, g, SwarmParams(choice="greedy", explore=0.0, repulsion=0.0))
    assert r.decisions[0].zone == "Z0"  # without repulsion the bigger pile wins


def test_sight_is_one_hop_and_exploring_is_optional() -> None:
    g = line_graph(4)
    items = [item("far", "Z3")]
    r = swarm_step([agent("a", "Z0")], items, g, GREEDY)
    assert r.decisions[0].action == STAY and r.counters["idle"] == 1
    r = swarm_step([agent("a", "Z0")], items, g, SwarmParams(explore=1.0))
    assert r.decisions[0].action == MOVE and r.decisions[0].explored
    assert r.decisions[0].zone == "Z1" and r.counters["explorers"] == 1


def test_proportional_choice_spreads_surplus_agents() -> None:
    g = star_graph(2)
    agents = [agent(f"a{i:03d}", "H") for i in range(400)]
    items = [item(f"x{i}", "L0") for i in range(30)] + [item(f"y{i}", "L1") for i in range(10)]
    r = swarm_step(agents, items, g, SwarmParams(explore=0.0), seed=1)
    where = Counter(d.zone for d in r.decisions)
    assert where["L0"] + where["L1"] == 400
    assert 240 < where["L0"] < 360  # about 3:1, not all to one zone
    greedy = swarm_step(agents, items, g, GREEDY, seed=1)
    assert Counter(d.zone for d in greedy.decisions) == {"L0": 400}


def test_same_seed_same_decisions_other_seed_or_step_differs() -> None:
    scene = make_scene(300, 60, seed=2)
    a = swarm_step(scene.agents, scene.items, scene.graph, seed=4, step=7)
    assert a == swarm_step(scene.agents, scene.items, scene.graph, seed=4, step=7)
    assert a.decisions != swarm_step(scene.agents, scene.items, scene.graph, seed=5,
                                     step=7).decisions
    assert a.decisions != swarm_step(scene.agents, scene.items, scene.graph, seed=4,
                                     step=8).decisions
    assert sum(a.counters[k] for k in ("workers", "movers", "idle")) == 300
