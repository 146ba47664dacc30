"""bench/env_throughput.py keeps working (a smoke run, not a timing assertion)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "env_throughput.py"


def test_env_throughput_child_reports_its_figures() -> None:
    spec = importlib.util.spec_from_file_location("env_throughput", BENCH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    row = mod.run_child(5, steps=3, warmup=1, obs_mode="flat", seed=0, repeat=2, record_log=True)
    assert row["n_agents"] == 5 and row["episode_steps"] == 7
    assert row["agent_steps_per_s"] > 0 and row["peak_rss_mb"] > 0
    assert row["sim_seconds"] == 7 * 10.0  # the clock advanced dt_s per step
    assert 0 < row["events_per_agent_step"] <= 1
