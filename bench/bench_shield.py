"""Shield overhead: a 200-agent coord_scale episode with the shield on and off, side by side.

Usage (from the repo root)::

    python bench/bench_shield.py                       # corridor_heavy, scripted method + baseline
    python bench/bench_shield.py --scale xl_2000 --steps 30 --repeat 3

Per (method, shield on|off) a child process runs one ``coord_scale`` episode of ``--steps`` steps
through the runner's episode function twice (the first builds the lab; the second, on the reused
env, is timed). "off" replaces ``Shield.check`` by a pass-through (the runner as it was before the
shield); "on" also times ``Shield.check`` itself (``shield_us_per_step``). The cells run
interleaved and the best of ``--repeat`` is kept: the machine is shared, so quote the ratio of
cells of one run. A benchmark, not a test: it prints, it never fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any


def run_child(scale: str, method: str, shield_on: bool, steps: int, seed: int) -> dict[str, Any]:
    from bench_coordination import bench_job  # the same episode job as the coordination bench

    from labtrust_gym.benchmarks import shield as shield_mod
    from labtrust_gym.benchmarks.episode import run_episode

    spent = [0.0]
    check = shield_mod.Shield.check

    def timed(self: Any, actions: Any, guarded: Any = None) -> Any:
        t0 = time.perf_counter()
        out = check(self, actions, guarded)
        spent[0] += time.perf_counter() - t0
        return out

    def passthrough(self: Any, actions: Any, guarded: Any = None) -> Any:
        self.step_blocks, self.verdicts = [], {}
        return actions

    shield_mod.Shield.check = timed if shield_on else passthrough  # type: ignore[method-assign]

    job = bench_job(scale, method, steps, seed, name="coord_scale_shield_bench")
    run_episode(job)  # lab build
    spent[0] = 0.0
    t0 = time.perf_counter()
    outcome = run_episode(job)
    wall = time.perf_counter() - t0
    m = outcome["metrics"]
    return {
        "scale": scale,
        "method": method,
        "shield": "on" if shield_on else "off",
        "steps": int(m["steps"]),
        "ms_per_step": round(1e3 * wall / steps, 3),
        "shield_us_per_step": round(1e6 * spent[0] / steps, 1) if shield_on else None,
        "shield_proposals_per_step": round(m["shield_proposals"] / steps, 1) if shield_on else None,
        "shield_blocks": m["shield_blocks"] if shield_on else None,
        "throughput": m["throughput"],
    }


def micro(scale: str, seed: int, repeat: int = 200) -> dict[str, float]:
    """Worst case: ``Shield.check`` on a joint action where every agent proposes a non-NOOP
    entry its mask allows (as an index, and as an ``{"entry": name}`` dict); us per call."""
    from labtrust_gym.benchmarks.episode import instantiate_task
    from labtrust_gym.benchmarks.shield import Shield
    from labtrust_gym.benchmarks.tasks import get_task
    from labtrust_gym.envs import LabTrustParallelEnv

    task = instantiate_task("coord_scale", get_task("coord_scale"))
    task.scale_config = scale
    env = LabTrustParallelEnv(task=task, initial_state=task.get_initial_state(seed))
    env.reset(seed=seed)
    shield = Shield(env)
    names = env.action_catalog.names()
    idx = {}
    for a in env.agents:
        mask = env.action_mask(a)
        idx[a] = max(i for i in range(1, len(mask)) if mask[i])
    dicts = {a: {"entry": names[i]} for a, i in idx.items()}
    out = {"agents": float(len(idx))}
    for label, actions in (("index", idx), ("entry_dict", dicts)):
        t0 = time.perf_counter()
        for _ in range(repeat):
            shield.check(actions)
        out[f"{label}_us"] = round(1e6 * (time.perf_counter() - t0) / repeat, 1)
        assert not shield.step_blocks
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="corridor_heavy")
    parser.add_argument("--methods", nargs="+", default=["scripted", "scripted_baseline"])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="runs per cell; the best is kept")
    parser.add_argument(
        "--child", nargs=3, metavar=("SCALE", "METHOD", "ON"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child:
        scale, method, on = args.child
        print(json.dumps(run_child(scale, method, on == "on", args.steps, args.seed)))
        return 0
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for _ in range(args.repeat):
        for method in args.methods:
            for on in ("off", "on"):
                cmd = [sys.executable, os.path.abspath(__file__), "--child", args.scale, method, on,
                       "--steps", str(args.steps), "--seed", str(args.seed)]
                out = subprocess.run(cmd, check=True, capture_output=True, text=True)
                row = json.loads(out.stdout.strip().splitlines()[-1])
                key = (method, on)
                if key not in best or row["ms_per_step"] < best[key]["ms_per_step"]:
                    best[key] = row
    worst = micro(args.scale, args.seed)
    print(
        f"{args.scale} worst case, all {int(worst['agents'])} agents proposing a valid non-NOOP "
        f"entry: Shield.check {worst['index_us']} us/step (indices), "
        f"{worst['entry_dict_us']} us/step (entry-name dicts)"
    )
    for method in args.methods:
        off, on = best[(method, "off")], best[(method, "on")]
        print(
            f"{args.scale} {method:>18}: {off['ms_per_step']:8.2f} ms/step without the shield, "
            f"{on['ms_per_step']:8.2f} with it (x{on['ms_per_step'] / off['ms_per_step']:.3f}); "
            f"Shield.check {on['shield_us_per_step']} us/step for "
            f"{on['shield_proposals_per_step']} proposals/step "
            f"({on['shield_us_per_step'] / 10 / on['ms_per_step']:.2f}% of the step); "
            f"blocks {on['shield_blocks']}; throughput {off['throughput']} / {on['throughput']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
