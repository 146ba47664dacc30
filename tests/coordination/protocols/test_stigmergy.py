"""Stigmergy: the field's deposit, evaporation and diffusion as specified; gradient climbing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labtrust_gym.baselines.coordination.protocols import PheromoneField, StigmergyParams
from labtrust_gym.baselines.coordination.protocols.common import MOVE, STAY, WORK
from labtrust_gym.baselines.coordination.protocols.synthetic import grid_graph, make_scene

from .helpers import agent, item, line_graph

STILL = dict(evaporation=0.0, diffusion=0.0)


def test_deposit_is_priority_weighted() -> None:
    f = PheromoneField(line_graph(3), StigmergyParams(priority_gain=0.5, **STILL))
    c = f.update([item("a", "Z0"), item("b", "Z0", priority=2), item("c", "Z2", cap="qc")])
    assert f.kinds == [None, "qc"]
    assert f.field.tolist() == [[3.0, 0.0, 0.0], [0.0, 0.0, 1.0]]  # 1 + (1 + 0.5*2); 1
    assert c["deposited"] == 4.0 and c["field_mass"] == 4.0 and c["field_max"] == 3.0


def test_evaporation_decays_geometrically() -> None:
    f = PheromoneField(line_graph(2), StigmergyParams(evaporation=0.25, diffusion=0.0))
    f.update([item("a", "Z0")])
    for k in range(1, 4):
        c = f.update([])
        assert f.field[0, 0] == pytest.approx(0.75**k)
        assert c["evaporated"] == pytest.approx(0.25 * 0.75 ** (k - 1))
    # work that stays open converges to deposit / evaporation
    g = PheromoneField(line_graph(1), StigmergyParams(evaporation=0.25, diffusion=0.0))
    for _ in range(80):
        g.update([item("a", "Z0")])
    assert g.field[0, 0] == pytest.approx(4.0)


def test_diffusion_splits_a_share_equally_over_neighbours() -> None:
    # Z0 - Z1 - Z2: the largest degree is 2, so each edge carries 0.4 / 2 of its difference
    f = PheromoneField(line_graph(3), StigmergyParams(evaporation=0.0, diffusion=0.4))
    f.update([item("m", "Z1")])
    assert f.field[0].tolist() == pytest.approx([0.2, 0.6, 0.2])
    f.update([])
    # Z0: 0.2 + 0.2*(0.6 - 0.2); Z1: 0.6 + 0.2*(0.2 - 0.6)*2
    assert f.field[0].tolist() == pytest.approx([0.28, 0.44, 0.28])
    for _ in range(200):
        f.update([])
    assert f.field[0].tolist() == pytest.approx([1 / 3] * 3)  # flattens to uniform
    # a source at the end of a line stays the peak (no drift toward the better-connected zone)
    end = PheromoneField(line_graph(4), StigmergyParams(evaporation=0.0, diffusion=1.0))
    for _ in range(50):
        end.update([item("e", "Z3")])
    assert list(np.argsort(end.field[0])) == [0, 1, 2, 3]
    isolated = PheromoneField(grid_graph(1, 1), StigmergyParams(evaporation=0.0, diffusion=0.9))
    isolated.update([item("x", "Z_0_0")])
    assert isolated.field.tolist() == [[1.0]]  # nowhere to flow: keeps it


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 1000), diffusion=st.floats(0.0, 1.0), steps=st.integers(1, 6))
def test_diffusion_conserves_mass(seed: int, diffusion: float, steps: int) -> None:
    scene = make_scene(10, 25, seed)
    f = PheromoneField(scene.graph, StigmergyParams(evaporation=0.0, diffusion=diffusion))
    total = 0.0
    for _ in range(steps):
        total += f.update(scene.items)["deposited"]
        assert np.all(f.field >= 0)
    assert float(f.field.sum()) == pytest.approx(total)


def test_agents_work_here_or_climb_the_gradient() -> None:
    g = line_graph(5)
    f = PheromoneField(g, StigmergyParams(choice="greedy", explore=0.0, evaporation=0.0,
                                          diffusion=0.5))
    for _ in range(3):
        f.update([item("far", "Z4")])
    agents = [agent("a", "Z1"), agent("b", "Z4"), agent("c", "Z4")]
    r = f.step(agents, [item("far", "Z4")], step=3)
    got = [(d.action, d.zone, d.item_id) for d in r.decisions]
    assert got[0] == (MOVE, "Z2", None)  # uphill, toward Z4
    assert got[1] == (WORK, "Z4", "far")
    assert got[2] == (STAY, "Z4", None)  # at the peak with nothing left: stays
    assert r.counters["workers"] == 1 and r.counters["movers"] == 1 and r.counters["idle"] == 1
    assert r.field.flags.writeable is False and r.kinds == (None,)


def test_agents_smell_only_work_they_can_do() -> None:
    g = line_graph(3)
    f = PheromoneField(g, StigmergyParams(choice="greedy", explore=0.0, diffusion=0.5))
    items = [item("q", "Z0", cap="qc"), item("r", "Z2", cap="run")]
    r = f.step([agent("runner", "Z1", caps=("run",)), agent("qc", "Z1", caps=("qc",))], items, 0)
    assert [d.zone for d in r.decisions] == ["Z2", "Z0"]


def test_follow_threshold_ignores_faint_rises() -> None:
    g = line_graph(3)
    params = dict(choice="greedy", explore=0.0, diffusion=0.5, evaporation=0.0)
    items = [item("x", "Z2")]
    low = PheromoneField(g, StigmergyParams(follow_threshold=0.0, **params))
    high = PheromoneField(g, StigmergyParams(follow_threshold=10.0, **params))
    assert low.step([agent("a", "Z0")], items, 0).decisions[0].action == MOVE
    assert high.step([agent("a", "Z0")], items, 0).decisions[0].action == STAY


def test_seeded_and_deterministic() -> None:
    scene = make_scene(300, 80, seed=5)

    def run(seed: int) -> list:
        f = PheromoneField(scene.graph, StigmergyParams(explore=0.2), seed=seed)
        return [f.step(scene.agents, scene.items, s).decisions for s in range(3)]

    assert run(1) == run(1)
    assert run(1) != run(2)
