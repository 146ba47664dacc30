"""The single-agent Gymnasium env: registered ids, check_env, masks, the scripted rest."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import labtrust_gym.benchmarks.gym_env as gym_env
from labtrust_gym.errors import InvalidInputError


def test_every_task_is_registered_under_its_camel_case_id() -> None:
    ids = gym_env.register_envs()
    assert "LabTrust/ThroughputSla-v0" in ids and "LabTrust/InsiderKeyMisuse-v0" in ids
    assert gym_env.env_id("stat_insertion") == "LabTrust/StatInsertion-v0"


@pytest.mark.parametrize(
    ("task_id", "role"),
    [("LabTrust/ThroughputSla-v0", "ops"), ("LabTrust/InsiderKeyMisuse-v0", "qc")],
)
def test_check_env_passes(task_id: str, role: str) -> None:
    env = gym.make(task_id, role=role)
    check_env(env.unwrapped, skip_render_check=True)
    assert isinstance(env.observation_space, gym.spaces.Box)
    assert env.action_space.n == len(env.unwrapped.action_catalog)


def test_one_agent_acts_the_baseline_runs_the_rest_and_masks_are_true() -> None:
    env = gym.make("LabTrust/ThroughputSla-v0", role="reception")
    inner = env.unwrapped
    assert inner.agent == "reception_0"
    _, info = env.reset(seed=0)
    rng = np.random.default_rng(0)
    blocked = steps = 0
    done = False
    while not done:
        mask = inner.action_masks()
        assert mask.dtype == bool and np.array_equal(mask, info["action_mask"].astype(bool))
        _, _, term, trunc, info = env.step(int(rng.choice(np.flatnonzero(mask))))
        res = info["step_result"]
        blocked += res is not None and res["status"] == "BLOCKED"
        steps += 1
        done = term or trunc
    assert steps == inner.task.max_steps and blocked == 0
    assert inner.env.engine.n_released > 0  # the baseline drove the rest of the lab


def test_same_seed_same_episode() -> None:
    def run() -> list[float]:
        env = gym.make("LabTrust/ThroughputSla-v0", role="ops")
        env.reset(seed=5)
        out = []
        for _ in range(15):
            obs, r, *_ = env.step(1)
            out.append(float(r) + float(obs.sum()))
        return out

    assert run() == run()


def test_unknown_role_or_agent_is_named() -> None:
    with pytest.raises(InvalidInputError, match="roles present"):
        gym_env.LabTrustGymEnv(role="janitor")
    with pytest.raises(InvalidInputError, match="Did you mean 'ops_0'"):
        gym_env.LabTrustGymEnv(agent_id="ops_O")


def test_sb3_mlp_policy_takes_the_box_env_unchanged() -> None:
    """With the rl extra installed: MaskablePPO's MlpPolicy trains on the registered env as is
    (skipped in CI, where the extra is not installed)."""
    sb3_contrib = pytest.importorskip("sb3_contrib")
    env = gym.make("LabTrust/ThroughputSla-v0", role="ops")
    model = sb3_contrib.MaskablePPO("MlpPolicy", env, n_steps=64, batch_size=32, seed=0)
    model.learn(total_timesteps=64)
    obs, _ = env.reset(seed=1)
    action, _ = model.predict(obs, action_masks=env.unwrapped.action_masks())
    assert env.unwrapped.action_masks()[int(action)]
