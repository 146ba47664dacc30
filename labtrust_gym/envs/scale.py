"""Scale presets and the lab generator, at the path the docs and plugins use.

The generator builds hospital_lab labs, so it lives with that domain
(:mod:`labtrust_gym.engine.scale`); this module keeps ``labtrust_gym.envs.scale`` importable.
"""

from __future__ import annotations

from labtrust_gym.engine.scale import (
    ROLE_ORDER,
    SCALE_KEY_SECRET,
    ScaleConfig,
    episode_load,
    generate_initial_state,
    list_scale_configs,
    load_placement,
    load_scale_config,
    load_scale_presets,
    sustainable_rate_per_min,
)

__all__ = [
    "ROLE_ORDER",
    "SCALE_KEY_SECRET",
    "ScaleConfig",
    "episode_load",
    "generate_initial_state",
    "list_scale_configs",
    "load_placement",
    "load_scale_config",
    "load_scale_presets",
    "sustainable_rate_per_min",
]
