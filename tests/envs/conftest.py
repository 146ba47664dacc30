"""Shared fixtures: env factories for the default lab and a generated 200-agent lab."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from labtrust_gym.envs.parallel_env import LabTrustParallelEnv

#: a short generated lab of 200 agents (corridor_heavy's mix) for compliance tests
SCALE_200: dict[str, Any] = {"base": "corridor_heavy", "horizon_steps": 25}


@pytest.fixture
def default_env_fn() -> Callable[..., LabTrustParallelEnv]:
    def make(**kw: Any) -> LabTrustParallelEnv:
        kw.setdefault("max_steps", 40)
        return LabTrustParallelEnv(**kw)

    return make


@pytest.fixture
def scale_env_fn() -> Callable[..., LabTrustParallelEnv]:
    def make(**kw: Any) -> LabTrustParallelEnv:
        kw.setdefault("scale_config", SCALE_200)
        return LabTrustParallelEnv(**kw)

    return make
