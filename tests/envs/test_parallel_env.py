"""Behaviour of LabTrustParallelEnv: episode end, actions, rewards, infos, time, rendering."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from labtrust_gym.envs.action_contract import (
    ACTION_MOVE,
    ACTION_NOOP,
    ACTION_OPEN_DOOR,
    ACTION_QUEUE_RUN,
    ACTION_START_RUN,
    ACTION_TICK,
)
from labtrust_gym.envs.parallel_env import LabTrustParallelEnv
from labtrust_gym.envs.protocol import BenchmarkEnv
from labtrust_gym.errors import ConfigError, InvalidInputError

EnvFn = Callable[..., LabTrustParallelEnv]
DEFAULT_AGENTS = ["reception_0", "ops_0", "runner_0", "runner_1", "qc_0", "supervisor_0"]


def _noop(env: LabTrustParallelEnv) -> dict[str, int]:
    return dict.fromkeys(env.agents, ACTION_NOOP)


def test_default_lab_agents_and_cached_spaces(default_env_fn: EnvFn) -> None:
    env = default_env_fn()
    assert env.possible_agents == DEFAULT_AGENTS
    a = env.possible_agents[0]
    assert env.observation_space(a) is env.observation_space(a)
    assert env.action_space(a) is env.action_space(a)
    catalog = env.action_catalog
    assert env.action_space(a).n == len(catalog) > 6
    assert [e.name for e in catalog[:6]] == [
        "NOOP", "TICK", "QUEUE_RUN", "MOVE", "OPEN_DOOR", "START_RUN"
    ]
    assert catalog[catalog.index("START_RUN@DEV_CHEM_A1")].action_type == "START_RUN"
    assert isinstance(env, BenchmarkEnv)


def test_flat_mode_has_identical_spaces_for_all_agents(default_env_fn: EnvFn) -> None:
    env = default_env_fn(obs_mode="flat")
    spaces = {id(env.observation_space(a)) for a in env.possible_agents}
    assert len(spaces) == 1
    obs, _ = env.reset(seed=0)
    box = env.observation_space("ops_0")["observation"]
    assert (
        obs["ops_0"]["observation"].shape == box.shape
        and obs["ops_0"]["observation"].dtype == np.float32
    )


def test_episode_truncates_everyone_at_max_steps(default_env_fn: EnvFn) -> None:
    env = default_env_fn(max_steps=7)
    env.reset(seed=1)
    steps = 0
    while env.agents:
        _, _, terms, truncs, _ = env.step(_noop(env))
        steps += 1
        assert not any(terms.values())
    assert steps == 7
    assert all(truncs.values()) and set(truncs) == set(env.possible_agents)
    assert env.agents == []
    with pytest.raises(InvalidInputError, match="reset"):
        env.step({})


def test_time_advances_dt_per_step(default_env_fn: EnvFn) -> None:
    env = default_env_fn(dt_s=5.0)
    env.reset(seed=0)
    for _ in range(4):
        env.step(_noop(env))
    summary = env.get_timing_summary()
    assert summary["sim_time_s"] == pytest.approx(20.0)
    assert summary["steps"] == 4 and summary["dt_s"] == 5.0
    env.reset(seed=0, options={"dt_s": 30})
    env.step(_noop(env))
    assert env.get_timing_summary()["sim_time_s"] == pytest.approx(30.0)
    assert env.get_dt_s() == 30.0


def test_noop_issues_no_event_and_tick_is_logged(default_env_fn: EnvFn) -> None:
    env = default_env_fn()
    env.reset(seed=0)
    length0 = env.engine.chain_head()["length"]
    _, _, _, _, infos = env.step(_noop(env))
    assert env.engine.chain_head()["length"] == length0
    assert all(i["step_result"] is None and i["action_type"] == "NOOP" for i in infos.values())
    _, _, _, _, infos = env.step({**_noop(env), "qc_0": ACTION_TICK})
    assert infos["qc_0"]["step_result"]["status"] == "ACCEPTED"
    assert infos["qc_0"]["action_type"] == "TICK"
    assert env.engine.chain_head()["length"] == length0 + 1
    assert infos["qc_0"]["lab"]["step_results"] == [infos["qc_0"]["step_result"]]


def test_bare_move_goes_to_an_adjacent_allowed_zone(default_env_fn: EnvFn) -> None:
    env = default_env_fn()
    obs, infos = env.reset(seed=0)
    before = infos["runner_0"]["zone_id"]
    assert obs["runner_0"]["action_mask"][ACTION_MOVE] == 1
    _, _, _, _, infos = env.step({**_noop(env), "runner_0": ACTION_MOVE})
    after = infos["runner_0"]["zone_id"]
    assert infos["runner_0"]["step_result"]["status"] == "ACCEPTED"
    assert after in env.engine.policy.neighbors[before]


def test_explicit_action_type_and_action_infos(default_env_fn: EnvFn) -> None:
    env = default_env_fn()
    env.reset(seed=0)
    target = "Z_ACCESSIONING"
    _, rew, _, _, infos = env.step(
        {**_noop(env), "reception_0": {"action_index": ACTION_MOVE, "args": {"to_zone": target}}}
    )
    assert infos["reception_0"]["zone_id"] == target
    # action_infos override an index with any engine event; an unknown result is BLOCKED
    _, rew, _, _, infos = env.step(
        _noop(env),
        action_infos={"ops_0": {"action_type": "RELEASE_RESULT", "args": {"result_id": "R_NOPE"}}},
    )
    res = infos["ops_0"]["step_result"]
    assert res["status"] == "BLOCKED" and res["blocked_reason_code"]
    assert infos["ops_0"]["action_type"] == "RELEASE_RESULT"
    assert rew["ops_0"] == pytest.approx(-0.1)  # default blocked_penalty
    assert rew["qc_0"] == 0.0


def test_masked_out_bare_action_is_blocked_not_a_phantom_noop(default_env_fn: EnvFn) -> None:
    env = default_env_fn()
    obs, _ = env.reset(seed=0)
    # reception may not start runs: the mask says so and the engine refuses it with a reason
    assert obs["reception_0"]["action_mask"][ACTION_START_RUN] == 0
    _, rew, _, _, infos = env.step({**_noop(env), "reception_0": ACTION_START_RUN})
    res = infos["reception_0"]["step_result"]
    assert res["status"] == "BLOCKED" and res["blocked_reason_code"].startswith("RBAC.")
    assert rew["reception_0"] < 0


def test_bad_actions_raise_named_errors(default_env_fn: EnvFn) -> None:
    env = default_env_fn()
    env.reset(seed=0)
    with pytest.raises(InvalidInputError, match="out of range"):
        env.step({**_noop(env), "ops_0": len(env.action_catalog)})
    with pytest.raises(InvalidInputError, match="out of range"):
        env.step({**_noop(env), "ops_0": -1})
    for bad in (2.7, "3", True):
        with pytest.raises(InvalidInputError, match="not an integer"):
            env.step({**_noop(env), "ops_0": bad})
    assert env.num_steps == 0  # refused joint actions do not advance the episode
    with pytest.raises(InvalidInputError, match="Did you mean 'ops_0'"):
        env.step({**_noop(env), "ops_O": 1})
    with pytest.raises(InvalidInputError, match="unknown key"):
        env.step({**_noop(env), "ops_0": {"action_index": 1, "agrs": {}}})
    with pytest.raises(ConfigError, match="obs_mode"):
        LabTrustParallelEnv(obs_mode="pixels")


def test_missing_agents_do_noop(default_env_fn: EnvFn) -> None:
    env = default_env_fn()
    env.reset(seed=0)
    _, rew, _, _, infos = env.step({"qc_0": ACTION_TICK})
    assert infos["ops_0"]["step_result"] is None
    assert set(rew) == set(env.possible_agents)


def _pipeline_state() -> dict[str, Any]:
    from labtrust_gym.engine.initial_state import default_initial_state

    st = default_initial_state(0)
    st["arrivals"] = [
        {"specimen_id": "S1", "t_s": 0, "priority": "STAT", "panel": "CBC", "patient_id": "P1"}
    ]
    return st


def test_bare_indices_move_a_specimen_to_release_and_pay_throughput() -> None:
    """reception accessions+accepts (explicit types), an agent at the haematology analyzer
    queues and starts it with bare indices, ops releases: rewards follow reward_config."""
    cfg = {"throughput_reward": 2.0, "schedule_reward": 0.25, "blocked_penalty": 0.0}
    env = LabTrustParallelEnv(initial_state=_pipeline_state(), max_steps=60, reward_config=cfg)
    env.reset(seed=0)
    noop = _noop(env)
    for atype in ("CREATE_ACCESSION", "ACCEPT_SPECIMEN"):
        _, _, _, _, infos = env.step(
            noop,
            action_infos={"reception_0": {"action_type": atype, "args": {"specimen_id": "S1"}}},
        )
        assert infos["reception_0"]["step_result"]["status"] == "ACCEPTED", infos["reception_0"]
    # walk ops_0 to the haematology analyzer's zone
    hall = env.engine.query("device_state(DEV_HAEM_B1)")["zone_id"]
    while env.engine.query("agent_zone(ops_0)") != hall:
        hop = env.engine.query(f"next_hop({env.engine.query('agent_zone(ops_0)')}, {hall})")
        env.step({**noop, "ops_0": {"action_type": "MOVE", "args": {"to_zone": hop}}})
    obs, rew, _, _, infos = env.step({**noop, "ops_0": ACTION_QUEUE_RUN})
    assert infos["ops_0"]["step_result"]["status"] == "ACCEPTED", infos["ops_0"]
    assert rew["ops_0"] == pytest.approx(0.25)
    assert obs["ops_0"]["action_mask"][ACTION_START_RUN] == 1
    _, rew, _, _, infos = env.step({**noop, "ops_0": ACTION_START_RUN})
    assert infos["ops_0"]["step_result"]["status"] == "ACCEPTED", infos["ops_0"]
    for _ in range(30):  # the haematology run takes its service time
        if "R_S1" in env.engine.query("results(generated)"):
            break
        env.step(noop)
    assert "R_S1" in env.engine.query("results(generated)")
    _, rew, _, _, infos = env.step(
        noop,
        action_infos={"ops_0": {"action_type": "RELEASE_RESULT", "args": {"result_id": "R_S1"}}},
    )
    assert infos["ops_0"]["step_result"]["status"] == "ACCEPTED", infos["ops_0"]
    # the credit rule: accession + accept (reception), queue + start + release (ops): 5 shares
    assert rew["ops_0"] == pytest.approx(2.0 * 3 / 5)
    assert rew["reception_0"] == pytest.approx(2.0 * 2 / 5)
    assert env.get_reward_counters()["released"] == 1


def test_render_and_state(default_env_fn: EnvFn, capsys: pytest.CaptureFixture[str]) -> None:
    env = default_env_fn(render_mode="ansi")
    env.reset(seed=0)
    text = env.render()
    assert isinstance(text, str) and "DEV_CHEM_A1" in text and "t=0s" in text
    s = env.state()
    assert env.state_space.contains(s)
    human = default_env_fn(render_mode="human")
    human.reset(seed=0)
    human.step(_noop(human))
    assert "DEV_CHEM_A1" in capsys.readouterr().out


def test_reset_options_initial_state_and_seed_sequence(default_env_fn: EnvFn) -> None:
    env = default_env_fn()
    env.reset(seed=5)
    assert env.seed_value == 5
    env.reset()
    assert env.seed_value == 6
    st = _pipeline_state()
    env.reset(seed=0, options={"initial_state": st})
    assert env.engine.query("specimens(all)") == ["S1"]
    bad = dict(st, agents=[{"agent_id": "x_0", "role": "ops", "zone_id": "Z_RECEPTION"}])
    with pytest.raises(InvalidInputError, match="different agents"):
        env.reset(seed=0, options={"initial_state": bad})


def test_device_and_zone_accessors(scale_env_fn: EnvFn) -> None:
    env = scale_env_fn()
    env.reset(seed=0)
    ids = env.get_device_ids()
    assert len(ids) == 14 and len(set(ids)) == 14
    assert env.get_zone_ids() == list(env.engine.zone_ids)
    q = env.get_device_queue_lengths()
    assert set(q) == set(ids) and all(v == 0 for v in q.values())


def test_task_object_is_duck_typed() -> None:
    class Task:
        name = "duck"
        max_steps = 3
        reward_config = {"step_cost": 0.5}

        def get_initial_state(self, seed: int) -> dict[str, Any]:
            st = _pipeline_state()
            st["arrivals"][0]["t_s"] = seed
            return st

    env = LabTrustParallelEnv(Task())
    env.reset(seed=2)
    _, rew, _, _, _ = env.step(_noop(env))  # the clock passes t=2: S1 arrives
    assert env.engine.query("specimen(S1)")["arrival_t_s"] == 2
    assert set(rew.values()) == {-0.5}
    n = 1
    while env.agents:
        env.step(_noop(env))
        n += 1
    assert n == 3


@pytest.mark.slow
def test_random_rollout_of_2000_agents_runs() -> None:
    env = LabTrustParallelEnv(scale_config={"base": "xl_2000", "horizon_steps": 5}, obs_mode="flat")
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    steps = 0
    while env.agents:
        masks = np.stack([obs[a]["action_mask"] for a in env.agents])
        idx = (rng.random(masks.shape) * masks).argmax(axis=1)
        obs, rew, _, _, _ = env.step(dict(zip(env.agents, idx.tolist(), strict=True)))
        steps += 1
    assert steps == 5 and len(rew) == 2000
    assert env.engine.chain_head()["length"] > 0


def test_step_restores_the_garbage_collector_state(default_env_fn: EnvFn) -> None:
    import gc

    env = default_env_fn()
    env.reset(seed=0)
    assert gc.isenabled()
    env.step(_noop(env))
    assert gc.isenabled()
    with pytest.raises(InvalidInputError):
        env.step({**_noop(env), "ops_0": 999})
    assert gc.isenabled()
    gc.disable()
    try:
        env.step(_noop(env))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_timing_and_length_options_are_validated(default_env_fn: EnvFn) -> None:
    env = default_env_fn()
    env.reset(seed=0, options={"timing_mode": "simulated"})
    assert env.get_timing_summary()["timing_mode"] == "simulated"
    with pytest.raises(ConfigError, match="timing_mode"):
        env.reset(seed=0, options={"timing_mode": "warp"})
    with pytest.raises(ConfigError, match="dt_s"):
        LabTrustParallelEnv(dt_s=0)
    with pytest.raises(ConfigError, match="max_steps"):
        LabTrustParallelEnv(max_steps=0)


def test_scale_config_sets_horizon_dt_and_timing() -> None:
    env = LabTrustParallelEnv(scale_config={"base": "small_smoke", "horizon_steps": 4, "dt_s": 15})
    assert env.max_steps == 4 and env.get_dt_s() == 15.0
    assert env.get_timing_summary()["timing_mode"] == "explicit"
    assert env.possible_agents == ["reception_0", "runner_0", "ops_0", "qc_0"]


def test_bare_open_door_opens_the_closed_door_at_the_agents_zone(default_env_fn: EnvFn) -> None:
    env = default_env_fn()
    obs, infos = env.reset(seed=0)
    assert infos["runner_0"]["zone_id"] == "Z_PREANALYTICS"
    assert obs["runner_0"]["action_mask"][ACTION_OPEN_DOOR] == 1
    obs, _, _, _, infos = env.step({**_noop(env), "runner_0": ACTION_OPEN_DOOR})
    assert infos["runner_0"]["step_result"]["status"] == "ACCEPTED"
    assert env.engine.query("door_state(D_AIRLOCK_OUTER)")["open"]
    # no closed door is left at the zone: the mask says so, and the observation counts it
    assert obs["runner_0"]["action_mask"][ACTION_OPEN_DOOR] == 0
    assert obs["runner_0"]["observation"]["here"][4] == 0.0


def test_a_domain_without_an_env_side_is_refused_by_name() -> None:
    from labtrust_gym.domain.registry import register_domain
    from labtrust_gym.plugins import reset_plugins

    class Bare:
        def __init__(self, spec: Any, config: Any) -> None:
            pass

        def reset(
            self, initial_state: Any, *, deterministic: bool = True, rng_seed: int = 0
        ) -> None:
            pass

        def step(self, event: Any) -> Any:  # the adapter contract; no domain_env
            return None

        def query(self, expr: str) -> Any:
            return None

    try:
        register_domain("bare_test_domain", Bare)
        with pytest.raises(ConfigError, match=r"'bare_test_domain'.*no domain_env\(options\)"):
            LabTrustParallelEnv(domain_id="bare_test_domain", initial_state={})
        Bare.domain_env = lambda self, options: object()  # type: ignore[attr-defined]
        with pytest.raises(ConfigError, match=r"lacks the DomainEnv member\(s\) reward_signals"):
            LabTrustParallelEnv(domain_id="bare_test_domain", initial_state={})
    finally:
        reset_plugins()


def test_masks_in_observations_are_the_envs_masks(scale_env_fn: EnvFn) -> None:
    env = scale_env_fn()
    obs, _ = env.reset(seed=1)
    catalog = env.action_catalog
    device_cols = catalog.of_type("QUEUE_RUN") + catalog.of_type("START_RUN")
    for _ in range(3):
        stacked = np.stack([obs[a]["action_mask"] for a in env.possible_agents])
        assert all((env.action_mask(a) == obs[a]["action_mask"]).all() for a in env.agents)
        assert (stacked[:, ACTION_NOOP] == 1).all()
        # role-denied actions are never offered: reception may not QUEUE_RUN or START_RUN
        rec = [i for i, a in enumerate(env.possible_agents) if a.startswith("reception_")]
        assert (stacked[rec][:, device_cols] == 0).all()
        obs, *_ = env.step(dict.fromkeys(env.agents, ACTION_MOVE))


@pytest.mark.parametrize(
    "action",
    [
        {"action_type": "QUEUE_RUN", "args": {"device_id": "DEV_HAEM_B1"}},
        {"action_index": ACTION_QUEUE_RUN, "args": {"device_id": "DEV_HAEM_B1"}},
    ],
    ids=["action_type", "action_index"],
)
def test_queue_run_naming_only_the_device_gets_its_next_specimen(action: dict[str, Any]) -> None:
    env = LabTrustParallelEnv(initial_state=_pipeline_state(), max_steps=60)
    env.reset(seed=0)
    noop = _noop(env)
    for atype in ("CREATE_ACCESSION", "ACCEPT_SPECIMEN"):
        env.step(noop, action_infos={
            "reception_0": {"action_type": atype, "args": {"specimen_id": "S1"}}})
    hall = env.engine.query("device_state(DEV_HAEM_B1)")["zone_id"]
    while env.engine.query("agent_zone(ops_0)") != hall:
        hop = env.engine.query(f"next_hop({env.engine.query('agent_zone(ops_0)')}, {hall})")
        env.step({**noop, "ops_0": {"action_type": "MOVE", "args": {"to_zone": hop}}})
    _, _, _, _, infos = env.step({**noop, "ops_0": action})
    result = infos["ops_0"]["step_result"]
    assert result["status"] == "ACCEPTED", result
    assert env.engine.query("queue_head(DEV_HAEM_B1)") == "S1"


def test_reset_with_a_different_device_set_is_refused_and_the_env_stays_safe() -> None:
    from labtrust_gym.engine.initial_state import default_initial_state

    env = LabTrustParallelEnv()
    env.reset(seed=0)
    fewer = default_initial_state(0)
    fewer["devices"] = fewer.get("devices") or [
        dict(d) for d in env.engine.policy.default_devices]
    fewer["devices"] = fewer["devices"][:2]
    with pytest.raises(InvalidInputError, match="devices"):
        env.reset(seed=1, options={"initial_state": fewer})
    with pytest.raises(InvalidInputError, match="reset"):
        env.step({})
    env.reset(seed=2)  # the original lab works again
    assert env.state() in env.state_space


def test_scale_preset_timing_applies_when_the_task_sets_none() -> None:
    from labtrust_gym.benchmarks.tasks import BenchmarkTask

    task = BenchmarkTask(name="scaled", scale_config="medium_stress_signed_bus")
    assert task.timing_mode is None
    env = LabTrustParallelEnv(task=task)
    env.reset(seed=0)
    assert env.get_timing_summary()["timing_mode"] == "simulated"


def test_numpy_booleans_are_not_action_indices() -> None:
    env = LabTrustParallelEnv()
    env.reset(seed=0)
    with pytest.raises(InvalidInputError, match="not an integer action index"):
        env.step(dict.fromkeys(env.agents, np.True_))
