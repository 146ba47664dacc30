"""Tests of full_plugin_example written with labtrust_gym.testing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labtrust_gym.config import apply_profile, profile_sources
from labtrust_gym.testing import run_steps

pytestmark = pytest.mark.usefixtures("labtrust_plugins")


def test_the_profile_comes_from_the_plugin_policy_layer() -> None:
    _path, layer = profile_sources()["full_example"]
    assert layer.kind == "plugin" and layer.plugin == "full_plugin_example"


def test_profile_run_adds_costs_and_checks_queue_depth() -> None:
    apply_profile("full_example")
    report = run_steps(task="full_example_stat_rush", steps=90, seed=1)
    metrics = report.metrics
    assert metrics["throughput"] > 0
    assert metrics["staff_cost"] > 0
    assert metrics["cost_per_release"] == pytest.approx(
        metrics["staff_cost"] / metrics["throughput"], abs=0.01
    )
    assert metrics["violations_by_invariant_id"].get("INV-FULLEX-001", 0) > 0


def test_a_user_layer_overrides_the_plugin_cost_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_profile("full_example")
    base = run_steps(task="full_example_stat_rush", steps=30, seed=1).metrics["staff_cost"]
    costs = tmp_path / "policy" / "full_example"
    costs.mkdir(parents=True)
    doubled = {"version": "0.1", "hourly_cost_by_role": {"default": 0.0, "reception": 60.0,
               "runner": 56.0, "ops": 90.0, "qc": 100.0, "supervisor": 130.0}}
    (costs / "costs.v0.1.yaml").write_text(json.dumps(doubled))  # JSON is YAML
    monkeypatch.chdir(tmp_path)
    again = run_steps(task="full_example_stat_rush", steps=30, seed=1).metrics["staff_cost"]
    assert again == pytest.approx(2 * base, abs=0.02)
