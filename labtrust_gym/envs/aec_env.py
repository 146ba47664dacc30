"""The AEC view of :class:`LabTrustParallelEnv`, through PettingZoo's own conversion.

Agents act in ``possible_agents`` order; the joint action is applied once the last live agent
has acted, exactly as the parallel env would apply it.
"""

from __future__ import annotations

from typing import Any

from pettingzoo.utils.conversions import parallel_to_aec

from labtrust_gym.envs.parallel_env import LabTrustParallelEnv


def make_aec_env(task: Any = None, **kwargs: Any) -> Any:
    """An AEC env over ``LabTrustParallelEnv(task, **kwargs)`` (same keyword arguments)."""
    return parallel_to_aec(LabTrustParallelEnv(task, **kwargs))

