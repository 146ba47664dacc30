"""Multi-agent environments over any registered domain (default ``hospital_lab``).

* :mod:`labtrust_gym.envs.action_contract` — action indices, the catalog types (no heavy imports);
* :class:`LabTrustParallelEnv` — the PettingZoo Parallel env (``labtrust_gym.envs.parallel_env``),
  driving a domain through its env side (:class:`labtrust_gym.domain.protocol.DomainEnv`);
* :func:`make_aec_env` — the AEC view through PettingZoo's conversion;
* :class:`BenchmarkEnv` — the protocol the benchmark runner depends on;
* :mod:`labtrust_gym.envs.scale` — scale presets and hospital_lab's lab generator.

Exports are resolved lazily so that ``import labtrust_gym.envs.action_contract`` (done by plugins
and the CLI) never imports numpy, gymnasium or pettingzoo.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labtrust_gym.engine.scale import ScaleConfig, generate_initial_state, load_scale_config
    from labtrust_gym.envs.aec_env import make_aec_env
    from labtrust_gym.envs.parallel_env import LabTrustParallelEnv
    from labtrust_gym.envs.protocol import BenchmarkEnv

_LAZY = {
    "LabTrustParallelEnv": "labtrust_gym.envs.parallel_env",
    "make_aec_env": "labtrust_gym.envs.aec_env",
    "BenchmarkEnv": "labtrust_gym.envs.protocol",
    "ScaleConfig": "labtrust_gym.engine.scale",
    "generate_initial_state": "labtrust_gym.engine.scale",
    "load_scale_config": "labtrust_gym.engine.scale",
}

__all__ = [
    "BenchmarkEnv",
    "LabTrustParallelEnv",
    "ScaleConfig",
    "generate_initial_state",
    "load_scale_config",
    "make_aec_env",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'labtrust_gym.envs' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
