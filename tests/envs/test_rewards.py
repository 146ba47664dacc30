"""Reward computation from reward_config, on synthetic step results."""

from __future__ import annotations

import pytest

from labtrust_gym.envs.rewards import RewardAccumulator, RewardConfig
from labtrust_gym.errors import InvalidInputError

OK = {"status": "ACCEPTED", "emits": [], "violations": []}


def test_pass_is_not_a_violation_and_penalties_are_magnitudes() -> None:
    cfg = RewardConfig.from_mapping(
        {
            "violation_penalty": -2.0,
            "blocked_penalty": 0.5,
            "throughput_reward": 3.0,
            "schedule_reward": 0.1,
        }
    )
    acc = RewardAccumulator(cfg)
    results = [
        {**OK, "violations": [{"invariant_id": "INV-1", "status": "PASS", "reason_code": None}]},
        {
            **OK,
            "violations": [{"invariant_id": "INV-2", "status": "VIOLATION", "reason_code": "X"}],
        },
        {
            "status": "BLOCKED",
            "blocked_reason_code": "RBAC.ACTION_DENIED",
            "emits": [],
            "violations": [],
        },
        {**OK, "emits": ["RESULT_RELEASED", "TOKEN_CONSUMED"]},
        OK,
    ]
    r = acc.compute(
        6, [0, 1, 2, 3, 4], ["TICK", "MOVE", "START_RUN", "RELEASE_RESULT", "QUEUE_RUN"], results
    )
    assert r.tolist() == pytest.approx([0.0, -2.0, -0.5, 3.0, 0.1, 0.0])
    assert (acc.violations, acc.blocked, acc.released, acc.scheduled) == (1, 1, 1, 1)


def test_step_cost_is_charged_to_everyone() -> None:
    acc = RewardAccumulator(RewardConfig.from_mapping({"step_cost": 0.01}))
    assert acc.compute(3, [], [], []).tolist() == pytest.approx([-0.01] * 3)


def test_empty_config_uses_defaults_and_typos_are_refused() -> None:
    assert RewardConfig.from_mapping({}) == RewardConfig.from_mapping(None)
    with pytest.raises(InvalidInputError, match="Did you mean 'blocked_penalty'"):
        RewardConfig.from_mapping({"blocked_penalt": 1})
    with pytest.raises(InvalidInputError, match="number"):
        RewardConfig.from_mapping({"step_cost": "a lot"})
