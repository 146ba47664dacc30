"""Env throughput benchmark: agent-steps per second with random valid actions.

Usage (from the repo root)::

    python bench/env_throughput.py                       # N = 5, 200, 1000, 2000
    python bench/env_throughput.py --sizes 200 --steps 300 --obs-mode flat
    python bench/env_throughput.py --json bench_out.json
    python bench/env_throughput.py --sizes 200 --policy noop   # the env's own cost, no events

Defaults: 10 warm-up steps + 5 timed segments of 60 steps = a 310-step episode, about the
presets' 300-step horizon, with the engine's in-memory episode log on (its default), so the
peak RSS is that of a full episode. Each size runs in its own child process so that the
reported peak RSS (``ru_maxrss``) belongs to that size alone. Per size the child builds a
generated lab (``scale_config`` derived from a preset with ``num_agents`` overridden), resets
with seed 0, runs the warm-up, then times ``env.step`` with actions drawn uniformly from each
agent's action mask (drawn vectorised with numpy, outside the timed region). The figure is::

    agent_steps_per_s = N * steps / seconds spent inside env.step   (per timed segment)

``--repeat`` segments are timed; the best and the median segment are reported (the machine may
be shared, so the best segment is the closest to the code's own cost; the median shows the
noise); ``cpu_agent_steps_per_s`` divides by the process's CPU time inside ``env.step``
(median segment), which other load on the machine barely affects. ``loop_agent_steps_per_s``
also includes drawing the actions and building the action dict, i.e. what a trivial random
policy sees. The split line wraps ``engine.step``/``advance_to`` with CPU timers and
reports the engine's cost per event and the env's own cost per agent-step. This is a benchmark,
not a test: it prints, it never fails.
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

#: size -> preset it is derived from (num_agents is overridden to the size)
PRESET_FOR_SIZE = {5: "small_8", 200: "corridor_heavy", 1000: "large_1000", 2000: "xl_2000"}


def _preset_for(n: int) -> str:
    if n in PRESET_FOR_SIZE:
        return PRESET_FOR_SIZE[n]
    if n < 50:
        return "small_8"
    if n < 500:
        return "corridor_heavy"
    if n < 1500:
        return "large_1000"
    return "xl_2000"


def run_child(
    n: int,
    steps: int,
    warmup: int,
    obs_mode: str,
    seed: int,
    repeat: int,
    record_log: bool,
    preset: str | None = None,
    unmasked: bool = False,
    policy: str = "random",
) -> dict[str, Any]:
    import statistics

    import numpy as np

    from labtrust_gym.envs import LabTrustParallelEnv

    preset = preset or _preset_for(n)
    scale = {"base": preset, "num_agents": n, "horizon_steps": warmup + repeat * steps + 1}
    t0 = time.perf_counter()
    env = LabTrustParallelEnv(
        scale_config=scale, obs_mode=obs_mode, engine_config={"record_log": record_log}
    )
    obs, _ = env.reset(seed=seed)
    build_s = time.perf_counter() - t0
    agents = list(env.agents)
    rng = np.random.default_rng(seed)

    def draw(observations: dict[str, Any]) -> dict[str, int]:
        if policy == "noop":  # the env's own cost: observations and masks, no events
            return dict.fromkeys(agents, 0)
        masks = np.stack([observations[a]["action_mask"] for a in agents])
        if unmasked:  # random agents: every index equally likely, valid or not (many BLOCKED)
            masks = np.ones_like(masks)
        scores = rng.random(masks.shape) * masks  # NOOP is always valid, so argmax is valid
        return dict(zip(agents, scores.argmax(axis=1).tolist(), strict=True))

    # Split the CPU time of env.step into engine (step, advance_to) and env's own work.
    split = {"engine_s": 0.0, "events": 0}
    eng = env.engine
    engine_step, advance_to = eng.step, eng.advance_to

    def timed_step(event: dict[str, Any]) -> dict[str, Any]:
        c0 = time.process_time()
        out = engine_step(event)
        split["engine_s"] += time.process_time() - c0
        split["events"] += 1
        return out

    def timed_advance_to(t_s: float) -> None:
        c0 = time.process_time()
        advance_to(t_s)
        split["engine_s"] += time.process_time() - c0

    for _ in range(warmup):
        obs, *_ = env.step(draw(obs))
    eng.step, eng.advance_to = timed_step, timed_advance_to
    rates, cpu_rates, loop_rates = [], [], []
    total_cpu = 0.0
    perf, cpu = time.perf_counter, time.process_time
    for _ in range(repeat):
        in_step = in_step_cpu = 0.0
        loop_t0 = perf()
        for _ in range(steps):
            actions = draw(obs)
            s0, c0 = perf(), cpu()
            obs, *_ = env.step(actions)
            in_step += perf() - s0
            in_step_cpu += cpu() - c0
        loop_s = perf() - loop_t0
        rates.append(n * steps / in_step)
        cpu_rates.append(n * steps / in_step_cpu)
        total_cpu += in_step_cpu
        loop_rates.append(n * steps / loop_s)
    summary = env.get_timing_summary()
    env.close()
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "n_agents": n,
        "preset": preset,
        "unmasked": unmasked,
        "blocked_per_agent_step": round(
            env.get_reward_counters()["blocked"] / (n * (warmup + repeat * steps)), 3
        ),
        "obs_mode": obs_mode,
        "record_log": record_log,
        "episode_steps": warmup + repeat * steps,
        "steps": steps,
        "repeat": repeat,
        "build_and_reset_s": round(build_s, 3),
        "agent_steps_per_s": round(max(rates)),
        "median_agent_steps_per_s": round(statistics.median(rates)),
        "cpu_agent_steps_per_s": round(statistics.median(cpu_rates)),
        "loop_agent_steps_per_s": round(max(loop_rates)),
        "ms_per_env_step": round(1000 * n / max(rates), 3),
        "peak_rss_mb": round(rss_kb / 1024, 1),
        "events_per_agent_step": round(split["events"] / (n * steps * repeat), 3),
        "engine_us_per_event": round(1e6 * split["engine_s"] / max(split["events"], 1), 2),
        "env_us_per_agent_step": round(
            1e6 * (total_cpu - split["engine_s"]) / (n * steps * repeat), 2
        ),
        "sim_seconds": summary.get("sim_time_s"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 200, 1000, 2000])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--obs-mode", choices=["dict", "flat"], default="dict")
    parser.add_argument(
        "--policy",
        choices=["random", "noop"],
        default="random",
        help="random: uniform over each agent's mask; noop: every agent NOOP (masks still built)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-record-log",
        action="store_true",
        help="engine_config record_log=False (no in-memory episode log)",
    )
    parser.add_argument(
        "--repeat", type=int, default=5, help="timed segments of --steps; best and median reported"
    )
    parser.add_argument(
        "--preset",
        help="derive every size's lab from this scale preset (default: by size, see above), "
        "e.g. medium_stress_signed_bus for a strict-signature lab",
    )
    parser.add_argument(
        "--unmasked",
        action="store_true",
        help="draw actions uniformly over every index, ignoring the masks (random agents: many "
        "BLOCKED events)",
    )
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child is not None:
        result = run_child(
            args.child,
            args.steps,
            args.warmup,
            args.obs_mode,
            args.seed,
            args.repeat,
            not args.no_record_log,
            args.preset,
            args.unmasked,
            args.policy,
        )
        print(json.dumps(result))
        return 0

    rows = []
    for n in args.sizes:
        cmd = [
            sys.executable,
            os.path.abspath(__file__),
            "--child",
            str(n),
            "--steps",
            str(args.steps),
            "--warmup",
            str(args.warmup),
            "--obs-mode",
            args.obs_mode,
            "--policy",
            args.policy,
            "--seed",
            str(args.seed),
            "--repeat",
            str(args.repeat),
            *(["--no-record-log"] if args.no_record_log else []),
            *(["--preset", args.preset] if args.preset else []),
            *(["--unmasked"] if args.unmasked else []),
        ]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(
            f"N={row['n_agents']:>5}  {row['agent_steps_per_s']:>9,} agent-steps/s "
            f"(env.step, best; median {row['median_agent_steps_per_s']:,}; "
            f"per CPU-second {row['cpu_agent_steps_per_s']:,})  "
            f"{row['loop_agent_steps_per_s']:>9,} (with the {args.policy} policy)  "
            f"{row['ms_per_env_step']:>8.3f} ms/step  peak RSS {row['peak_rss_mb']:>7.1f} MB  "
            f"[{row['preset']}, obs_mode={row['obs_mode']}, record_log={row['record_log']}, "
            f"{row['episode_steps']} steps{', unmasked' if row['unmasked'] else ''}, "
            f"{row['blocked_per_agent_step']} BLOCKED/agent-step]\n"
            f"         split (CPU): engine {row['engine_us_per_event']} us/event x "
            f"{row['events_per_agent_step']} events/agent-step; env's own work "
            f"{row['env_us_per_agent_step']} us/agent-step",
            flush=True,
        )
    if args.json:
        from labtrust_gym.fileio import atomic_write_json

        atomic_write_json(args.json, {"python": sys.version.split()[0], "results": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
