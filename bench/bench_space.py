"""Engine cost of a MOVE, to show the space rules (capacity, doorways) cost O(1) per move.

Usage (from the repo root; run it against another tree with ``PYTHONPATH=<tree>`` to compare)::

    python bench/bench_space.py                  # N = 200 and 2000 agents
    python bench/bench_space.py --sizes 200 --moves 50000

A generated lab of N agents (``corridor_heavy`` with ``num_agents`` = N), engine only (no env):
every instant, ``--movers`` runners each send one MOVE between two adjacent zones (back and
forth across instants), through ``engine.step``; the figure is CPU microseconds per accepted
MOVE (median of ``--repeat`` segments). The rules it exercises — the static move rules, door,
capacity and doorway checks, the occupancy and traffic bookkeeping — do not look at the other
agents, so the figure must not grow with N. This is a benchmark, not a test: it prints.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any


def run(n: int, moves: int, movers: int, repeat: int) -> dict[str, Any]:
    from labtrust_gym.engine.core import HospitalLabEngine
    from labtrust_gym.envs.scale import generate_initial_state
    from labtrust_gym.errors import InvalidInputError

    scale = {"base": "corridor_heavy", "num_agents": n}
    state = generate_initial_state(scale, 0)
    state["arrivals"] = []
    state["capacity_scale"] = float(n)  # room for every mover (a tree without space: no key)
    eng = HospitalLabEngine(None, {"record_log": False})
    try:
        eng.reset(state)
    except InvalidInputError:
        state.pop("capacity_scale")
        eng.reset(state)
    runners = [a for a in eng.agent_ids if a.startswith("runner_")][:movers]
    homes = {a: eng.agents[a].zone_id for a in runners}
    away = {a: sorted(eng.policy.neighbors[homes[a]])[0] for a in runners}
    per_segment = []
    t = 0
    done = 0
    for _ in range(repeat):
        c0 = time.process_time()
        accepted = 0
        for _ in range(moves // (movers * repeat) or 1):
            t += 10
            for a in runners:
                to = away[a] if eng.agents[a].zone_id == homes[a] else homes[a]
                res = eng.step(
                    {"t_s": t, "agent_id": a, "action_type": "MOVE", "args": {"to_zone": to}}
                )
                accepted += res["status"] == "ACCEPTED"
        per_segment.append(1e6 * (time.process_time() - c0) / max(accepted, 1))
        done += accepted
    return {
        "n_agents": n,
        "moves": done,
        "us_per_move": round(statistics.median(per_segment), 3),
        "best_us_per_move": round(min(per_segment), 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 2000])
    parser.add_argument("--moves", type=int, default=30000)
    parser.add_argument("--movers", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    for n in args.sizes:
        row = run(n, args.moves, args.movers, args.repeat)
        print(
            f"N={row['n_agents']:>5}  {row['us_per_move']:7.3f} us per MOVE (median; best "
            f"{row['best_us_per_move']})  over {row['moves']:,} accepted moves"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
