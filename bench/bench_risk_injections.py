"""Risk injections: how much each one changes coord_risk against its clean twin.

Usage (from the repo root)::

    python bench/bench_risk_injections.py                       # docs/risk_injections.md table
    python bench/bench_risk_injections.py --scale medium_stress_signed_bus --seeds 1
    python bench/bench_risk_injections.py --methods kernel_whca scripted_baseline --json out.json

For every injection of ``policy/coordination/risk_injections.v0.2.yaml`` and every method
(``scripted_baseline`` = no coordination method), runs ``coord_risk`` on seeds 1..N through the
benchmark runner (each job runs the injected episode and its clean twin) and prints a Markdown
table of the ``sec_*`` metrics: cells whose throughput, p95 turnaround or violations differ
from the twin, mean throughput/turnaround/violation deltas, results lost and delayed, the mean
release shift of results released in both, harm (policy tolerances), attack success, detection
and containment. Deterministic: the same arguments print the same table.
This is a benchmark, not a test: it prints, it never fails.
"""

from __future__ import annotations

import argparse
import json
import statistics
from typing import Any

DEFAULT_METHODS = (
    "centralized_planner",
    "kernel_whca",
    "hierarchical_hub_rr",
    "market_auction",
    "scripted_baseline",
)


def _cells(injection: str, methods: list[str], seeds: int, scale: str | None) -> list[dict]:
    from labtrust_gym.benchmarks.runner import prepare_jobs, run_episode_job

    out = []
    for method in methods:
        coord = None if method == "scripted_baseline" else method
        _, jobs = prepare_jobs(
            "coord_risk", seeds, 1, injection=injection, coord_method=coord, scale=scale
        )
        out.extend(run_episode_job(job)["metrics"] for job in jobs)
    return out


def _row(injection: str, cells: list[dict[str, Any]]) -> dict[str, Any]:
    def mean(key: str) -> float:
        return statistics.mean(float(c.get(key) or 0) for c in cells)

    changed = sum(
        1
        for c in cells
        if c["sec_throughput_delta"]
        or c["sec_violations_delta"]
        or (c["sec_p95_turnaround_delta_s"] or 0.0)
    )
    ttd = [c["sec_time_to_detection_steps"] for c in cells]
    seen = [t for t in ttd if t is not None]
    return {
        "injection": injection,
        "cells": len(cells),
        "changed": changed,
        "throughput_delta": mean("sec_throughput_delta"),
        "clean_throughput": mean("sec_clean_throughput"),
        "p95_delta_s": mean("sec_p95_turnaround_delta_s"),
        "violations_delta": mean("sec_violations_delta"),
        "results_lost": mean("sec_results_lost"),
        "results_delayed": mean("sec_results_delayed"),
        "extra_delay_s": mean("sec_results_extra_delay_mean_s"),
        "harm": sum(c["sec_harm"] for c in cells),
        "success": sum(c["sec_attack_success"] for c in cells),
        "detected": sum(c["sec_detected"] for c in cells),
        "ttd_steps": statistics.mean(seen) if seen else None,
        "contained": sum(c["sec_contained"] for c in cells),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--scale", default=None)
    parser.add_argument("--json", default=None, help="also write the rows as JSON")
    args = parser.parse_args()

    from labtrust_gym.benchmarks.injections import list_injections
    from labtrust_gym.plugins import load_plugins

    load_plugins()
    rows = [
        _row(inj, _cells(inj, args.methods, args.seeds, args.scale)) for inj in list_injections()
    ]
    print(
        "| injection | cells changed | Δ throughput (clean) | Δ p95 turnaround s | Δ violations "
        "| lost | delayed | extra delay s | harm | success | detected | mean TTD steps "
        "| contained |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        n = r["cells"]
        ttd = "—" if r["ttd_steps"] is None else f"{r['ttd_steps']:.1f}"
        print(
            f"| `{r['injection']}` | {r['changed']}/{n} | {r['throughput_delta']:+.2f} "
            f"({r['clean_throughput']:.1f}) | {r['p95_delta_s']:+.1f} | "
            f"{r['violations_delta']:+.2f} | {r['results_lost']:.2f} | {r['results_delayed']:.2f} "
            f"| {r['extra_delay_s']:+.1f} | {r['harm']}/{n} | {r['success']}/{n} "
            f"| {r['detected']}/{n} | {ttd} | {r['contained']}/{n} |"
        )
    if args.json:
        from pathlib import Path

        from labtrust_gym.fileio import atomic_write_text

        atomic_write_text(Path(args.json), json.dumps(rows, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
