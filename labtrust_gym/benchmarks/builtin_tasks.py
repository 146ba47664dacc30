"""The eight built-in benchmark tasks.

Each task is declarative: its fields and :meth:`lab_options` say what the lab contains; the lab
itself is built by :func:`labtrust_gym.benchmarks.labs.build_lab`, the agents by the scripted
baseline. What each task exercises (and how the tests check it) is documented in
docs/benchmarks.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .tasks import DEFAULT_AGENTS, BenchmarkTask

_REWARDS = {
    "throughput_reward": 1.0,
    "schedule_reward": 0.1,
    "violation_penalty": 0.5,
    "blocked_penalty": 0.1,
}


class ThroughputSLA(BenchmarkTask):
    """Routine load against a turnaround SLA: how many results are released, how fast."""

    name = "throughput_sla"
    description = (
        "A steady routine stream over two simulated hours (240 steps of 30 s, arrivals "
        "throughout at ~80% of the chemistry analyzer's capacity); throughput and on-time rate "
        "against a 15-minute turnaround SLA (specimens unreleased past it count late)."
    )
    max_steps = 240
    dt_s = 30.0
    sla_turnaround_s = 900.0
    reward_config = _REWARDS

    def lab_options(self) -> dict[str, Any]:
        return {
            "arrival_rate_per_min": 0.8,
            "arrival_window_frac": 1.0,
            "initial_backlog": 4,
            "urgent_fraction": 0.1,
        }


class StatInsertion(BenchmarkTask):
    """STAT specimens inserted into an already loaded lab; STAT turnaround measured apart."""

    name = "stat_insertion"
    description = (
        "A backlog of routine work in an overloaded lab (30 simulated minutes), then STAT "
        "specimens arrive and must overtake it: STAT turnaround is measured apart."
    )
    max_steps = 180
    dt_s = 10.0
    sla_turnaround_s = 900.0
    reward_config = _REWARDS

    def lab_options(self) -> dict[str, Any]:
        return {
            "arrival_rate_per_min": 2.0,
            "initial_backlog": 12,
            "urgent_fraction": 0.1,
            "stat_burst": {"count": 5, "window_frac": (0.1, 0.35)},
        }


class QCCascade(BenchmarkTask):
    """A QC failure on a chemistry analyzer mid-episode: held results, QC rerun, re-routing."""

    name = "qc_cascade"
    description = (
        "DEV_CHEM_A1 fails QC mid-episode: its results are QC-held, work re-routes to the second "
        "chemistry analyzer, QC reruns and the held specimens are re-analysed; problem specimens "
        "are held at acceptance."
    )
    max_steps = 150
    dt_s = 10.0
    sla_turnaround_s = 1200.0
    release_review_s = 120.0
    reward_config = _REWARDS

    def lab_options(self) -> dict[str, Any]:
        return {
            "arrival_rate_per_min": 3.0,
            "initial_backlog": 6,
            "problem_fraction": 0.15,
            "extra_devices": [
                {
                    "device_id": "DEV_CHEM_B2",
                    "device_type": "CHEM_ANALYZER",
                    "zone_id": "Z_ANALYZER_HALL_B",
                },
            ],
            "qc_failures": [
                {"device_id": "DEV_CHEM_A1", "t_frac": (0.65, 0.8)},
                {"device_id": "DEV_HAEM_B1", "t_frac": (0.45, 0.6)},
            ],
        }


class AdversarialDisruption(BenchmarkTask):
    """A scripted adversary tries wrong-device queueing, restricted doors and held-open doors."""

    name = "adversarial_disruption"
    description = (
        "adversary_0 (from step 5) attempts out-of-role device queueing, opening the restricted "
        "airlock without a token and with an expired token, and holding a door open; the lab "
        "keeps working."
    )
    max_steps = 60
    dt_s = 10.0
    sla_turnaround_s = 480.0
    attack_start_step = 5
    reward_config = _REWARDS
    scripted_agents = (*DEFAULT_AGENTS, "adversary_0")

    def lab_options(self) -> dict[str, Any]:
        return {
            "arrival_rate_per_min": 2.5,
            "initial_backlog": 4,
            "extra_agents": [
                {"agent_id": "adversary_0", "role": "adversary", "zone_id": "Z_INGRESS"}
            ],
            "tokens": [
                {
                    "token_id": "TOK_ADV_EXPIRED",
                    "token_type": "RESTRICTED_ENTRY",
                    "scope": {"zone_id": "Z_RESTRICTED_BIOHAZARD"},
                    "holder_agent_id": "adversary_0",
                    "expires_t_s": 1,
                },
            ],
        }


class MultiSiteStat(BenchmarkTask):
    """STAT specimens collected at an acute site and transported to the hub with custody."""

    name = "multi_site_stat"
    description = (
        "STAT specimens arrive at SITE_NORTH; a runner dispatches them on RT_NORTH_MAIN, signs "
        "the chain of custody, reception receives the consignment at the hub, and they are run "
        "alongside the hub's routine stream."
    )
    max_steps = 90
    dt_s = 60.0
    sla_turnaround_s = 2700.0
    reward_config = _REWARDS

    def lab_options(self) -> dict[str, Any]:
        return {
            "arrival_rate_per_min": 0.5,
            "arrival_window_frac": 0.7,
            "initial_backlog": 2,
            "remote_arrivals": {
                "site_id": "SITE_NORTH",
                "count": 6,
                "window_frac": 0.35,
                "stat_fraction": 1.0,
            },
        }


class InsiderKeyMisuse(BenchmarkTask):
    """Strict signatures; an insider tries forged, replayed, revoked-key and out-of-role events."""

    name = "insider_key_misuse"
    description = (
        "Every mutating event must be signed; insider_0 attempts a forged signature, a replayed "
        "event, an event signed with a revoked key, an out-of-role action and minting a token "
        "its role may not mint, around scheduled steps (order and timing from the seed); stale "
        "specimens make the lab use two-person stability overrides."
    )
    max_steps = 60
    dt_s = 10.0
    sla_turnaround_s = 480.0
    insider_attack_steps = (8, 16, 24, 32, 40)
    reward_config = _REWARDS
    scripted_agents = (*DEFAULT_AGENTS, "insider_0")

    def lab_options(self) -> dict[str, Any]:
        from labtrust_gym.baselines.security import insider_lab_options

        return {"arrival_rate_per_min": 2.5, "initial_backlog": 4, **insider_lab_options()}


class _LoadedScaleLab(BenchmarkTask):
    """A generated lab loaded for the episode (``labtrust_gym.envs.scale.episode_load``): the
    preset's agents, devices and floor plan; arrivals over the whole episode at ``load`` x what
    the devices sustain, plus ``backlog_per_device`` specimens waiting at t = 0; device rooms
    hold ``cells_per_device`` agents per device and the operators start outside them
    (``labtrust_gym.benchmarks.labs.stage_outside_device_rooms``)."""

    load = 1.1
    backlog_per_device = 1.0
    cells_per_device = 2

    def get_initial_state(
        self,
        seed: int,
        calibration: Mapping[str, Any] | None = None,
        policy_root: Path | str | None = None,
    ) -> dict[str, Any]:
        from labtrust_gym.envs.scale import episode_load, load_scale_config

        from .labs import build_lab

        cfg = episode_load(
            load_scale_config(self.scale_config or "small_8"),
            self.max_steps,
            load=self.load,
            backlog_per_device=self.backlog_per_device,
            policy_root=policy_root,
        )
        from .labs import stage_outside_device_rooms

        state = build_lab(self, seed, calibration=calibration, policy_root=policy_root, scale=cfg)
        return stage_outside_device_rooms(state, self.cells_per_device, policy_root)


class CoordScale(_LoadedScaleLab):
    """A generated lab from a scale preset (default small_8), loaded so that coordination
    matters; pair it with --coord-method."""

    name = "coord_scale"
    description = (
        "Generated lab from a scale preset (--scale, default small_8), loaded for the episode: "
        "arrivals throughout at 1.1x what its devices sustain plus one waiting specimen per "
        "device at the start; device rooms hold two agents per device and the operators start "
        "outside them."
    )
    max_steps = 120
    scale_config = "small_8"
    sla_turnaround_s = 600.0
    reward_config = _REWARDS
    scripted_agents = ()


class CoordRisk(_LoadedScaleLab):
    """coord_scale plus a risk injection (default INJ-DEVICE-FAULT-001)."""

    name = "coord_risk"
    description = (
        "coord_scale's loaded generated lab with a risk injection (--injection, default "
        "INJ-DEVICE-FAULT-001)."
    )
    max_steps = 120
    scale_config = "small_8"
    sla_turnaround_s = 600.0
    default_injection = "INJ-DEVICE-FAULT-001"
    reward_config = _REWARDS
    scripted_agents = ()


BUILTIN_TASKS: tuple[type[BenchmarkTask], ...] = (
    ThroughputSLA,
    StatInsertion,
    QCCascade,
    AdversarialDisruption,
    MultiSiteStat,
    InsiderKeyMisuse,
    CoordScale,
    CoordRisk,
)

__all__ = ["BUILTIN_TASKS", *[cls.__name__ for cls in BUILTIN_TASKS]]
