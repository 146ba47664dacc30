"""labtrust_gym.testing: isolation, self-removing registrations, the step runner's contract
checks, and the pytest plugin as a plugin author's test suite sees it."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from labtrust_gym import config, plugins
from labtrust_gym.baselines.coordination.interface import CoordinationMethod
from labtrust_gym.benchmarks.tasks import BenchmarkTask, list_tasks
from labtrust_gym.errors import DuplicateRegistrationError, PluginError
from labtrust_gym.testing import (
    ContractViolation,
    check_actions,
    isolated_plugins,
    registered,
    run_steps,
)


class ShortTask(BenchmarkTask):
    def __init__(self) -> None:
        super().__init__(name="short_task", max_steps=40, scripted_agents=["ops_0"],
                         reward_config={})


class Returns(CoordinationMethod):
    """A method returning whatever ``make(obs, t)`` builds."""

    def __init__(self, make: Any) -> None:
        self.make = make

    @property
    def method_id(self) -> str:
        return "returns"

    def propose_actions(self, obs: Any, infos: Any, t: int) -> Any:
        return self.make(obs, t)


def factory_of(make: Any) -> Any:
    return lambda policy, repo_root, scale_config, params: Returns(make)


def test_isolated_plugins_is_fresh_and_restores_the_previous_manager() -> None:
    from labtrust_gym.benchmarks.tasks import register_task

    register_task("outer_task", ShortTask)
    config.set_active_profile(config.LabProfile(profile_id="outer"))
    with isolated_plugins(installed=False):
        assert "outer_task" not in list_tasks() and "throughput_sla" in list_tasks()
        assert plugins.is_strict()
        assert config.get_active_profile().profile_id == "default"
        register_task("inner_task", ShortTask)
    assert "outer_task" in list_tasks() and "inner_task" not in list_tasks()
    assert config.get_active_profile().profile_id == "outer"


def test_registered_adds_for_the_block_only() -> None:
    with registered("tasks", "short_task", ShortTask) as obj:
        assert obj is ShortTask and "short_task" in list_tasks()
        with pytest.raises(DuplicateRegistrationError):
            plugins.registry("tasks").register("short_task", object)
    assert "short_task" not in list_tasks()
    with pytest.raises(PluginError, match="not registered at run time"):
        plugins.registry("tasks").unregister("throughput_sla")


def test_run_steps_runs_a_task_for_n_steps_through_the_runner() -> None:
    report = run_steps(task=ShortTask, steps=40, seed=3)
    assert report.steps == 40 and report.coord_method is None
    assert report.results["seeds"] == [3]
    assert report.metrics["throughput"] > 0
    assert "short_task" not in list_tasks()  # the temporary registrations are gone


def test_run_steps_counts_a_methods_proposals() -> None:
    noop = factory_of(lambda obs, t: {a: {"action_index": 0, "action_type": "NOOP"} for a in obs})
    report = run_steps(task="coord_scale", coord_method=noop, scale="small_smoke", steps=6)
    assert (report.steps, report.proposals, report.masked) == (6, 24, 0)
    assert report.metrics["throughput"] == 0


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda obs, t: [0] * len(obs), "returned list; expected a mapping"),
        (lambda obs, t: {"ghost_0": 0}, "'ghost_0', which is not an agent"),
        (lambda obs, t: {a: "NOOP" for a in obs}, "expected an int action index or a dict"),
        (lambda obs, t: {a: {"args": {}} for a in obs}, "neither 'action_index' nor"),
        (lambda obs, t: {a: {"action_index": -1} for a in obs}, "non-negative int"),
        (lambda obs, t: {a: {"action_index": 10_000} for a in obs}, "out of range"),
    ],
    ids=["not-a-mapping", "unknown-agent", "string-action", "empty-dict", "negative", "too-big"],
)
def test_run_steps_reports_the_broken_contract(make: Any, message: str) -> None:
    with pytest.raises(ContractViolation, match=message) as info:
        run_steps(task="coord_scale", coord_method=factory_of(make), scale="small_smoke", steps=3)
    assert "returns.propose_actions, step 0" in str(info.value)


def test_a_task_whose_lab_changes_between_calls_is_reported() -> None:
    class Flaky(ShortTask):
        def get_initial_state(self, seed: int, calibration: Any = None,
                              policy_root: Any = None) -> dict[str, Any]:
            state = super().get_initial_state(seed, calibration, policy_root)
            state["note"] = random.random()  # not a function of the seed
            return state

    with pytest.raises(ContractViolation, match="pure function of the seed"):
        run_steps(task=Flaky, steps=2)


def test_check_actions_counts_masked_indices() -> None:
    obs = {"a": {"action_mask": [1, 1, 0]}, "b": {"action_mask": [1, 0, 0]}}
    assert check_actions({"a": 2, "b": {"action_index": 0}}, obs, 5) == (2, 1)


@pytest.mark.slow
def test_the_pytest_plugin_gives_plugin_authors_fixtures(tmp_path: Path) -> None:
    (tmp_path / "test_mine.py").write_text(textwrap.dedent("""
        import pytest
        from labtrust_gym.benchmarks.tasks import BenchmarkTask, list_tasks
        from labtrust_gym import plugins

        class T(BenchmarkTask):
            def __init__(self):
                super().__init__(name="t", max_steps=3, scripted_agents=[], reward_config={})

        def test_fresh_and_strict(labtrust_builtin_plugins, labtrust_registered):
            assert plugins.is_strict()
            with labtrust_registered("tasks", "mine", T):
                assert "mine" in list_tasks()
            assert "mine" not in list_tasks()

        def test_installed(labtrust_plugins):
            assert "throughput_sla" in list_tasks()
    """))
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             str(tmp_path / "test_mine.py")], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
