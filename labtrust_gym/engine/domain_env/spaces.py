"""Observation and state spaces of a hospital lab (built once per env, then cached)."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from labtrust_gym.engine.domain_env.views import N_HERE, SELF_FIELDS, LabViews


def dict_observation_space(v: LabViews) -> spaces.Dict:
    """``Dict(role, zone, self, here, doors, queues, work, lab, time)`` (docs/envs.md)."""
    return spaces.Dict(
        {
            "role": spaces.Box(0, 1, (v.r,), np.int8),
            "zone": spaces.Box(0, 1, (v.z,), np.int8),
            "self": spaces.Box(0.0, 1.0, (len(SELF_FIELDS),), np.float32),
            "here": spaces.Box(0.0, np.inf, (N_HERE,), np.float32),
            "doors": spaces.Box(0, 1, (2 * v.nd,), np.int8),
            "queues": spaces.Box(0.0, np.inf, (v.t,), np.float32),
            "work": spaces.Box(0.0, np.inf, (v.t,), np.float32),
            "lab": spaces.Box(0.0, np.inf, (v.nl,), np.float32),
            "time": spaces.Box(0.0, 1.0, (1,), np.float32),
        }
    )


def box_observation_space(v: LabViews) -> spaces.Box:
    """The flat observation: one float32 ``Box`` of the dict fields concatenated in order."""
    dim = v.flat_dim
    high = np.full(dim, np.inf, dtype=np.float32)
    for name in ("role", "zone", "self", "doors", "time"):  # one-hots, flags and fractions
        high[v.slices[name]] = 1.0
    return spaces.Box(np.zeros(dim, dtype=np.float32), high, (dim,), np.float32)


def state_space(v: LabViews) -> spaces.Box:
    """Centralised-critic state: see :meth:`HospitalDomainEnv.state`."""
    dim = state_dim(v)
    return spaces.Box(0.0, np.inf, (dim,), np.float32)


def state_dim(v: LabViews) -> int:
    return v.n + v.z + 3 * v.d + v.t + 1
