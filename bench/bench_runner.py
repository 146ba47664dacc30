"""Runner cost per episode: ``run_benchmark`` end to end in one process (env reuse, the per-episode
metrics check, the contract-checked aggregator), side by side with variants, in alternating rounds.

* ``reuse`` — ``run_benchmark(task, N, 0, None)`` as ``--workers 1`` runs it;
* ``fresh`` — the same with env reuse switched off (a new env per episode): what reuse buys;
* ``baseline`` (with ``--baseline-tree DIR``) — the same run by another source tree (e.g. an
  export of an older commit) in a subprocess with ``PYTHONPATH=DIR``: what a change costs.

Each round runs every variant once (order rotated), each after one warm-up episode; the figure is
the median over rounds of episodes per CPU-second of the measuring process (less sensitive to
other load than wall-clock), and the ratios are of those medians.

    python bench/bench_runner.py [--task throughput_sla] [--episodes 100] [--rounds 5]
                                 [--baseline-tree /tmp/old_tree]
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


def _one_round(task: str, episodes: int, fresh: bool) -> float:
    """Episodes per CPU-second of one ``run_benchmark`` call in this process."""
    from labtrust_gym.benchmarks import episode
    from labtrust_gym.benchmarks.runner import run_benchmark

    if fresh:
        episode._cache_key = lambda job: None  # type: ignore[attr-defined]
    run_benchmark(task, 1, 10_000, None)  # warm-up: imports, policy caches
    start = time.process_time()
    run_benchmark(task, episodes, 0, None)
    return episodes / (time.process_time() - start)


def _in_subprocess(task: str, episodes: int, variant: str, tree: str | None) -> float:
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = tree + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(
        [sys.executable, __file__, "--one", variant, "--task", task, "--episodes", str(episodes)],
        env=env, capture_output=True, text=True, check=True,
    ).stdout
    return float(json.loads(out.strip().splitlines()[-1])["rate"])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--task", default="throughput_sla")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline-tree", default=None)
    parser.add_argument("--one", choices=("reuse", "fresh"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps({"rate": _one_round(args.task, args.episodes, args.one == "fresh")}))
        return
    variants: list[tuple[str, str, str | None]] = [
        ("reuse", "reuse", None),
        ("fresh", "fresh", None),
    ]
    if args.baseline_tree:
        variants.append(("baseline", "reuse", str(Path(args.baseline_tree).resolve())))
    rates: dict[str, list[float]] = {name: [] for name, _, _ in variants}
    for r in range(args.rounds):
        for name, mode, tree in variants[r % len(variants) :] + variants[: r % len(variants)]:
            rates[name].append(_in_subprocess(args.task, args.episodes, mode, tree))
    med = {name: statistics.median(values) for name, values in rates.items()}
    print(f"task {args.task}, {args.episodes} episodes per run, {args.rounds} rounds, "
          f"load average {os.getloadavg()[0]:.2f}")
    for name, value in med.items():
        print(f"  {name:9s} {value:7.1f} episodes per CPU-second (median)")
    print(f"  fresh / reuse    = {med['fresh'] / med['reuse']:.3f}")
    if "baseline" in med:
        print(f"  reuse / baseline = {med['reuse'] / med['baseline']:.3f}")


if __name__ == "__main__":
    main()
