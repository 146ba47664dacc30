"""Tests of example_noop_coord written with labtrust_gym.testing."""

from __future__ import annotations

import pytest

from labtrust_gym.baselines.coordination.registry import get_coordination_method_factory
from labtrust_gym.testing import run_steps

pytestmark = pytest.mark.usefixtures("labtrust_plugins")


def test_entry_point_registers_the_factory() -> None:
    from example_coord_plugin.method import factory

    assert get_coordination_method_factory("example_noop_coord") is factory


def test_every_agent_gets_a_noop_and_nothing_is_released() -> None:
    report = run_steps(task="coord_scale", coord_method="example_noop_coord",
                       scale="small_smoke", steps=10)
    assert report.steps == 10
    assert report.proposals == 4 * 10  # small_smoke has four agents, all driven by the method
    assert report.masked == 0  # NOOP is always allowed
    assert report.metrics["throughput"] == 0
