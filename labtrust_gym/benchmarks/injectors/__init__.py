"""Risk injectors: one class per ``mechanism`` of ``policy/coordination/risk_injections.v0.2.yaml``,
all behind the :class:`~labtrust_gym.benchmarks.injectors.base.Injector` interface."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import Injector, SecTrace
from .comms import MessageDelay, MessageDrop, ObservationPoison, PlannerDenialOfService
from .identity import Insider, Replay, Spoof
from .lab import DeviceFault, DeviceMisparam, DoorStuck, QCDrift
from .method import Collusion

#: mechanism -> injector class (each class declares the one kind it belongs to).
INJECTORS: dict[str, type[Injector]] = {
    cls.mechanism: cls
    for cls in (
        ObservationPoison,
        MessageDrop,
        MessageDelay,
        PlannerDenialOfService,
        Spoof,
        Replay,
        Insider,
        Collusion,
        DeviceFault,
        QCDrift,
        DeviceMisparam,
        DoorStuck,
    )
}


def build_injector(
    entry: Mapping[str, Any],
    seed: int,
    horizon_steps: int,
    dt_s: float,
    policy_root: str | None = None,
) -> Injector:
    """The injector of policy entry ``entry`` for one episode (seeded by the injection id and
    ``seed``)."""
    cls = INJECTORS[str(entry["mechanism"])]
    injector = cls(entry, seed, horizon_steps, dt_s)
    injector.policy_root = policy_root
    return injector


__all__ = ["INJECTORS", "Injector", "SecTrace", "build_injector"]
