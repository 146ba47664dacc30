"""Every value a plugin returns is checked where it enters: a wrong one is a PluginError naming
the registration, its plugin and distribution and the expected shape — before the run starts
where that is possible, at the latest when the first episode ends (never after all of them)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from labtrust_gym.benchmarks.metrics import compute_episode_metrics, register_metrics_aggregator
from labtrust_gym.benchmarks.runner import run_benchmark
from labtrust_gym.benchmarks.tasks import BenchmarkTask
from labtrust_gym.config import LabProfile, set_active_profile
from labtrust_gym.errors import PluginError, SchemaValidationError
from tests.core.fakes import fake_entry_point, install_entry_points, write_module

BAD_PLUGIN = """
class NotAnAdapter:
    def reset(self, initial_state, *, deterministic=True, rng_seed=0):
        pass

def domain(workflow_spec, config):
    return NotAnAdapter()

class Suite:
    def load_suite(self, policy_root, partner_id):
        return ["not", "a", "dict"]
    def run_suite(self, policy_root, repo_root, **kwargs):
        return [{"attack": 1}, "oops"]

class Case:
    def load_claims(self, policy_root):
        return {"claims": []}
    def build_safety_case(self, policy_root):
        return None

def pack_loader(repo_root, prefer_v02, partner_id):
    return {"tasks": []}, "0.1"

def list_pack_loader(repo_root, prefer_v02, partner_id):
    return ["not", "a", "dict"], "0.1", "pack.yaml"
"""


@pytest.fixture
def bad_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The objects above, installed as entry points of the distribution ``bad-dist`` 2.5."""
    write_module(tmp_path, monkeypatch, "badplug", BAD_PLUGIN)
    eps = [
        ("labtrust_gym.domains", "bad_domain", "badplug:domain"),
        ("labtrust_gym.security_suite_providers", "bad_suite", "badplug:Suite"),
        ("labtrust_gym.safety_case_providers", "bad_case", "badplug:Case"),
        ("labtrust_gym.benchmark_pack_loaders", "short_pack", "badplug:pack_loader"),
        ("labtrust_gym.benchmark_pack_loaders", "list_pack", "badplug:list_pack_loader"),
    ]
    install_entry_points(
        monkeypatch, *(fake_entry_point(g, n, v, "bad-dist", "2.5") for g, n, v in eps)
    )


def _attributed(message: str, ident: str) -> None:
    assert f"{ident!r}" in message and "distribution bad-dist 2.5" in message, message
    assert "expected" in message, message


def test_a_domain_factory_returning_a_non_adapter_is_refused_before_any_step(
    bad_dist: None, tmp_path: Path
) -> None:
    set_active_profile(LabProfile(profile_id="p", domain_id="bad_domain"))
    with pytest.raises(PluginError) as info:
        run_benchmark("throughput_sla", 2, 0, tmp_path / "r.json")
    _attributed(str(info.value), "bad_domain")
    assert "lacks a 'step' method and a 'query' method" in str(info.value)
    assert "reset, step and query" in str(info.value)
    assert not (tmp_path / "r.json").exists()


def test_an_unknown_domain_in_the_profile_is_refused_before_any_episode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labtrust_gym.benchmarks import runner
    from labtrust_gym.errors import UnknownIdError

    monkeypatch.setattr(runner, "run_jobs", lambda *a, **k: pytest.fail("an episode ran"))
    set_active_profile(LabProfile(profile_id="p", domain_id="no_such_domain"))
    with pytest.raises(UnknownIdError, match="Unknown domain 'no_such_domain'"):
        run_benchmark("throughput_sla", 1, 0, tmp_path / "r.json", workers=2)


def test_provider_methods_returning_the_wrong_shape_are_refused_on_the_call(
    bad_dist: None,
) -> None:
    from labtrust_gym.benchmarks.security_runner import get_security_suite_provider
    from labtrust_gym.security.safety_case import get_safety_case_provider

    suite = get_security_suite_provider("bad_suite")
    with pytest.raises(PluginError, match=r"load_suite\(\) returned list") as info:
        suite.load_suite(Path("."), None)
    _attributed(str(info.value), "bad_suite")
    with pytest.raises(PluginError, match="a list whose item 1 is str 'oops'"):
        suite.run_suite(Path("."), Path("."))
    case = get_safety_case_provider("bad_case")
    assert case.load_claims(Path(".")) == {"claims": []}  # a good value passes untouched
    with pytest.raises(PluginError, match=r"build_safety_case\(\) returned NoneType") as info:
        case.build_safety_case(Path("."))
    _attributed(str(info.value), "bad_case")


