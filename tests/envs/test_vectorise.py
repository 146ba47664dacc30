"""Standard RL tooling consumes obs_mode="flat" without a wrapper of ours (SuperSuit vec envs)."""

from __future__ import annotations

import numpy as np
import pytest

from labtrust_gym.envs.parallel_env import LabTrustParallelEnv

ss = pytest.importorskip("supersuit")


def test_supersuit_markov_vector_env_and_concat() -> None:
    env = LabTrustParallelEnv(max_steps=6, obs_mode="flat")
    n = len(env.possible_agents)
    venv = ss.pettingzoo_env_to_vec_env_v1(env)
    venv = ss.concat_vec_envs_v1(venv, 2, num_cpus=0, base_class="gymnasium")
    obs, _ = venv.reset(seed=0)
    dim = env.observation_space(env.possible_agents[0])["observation"].shape[0]
    assert obs["observation"].shape == (2 * n, dim)
    assert obs["action_mask"].shape == (2 * n, len(env.action_catalog))
    rng = np.random.default_rng(0)
    saw_reset = False
    for _ in range(8):  # crosses the episode end: the vector env auto-resets
        masks = obs["action_mask"]
        actions = (rng.random(masks.shape) * masks).argmax(axis=1)
        obs, rewards, _, truncs, _ = venv.step(actions)
        assert rewards.shape == (2 * n,) and np.isfinite(rewards).all()
        assert obs["observation"].dtype == np.float32
        saw_reset |= bool(truncs.all())
    assert saw_reset
    venv.close()


def test_sb3_style_batch_of_flat_observations() -> None:
    """What an SB3-style trainer does per step: stack every agent's flat obs into one batch that
    the (shared) observation space accepts row by row."""
    env = LabTrustParallelEnv(max_steps=3, obs_mode="flat")
    obs, _ = env.reset(seed=1)
    space = env.observation_space(env.possible_agents[0])
    batch = np.stack([obs[a]["observation"] for a in env.possible_agents])
    assert batch.shape == (len(env.possible_agents), *space["observation"].shape)
    assert all(space["observation"].contains(row) for row in batch)
