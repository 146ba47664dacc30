"""The env's observation spaces around a domain's own (docs/envs.md "Observations")."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces


def action_mask_space(k: int) -> spaces.Box:
    """One int8 flag per catalog entry."""
    return spaces.Box(0, 1, (k,), np.int8)


def observation_space(domain: Any, obs_mode: str, k: int) -> spaces.Space[Any]:
    """An agent's observation space in ``obs_mode``: ``box`` is the domain's flat vector;
    ``dict`` and ``flat`` put the action mask beside the domain's named fields or flat vector."""
    inner: spaces.Space[Any] = domain.observation_space("dict" if obs_mode == "dict" else "box")
    if obs_mode == "box":
        return inner
    return spaces.Dict({"observation": inner, "action_mask": action_mask_space(k)})