@pytest.mark.parametrize(("loader", "shown"), [("short_pack", "tuple"), ("list_pack", "list")])
def test_a_pack_loader_returning_the_wrong_tuple_is_refused(
    bad_dist: None, loader: str, shown: str
) -> None:
    from labtrust_gym.benchmarks.official_pack import load_benchmark_pack

    with pytest.raises(PluginError, match=r"expected a tuple \(pack_dict, version, path\)") as info:
        load_benchmark_pack(loader_id=loader)
    _attributed(str(info.value), loader)
    assert f"returned a tuple whose pack_dict is {shown}" in str(info.value) or (
        f"returned {shown}" in str(info.value)
    )


class _Counting:
    """An aggregator that returns ``bad`` after computing the real metrics; counts its calls."""

    def __init__(self, bad: Any) -> None:
        self.bad = bad
        self.calls = 0

    def __call__(self, step_results_per_step: Any, **context: Any) -> Any:
        self.calls += 1
        metrics = compute_episode_metrics(step_results_per_step, **context)
        return self.bad(metrics) if callable(self.bad) else self.bad


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (["not", "a", "dict"], "returned list"),
        (lambda m: {**m, "throughput": math.nan}, "metric 'throughput' = nan, not a finite"),
        (lambda m: {**m, "label": "fast"}, "metric 'label' = str 'fast' (metrics are numbers"),
        (lambda m: {**m, "by_zone": {1: 2}}, "metric 'by_zone' = a dict with the key 1"),
        (lambda m: {**m, "nested": [1, {"x": math.inf}]}, "metric 'nested' = [{'x': inf, not"),
    ],
    ids=["list", "nan", "string", "int-key", "nested-inf"],
)
def test_a_bad_aggregator_value_stops_the_run_after_the_first_episode(
    bad: Any, message: str, tmp_path: Path
) -> None:
    aggregator = _Counting(bad)
    register_metrics_aggregator("bad_metrics", aggregator)
    set_active_profile(LabProfile(profile_id="p", metrics_aggregator_id="bad_metrics"))
    with pytest.raises(PluginError) as info:
        run_benchmark("throughput_sla", 5, 0, tmp_path / "r.json")
    assert aggregator.calls == 1
    text = str(info.value)
    assert message in text and "Metrics aggregator 'bad_metrics'" in text, text
    assert "from plugin 'runtime:metrics_aggregators:bad_metrics'" in text
    assert "expected a dict {metric name: finite number" in text
    assert not (tmp_path / "r.json").exists()


def test_numpy_scalars_are_refused_by_name() -> None:
    import numpy as np

    from labtrust_gym.contracts import are_metrics

    assert "int64" in str(are_metrics({"throughput": np.int64(3)}))
    assert are_metrics({"throughput": 3, "mean": np.float64(0.5), "ok": True, "x": None}) is None


def test_metrics_missing_from_the_schema_fail_at_the_first_episode(tmp_path: Path) -> None:
    aggregator = _Counting({"released": 3})  # no throughput: the results schemas require it
    register_metrics_aggregator("no_throughput", aggregator)
    set_active_profile(LabProfile(profile_id="p", metrics_aggregator_id="no_throughput"))
    with pytest.raises(SchemaValidationError, match=r"Episode seed 0.*'throughput' is a required"):
        run_benchmark("throughput_sla", 5, 0, tmp_path / "r.json")
    assert aggregator.calls == 1


def test_a_bad_aggregator_with_workers_stops_the_run_and_writes_nothing(tmp_path: Path) -> None:
    register_metrics_aggregator("bad_metrics", _Counting(["nope"]))
    set_active_profile(LabProfile(profile_id="p", metrics_aggregator_id="bad_metrics"))
    with pytest.raises(PluginError, match=r"Metrics aggregator 'bad_metrics'.*returned list"):
        run_benchmark("throughput_sla", 4, 0, tmp_path / "r.json", workers=2)
    assert list(tmp_path.iterdir()) == []


def test_an_aggregator_that_cannot_take_the_context_is_refused_before_the_run(
    tmp_path: Path,
) -> None:
    calls: list[int] = []

    def no_context(step_results_per_step):  # type: ignore[no-untyped-def]
        calls.append(1)
        return {"throughput": 0}

    register_metrics_aggregator("no_context", no_context)
    set_active_profile(LabProfile(profile_id="p", metrics_aggregator_id="no_context"))
    with pytest.raises(PluginError, match=r"cannot be called as aggregator\(step_results_per_step"):
        run_benchmark("throughput_sla", 2, 0, tmp_path / "r.json")
    assert calls == []


def test_the_runner_passes_exactly_the_documented_context(tmp_path: Path) -> None:
    from labtrust_gym.benchmarks.metrics import CONTEXT_KEYS

    seen: dict[str, Any] = {}

    def spy(step_results_per_step, **context):  # type: ignore[no-untyped-def]
        seen.update(context)
        return compute_episode_metrics(step_results_per_step, **context)

    register_metrics_aggregator("spy", spy)
    set_active_profile(LabProfile(profile_id="p", metrics_aggregator_id="spy"))
    run_benchmark("throughput_sla", 1, 0, None)
    assert sorted(seen) == sorted(CONTEXT_KEYS)


