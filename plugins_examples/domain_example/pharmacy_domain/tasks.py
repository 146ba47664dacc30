"""``pharmacy_compounding``: a 20-minute shift of the pharmacy line under a 15-minute SLA."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labtrust_gym.benchmarks.tasks import BenchmarkTask


class CompoundingTask(BenchmarkTask):
    """Orders arrive about every 33 s (a fifth STAT), near what two hoods can compound; every
    order should be released within 15 minutes of arriving. Runs on the ``pharmacy`` domain
    (``labtrust --profile pharmacy``)."""

    name = "pharmacy_compounding"
    description = "Pharmacy compounding line: verify, compound, independent check, release."
    domain_id = "pharmacy"
    max_steps = 120
    dt_s = 10.0
    scripted_agents = ["pharmacist_0", "pharmacist_1", "technician_0", "technician_1"]
    sla_turnaround_s = 900.0
    reward_config = {"throughput_reward": 1.0, "schedule_reward": 0.1}

    def get_initial_state(
        self,
        seed: int,
        calibration: Mapping[str, Any] | None = None,
        policy_root: Path | str | None = None,
    ) -> dict[str, Any]:
        from pharmacy_domain.lab import build_line

        return build_line(seed, policy_root, horizon_s=self.max_steps * float(self.dt_s or 10.0))
