"""BenchmarkTask contract, the eight built-in tasks and the registry façades."""

from __future__ import annotations

import pytest

from labtrust_gym.benchmarks.metrics import (
    compute_episode_metrics,
    get_metrics_aggregator,
    list_metrics_aggregators,
    register_metrics_aggregator,
)
from labtrust_gym.benchmarks.official_pack import (
    list_benchmark_pack_loaders,
    load_benchmark_pack,
    register_benchmark_pack_loader,
)
from labtrust_gym.benchmarks.tasks import BenchmarkTask, get_task, list_tasks, register_task
from labtrust_gym.errors import ConfigError, DuplicateRegistrationError, PluginError, UnknownIdError
from tests.benchmarks.builtin_names import BUILTIN_TASKS

BUILTIN = set(BUILTIN_TASKS)


class SeedStyleTask(BenchmarkTask):
    """Written exactly as the extension guide shows."""

    def __init__(self) -> None:
        super().__init__(
            name="seed_style_task",
            max_steps=20,
            scripted_agents=["ops_0", "runner_0"],
            reward_config={"throughput_reward": 1.0},
        )


def test_builtin_tasks_are_registered() -> None:
    assert set(list_tasks()) >= BUILTIN
    for name in BUILTIN:
        task = get_task(name)()
        assert task.name == name
        assert task.max_steps > 0


def test_seed_style_task_registers_and_keeps_its_fields() -> None:
    register_task("seed_style_task", SeedStyleTask)
    assert "seed_style_task" in list_tasks()
    task = get_task("seed_style_task")()
    assert (task.max_steps, list(task.scripted_agents)) == (20, ["ops_0", "runner_0"])
    assert task.describe()["reward_config"] == {"throughput_reward": 1.0}


def test_register_task_rejects_non_tasks_and_duplicates() -> None:
    class NotATask:
        pass

    register_task("not_a_task", NotATask)  # type: ignore[arg-type]
    with pytest.raises(PluginError, match="BenchmarkTask"):
        get_task("not_a_task")
    with pytest.raises(DuplicateRegistrationError):
        register_task("throughput_sla", SeedStyleTask)
    register_task("throughput_sla", SeedStyleTask, replace=True)
    assert get_task("throughput_sla") is SeedStyleTask


def test_unknown_task_suggests() -> None:
    with pytest.raises(UnknownIdError, match="Did you mean 'throughput_sla'"):
        get_task("throughput_slaa")


def test_task_field_validation() -> None:
    with pytest.raises(ConfigError, match="max_steps"):
        BenchmarkTask(name="x", max_steps=0)
    with pytest.raises(ConfigError, match="name"):
        BenchmarkTask(max_steps=3)
    with pytest.raises(ConfigError, match="timing_mode"):
        BenchmarkTask(name="x", timing_mode="warp")
    with pytest.raises(ConfigError, match="scripted_agents"):
        BenchmarkTask(name="x", scripted_agents="ops_0")


def test_task_rng_is_stable_and_purpose_specific() -> None:
    task = get_task("throughput_sla")()
    assert task.rng(3, "a").random() == task.rng(3, "a").random()
    assert task.rng(3, "a").random() != task.rng(4, "a").random()
    assert task.rng(3, "a").random() != task.rng(3, "b").random()


def test_metrics_aggregator_registry() -> None:
    assert "default" in list_metrics_aggregators()
    # handed out wrapped by the plugin table's contract check (what it returns is checked)
    assert get_metrics_aggregator("default").__wrapped__ is compute_episode_metrics

    def custom(step_results_per_step, **context):  # type: ignore[no-untyped-def]
        return {"throughput": 0, "custom": 1}

    register_metrics_aggregator("custom", custom)
    assert get_metrics_aggregator("custom").__wrapped__ is custom
    with pytest.raises(UnknownIdError, match="Known: custom, default"):
        get_metrics_aggregator("nope")


def test_default_pack_loader_and_custom_loader(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert "default" in list_benchmark_pack_loaders()
    pack, version, path = load_benchmark_pack()
    assert version == "0.1" and path.name == "benchmark_pack.v0.1.yaml"
    assert {e["task"] for e in pack["tasks"]} == BUILTIN
    assert len(pack["quick_eval"]) == 3
    pack2, version2, _ = load_benchmark_pack(prefer_v02=True, partner_id="acme")
    assert version2 == "0.2" and pack2["partner_id"] == "acme"

    def loader(repo_root, prefer_v02, partner_id):  # type: ignore[no-untyped-def]
        return {"tasks": [{"task": "x"}]}, "9", tmp_path / "p.yaml"

    register_benchmark_pack_loader("mine", loader)
    assert load_benchmark_pack(loader_id="mine")[1] == "9"


def test_coordination_params_merge_policy_defaults_with_runner_kwargs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import shutil
    from pathlib import Path

    from labtrust_gym.benchmarks.runner import resolve_coord_params
    from labtrust_gym.errors import SchemaValidationError

    policy = tmp_path / "policy"
    shutil.copytree(Path(__file__).resolve().parents[2] / "policy", policy)
    methods = policy / "coordination" / "coordination_methods.v0.1.yaml"
    methods.write_text(
        'version: "0.1"\nmethods:\n  - method_id: m1\n    default_params: {a: 1, b: 2}\n'
    )
    assert resolve_coord_params("m1", tmp_path, {"b": 3, "c": 4}) == {"a": 1, "b": 3, "c": 4}
    assert resolve_coord_params("other", tmp_path, None) == {}
    methods.write_text('version: "0.1"\nmethods:\n  - {method: m1}\n')
    with pytest.raises(SchemaValidationError, match="methods/0"):
        resolve_coord_params("m1", tmp_path, None)
