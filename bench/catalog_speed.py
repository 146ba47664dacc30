"""Speed of the full action catalog: NOOP and random masked agents, and the scripted runner.

Usage (from the repo root)::

    python bench/catalog_speed.py                  # N = 200 (corridor_heavy) + throughput_sla
    python bench/catalog_speed.py --repeat 7 --json speed.json

Measured side by side in one process, CPU time (``time.process_time``, less sensitive to other
load on a shared machine), best of ``--repeat`` segments:

1. ``noop``: ``env.step`` with every agent NOOP, N = 200 generated lab (``corridor_heavy``'s mix),
   masks and observations built every step (they are part of ``env.step``);
2. ``random``: ``env.step`` with every agent uniform among its masked-in entries (drawn outside
   the timed region), same lab;
3. ``scripted``: the scripted baseline driving every agent of the same lab (``baseline.act`` +
   ``env.step`` timed), and the ratio of its cost per env step to (2)'s;
4. ``runner``: whole ``throughput_sla`` episodes exactly as ``run-benchmark`` runs them (lab build,
   reset, scripted agents, env step, metrics) against the same episodes with random masked
   agents instead of the baseline (lab build, reset, env step) — the cost ratio.

This is a benchmark, not a test: it prints, it never fails.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

SCALE = {"base": "corridor_heavy", "num_agents": 200}


def _env(steps: int) -> Any:
    from labtrust_gym.envs import LabTrustParallelEnv

    return LabTrustParallelEnv(scale_config={**SCALE, "horizon_steps": steps + 1})


def _segments(run: Any, repeat: int) -> float:
    """Best (lowest) CPU seconds of ``repeat`` calls of ``run()`` (each returns its own time)."""
    return min(run() for _ in range(repeat))


def bench_env(steps: int, repeat: int) -> dict[str, float]:
    env = _env(steps * (3 * repeat + 2))
    agents = list(env.possible_agents)
    n = len(agents)
    rng = np.random.default_rng(0)
    obs, infos = env.reset(seed=0)

    def draw(observations: Any) -> dict[str, int]:
        masks = np.stack([observations[a]["action_mask"] for a in agents])
        choice = (rng.random(masks.shape) * masks).argmax(axis=1)
        return dict(zip(agents, choice.tolist(), strict=True))

    noop = dict.fromkeys(agents, 0)
    for _ in range(10):
        obs, *_ = env.step(draw(obs))

    def noop_segment() -> float:
        c = time.process_time()
        for _ in range(steps):
            env.step(noop)
        return time.process_time() - c

    def random_segment() -> float:
        nonlocal obs
        total = 0.0
        for _ in range(steps):
            actions = draw(obs)
            c = time.process_time()
            obs, *_ = env.step(actions)
            total += time.process_time() - c
        return total

    t_noop = _segments(noop_segment, repeat)
    t_random = _segments(random_segment, repeat)

    from labtrust_gym.baselines.scripted import ScriptedLabController

    obs, infos = env.reset(seed=1)
    baseline = ScriptedLabController()
    baseline.reset(env, 1, None, env._resolve_initial_state(1, None))
    t = 0

    def scripted_segment() -> float:
        nonlocal obs, infos, t
        c = time.process_time()
        for _ in range(steps):
            obs, _, _, _, infos = env.step(baseline.act(obs, infos, t))
            t += 1
        return time.process_time() - c

    t_scripted = _segments(scripted_segment, repeat)
    return {
        "n_agents": n,
        "noop_agent_steps_per_s": round(n * steps / t_noop),
        "random_agent_steps_per_s": round(n * steps / t_random),
        "scripted_agent_steps_per_s": round(n * steps / t_scripted),
        "scripted_over_random": round(t_scripted / t_random, 2),
        "released_scripted_env": int(env.engine.n_released),
    }


def bench_runner(episodes: int, repeat: int) -> dict[str, float]:
    from labtrust_gym.benchmarks.runner import prepare_jobs, run_episode_job
    from labtrust_gym.benchmarks.tasks import get_task
    from labtrust_gym.envs import LabTrustParallelEnv

    _, jobs = prepare_jobs("throughput_sla", episodes, 0)
    run_episode_job(jobs[0])  # warm-up: imports, caches, the runner's env

    def runner_segment() -> float:
        c = time.process_time()
        for job in jobs:
            run_episode_job(job)
        return time.process_time() - c

    task = get_task("throughput_sla")()
    env = LabTrustParallelEnv(task=task, initial_state=task.get_initial_state(0))
    agents = list(env.possible_agents)
    rng = np.random.default_rng(0)

    def random_segment() -> float:
        c = time.process_time()
        for job in jobs:
            state = task.get_initial_state(job.seed)
            obs, _ = env.reset(seed=job.seed, options={"initial_state": state})
            while env.agents:
                masks = np.stack([obs[a]["action_mask"] for a in agents])
                choice = (rng.random(masks.shape) * masks).argmax(axis=1)
                obs, *_ = env.step(dict(zip(agents, choice.tolist(), strict=True)))
        return time.process_time() - c

    t_runner = _segments(runner_segment, repeat)
    t_random = _segments(random_segment, repeat)
    return {
        "episodes": episodes,
        "runner_ms_per_episode": round(1000 * t_runner / episodes, 2),
        "random_ms_per_episode": round(1000 * t_random / episodes, 2),
        "runner_over_random": round(t_runner / t_random, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="env steps per timed segment")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--episodes", type=int, default=10, help="runner episodes per segment")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    env_figures = bench_env(args.steps, args.repeat)
    print(
        f"N={env_figures['n_agents']} (corridor_heavy mix), CPU time, best of {args.repeat}: "
        f"NOOP {env_figures['noop_agent_steps_per_s']:,} agent-steps/s; "
        f"random masked {env_figures['random_agent_steps_per_s']:,}; "
        f"scripted baseline {env_figures['scripted_agent_steps_per_s']:,} "
        f"(cost x{env_figures['scripted_over_random']} of random masked per env step)",
        flush=True,
    )
    runner = bench_runner(args.episodes, max(2, args.repeat // 2))
    print(
        f"throughput_sla episodes ({runner['episodes']} per segment): runner with the scripted "
        f"baseline {runner['runner_ms_per_episode']} ms/episode, random masked agents "
        f"{runner['random_ms_per_episode']} ms/episode: x{runner['runner_over_random']}"
    )
    if args.json:
        from labtrust_gym.fileio import atomic_write_json

        atomic_write_json(args.json, {"env": env_figures, "runner": runner})
    else:
        print(json.dumps({"env": env_figures, "runner": runner}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
