"""The default metrics aggregator, from hand-built step results and specimen records."""

from __future__ import annotations

import pytest

from labtrust_gym.benchmarks.metrics import compute_episode_metrics


def _blocked(code: str) -> dict[str, object]:
    return {"status": "BLOCKED", "blocked_reason_code": code, "emits": [], "violations": []}


def _accepted(
    *emits: str, violations: tuple[str, ...] = (), token: bool = False
) -> dict[str, object]:
    return {
        "status": "ACCEPTED",
        "blocked_reason_code": None,
        "emits": list(emits),
        "violations": [
            {"invariant_id": v, "status": "VIOLATION", "reason_code": "X"} for v in violations
        ]
        + [{"invariant_id": "INV-PASS", "status": "PASS", "reason_code": None}],
        "token_consumed": ["T1"] if token else [],
    }


SPECIMENS = [
    {"specimen_id": "S1", "priority": "ROUTINE", "arrival_s": 0.0, "released_s": 300.0},
    {"specimen_id": "S2", "priority": "STAT", "arrival_s": 100.0, "released_s": 200.0},
    {"specimen_id": "S3", "priority": "ROUTINE", "arrival_s": 50.0, "released_s": 1050.0},
    {"specimen_id": "S4", "priority": "STAT", "arrival_s": 60.0, "released_s": None, "held": True},
]


def test_throughput_and_turnaround_are_per_released_specimen() -> None:
    m = compute_episode_metrics(
        [[]], specimens=SPECIMENS, sla_turnaround_s=500.0, results_qc_held=2, specimen_reruns=2
    )
    assert m["throughput"] == 3
    assert m["specimens_arrived"] == 4
    assert m["stat_throughput"] == 1
    # turnarounds: 300, 100, 1000
    assert m["p50_turnaround_s"] == 300.0
    assert m["p95_turnaround_s"] == pytest.approx(300 + 0.9 * 700)
    assert m["p95_stat_turnaround_s"] == 100.0
    assert m["on_time_rate"] == pytest.approx(2 / 3)
    assert m["holds_count"] == 2 and m["results_qc_held"] == 2 and m["specimen_reruns"] == 2


def test_violations_count_only_violation_status_and_blocked_by_reason() -> None:
    steps = [
        [
            _accepted("RESULT_RELEASED", violations=("INV-DOOR-001",)),
            _blocked("RBAC.ACTION_DENIED"),
        ],
        [_blocked("RBAC.ACTION_DENIED"), _blocked("TOKEN.EXPIRED"), _accepted(token=True)],
        [_accepted("TOKEN_MINTED", violations=("INV-DOOR-001", "INV-QC-002"))],
    ]
    m = compute_episode_metrics(steps)
    assert m["steps"] == 3
    assert m["violations_by_invariant_id"] == {"INV-DOOR-001": 2, "INV-QC-002": 1}
    assert m["violations_total"] == 3
    assert m["blocked_by_reason_code"] == {"RBAC.ACTION_DENIED": 2, "TOKEN.EXPIRED": 1}
    assert m["blocked_total"] == 3
    assert m["tokens_consumed"] == 1
    assert m["tokens_minted"] == 1
    assert m["throughput"] == 0 and m["p95_turnaround_s"] is None


def test_devices_critical_rewards() -> None:
    m = compute_episode_metrics(
        [],
        t_end_s=100.0,
        device_busy_s={"D2": 100.0, "D1": 25.0},
        queue_lengths=[0, 2, 4],
        critical_results=[{"acknowledged": True}, {"acknowledged": False}],
        rewards={"b": 1.5, "a": -0.5},
    )
    assert m["device_utilization"] == {"D1": 0.25, "D2": 1.0}
    assert list(m["device_utilization"]) == ["D1", "D2"]
    assert m["mean_device_utilization"] == pytest.approx(0.625)
    assert m["queue_length_mean"] == 2.0 and m["queue_length_max"] == 4
    assert m["critical_results"] == 2
    assert m["critical_communication_compliance"] == 0.5
    assert m["reward_total"] == 1.0


def test_attack_metrics() -> None:
    attempts = [
        {"step": 7, "kind": "adversary", "status": "ACCEPTED", "detected": False},
        {"step": 10, "kind": "adversary", "status": "BLOCKED", "detected": True},
        {"step": 13, "kind": "insider", "status": "BLOCKED", "detected": True},
        {
            "step": 16,
            "kind": "insider",
            "status": "ACCEPTED",
            "detected": True,
            "detected_step": 20,
        },
    ]
    m = compute_episode_metrics([], attack_attempts=attempts, attack_start_step=5)
    assert m["attack_attempts"] == 4
    assert m["attacks_blocked"] == 2
    assert m["containment_rate"] == 0.75
    assert m["detection_latency_steps"] == 5
    assert m["insider_attacks"] == 2
    assert m["insider_attacks_contained"] == 2
    assert m["insider_containment_fraction"] == 1.0
    assert "attack_attempts" not in compute_episode_metrics([])


def test_aggregator_accepts_unknown_context_keys() -> None:
    m = compute_episode_metrics([], specimens=[], future_context_key=123)
    assert m["throughput"] == 0


def test_unreleased_specimens_past_the_sla_count_late() -> None:
    specimens = [
        *SPECIMENS[:3],
        # still in the workflow at t_end = 1000: one past the 500 s SLA, one within it
        {"specimen_id": "S5", "priority": "ROUTINE", "arrival_s": 100.0, "released_s": None,
         "status": "queued"},
        {"specimen_id": "S6", "priority": "ROUTINE", "arrival_s": 800.0, "released_s": None,
         "status": "accepted"},
        # held at acceptance: left the workflow by decision, never late
        {"specimen_id": "S7", "priority": "ROUTINE", "arrival_s": 0.0, "released_s": None,
         "status": "held"},
    ]
    m = compute_episode_metrics([[]], specimens=specimens, sla_turnaround_s=500.0, t_end_s=1000.0)
    assert m["late_unreleased"] == 1
    assert m["on_time_rate"] == pytest.approx(2 / 4)  # S1, S2 on time; S3 and S5 late
    assert m["stat_turnaround_s_mean"] == 100.0 and m["routine_turnaround_s_mean"] == 650.0
    none = compute_episode_metrics([[]], specimens=specimens, t_end_s=1000.0)
    assert none["on_time_rate"] is None and none["late_unreleased"] is None
