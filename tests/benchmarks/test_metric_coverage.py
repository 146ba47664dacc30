"""Every metric in docs/metrics.md varies across the built-in tasks or seeds — or the doc says
why it is constant ("Constant by design")."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import attrs

from labtrust_gym.benchmarks.runner import prepare_jobs, run_episode_job
from tests.benchmarks.builtin_names import BUILTIN_TASKS as TASKS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "metrics.md").read_text(encoding="utf-8")


def _documented_metrics() -> set[str]:
    names: set[str] = set()
    for line in DOC.splitlines():
        m = re.match(r"^\| (`[^|]+`) \|", line)
        if m:
            names.update(re.findall(r"`([a-z0-9_]+)`", m.group(1)))
    return names


def _constant_by_design() -> set[str]:
    section = DOC.split("### Constant by design", 1)[1].split("\n## ", 1)[0]
    return {n for line in section.splitlines() if line.startswith("- ")
            for n in re.findall(r"`([a-z0-9_]+)`", line.split("—")[0])}


def _episodes() -> list[dict[str, Any]]:
    out = []
    for task in TASKS:
        _, jobs = prepare_jobs(task, 2, 4)  # seeds 4 and 5
        out.extend(run_episode_job(job)["metrics"] for job in jobs)
    _, jobs = prepare_jobs("coord_risk", 2, 4, injection="INJ-COMMS-DROP-001")
    out.extend(run_episode_job(job)["metrics"] for job in jobs)
    for method in ("random", "kernel_whca", "hierarchical_hub_rr"):  # the coord_* metrics
        _, jobs = prepare_jobs("coord_scale", 2, 4, coord_method=method, scale="small_smoke")
        out.extend(run_episode_job(job)["metrics"] for job in jobs)
    _, jobs = prepare_jobs("coord_scale", 2, 4, coord_method="random", scale="small_8")
    out.extend(run_episode_job(job)["metrics"] for job in jobs)  # full rooms: cell conflicts
    # the scale path (per-agent proposals + combine), forced on the small lab
    _, jobs = prepare_jobs("coord_scale", 2, 4, coord_method="kernel_whca", scale="small_8")
    out.extend(run_episode_job(attrs.evolve(job, coord_max_agents=2))["metrics"] for job in jobs)
    return out


def test_every_documented_metric_varies_or_is_documented_constant() -> None:
    documented = _documented_metrics()
    constant = _constant_by_design()
    assert {"throughput", "on_time_rate", "tokens_consumed", "containment_rate"} <= documented
    assert constant == {
        "containment_rate",
        "insider_containment_fraction",
        "coord_planning_wall_ms_per_step",
        "coord_messages_sent",
        "coord_messages_dropped",
        "shield_blocks",
        "shield_block_rate",
        "shield_blocks_by_reason",
    }
    episodes = _episodes()
    seen: dict[str, set[str]] = {}
    for metrics in episodes:
        for name, value in metrics.items():
            seen.setdefault(name, set()).add(json.dumps(value, sort_keys=True))
    missing = sorted(documented - set(seen))
    assert not missing, f"documented metrics never produced: {missing}"
    flat = sorted(n for n in documented - constant if len(seen[n]) < 2)
    assert not flat, f"metrics constant across tasks and seeds but not documented: {flat}"
    for name in constant - {"coord_planning_wall_ms_per_step"}:
        assert len(seen[name] - {"null"}) == 1, (name, seen[name])
    assert seen["coord_planning_wall_ms_per_step"] == {"null"}
