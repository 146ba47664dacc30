"""The ``labtrust`` CLI core: global options, listings, doctor, error handling, start-up."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from labtrust_gym import plugins
from labtrust_gym.cli import main
from tests.core.fakes import TASK_MODULE, fake_entry_point, install_entry_points, write_module

REPO = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_builtin_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in ("list", "plugins"):
        assert command in out


def test_version_prints_version_and_plugins(capsys: pytest.CaptureFixture[str]) -> None:
    from labtrust_gym import __version__

    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert f"labtrust-gym {__version__}" in out
    assert "labtrust_gym.cli.plugins_cmd (builtin)" in out


def test_unknown_kind_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(capsys, "list", "taks")
    assert code == 2
    error_lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "Did you mean 'tasks'?" in error_lines[0]
    assert "Traceback" not in err


def test_debug_shows_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    from labtrust_gym.errors import UnknownIdError

    with pytest.raises(UnknownIdError):
        main(["--debug", "list", "taks"])


def test_list_every_kind(capsys: pytest.CaptureFixture[str]) -> None:
    for kind in plugins.KINDS:
        code, _, _ = run(capsys, "list", kind.replace("_", "-"))
        assert code == 0
    code, out, _ = run(capsys, "list", "profiles")
    assert code == 0 and {"example", "hospital_lab"} <= set(out.split())


def test_list_shows_entry_point_task_with_provider(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write_module(tmp_path, monkeypatch, "fakeplug_cli_tasks", TASK_MODULE)
    install_entry_points(
        monkeypatch,
        fake_entry_point(
            "labtrust_gym.tasks", "fake_task", "fakeplug_cli_tasks:FakeTask", "cli-dist", "0.9"
        ),
    )
    code, out, _ = run(capsys, "list", "tasks", "--verbose")
    assert code == 0 and "fake_task\tlabtrust_gym.tasks:fake_task" in out
    code, out, _ = run(capsys, "plugins", "list", "--json")
    data = json.loads(out)
    row = next(r for r in data["plugins"] if r["name"] == "labtrust_gym.tasks:fake_task")
    assert (row["source"], row["distribution"], row["version"]) == ("entrypoint", "cli-dist", "0.9")
    assert row["registers"] == {"tasks": ["fake_task"]}
    assert all(r["source"] != "builtin" for r in data["plugins"])
    code, out, _ = run(capsys, "plugins", "list")
    assert "labtrust_gym.tasks:fake_task  (entrypoint, cli-dist 0.9)" in out
    assert "entry point: labtrust_gym.tasks: fake_task = fakeplug_cli_tasks:FakeTask" in out
    assert "    tasks: fake_task" in out and "builtin" not in out


def test_plugins_list_all_includes_builtins(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    install_entry_points(monkeypatch)
    code, out, _ = run(capsys, "plugins", "list", "--all", "--json")
    names = {r["name"] for r in json.loads(out)["plugins"] if r["source"] == "builtin"}
    assert code == 0 and names == set(plugins.BUILTIN_PLUGINS)


def test_doctor_reports_broken_plugin_and_exits_nonzero(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    install_entry_points(
        monkeypatch,
        fake_entry_point(
            "labtrust_gym.tasks", "broken", "missing_mod_qq:Task", "broken-dist", "0.1"
        ),
    )
    code, out, _err = run(capsys, "plugins", "doctor")
    assert code == 1
    assert "broken-dist 0.1" in out and "missing_mod_qq" in out


def test_broken_command_plugin_warns_but_cli_works(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write_module(
        tmp_path,
        monkeypatch,
        "fakeplug_cmds",
        """
        from labtrust_gym.hookspecs import hookimpl

        @hookimpl
        def labtrust_register_commands(app):
            raise RuntimeError("cannot add my commands")
    """,
    )
    install_entry_points(
        monkeypatch, fake_entry_point("labtrust_gym", "cmds", "fakeplug_cmds", "cmds-dist", "3.1")
    )
    code, out, err = run(capsys, "list", "profiles")
    assert code == 0 and "hospital_lab" in out
    assert "warning:" in err and "cannot add my commands" in err and "cmds-dist 3.1" in err


def test_plugin_command_is_added(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write_module(
        tmp_path,
        monkeypatch,
        "fakeplug_hello",
        """
        import typer
        from labtrust_gym.hookspecs import hookimpl

        @hookimpl
        def labtrust_register_commands(app):
            @app.command("hello-lab")
            def hello_lab(name: str = "world") -> None:
                typer.echo(f"hello {name}")
    """,
    )
    install_entry_points(monkeypatch, fake_entry_point("labtrust_gym", "hello", "fakeplug_hello"))
    code, out, _ = run(capsys, "hello-lab", "--name", "lab")
    assert code == 0 and out.strip() == "hello lab"


def test_global_flags_are_found_after_the_profile_value() -> None:
    from labtrust_gym.cli.app import _pre_scan

    assert _pre_scan(["--profile", "x", "--strict-plugins", "--debug", "list"]) == (True, True)
    assert _pre_scan(["list", "--debug"]) == (False, False)  # a command's own option


def test_strict_plugins_flag_makes_problems_fatal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    install_entry_points(
        monkeypatch, fake_entry_point("labtrust_gym.tasks", "malformed", "bad value", "mal-dist")
    )
    code, _, err = run(capsys, "--strict-plugins", "list", "tasks")
    assert code == 2 and "strict mode" in err and "mal-dist" in err


def test_profile_option_applies_before_command(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write_module(
        tmp_path,
        monkeypatch,
        "fakeplug_profile_ext",
        TASK_MODULE
        + textwrap.dedent("""
        from labtrust_gym.benchmarks.tasks import register_task
        register_task("profile_task", FakeTask)
    """),
    )
    policy = tmp_path / "policy_dir"
    (policy / "lab_profiles").mkdir(parents=True)
    (policy / "lab_profiles" / "ext.v0.1.yaml").write_text(
        "profile_id: ext\nextension_packages: [fakeplug_profile_ext]\n"
    )
    monkeypatch.setenv("LABTRUST_POLICY_DIR", str(policy))
    code, out, _ = run(capsys, "list", "tasks")
    assert "profile_task" not in out
    code, out, _ = run(capsys, "--profile", "ext", "list", "tasks")
    assert code == 0 and "profile_task" in out.split()
    code, _, err = run(capsys, "--profile", "nope", "list", "tasks")
    assert code == 2 and "Unknown lab profile 'nope'" in err


def test_help_does_not_import_heavy_modules() -> None:
    probe = (
        "import sys\n"
        "from labtrust_gym.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('numpy', 'gymnasium', 'pettingzoo', 'jsonschema', 'cryptography',"
        " 'labtrust_gym.engine.core', 'rich.console') if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert "HEAVY []" in result.stderr, result.stderr


@pytest.mark.slow
def test_real_pip_installed_plugin_package(tmp_path: Path) -> None:
    """A throwaway distribution installed with pip is found through its entry points."""
    src = tmp_path / "throwaway"
    (src / "throwaway_lab").mkdir(parents=True)
    (src / "throwaway_lab" / "__init__.py").write_text(
        textwrap.dedent("""
        from labtrust_gym.benchmarks.tasks import BenchmarkTask
        from labtrust_gym.hookspecs import hookimpl

        class ThrowawayTask(BenchmarkTask):
            def __init__(self):
                super().__init__(name="throwaway_task", max_steps=4, scripted_agents=["ops_0"],
                                 reward_config={})

        def noop_metrics(*args, **kwargs):
            return {}

        @hookimpl
        def labtrust_register_metrics_aggregators(register):
            register("throwaway_metrics", noop_metrics)
    """)
    )
    (src / "pyproject.toml").write_text(
        textwrap.dedent("""
        [build-system]
        requires = ["hatchling"]
        build-backend = "hatchling.build"

        [project]
        name = "throwaway-lab-plugin"
        version = "0.7.1"

        [project.entry-points."labtrust_gym.tasks"]
        throwaway_task = "throwaway_lab:ThrowawayTask"

        [project.entry-points."labtrust_gym"]
        throwaway = "throwaway_lab"

        [tool.hatch.build.targets.wheel]
        packages = ["throwaway_lab"]
    """)
    )
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(src),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    env = {**__import__("os").environ, "PYTHONPATH": f"{target}:{REPO}"}
    policy = tmp_path / "policy"
    (policy / "lab_profiles").mkdir(parents=True)
    (policy / "lab_profiles" / "throwaway.v0.1.yaml").write_text(
        "profile_id: throwaway\nextension_packages: [throwaway-lab-plugin]\n"
    )

    def labtrust(*args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "labtrust_gym", *args],
            capture_output=True,
            text=True,
            env={**env, **extra_env},
            cwd=tmp_path,
            timeout=120,
        )

    listed = labtrust("list", "tasks")
    assert listed.returncode == 0, listed.stderr
    assert "throwaway_task" in listed.stdout.split()
    data = json.loads(labtrust("plugins", "list", "--json").stdout)
    dists = {(r["name"], r["distribution"], r["version"]) for r in data["plugins"]}
    assert ("throwaway", "throwaway-lab-plugin", "0.7.1") in dists
    assert ("labtrust_gym.tasks:throwaway_task", "throwaway-lab-plugin", "0.7.1") in dists
    via_profile = labtrust(
        "--profile", "throwaway", "list", "metrics-aggregators", LABTRUST_POLICY_DIR=str(policy)
    )
    assert via_profile.returncode == 0, via_profile.stderr
    assert "throwaway_metrics" in via_profile.stdout.split()
    blocked = labtrust("list", "tasks", LABTRUST_DISABLE_PLUGINS="throwaway-lab-plugin")
    assert "throwaway_task" not in blocked.stdout.split()


@pytest.mark.parametrize("args", [["list"], ["nosuchcmd"], ["plugins", "list", "--bogus"]],
                         ids=["missing-argument", "unknown-command", "unknown-option"])
def test_usage_errors_exit_2_without_traceback(capsys: pytest.CaptureFixture[str],
                                               args: list[str]) -> None:
    code, _, err = run(capsys, *args)
    assert code == 2
    assert "Error:" in err and "Traceback" not in err


def test_ctrl_c_exits_130_with_one_line(capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    write_module(tmp_path, monkeypatch, "fakeplug_interrupt", """
        from labtrust_gym.hookspecs import hookimpl

        @hookimpl
        def labtrust_register_commands(app):
            @app.command("interrupt-me")
            def interrupt_me() -> None:
                raise KeyboardInterrupt
    """)
    install_entry_points(monkeypatch,
                         fake_entry_point("labtrust_gym", "intr", "fakeplug_interrupt"))
    code, _, err = run(capsys, "interrupt-me")
    assert code == 130 and err.strip() == "Interrupted."
