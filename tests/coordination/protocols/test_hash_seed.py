"""Outputs do not depend on Python's string hashing (set and dict order never leak): the five
protocols give identical results in two processes with different PYTHONHASHSEEDs."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import numpy as np
from labtrust_gym.baselines.coordination.protocols import (
    Collusion, GossipNetwork, PaxosLite, PheromoneField, run_auction, swarm_step)
from labtrust_gym.baselines.coordination.protocols.synthetic import make_scene

scene = make_scene(300, 150, seed=9)
agents, items, graph = scene.agents, scene.items, scene.graph
ids = [a.agent_id for a in agents]
out = []
out.append(run_auction(agents, items, graph, {"noise_sd": 0.5}, seed=2,
                       collusion=Collusion(set(ids[::7]), "rotate")))
gossip = GossipNetwork(ids, len(graph.zone_ids), seed=2)
zones = [graph.index[a.zone] for a in agents]
out += [gossip.step(s, zones, np.arange(16.0) + s).versions.tolist() for s in range(3)]
paxos = PaxosLite.for_agents(ids, {"drop_rate": 0.3}, seed=2)
out += [paxos.run_step(s, s) for s in range(5)]
out.append(swarm_step(agents, items, graph, seed=2, step=1))
field = PheromoneField(graph, seed=2)
out += [field.step(agents, items, s).decisions for s in range(3)]
print(repr(out))
"""


def _run(hash_seed: str) -> str:
    env = dict(os.environ, PYTHONHASHSEED=hash_seed)
    return subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, check=True).stdout


def test_results_do_not_depend_on_the_hash_seed() -> None:
    first = _run("1")
    assert len(first) > 10_000
    assert _run("2") == first
