"""The ``BenchmarkEnv`` protocol: what the benchmark runner needs from an environment.

``LabTrustParallelEnv`` implements it; a plugin's own env needs at least ``agents``, ``reset``,
``step``, ``get_device_ids``, ``get_zone_ids`` and ``get_dt_s`` when coordination or timing is
used. The protocol is ``runtime_checkable`` so the runner can verify an env factory's product.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class BenchmarkEnv(Protocol):
    """Structural type of an environment the runner can drive."""

    @property
    def agents(self) -> list[str]:
        """Agents still acting in the current episode (empty once the episode is over)."""
        ...

    def reset(
        self, seed: int | None = None, options: Mapping[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start an episode; returns ``(observations, infos)`` keyed by agent id."""
        ...

    def step(
        self,
        actions: Mapping[str, Any],
        action_infos: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> tuple[dict[str, Any], dict[str, float], dict[str, bool], dict[str, bool], dict[str, Any]]:
        """Apply one joint action; returns ``(obs, rewards, terminations, truncations, infos)``."""
        ...

    def get_device_ids(self) -> list[str]:
        """Device ids of the lab, in the engine's index order."""
        ...

    def get_zone_ids(self) -> list[str]:
        """Zone ids of the lab, in the engine's index order."""
        ...

    def get_dt_s(self) -> float:
        """Simulated seconds that one env step advances the clock."""
        ...

    def get_timing_summary(self) -> dict[str, Any]:
        """Timing of the episode so far: mode, dt_s, steps, simulated seconds elapsed."""
        ...

    def get_device_queue_lengths(self) -> dict[str, int]:
        """Current queue length per device id."""
        ...

    def close(self) -> None:
        """Release resources."""
        ...
