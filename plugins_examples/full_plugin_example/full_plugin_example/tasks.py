"""``full_example_stat_rush``: the default lab under a STAT-heavy arrival stream."""

from __future__ import annotations

from typing import Any

from labtrust_gym.benchmarks.tasks import BenchmarkTask


class StatRushTask(BenchmarkTask):
    """A third of the arrivals are STAT; the turnaround SLA is 20 minutes."""

    name = "full_example_stat_rush"
    description = "Default lab, STAT-heavy arrivals (30% STAT), 20-minute turnaround SLA."
    max_steps = 90
    sla_turnaround_s = 1200.0
    reward_config = {"throughput_reward": 1.0}

    def lab_options(self) -> dict[str, Any]:
        return {"arrival_rate_per_min": 2.5, "stat_fraction": 0.3, "urgent_fraction": 0.1}
