"""Benchmark episodes per second: whole episodes of a task with the scripted baseline, one process.

Runs ``--episodes`` episodes of ``--task`` (default ``throughput_sla``) exactly as
``labtrust run-benchmark`` does (lab build, env reset, scripted agents, metrics aggregation), after
one warm-up episode, and prints the median of ``--repeat`` timed rounds as episodes per second,
plus the rate per CPU-second of the process (less sensitive to other load on a shared machine)
and where the time goes (lab build, env reset, agents, env step) from a separate instrumented
round. Results files are not written (that cost is one atomic write per run, not per episode).

    python bench/bench_episodes.py [--task throughput_sla] [--episodes 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time


def _episodes_per_second(task: str, episodes: int, repeat: int) -> tuple[float, float, float]:
    """(median wall-clock rate, median rate per CPU-second, mean throughput)."""
    from labtrust_gym.benchmarks.runner import prepare_jobs, run_episode_job

    _, jobs = prepare_jobs(task, episodes, 0)
    run_episode_job(jobs[0])  # warm-up: imports, policy caches, env construction
    rates, cpu_rates = [], []
    mean_throughput = 0.0
    for _ in range(repeat):
        start, cpu_start = time.perf_counter(), time.process_time()
        outcomes = [run_episode_job(job) for job in jobs]
        rates.append(len(jobs) / (time.perf_counter() - start))
        cpu_rates.append(len(jobs) / (time.process_time() - cpu_start))
        mean_throughput = sum(o["metrics"]["throughput"] for o in outcomes) / len(outcomes)
    return statistics.median(rates), statistics.median(cpu_rates), mean_throughput


def _breakdown(task_name: str, episodes: int) -> dict[str, float]:
    """Milliseconds per episode in each phase (the bare loop, without metrics)."""
    from labtrust_gym.baselines.scripted import ScriptedLabController
    from labtrust_gym.benchmarks.tasks import get_task
    from labtrust_gym.envs import LabTrustParallelEnv

    task = get_task(task_name)()
    env = LabTrustParallelEnv(task=task, initial_state=task.get_initial_state(0))
    controller = ScriptedLabController()
    phases = dict.fromkeys(("lab build", "env reset", "scripted agents", "env step"), 0.0)
    for seed in range(episodes):
        t = time.perf_counter()
        state = task.get_initial_state(seed)
        phases["lab build"] += time.perf_counter() - t
        t = time.perf_counter()
        obs, infos = env.reset(seed=seed, options={"initial_state": state})
        controller.reset(env, seed, None, state)
        phases["env reset"] += time.perf_counter() - t
        step = 0
        while env.agents:
            t = time.perf_counter()
            actions = controller.act(obs, infos, step)
            phases["scripted agents"] += time.perf_counter() - t
            t = time.perf_counter()
            obs, _, _, _, infos = env.step(actions)
            phases["env step"] += time.perf_counter() - t
            step += 1
    return {name: total / episodes * 1000 for name, total in phases.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--task", default="throughput_sla")
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from labtrust_gym.benchmarks.tasks import get_task

    task = get_task(args.task)()
    rate, cpu_rate, throughput = _episodes_per_second(args.task, args.episodes, args.repeat)
    print(f"task {args.task}: {task.max_steps} steps/episode, dt {task.dt_s} s")
    print(
        f"episodes/s (median of {args.repeat} x {args.episodes}): {rate:.1f} wall-clock, "
        f"{cpu_rate:.1f} per CPU-second ({1000 / rate:.2f} ms/episode; mean throughput "
        f"{throughput:.2f} released/episode)"
    )
    for name, ms in _breakdown(args.task, min(args.episodes, 100)).items():
        print(f"  {name:16s} {ms:6.2f} ms/episode")


if __name__ == "__main__":
    main()
