"""The worked plugins in plugins_examples/, installed with pip and driven through the CLI as the
seed guide and their READMEs show; assertions are on what the commands write.

When the examples are installed in this environment (``.ci/run`` installs them) the tests use
them as they are; otherwise the session installs them once into a throwaway directory."""

from __future__ import annotations

import importlib.metadata as metadata
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = {
    "extension_example": "example-plugin",
    "coord_method_example": "example-coord-plugin",
    "full_plugin_example": "full-plugin-example",
    "domain_example": "pharmacy-domain-example",
}

Labtrust = Callable[..., subprocess.CompletedProcess[str]]

pytestmark = pytest.mark.slow


def _installed(dist: str) -> bool:
    try:
        metadata.distribution(dist)
    except metadata.PackageNotFoundError:
        return False
    return True


@pytest.fixture(scope="session")
def labtrust(tmp_path_factory: pytest.TempPathFactory) -> Labtrust:
    """Run ``labtrust`` (as ``python -m labtrust_gym``) with the examples importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABTRUST_")}
    if not all(_installed(d) for d in EXAMPLES.values()):
        site = tmp_path_factory.mktemp("examples_site")
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
             "--no-build-isolation", "--target", str(site),
             *(str(REPO / "plugins_examples" / name) for name in EXAMPLES)],
            check=True, capture_output=True, timeout=600,
        )
        env["PYTHONPATH"] = os.pathsep.join([str(site), str(REPO)])

    def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "labtrust_gym", *args], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=600)

    return run


def test_every_example_has_a_readme_and_a_versioned_pyproject() -> None:
    import tomllib

    for name, dist in EXAMPLES.items():
        root = REPO / "plugins_examples" / name
        project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
        assert (project["name"], project["dependencies"]) == (dist, ["labtrust-gym[env]"])
        assert project["version"]
        assert (root / "README.md").read_text().startswith(f"# {dist}")
    assert (REPO / "examples" / "extension_example" / "pyproject.toml").is_file()  # seed path


def test_seed_command_example_profile_runs_example_task(labtrust: Labtrust, tmp_path: Path) -> None:
    result = labtrust("--profile", "example", "run-benchmark", "--task", "example_task",
                      "--episodes", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["task"] == "example_task" and doc["partner_id"] == "example_partner"
    assert doc["config"]["task_config"]["max_steps"] == 80
    assert doc["episodes"][0]["metrics"]["throughput"] > 0  # the example task releases results


def test_seed_command_noop_coordination_method(labtrust: Labtrust, tmp_path: Path) -> None:
    result = labtrust("run-benchmark", "--task", "coord_scale", "--coord-method",
                      "example_noop_coord", "--scale", "small_smoke", "--episodes", "1", "--out",
                      "results.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["agent_baseline_id"] == "coord:example_noop_coord"
    assert (doc["config"]["coord_method"], doc["config"]["scale"]) == (
        "example_noop_coord", "small_smoke")
    metrics = doc["episodes"][0]["metrics"]
    assert metrics["throughput"] == 0 and metrics["steps"] > 0  # everybody idled


def test_full_plugin_profile_metrics_invariant_and_command(
    labtrust: Labtrust, tmp_path: Path
) -> None:
    listed = labtrust("list", "profiles", cwd=tmp_path)
    assert "full_example\tplugin full_plugin_example" in listed.stdout.splitlines()
    run = labtrust("--profile", "full_example", "run-benchmark", "--task",
                   "full_example_stat_rush", "--episodes", "1", "--seed", "1", "--out", "r.json",
                   cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["config"]["metrics_aggregator_id"] == "full_example_costs"
    metrics = doc["episodes"][0]["metrics"]
    assert metrics["staff_cost"] > 0 and metrics["throughput"] > 0
    assert metrics["violations_by_invariant_id"]["INV-FULLEX-001"] > 0
    report = labtrust("full-example-costs", "--in", "r.json", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    header, row = report.stdout.splitlines()
    assert header.split("\t") == ["seed", "released", "staff_cost", "cost_per_release"]
    seed, released, cost, _per = row.split("\t")
    assert (int(seed), int(released), float(cost)) == (
        1, metrics["throughput"], metrics["staff_cost"])
    plain = labtrust("run-benchmark", "--task", "full_example_stat_rush", "--episodes", "1",
                     "--out", "plain.json", cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr
    plain_metrics = json.loads((tmp_path / "plain.json").read_text())["episodes"][0]["metrics"]
    assert "staff_cost" not in plain_metrics  # the profile is what selects the aggregator
    assert "INV-FULLEX-001" not in plain_metrics["violations_by_invariant_id"]


def test_domain_example_runs_a_benchmark_on_its_own_domain(
    labtrust: Labtrust, tmp_path: Path
) -> None:
    domains = labtrust("list", "domains", cwd=tmp_path)
    assert domains.stdout.split() == ["hospital_lab", "pharmacy"], domains.stderr
    run = labtrust("--profile", "pharmacy", "run-benchmark", "--task", "pharmacy_compounding",
                   "--episodes", "2", "--out", "r.json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    assert (doc["config"]["domain_id"], doc["partner_id"]) == ("pharmacy", "pharmacy_partner")
    for episode in doc["episodes"]:
        metrics = episode["metrics"]
        assert metrics["throughput"] > 0 and metrics["turnaround_s_mean"] > 0
    refused = labtrust("run-benchmark", "--task", "pharmacy_compounding", "--episodes", "1",
                       cwd=tmp_path)
    assert refused.returncode != 0
    assert "runs on domain 'pharmacy'" in refused.stderr and "Traceback" not in refused.stderr
