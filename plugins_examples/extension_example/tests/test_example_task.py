"""Tests of example_task written with labtrust_gym.testing (the pytest plugin's fixtures)."""

from __future__ import annotations

import pytest

from labtrust_gym.benchmarks.tasks import get_task
from labtrust_gym.testing import run_steps

pytestmark = pytest.mark.usefixtures("labtrust_plugins")  # fresh, strict plugin manager


def test_entry_point_registers_the_task() -> None:
    from example_plugin.tasks import ExampleTask

    assert get_task("example_task") is ExampleTask


def test_the_scripted_baseline_releases_results() -> None:
    report = run_steps(task="example_task", steps=80, seed=0)
    assert report.steps == 80
    assert report.metrics["throughput"] > 0


def test_initial_state_is_the_default_lab() -> None:
    from example_plugin.tasks import ExampleTask

    state = ExampleTask().get_initial_state(seed=3)
    agents = {a["agent_id"] for a in state["agents"]}
    assert {"ops_0", "runner_0", "runner_1", "qc_0", "supervisor_0"} <= agents
    assert state["arrivals"], "the default lab has a specimen arrival stream"
