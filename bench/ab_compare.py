"""Two source trees, the same workloads, interleaved: cost ratios a loaded machine can resolve.

Usage (from the repo root)::

    git archive main | tar -x -C /tmp/base          # the tree to compare against
    python bench/ab_compare.py --base /tmp/base --rounds 15

Two worker processes are started, one importing ``labtrust_gym`` from ``--base`` and one from
``--branch`` (default: this checkout), each from its own tree's directory (its policy). Both
build the same labs; then, round after round, the parent asks each in turn to time one segment
of each workload, so load spikes on a shared machine hit both alike. Per segment the CPU time
(``time.process_time``) inside the timed calls is measured; reported per workload: the median
segment of each tree and the median of the per-round ratios branch / base (< 1: the branch is
cheaper). Workloads, the same as ``bench/env_throughput.py`` and ``bench/catalog_speed.py``:

* ``random N``: ``env.step`` with every agent uniform among its masked-in entries (drawn with a
  seeded RNG outside the timed region; both trees see the same actions), generated labs of N
  agents;
* ``noop 200``: ``env.step`` with every agent NOOP (observations and masks still built);
* ``scripted 200``: the scripted baseline driving every agent (``act`` + ``env.step``);
* ``runner``: one ``throughput_sla`` episode exactly as ``run-benchmark`` runs it.

A benchmark, not a test: it prints, it never fails.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PRESETS = {5: "small_8", 200: "corridor_heavy", 1000: "large_1000", 2000: "xl_2000"}


def worker(sizes: list[int], steps: int) -> None:
    """Serve timing requests on stdin/stdout: one JSON line in, one out."""
    import numpy as np

    from labtrust_gym.envs import LabTrustParallelEnv

    horizon = 100_000
    envs: dict[str, Any] = {}
    state: dict[str, Any] = {}
    for n in sizes:
        env = LabTrustParallelEnv(
            scale_config={"base": PRESETS.get(n, "corridor_heavy"), "num_agents": n,
                          "horizon_steps": horizon}
        )
        envs[f"random {n}"] = env
        state[f"random {n}"] = [env.reset(seed=0)[0], np.random.default_rng(0)]
    noop_env = envs.get("random 200")

    def random_segment(key: str) -> float:
        env = envs[key]
        obs, rng = state[key]
        agents = env.possible_agents
        spent = 0.0
        for _ in range(steps):
            masks = np.stack([obs[a]["action_mask"] for a in agents])
            actions = dict(zip(agents, (rng.random(masks.shape) * masks).argmax(1).tolist(),
                               strict=True))
            c = time.process_time()
            obs, *_ = env.step(actions)
            spent += time.process_time() - c
        state[key][0] = obs
        return spent

    def noop_segment() -> float:
        assert noop_env is not None
        noop = dict.fromkeys(noop_env.possible_agents, 0)
        c = time.process_time()
        for _ in range(steps):
            noop_env.step(noop)
        return time.process_time() - c

    scripted: dict[str, Any] = {}

    def scripted_segment() -> float:
        from labtrust_gym.baselines.scripted import ScriptedLabController

        if not scripted:
            env = LabTrustParallelEnv(scale_config={"base": "corridor_heavy",
                                                    "horizon_steps": horizon})
            obs, infos = env.reset(seed=1)
            baseline = ScriptedLabController()
            baseline.reset(env, 1, None, env._resolve_initial_state(1, None))
            scripted.update(env=env, obs=obs, infos=infos, baseline=baseline, t=0)
        s = scripted
        c = time.process_time()
        for _ in range(steps):
            s["obs"], _, _, _, s["infos"] = s["env"].step(s["baseline"].act(s["obs"], s["infos"],
                                                                               s["t"]))
            s["t"] += 1
        return time.process_time() - c

    jobs: list[Any] = []

    def runner_segment() -> float:
        from labtrust_gym.benchmarks.runner import prepare_jobs, run_episode_job

        if not jobs:
            jobs.extend(prepare_jobs("throughput_sla", 1, 0)[1])
            run_episode_job(jobs[0])  # warm-up
        c = time.process_time()
        run_episode_job(jobs[0])
        return time.process_time() - c

    for line in sys.stdin:
        key = json.loads(line)
        if key.startswith("random"):
            spent = random_segment(key)
        elif key == "noop 200":
            spent = noop_segment()
        elif key == "scripted 200":
            spent = scripted_segment()
        else:
            spent = runner_segment()
        print(json.dumps(spent), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the tree to compare against")
    parser.add_argument("--branch", default=str(Path(__file__).resolve().parents[1]))
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 200, 1000])
    parser.add_argument("--steps", type=int, default=20, help="env steps per timed segment")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.sizes, args.steps)
        return 0
    procs = {}
    for name, tree in (("base", args.base), ("branch", args.branch)):
        env = {**os.environ, "PYTHONPATH": str(Path(tree).resolve())}
        procs[name] = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", "--base", "-",
             "--sizes", *map(str, args.sizes), "--steps", str(args.steps)],
            cwd=tree, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
    keys = [f"random {n}" for n in args.sizes]
    if 200 in args.sizes:
        keys += ["noop 200", "scripted 200"]
    keys.append("runner")
    times: dict[str, dict[str, list[float]]] = {k: {"base": [], "branch": []} for k in keys}

    def ask(name: str, key: str) -> float:
        proc = procs[name]
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(key) + "\n")
        proc.stdin.flush()
        return float(json.loads(proc.stdout.readline()))

    for key in keys:  # warm-up segment each
        for name in procs:
            ask(name, key)
    for r in range(args.rounds):
        order = ("base", "branch") if r % 2 == 0 else ("branch", "base")
        for key in keys:
            for name in order:
                times[key][name].append(ask(name, key))
    for proc in procs.values():
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait()
    header = ("workload", "base ms/seg", "branch ms/seg", "ratio (median of rounds)")
    print(f"{header[0]:<14} {header[1]:>12} {header[2]:>14} {header[3]:>26}")
    for key in keys:
        b, x = times[key]["base"], times[key]["branch"]
        ratio = statistics.median(xi / bi for xi, bi in zip(x, b, strict=True))
        print(f"{key:<14} {1000 * statistics.median(b):>12.2f} {1000 * statistics.median(x):>14.2f}"
              f" {ratio:>26.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
