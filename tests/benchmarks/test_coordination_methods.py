"""The coordination methods through the real runner: contract, determinism, behaviour, scale."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from labtrust_gym.baselines.coordination.builtin_plugin import BUILTIN_METHODS
from labtrust_gym.benchmarks.builtin_tasks import CoordScale
from labtrust_gym.benchmarks.runner import NothingReleasedWarning, run_benchmark
from labtrust_gym.errors import InvalidInputError
from labtrust_gym.plugins import registry
from labtrust_gym.testing import registered, run_steps

# noop (and short runs of others) release nothing by design: the warning is tested on its own
pytestmark = pytest.mark.filterwarnings(
    "ignore::labtrust_gym.benchmarks.runner.NothingReleasedWarning"
)

REFERENCE = ("noop", "random")
NON_REFERENCE = tuple(m for m in BUILTIN_METHODS if m not in REFERENCE)
#: metrics compared between methods (a method is "different" if any of these differs)
SIGNATURE = (
    "throughput",
    "turnaround_s_mean",
    "coord_moves",
    "coord_cell_conflicts",
    "coord_edge_conflicts",
    "coord_swap_conflicts",
    "coord_idle_rate",
    "coord_work_gini",
    "coord_stale_decision_rate",
    "coord_planning_work_per_step",
    "coord_combine_conflicts",
)


class CoordScale5(CoordScale):
    """coord_scale limited to 5 steps (module level: jobs are pickled for worker processes)."""

    name = "coord_scale_5"
    max_steps = 5


def _limited(steps: int) -> type[CoordScale]:
    class Short(CoordScale):
        name = f"coord_scale_{steps}"
        max_steps = steps

    return Short


def test_every_registered_method_is_listed_in_policy_and_registered() -> None:
    ids = registry("coordination_methods").ids()
    assert set(BUILTIN_METHODS) <= set(ids)
    from labtrust_gym.baselines.coordination.policy import load_method_entries

    entries = load_method_entries()
    for method_id in BUILTIN_METHODS:
        entry = entries[method_id]
        assert entry["description"] and entry["coordination_class"] and entry["known_weaknesses"]


@pytest.mark.parametrize("method", sorted(BUILTIN_METHODS))
def test_contract_five_steps_valid_and_deterministic(method: str) -> None:
    """Five steps with valid actions (never a masked-out index), the same results twice."""
    first = run_steps(task="coord_scale", coord_method=method, steps=5, scale="small_smoke")
    second = run_steps(task="coord_scale", coord_method=method, steps=5, scale="small_smoke")
    assert first.steps == 5
    assert first.masked == 0  # every built-in method chooses masked-in entries only
    assert json.dumps(first.results, sort_keys=True) == json.dumps(second.results, sort_keys=True)


def test_every_method_gives_the_same_bytes_with_two_workers(tmp_path: Path) -> None:
    task = CoordScale5
    with registered("tasks", task.name, task):
        for method in sorted(registry("coordination_methods").ids()):
            outs = []
            for workers in (1, 2):
                out = tmp_path / f"{method}_{workers}.json"
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", NothingReleasedWarning)
                    run_benchmark(
                        task.name, 2, 7, out, coord_method=method, scale="small_smoke",
                        workers=workers,
                    )
                outs.append(out.read_bytes())
            assert outs[0] == outs[1], method


def _run_all(scale: str, steps: int) -> dict[str, dict[str, Any]]:
    task = _limited(steps)
    out: dict[str, dict[str, Any]] = {}
    for method in sorted(BUILTIN_METHODS):
        report = run_steps(task=task, coord_method=method, steps=steps, scale=scale)
        assert report.masked == 0, method
        out[method] = report.metrics
    return out


def _check_behaviour(metrics: dict[str, dict[str, Any]]) -> None:
    for method in NON_REFERENCE:
        assert metrics[method]["throughput"] > 0, method
    assert metrics["noop"]["throughput"] == 0
    # space: the reservation-table kernel never has a move refused for space
    whca = metrics["kernel_whca"]
    assert whca["coord_cell_conflicts"] == whca["coord_edge_conflicts"] == 0
    assert whca["coord_swap_conflicts"] == 0
    # every method behaves measurably differently from every other and from the references
    signatures = {m: tuple(metrics[m][k] for k in SIGNATURE) for m in metrics}
    for a in signatures:
        for b in signatures:
            if a < b:
                assert signatures[a] != signatures[b], (a, b)


def test_methods_differ_and_work_at_small_smoke() -> None:
    _check_behaviour(_run_all("small_smoke", 60))


@pytest.mark.slow
def test_methods_differ_and_work_at_corridor_heavy() -> None:
    metrics = _run_all("corridor_heavy", 40)
    _check_behaviour(metrics)
    # the references make moves the engine refuses for space; random most of all
    assert metrics["random"]["coord_swap_conflicts"] > 0


@pytest.mark.slow
def test_methods_differ_and_work_at_large_1000_on_the_per_agent_path() -> None:
    metrics = _run_all("large_1000", 30)
    _check_behaviour(metrics)
    for method in ("centralized_planner", "kernel_centralized_edf", "kernel_whca",
                   "hierarchical_hub_rr", "llm_agent", "llm_central_planner",
                   "llm_hierarchical"):
        assert metrics[method]["coord_per_agent_path_steps"] == 30, method
    for method in ("scripted", "random", "noop"):
        assert metrics[method]["coord_per_agent_path_steps"] == 0, method


@pytest.mark.slow
def test_scale_path_at_xl_2000() -> None:
    for method in ("kernel_whca", "centralized_planner"):
        report = run_steps(task=_limited(8), coord_method=method, steps=8, scale="xl_2000")
        m = report.metrics
        assert m["coord_per_agent_path_steps"] == 8
        assert report.masked == 0
        assert m["coord_combine_conflicts"] is not None and m["coord_combine_conflicts"] >= 0
        if method == "kernel_whca":
            assert m["coord_cell_conflicts"] == m["coord_edge_conflicts"] == 0
            assert m["coord_swap_conflicts"] == 0


def test_a_method_that_cannot_act_at_this_n_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above max_agents, a method that is not scale_capable refuses: never a silent fallback."""
    from labtrust_gym.baselines.coordination.builtin_plugin import FACTORIES

    layer = tmp_path / "policy" / "coordination"
    layer.mkdir(parents=True)
    (layer / "coordination_methods.v0.1.yaml").write_text(
        'version: "0.1"\nmethods:\n  - {method_id: tiny_planner, max_agents: 2, '
        "scale_capable: false}\n"
    )
    monkeypatch.setenv("LABTRUST_POLICY_DIR", str(tmp_path / "policy"))
    with registered(
        "coordination_methods", "tiny_planner", FACTORIES["centralized_planner"]
    ), pytest.raises(InvalidInputError, match=r"at most 2 agents.*not scale_capable.*4"):
        run_benchmark("coord_scale", 1, 0, None, coord_method="tiny_planner", scale="small_smoke")


def test_a_run_that_releases_nothing_warns_naming_the_method() -> None:
    task = _limited(3)
    with registered("tasks", task.name, task), pytest.warns(
        NothingReleasedWarning, match="'noop' released nothing"
    ):
        run_benchmark(task.name, 1, 0, None, coord_method="noop", scale="small_smoke")


def test_compute_budget_caps_planning_work() -> None:
    free = run_steps(task="coord_scale", coord_method="kernel_whca", steps=20, scale="small_smoke")
    task = _limited(20)
    with registered("tasks", task.name, task):
        doc = run_benchmark(task.name, 1, 0, None, coord_method="kernel_whca",
                            scale="small_smoke", compute_budget=2)
    capped = doc["episodes"][0]["metrics"]
    assert doc["config"]["coord_params"]["compute_budget"] == 2
    assert capped["coord_planning_work_per_step"] < free.metrics["coord_planning_work_per_step"]
