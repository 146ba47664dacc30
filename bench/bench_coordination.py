"""Coordination benchmark: cost per agent-step of each method, side by side, on coord_scale.

Usage (from the repo root)::

    python bench/bench_coordination.py                                  # the default grid
    python bench/bench_coordination.py --scales corridor_heavy --methods kernel_whca scripted
    python bench/bench_coordination.py --steps 60 --json bench_coord.json

Per (scale, method) a child process (so ``ru_maxrss`` is that run's peak RSS alone) runs one
``coord_scale`` episode of ``--steps`` steps through the benchmark runner's own episode function
(``labtrust_gym.benchmarks.episode.run_episode``: lab build, env, method or scripted baseline,
metrics), with ``deterministic=False`` so the coordination metrics include the wall-clock time
spent in the method. ``--method scripted_baseline`` is the runner *without* a coordination method
(the scripted baseline driving every agent), the reference for "within 2x of the scripted
baseline's per-step cost". Reported:

* ``us_per_agent_step`` = wall time of the episode's steps (env + method + metrics bookkeeping,
  lab build excluded) / (N x steps);
* ``planning_us_per_agent_step`` = the method's own share (``propose_actions`` or the per-agent
  path with ``combine_submissions``) / (N x steps);
* ``ms_per_step``, ``peak_rss_mb``, the method's planning-work units per step and whether the
  per-agent (scale) path ran.

The grid runs the sizes interleaved (each method at each scale, then the next repeat) and keeps
the best of ``--repeat`` runs per cell: the machine is shared, ratios between cells of one run
are what to quote. This is a benchmark, not a test: it prints, it never fails.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

DEFAULT_SCALES = ("corridor_heavy", "xl_2000")
DEFAULT_METHODS = (
    "scripted_baseline",
    "scripted",
    "centralized_planner",
    "kernel_centralized_edf",
    "kernel_whca",
    "hierarchical_hub_rr",
    "market_auction",
    "gossip_consensus",
    "consensus_paxos_lite",
    "swarm_reactive",
    "swarm_stigmergy_priority",
    "random",
)


def bench_job(
    scale: str, method: str, steps: int, seed: int, name: str = "coord_scale_bench"
) -> Any:
    """A non-deterministic (wall-clock metrics) ``coord_scale`` episode job of ``steps`` steps at
    ``scale`` for ``method`` (``scripted_baseline``: the runner without a method), on a cold
    env cache. bench_shield.py uses it too."""
    import attrs

    from labtrust_gym.benchmarks.builtin_tasks import CoordScale
    from labtrust_gym.benchmarks.episode import clear_env_cache
    from labtrust_gym.benchmarks.runner import prepare_jobs
    from labtrust_gym.benchmarks.tasks import register_task

    class Bench(CoordScale):
        max_steps = steps

    Bench.name = name
    register_task(name, Bench, replace=True)
    coord = None if method == "scripted_baseline" else method
    _task, jobs = prepare_jobs(name, 1, seed, coord_method=coord, scale=scale)
    clear_env_cache()
    return attrs.evolve(jobs[0], deterministic=False)


def run_child(scale: str, method: str, steps: int, seed: int) -> dict[str, Any]:
    from labtrust_gym.benchmarks.episode import run_episode

    job = bench_job(scale, method, steps, seed)
    # time the steps only: the same episode once for the lab build, then timed on a reused env
    t0 = time.perf_counter()
    run_episode(job)
    first = time.perf_counter() - t0
    c0, t0 = time.process_time(), time.perf_counter()
    outcome = run_episode(job)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    m = outcome["metrics"]
    n = _agents(scale)
    planning_ms = m.get("coord_planning_wall_ms_per_step")
    return {
        "scale": scale,
        "method": method,
        "n_agents": n,
        "steps": int(m["steps"]),
        "first_episode_s": round(first, 3),
        "us_per_agent_step": round(1e6 * wall / (n * steps), 2),
        "cpu_us_per_agent_step": round(1e6 * cpu / (n * steps), 2),
        "planning_us_per_agent_step": None
        if planning_ms is None
        else round(1e3 * planning_ms / n, 2),
        "ms_per_step": round(1e3 * wall / steps, 3),
        "planning_work_per_step": m.get("coord_planning_work_per_step"),
        "per_agent_path": bool(m.get("coord_per_agent_path_steps")),
        "throughput": m["throughput"],
        "cell_conflicts": m.get("coord_cell_conflicts"),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _agents(scale: str) -> int:
    from labtrust_gym.envs.scale import load_scale_config

    return load_scale_config(scale).num_agents


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", nargs="+", default=list(DEFAULT_SCALES))
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS))
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=2, help="runs per cell; the best is kept")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--child", nargs=2, metavar=("SCALE", "METHOD"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_child(args.child[0], args.child[1], args.steps, args.seed)))
        return 0
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for _ in range(args.repeat):
        for scale in args.scales:
            for method in args.methods:
                cmd = [
                    sys.executable,
                    os.path.abspath(__file__),
                    "--child",
                    scale,
                    method,
                    "--steps",
                    str(args.steps),
                    "--seed",
                    str(args.seed),
                ]
                out = subprocess.run(cmd, check=True, capture_output=True, text=True)
                row = json.loads(out.stdout.strip().splitlines()[-1])
                key = (scale, method)
                if key not in best or row["us_per_agent_step"] < best[key]["us_per_agent_step"]:
                    best[key] = row
    rows = [best[(s, m)] for s in args.scales for m in args.methods]
    base = {s: best.get((s, "scripted_baseline")) for s in args.scales}
    for row in rows:
        ref = base.get(row["scale"])
        ratio = row["us_per_agent_step"] / ref["us_per_agent_step"] if ref else None
        row["vs_scripted_baseline"] = round(ratio, 2) if ratio is not None else None
        print(
            f"{row['scale']:>15} {row['method']:>24}  {row['us_per_agent_step']:8.2f} us/agent-step"
            f"  (planning {row['planning_us_per_agent_step']}; x{row['vs_scripted_baseline']} "
            f"baseline)  {row['ms_per_step']:8.2f} ms/step  work/step "
            f"{row['planning_work_per_step']}  per-agent path {row['per_agent_path']}  "
            f"thr {row['throughput']}  rss {row['peak_rss_mb']} MB"
        )
    for method in args.methods:
        cells = [best.get((s, method)) for s in args.scales]
        if len(cells) >= 2 and all(cells):
            first, last = cells[0], cells[-1]
            assert first is not None and last is not None
            print(
                f"{method}: per-agent cost {last['scale']} / {first['scale']} = "
                f"{last['us_per_agent_step'] / first['us_per_agent_step']:.2f}"
            )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
