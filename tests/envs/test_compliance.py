"""PettingZoo's own API tests on the default lab and on a generated 200-agent lab."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test

from labtrust_gym.envs.aec_env import make_aec_env
from labtrust_gym.envs.parallel_env import LabTrustParallelEnv
from tests.envs.conftest import SCALE_200

LABS: dict[str, dict[str, Any]] = {
    "default": {"max_steps": 40},
    "generated_200": {"scale_config": SCALE_200},
}


@pytest.mark.parametrize("lab", sorted(LABS))
@pytest.mark.parametrize("obs_mode", ["dict", "flat", "box"])
def test_parallel_api(lab: str, obs_mode: str) -> None:
    env = LabTrustParallelEnv(obs_mode=obs_mode, **LABS[lab])
    parallel_api_test(env, num_cycles=1000)


@pytest.mark.parametrize("lab", sorted(LABS))
@pytest.mark.parametrize("obs_mode", ["dict", "box"])
def test_parallel_seed(lab: str, obs_mode: str) -> None:
    def make() -> LabTrustParallelEnv:
        return LabTrustParallelEnv(obs_mode=obs_mode, **LABS[lab])

    parallel_seed_test(make, num_cycles=50)


@pytest.mark.parametrize("lab", sorted(LABS))
@pytest.mark.parametrize("obs_mode", ["dict", "box"])
def test_aec_api(lab: str, obs_mode: str) -> None:
    kwargs = dict(LABS[lab], obs_mode=obs_mode)
    if lab == "generated_200":  # AEC steps one agent at a time: keep the episode short
        kwargs["scale_config"] = {**SCALE_200, "horizon_steps": 3}
    api_test(make_aec_env(**kwargs), num_cycles=10)


def test_observations_always_in_space(scale_env_fn: Callable[..., LabTrustParallelEnv]) -> None:
    import numpy as np

    for mode in ("dict", "flat", "box"):
        env = scale_env_fn(obs_mode=mode)
        obs, _ = env.reset(seed=3)
        rng = np.random.default_rng(0)
        while env.agents:
            for a in env.agents:
                assert env.observation_space(a).contains(obs[a]), (mode, a)
            masks = np.stack([env.action_mask(a) for a in env.agents])
            idx = (rng.random(masks.shape) * masks).argmax(axis=1)
            obs, *_ = env.step(dict(zip(env.agents, idx.tolist(), strict=True)))
