"""Reward computation from reward_config, on synthetic step results."""

from __future__ import annotations

import pytest

from labtrust_gym.domain.protocol import RewardSignals
from labtrust_gym.envs.rewards import RewardAccumulator, RewardConfig
from labtrust_gym.errors import ConfigError, InvalidInputError

OK = {"status": "ACCEPTED", "emits": [], "violations": []}
#: hospital_lab's signals (its DomainEnv's reward_signals)
HOSPITAL = RewardSignals(
    release_emits=frozenset({"RESULT_RELEASED"}),
    progress_actions=frozenset({"QUEUE_RUN", "START_RUN"}),
)


def test_pass_is_not_a_violation_and_penalties_are_magnitudes() -> None:
    cfg = RewardConfig.from_mapping(
        {
            "violation_penalty": -2.0,
            "blocked_penalty": 0.5,
            "throughput_reward": 3.0,
            "schedule_reward": 0.1,
        }
    )
    acc = RewardAccumulator(cfg, signals=HOSPITAL)
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


def test_violations_go_to_the_responsible_agent_or_the_whole_team() -> None:
    acc = RewardAccumulator(RewardConfig.from_mapping({"violation_penalty": 1.0}))
    viol = {"invariant_id": "INV-ZONE-004", "status": "VIOLATION", "reason_code": "X"}
    results = [{**OK, "violations": [viol]}, {**OK, "violations": [viol]}]
    # agent 0's event found both; agent 3 opened the door, nobody is responsible for the other
    r = acc.compute(4, [0, 0], ["TICK", "TICK"], results, responsible=[3, None])
    assert r.tolist() == pytest.approx([-0.25, -0.25, -0.25, -1.25])
    assert acc.violations == 2


def test_a_release_pays_every_step_of_its_credit_trail() -> None:
    acc = RewardAccumulator(RewardConfig.from_mapping({"throughput_reward": 1.0}))
    released = {**OK, "emits": ["RESULT_RELEASED"]}
    # accession and accept by 0, queue and start by 1, release by 2
    r = acc.compute(3, [2], ["RELEASE_RESULT"], [released], credits=[[0, 0, 1, 1, 2]])
    assert r.tolist() == pytest.approx([0.4, 0.4, 0.2])
    assert acc.released == 1


def test_team_mode_gives_everyone_the_teams_reward() -> None:
    acc = RewardAccumulator(
        RewardConfig.from_mapping({"blocked_penalty": 0.5}), mode="team", signals=HOSPITAL
    )
    blocked = {"status": "BLOCKED", "blocked_reason_code": "X", "emits": [], "violations": []}
    r = acc.compute(3, [0, 2], ["QUEUE_RUN", "TICK"], [{**OK}, blocked])
    assert r.tolist() == pytest.approx([0.1 - 0.5] * 3)
    with pytest.raises(ConfigError, match="reward_mode"):
        RewardAccumulator(RewardConfig(), mode="teams")


def test_in_the_env_a_door_left_open_is_charged_to_its_opener() -> None:
    from labtrust_gym.envs.parallel_env import LabTrustParallelEnv

    env = LabTrustParallelEnv(max_steps=30, dt_s=10.0, reward_config={"violation_penalty": 2.0})
    env.reset(seed=0)
    noop = dict.fromkeys(env.agents, 0)
    open_door = env.action_catalog.index("OPEN_DOOR@D_AIRLOCK_OUTER")
    _, rew, *_ = env.step({**noop, "runner_0": open_door})  # max_open_s 60: overdue at t > 60
    for _ in range(7):
        _, rew, *_ = env.step({**noop, "qc_0": 1})  # qc's TICKs find the overdue door
        if env.get_reward_counters()["violations"]:
            break
    assert env.get_reward_counters()["violations"] == 1
    assert rew["runner_0"] == pytest.approx(-2.0) and rew["qc_0"] == 0.0
    log = env.engine.violation_log[-1]
    assert log["agent_id"] == "qc_0" and log["responsible_agent_id"] == "runner_0"


@pytest.mark.parametrize("mode", ["individual", "team"])
def test_in_the_env_a_release_pays_its_trail_or_the_team(mode: str) -> None:
    from labtrust_gym.engine.initial_state import default_initial_state
    from labtrust_gym.envs.parallel_env import LabTrustParallelEnv

    st = default_initial_state(0, n_specimens=0)
    st["arrivals"] = [{"specimen_id": "S1", "t_s": 0, "priority": "STAT", "panel": "CBC",
                       "patient_id": "P1"}]
    cfg = {"throughput_reward": 1.0, "schedule_reward": 0.0, "blocked_penalty": 0.0}
    env = LabTrustParallelEnv(initial_state=st, max_steps=60, reward_mode=mode,
                              reward_config=cfg)
    env.reset(seed=0)
    cat = env.action_catalog
    noop = dict.fromkeys(env.agents, 0)
    steps = [("reception_0", "CREATE_ACCESSION@next"), ("reception_0", "ACCEPT_SPECIMEN@next"),
             ("ops_0", "MOVE@Z_ANALYZER_HALL_B"), ("ops_0", "QUEUE_RUN@DEV_HAEM_B1"),
             ("ops_0", "START_RUN@DEV_HAEM_B1")]
    for agent, entry in steps:
        _, rew, _, _, infos = env.step({**noop, agent: cat.index(entry)})
        assert infos[agent]["step_result"]["status"] == "ACCEPTED", (entry, infos[agent])
    while not env.action_mask("qc_0")[cat.index("RELEASE_RESULT@next")]:
        env.step(noop)
    _, rew, *_ = env.step({**noop, "qc_0": cat.index("RELEASE_RESULT@next")})
    if mode == "individual":  # accession + accept; queue + start; release: five shares
        assert rew["reception_0"] == pytest.approx(0.4) and rew["ops_0"] == pytest.approx(0.4)
        assert rew["qc_0"] == pytest.approx(0.2) and rew["runner_0"] == 0.0
    else:
        assert all(r == pytest.approx(1.0) for r in rew.values())


def test_a_domain_says_what_counts_as_a_release_and_as_progress() -> None:
    signals = RewardSignals(
        release_emits=frozenset({"ORDER_RELEASED"}), progress_actions=frozenset({"COMPOUND"})
    )
    acc = RewardAccumulator(RewardConfig(), signals=signals)
    results = [{**OK, "emits": ["ORDER_RELEASED"]}, OK, {**OK, "emits": ["RESULT_RELEASED"]}]
    r = acc.compute(3, [0, 1, 2], ["CHECK", "COMPOUND", "QUEUE_RUN"], results)
    assert r.tolist() == pytest.approx([1.0, 0.1, 0.0])  # another domain's names pay nothing
    assert (acc.released, acc.scheduled) == (1, 1)
