"""Per-round cost of the coordination protocols (labtrust_gym.baselines.coordination.protocols)
at N = 200 and N = 2000 agents, side by side, and the per-agent ratio between the sizes.

Each protocol runs on a synthetic scene (``protocols.synthetic.make_scene``: a 4 x 4 zone grid,
N agents, N/2 open work items, seed 0) — its own inputs, no lab:

* ``contract_net`` — one auction round announcing every item (``ContractNet.run_round``);
* ``contract_net_ring`` — the same with a shading ring of 10% of the agents (runs the honest
  round too, for the welfare loss);
* ``gossip`` — one step: observe + ``rounds_per_step`` (3) rounds of fan-out 2 over the lossy
  channel (``GossipNetwork.step``);
* ``paxos_lite`` — one step of the single-decree round (``PaxosLite.for_agents``: 5 acceptors,
  every agent a proposer);
* ``swarm`` — one step of local rules for every agent (``swarm_step``);
* ``stigmergy`` — one step: field update + every agent's move (``PheromoneField.step``).

Rounds alternate between the sizes (one call of each size per repetition, after warm-up), and
the figure is the median CPU time per call (``time.process_time``, less sensitive to other load
than wall-clock). The per-agent ratio is (cost at 2000 / 2000) / (cost at 200 / 200); the goal is
<= 1.5 (no work quadratic in N). Exit status 1 if a protocol misses it.

    python bench/bench_protocols.py [--reps 30] [--sizes 200 2000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

from labtrust_gym.baselines.coordination.protocols import (
    Collusion,
    ContractNet,
    GossipNetwork,
    PaxosLite,
    PheromoneField,
    swarm_step,
)
from labtrust_gym.baselines.coordination.protocols.synthetic import Scene, make_scene

GOAL = 1.5


def _protocols(scene: Scene) -> dict[str, Callable[[int], object]]:
    """name -> a callable running round ``r`` of that protocol on ``scene``."""
    agents, items, graph = scene.agents, scene.items, scene.graph
    ids = [a.agent_id for a in agents]
    zones = np.array([graph.index[a.zone] for a in agents])
    truth = np.zeros(len(graph.zone_ids))
    for w in items:
        truth[graph.index[w.zone]] += 1
    net = ContractNet(seed=0)
    ring = Collusion(frozenset(ids[::10]), "shade")
    gossip = GossipNetwork(ids, len(graph.zone_ids), seed=0)
    paxos = PaxosLite.for_agents(ids, seed=0)
    field = PheromoneField(graph, seed=0)
    return {
        "contract_net": lambda r: net.run_round(agents, items, graph, round_index=r),
        "contract_net_ring": lambda r: net.run_round(
            agents, items, graph, round_index=r, collusion=ring),
        "gossip": lambda r: gossip.step(r, zones, truth),
        "paxos_lite": lambda r: paxos.run_step(r, ("plan", r)),
        "swarm": lambda r: swarm_step(agents, items, graph, seed=0, step=r),
        "stigmergy": lambda r: field.step(agents, items, r),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs=2, default=[200, 2000])
    args = parser.parse_args()
    small, large = args.sizes
    runners = {n: _protocols(make_scene(n, n // 2, seed=0)) for n in (small, large)}
    times: dict[tuple[str, int], list[float]] = {}
    for name in runners[small]:
        for rep in range(args.warmup + args.reps):
            for n in (small, large):
                start = time.process_time()
                runners[n][name](rep)  # rep = the round / step number
                spent = time.process_time() - start
                if rep >= args.warmup:
                    times.setdefault((name, n), []).append(spent)
    print(f"protocol rounds: sizes {small} and {large} agents (items = N/2), {args.reps} reps, "
          f"median CPU time per call, load average {os.getloadavg()[0]:.2f}")
    header = (f"{'protocol':18s} {'ms @' + str(small):>10s} {'ms @' + str(large):>11s} "
              f"{'us/agent @' + str(small):>15s} {'us/agent @' + str(large):>16s} "
              f"{'ratio':>6s}  goal <= {GOAL}")
    print(header)
    failed = []
    for name in runners[small]:
        t_small = statistics.median(times[(name, small)])
        t_large = statistics.median(times[(name, large)])
        per_small = t_small / small * 1e6
        per_large = t_large / large * 1e6
        ratio = per_large / per_small if per_small else float("inf")
        verdict = "ok" if ratio <= GOAL else "MISSED"
        if ratio > GOAL:
            failed.append(name)
        print(f"{name:18s} {t_small * 1e3:10.3f} {t_large * 1e3:11.3f} {per_small:15.2f} "
              f"{per_large:16.2f} {ratio:6.2f}  {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
