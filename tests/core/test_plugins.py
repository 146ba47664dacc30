"""The plugin manager: three ways in, lazy entry points, and every failure mode reported."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from labtrust_gym import plugins
from labtrust_gym.benchmarks.tasks import BenchmarkTask, get_task, list_tasks, register_task
from labtrust_gym.errors import (
    DuplicateRegistrationError,
    PluginError,
    PluginLoadError,
    UnknownIdError,
)
from tests.core.fakes import (
    TASK_MODULE,
    fake_entry_point,
    install_entry_points,
    problems_text,
    write_module,
)


@pytest.fixture
def task_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    write_module(tmp_path, monkeypatch, "fakeplug_tasks", TASK_MODULE)
    return "fakeplug_tasks"


def test_builtins_are_ordinary_plugins_registered_first() -> None:
    plugins.load_plugins()
    infos = plugins.plugin_infos()
    builtin = [i.name for i in infos if i.source == "builtin"]
    assert "labtrust_gym.cli.plugins_cmd" in builtin
    assert builtin == [m for m in plugins.BUILTIN_PLUGINS if m in builtin]
    assert infos[0].source == "builtin"


def test_builtin_plugins_are_healthy(monkeypatch: pytest.MonkeyPatch) -> None:
    install_entry_points(monkeypatch)
    assert [p.describe() for p in plugins.doctor()] == []


def test_load_plugins_is_idempotent_and_resettable(
    monkeypatch: pytest.MonkeyPatch, task_module: str
) -> None:
    install_entry_points(
        monkeypatch, fake_entry_point("labtrust_gym.tasks", "fake_task", f"{task_module}:FakeTask")
    )
    plugins.load_plugins()
    count = len(plugins.plugin_infos())
    plugins.load_plugins()
    assert len(plugins.plugin_infos()) == count
    plugins.reset_plugins()
    install_entry_points(monkeypatch)
    assert "fake_task" not in list_tasks()


def test_entry_point_task_is_listed_without_import_and_loaded_on_resolve(
    monkeypatch: pytest.MonkeyPatch, task_module: str
) -> None:
    install_entry_points(
        monkeypatch,
        fake_entry_point(
            "labtrust_gym.tasks", "fake_task", f"{task_module}:FakeTask", "fake-tasks"
        ),
    )
    assert "fake_task" in list_tasks()
    assert task_module not in sys.modules  # listing does not import the plugin
    task_class = get_task("fake_task")
    assert issubclass(task_class, BenchmarkTask)
    assert task_class().name == "fake_task"
    info = next(i for i in plugins.plugin_infos() if i.name == "labtrust_gym.tasks:fake_task")
    assert (info.source, info.distribution, info.version) == ("entrypoint", "fake-tasks", "1.0")


def test_import_failure_is_attributed_and_others_still_load(
    monkeypatch: pytest.MonkeyPatch, task_module: str
) -> None:
    install_entry_points(
        monkeypatch,
        fake_entry_point(
            "labtrust_gym.tasks", "broken_task", "no_such_module_xyz:Task", "broken-dist", "0.3"
        ),
        fake_entry_point("labtrust_gym.tasks", "fake_task", f"{task_module}:FakeTask"),
    )
    with pytest.raises(PluginLoadError) as info:
        get_task("broken_task")
    message = str(info.value)
    for part in (
        "broken-dist",
        "0.3",
        "labtrust_gym.tasks: broken_task = no_such_module_xyz:Task",
        "ModuleNotFoundError",
    ):
        assert part in message
    assert get_task("fake_task")().name == "fake_task"
    found = plugins.doctor()
    assert [p.plugin for p in found if p.plugin not in plugins.BUILTIN_PLUGINS] == [
        "labtrust_gym.tasks:broken_task"
    ]


def test_plugin_module_import_failure_is_reported(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, task_module: str
) -> None:
    write_module(tmp_path, monkeypatch, "fakeplug_crash", "raise RuntimeError('boom at import')")
    install_entry_points(
        monkeypatch,
        fake_entry_point("labtrust_gym", "crashy", "fakeplug_crash", "crashy-dist", "2.0"),
        fake_entry_point("labtrust_gym.tasks", "fake_task", f"{task_module}:FakeTask"),
    )
    plugins.load_plugins()
    text = problems_text()
    assert "crashy" in text and "crashy-dist 2.0" in text and "boom at import" in text
    assert "fake_task" in list_tasks()


def test_wrong_hook_signature_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    write_module(
        tmp_path,
        monkeypatch,
        "fakeplug_badsig",
        """
        from labtrust_gym.hookspecs import hookimpl

        @hookimpl
        def labtrust_register_tasks(register, surprise_argument):
            pass
    """,
    )
    install_entry_points(monkeypatch, fake_entry_point("labtrust_gym", "badsig", "fakeplug_badsig"))
    plugins.load_plugins()
    assert "invalid hook implementation" in problems_text()
    assert "surprise_argument" in problems_text()
    assert "badsig" not in [i.name for i in plugins.plugin_infos()]


def test_misspelled_hook_is_reported_with_suggestion(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write_module(
        tmp_path,
        monkeypatch,
        "fakeplug_typo",
        """
        from labtrust_gym.hookspecs import hookimpl

        @hookimpl
        def labtrust_register_taks(register):
            register("never", object)
    """,
    )
    install_entry_points(monkeypatch, fake_entry_point("labtrust_gym", "typo", "fakeplug_typo"))
    plugins.load_plugins()
    text = problems_text()
    assert "unknown hook(s) labtrust_register_taks" in text
    assert "Did you mean 'labtrust_register_tasks'?" in text


def test_malformed_entry_point_value_is_reported(
    monkeypatch: pytest.MonkeyPatch, task_module: str
) -> None:
    install_entry_points(
        monkeypatch,
        fake_entry_point("labtrust_gym.tasks", "malformed", "not a valid value!", "mal-dist"),
        fake_entry_point("labtrust_gym.tasks", "fake_task", f"{task_module}:FakeTask"),
    )
    assert list_tasks().count("fake_task") == 1
    assert "malformed" not in list_tasks()
    assert "malformed entry-point value" in problems_text() and "mal-dist" in problems_text()


def test_hook_raising_is_attributed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    write_module(
        tmp_path,
        monkeypatch,
        "fakeplug_raises",
        """
        from labtrust_gym.hookspecs import hookimpl

        @hookimpl
        def labtrust_register_tasks(register):
            raise ValueError("cannot register today")
    """,
    )
    install_entry_points(monkeypatch, fake_entry_point("labtrust_gym", "raiser", "fakeplug_raises"))
    list_tasks()
    assert (
        "hook labtrust_register_tasks raised ValueError: cannot register today" in problems_text()
    )


def test_duplicate_ids_from_two_providers_name_both(
    monkeypatch: pytest.MonkeyPatch, task_module: str
) -> None:
    install_entry_points(
        monkeypatch,
        fake_entry_point("labtrust_gym.tasks", "fake_task", f"{task_module}:FakeTask", "first-d"),
        fake_entry_point("labtrust_gym.tasks", "fake_task", f"{task_module}:OtherTask", "second-d"),
    )
    assert get_task("fake_task")().name == "fake_task"  # the first provider keeps the id
    text = problems_text()
    assert "first-d" in text and "second-d" in text and "already provided" in text


def test_duplicate_ids_are_fatal_in_strict_mode(
    monkeypatch: pytest.MonkeyPatch, task_module: str
) -> None:
    monkeypatch.setenv("LABTRUST_STRICT_PLUGINS", "1")
    install_entry_points(
        monkeypatch,
        fake_entry_point("labtrust_gym.tasks", "fake_task", f"{task_module}:FakeTask", "first-d"),
        fake_entry_point("labtrust_gym.tasks", "fake_task", f"{task_module}:OtherTask", "second-d"),
    )
    with pytest.raises(DuplicateRegistrationError, match="second-d"):
        list_tasks()


def test_identical_duplicate_is_a_no_op(monkeypatch: pytest.MonkeyPatch, task_module: str) -> None:
    install_entry_points(
        monkeypatch,
        fake_entry_point("labtrust_gym.tasks", "fake_task", f"{task_module}:FakeTask", "a-dist"),
        fake_entry_point("labtrust_gym.tasks", "fake_task", f"{task_module}:FakeTask", "b-dist"),
    )
    assert list_tasks().count("fake_task") == 1
    assert plugins.problems() == []


def test_strict_mode_makes_import_failure_fatal(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write_module(tmp_path, monkeypatch, "fakeplug_crash2", "import no_such_dependency_abc")
    install_entry_points(monkeypatch, fake_entry_point("labtrust_gym", "crashy", "fakeplug_crash2"))
    plugins.set_strict(True)
    with pytest.raises(PluginLoadError, match="no_such_dependency_abc"):
        plugins.load_plugins()


def test_disable_plugins_blocks_by_name_and_distribution(
    monkeypatch: pytest.MonkeyPatch, task_module: str
) -> None:
    monkeypatch.setenv("LABTRUST_DISABLE_PLUGINS", "fake_task, Other_Dist")
    install_entry_points(
        monkeypatch,
        fake_entry_point("labtrust_gym.tasks", "fake_task", f"{task_module}:FakeTask"),
        fake_entry_point(
            "labtrust_gym.tasks", "other_task", f"{task_module}:OtherTask", "other-dist"
        ),
    )
    assert "fake_task" not in list_tasks() and "other_task" not in list_tasks()
    assert set(plugins.blocked_plugins()) == {
        "labtrust_gym.tasks:fake_task",
        "labtrust_gym.tasks:other_task",
    }


def test_runtime_registration_rules(task_module: str) -> None:
    module = __import__(task_module)
    register_task("rt_task", module.FakeTask)
    register_task("rt_task", module.FakeTask)  # same object: no-op
    assert get_task("rt_task") is module.FakeTask
    with pytest.raises(DuplicateRegistrationError) as info:
        register_task("rt_task", module.OtherTask)
    assert "runtime:tasks:rt_task" in str(info.value) and "replace=True" in str(info.value)
    register_task("rt_task", module.OtherTask, replace=True)
    assert get_task("rt_task") is module.OtherTask
    info_names = [i.name for i in plugins.plugin_infos() if i.source == "runtime"]
    assert info_names == ["runtime:tasks:rt_task"]


def test_runtime_replace_overrides_an_entry_point(
    monkeypatch: pytest.MonkeyPatch, task_module: str
) -> None:
    install_entry_points(
        monkeypatch,
        fake_entry_point("labtrust_gym.tasks", "fake_task", f"{task_module}:FakeTask", "ep-dist"),
    )
    module = __import__(task_module)
    with pytest.raises(DuplicateRegistrationError, match="ep-dist"):
        register_task("fake_task", module.OtherTask)
    register_task("fake_task", module.FakeTask)  # the same class the entry point names: no-op
    register_task("fake_task", module.OtherTask, replace=True)
    assert get_task("fake_task") is module.OtherTask


def test_unknown_id_lists_known_ids_with_suggestion(task_module: str) -> None:
    register_task("fake_task", __import__(task_module).FakeTask)
    with pytest.raises(UnknownIdError) as info:
        get_task("fake_tsak")
    assert "Known:" in str(info.value) and "fake_task" in str(info.value)
    assert "Did you mean 'fake_task'?" in str(info.value)


def test_task_must_subclass_benchmark_task(task_module: str) -> None:
    register_task("not_a_task", dict)  # type: ignore[arg-type]
    with pytest.raises(PluginLoadError, match="must be a class deriving from"):
        get_task("not_a_task")


class _Suite:
    def load_suite(self, policy_root, partner_id):  # type: ignore[no-untyped-def]
        return {"partner": partner_id}

    def run_suite(self, policy_root, repo_root, **kwargs):  # type: ignore[no-untyped-def]
        return []


@pytest.mark.parametrize(
    "provider", [_Suite(), _Suite, lambda: _Suite()], ids=["instance", "class", "factory"]
)
def test_security_provider_instance_class_or_factory(provider: object) -> None:
    from labtrust_gym.benchmarks.security_runner import (
        get_security_suite_provider,
        list_security_suite_providers,
        register_security_suite_provider,
    )

    register_security_suite_provider("test_suite", provider)
    assert "test_suite" in list_security_suite_providers()
    resolved = get_security_suite_provider("test_suite")
    assert resolved.load_suite(Path("."), "p1") == {"partner": "p1"}
    assert get_security_suite_provider("test_suite") is resolved  # resolved once


def test_provider_missing_methods_is_an_error() -> None:
    from labtrust_gym.security.safety_case import (
        get_safety_case_provider,
        register_safety_case_provider,
    )

    class HalfCase:
        def load_claims(self, policy_root):  # type: ignore[no-untyped-def]
            return {}

    register_safety_case_provider("half", HalfCase)
    with pytest.raises(PluginLoadError, match="build_safety_case"):
        get_safety_case_provider("half")


def test_non_callable_factory_is_an_error() -> None:
    from labtrust_gym.baselines.coordination.registry import (
        get_coordination_method_factory,
        register_coordination_method,
    )

    register_coordination_method("bad_method", "not callable")  # type: ignore[arg-type]
    with pytest.raises(PluginError, match="must be callable"):
        get_coordination_method_factory("bad_method")


def test_pluggy_group_module_registers_several_kinds(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, task_module: str
) -> None:
    write_module(
        tmp_path,
        monkeypatch,
        "fakeplug_multi",
        f"""
        from labtrust_gym.hookspecs import hookimpl
        from {task_module} import FakeTask

        def metric(*args, **kwargs):
            return {{"custom": 1}}

        def check(env, event, params):
            return None

        @hookimpl
        def labtrust_register_tasks(register):
            register("multi_task", FakeTask)

        @hookimpl
        def labtrust_register_metrics_aggregators(register):
            register("multi_metrics", metric)

        @hookimpl
        def labtrust_register_invariant_handlers(register):
            register("state.multi_check", check)
    """,
    )
    install_entry_points(
        monkeypatch,
        fake_entry_point("labtrust_gym", "multi", "fakeplug_multi", "multi-dist", "4.2"),
    )
    from labtrust_gym.benchmarks.metrics import get_metrics_aggregator
    from labtrust_gym.engine.invariants_runtime import (
        get_invariant_handler,
        list_invariant_handlers,
    )

    assert "multi_task" in list_tasks()
    assert get_metrics_aggregator("multi_metrics")() == {"custom": 1}
    assert "state.multi_check" in list_invariant_handlers()
    assert get_invariant_handler("state.multi_check")(None, {}, {}) is None
    by_plugin = plugins.registrations_by_plugin()
    assert by_plugin["multi"] == {
        "invariant_handlers": ["state.multi_check"],
        "metrics_aggregators": ["multi_metrics"],
        "tasks": ["multi_task"],
    }


_VALID_OBJECTS = {
    "domains": "lambda workflow_spec, config: ('adapter', workflow_spec, config)",
    "coordination_methods": "lambda policy, repo_root, scale_config, params: params",
    "tasks": "FakeTask",
    "invariant_handlers": "lambda env, event, params: (True, None, None)",
    "security_suite_providers": "Provider",
    "safety_case_providers": "Provider",
    "metrics_aggregators": "lambda *a, **k: {'ok': 1}",
    "benchmark_pack_loaders": "lambda repo_root, prefer_v02, partner_id: ({}, 'v', None)",
    "llm_backends": "Provider",
}


@pytest.mark.parametrize("kind", sorted(plugins.KINDS))
def test_every_hook_registers_through_a_plugin_module(
        kind: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, task_module: str) -> None:
    """labtrust_register_domains, labtrust_register_coordination_methods, labtrust_register_tasks,
    labtrust_register_invariant_handlers, labtrust_register_security_suite_providers,
    labtrust_register_safety_case_providers, labtrust_register_metrics_aggregators,
    labtrust_register_benchmark_pack_loaders and labtrust_register_llm_backends, each implemented
    by a pluggy-group plugin."""
    spec = plugins.KINDS[kind]
    ident = "state.hook_probe" if kind == "invariant_handlers" else "hook_probe"
    write_module(tmp_path, monkeypatch, f"fakeplug_hook_{kind}", f"""
        from labtrust_gym.hookspecs import hookimpl
        from {task_module} import FakeTask

        class Provider:
            def load_suite(self, policy_root, partner_id): return {{}}
            def run_suite(self, policy_root, repo_root, **kw): return []
            def load_claims(self, policy_root): return {{}}
            def build_safety_case(self, policy_root): return {{}}
            def complete(self, request): return None
            def configure(self, settings): return self

        @hookimpl
        def {spec.hook}(register):
            register({ident!r}, {_VALID_OBJECTS[kind]})
    """)
    install_entry_points(monkeypatch, fake_entry_point("labtrust_gym", f"probe_{kind}",
                                                       f"fakeplug_hook_{kind}"))
    reg = plugins.registry(kind)
    assert ident in reg.ids()
    resolved = reg.get(ident)
    assert resolved is not None
    assert plugins.registrations_by_plugin()[f"probe_{kind}"] == {kind: [ident]}