def test_a_coordination_factory_returning_a_non_method_names_its_plugin(tmp_path: Path) -> None:
    from labtrust_gym.baselines.coordination.registry import register_coordination_method

    def factory(policy, repo_root, scale_config, params):  # type: ignore[no-untyped-def]
        return {"method_id": "not an object"}

    register_coordination_method("dict_method", factory)
    with pytest.raises(PluginError) as info:
        run_benchmark("throughput_sla", 1, 0, tmp_path / "r.json", coord_method="dict_method")
    text = str(info.value)
    assert "Coordination method 'dict_method'" in text and "returned a dict" in text
    assert "lacks a 'method_id' string and a 'propose_actions' method" in text
    assert "plugin 'runtime:coordination_methods:dict_method'" in text


class _ListProposer:
    method_id = "lister"

    def reset(self, seed: int, policy: Any, scale_config: Any) -> None:
        pass

    def propose_actions(self, obs: Any, infos: Any, t: int) -> Any:
        return [0 for _ in obs]

    def on_step_result(self, results: Any) -> None:
        pass

    def on_episode_end(self, metrics: Any) -> None:
        pass


class _HugeIndex(_ListProposer):
    def propose_actions(self, obs: Any, infos: Any, t: int) -> Any:
        return {agent: 99 for agent in obs}


class _Ghost(_ListProposer):
    def propose_actions(self, obs: Any, infos: Any, t: int) -> Any:
        return {"ghost_0": 2}


def test_what_a_coordination_method_proposes_is_checked_and_attributed(tmp_path: Path) -> None:
    from labtrust_gym.baselines.coordination.registry import register_coordination_method
    from labtrust_gym.errors import InvalidInputError

    register_coordination_method("lister", lambda policy, root, scale, params: _ListProposer())
    register_coordination_method("huge", lambda policy, root, scale, params: _HugeIndex())
    register_coordination_method("ghost", lambda policy, root, scale, params: _Ghost())
    with pytest.raises(PluginError, match="Step 0: coordination method 'lister' returned list"):
        run_benchmark("throughput_sla", 1, 0, None, coord_method="lister")
    with pytest.raises(InvalidInputError, match="Step 0: actions from coordination method 'ghost'"):
        run_benchmark("throughput_sla", 1, 0, None, coord_method="ghost")
    # an index outside the catalog is the shield's: NOOP, counted (docs/coordination.md, Shield)
    metrics = run_benchmark("throughput_sla", 1, 0, None, coord_method="huge")["episodes"][0][
        "metrics"
    ]
    assert metrics["shield_blocks"] == metrics["shield_proposals"] > 0
    assert metrics["shield_blocks_by_reason"] == {"SHIELD.INVALID_INDEX": metrics["shield_blocks"]}


class _SkipsInit(BenchmarkTask):
    name = "skips_init"

    def __init__(self) -> None:  # never calls super().__init__, so nothing checked its fields
        self.max_steps = "ten"  # type: ignore[assignment]


class _BadSla(BenchmarkTask):
    name = "bad_sla"
    sla_turnaround_s = "fast"  # type: ignore[assignment]

    def __init__(self) -> None:  # no super().__init__ either
        pass


@pytest.mark.parametrize(
    ("task_class", "message"),
    [
        (_SkipsInit, "'max_steps' must be a positive integer, got 'ten'"),
        (_BadSla, "'sla_turnaround_s' must be None or a positive number"),
    ],
)
def test_a_task_instance_breaking_the_task_contract_is_refused_before_any_episode(
    task_class: type, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labtrust_gym.benchmarks import runner
    from labtrust_gym.benchmarks.tasks import register_task

    monkeypatch.setattr(runner, "run_jobs", lambda *a, **k: pytest.fail("an episode ran"))
    register_task(task_class.name, task_class)
    with pytest.raises(PluginError) as info:
        run_benchmark(task_class.name, 1, 0, tmp_path / "r.json")
    text = str(info.value)
    assert message in text and f"Task {task_class.name!r}" in text, text
    assert f"plugin 'runtime:tasks:{task_class.name}'" in text


def test_good_plugin_values_pass_through_unchanged(tmp_path: Path) -> None:
    def extra(step_results_per_step, **context):  # type: ignore[no-untyped-def]
        metrics = compute_episode_metrics(step_results_per_step, **context)
        metrics["by_agent"] = {"ops_0": [1, 2.5, None, True]}
        return metrics

    register_metrics_aggregator("extra", extra)
    set_active_profile(LabProfile(profile_id="p", metrics_aggregator_id="extra"))
    doc = run_benchmark("throughput_sla", 2, 0, tmp_path / "r.json", workers=2)
    assert doc["episodes"][1]["metrics"]["by_agent"] == {"ops_0": [1, 2.5, None, True]}
