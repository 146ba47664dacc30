"""``labtrust list`` (every kind, broken plugins, data kinds), option help, global-option
placement, the light option conversion, eval-agent from the working directory."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from labtrust_gym.cli import main
from tests.core.fakes import TASK_MODULE, fake_entry_point, install_entry_points, write_module

REPO = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def broken_and_working_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_module(tmp_path, monkeypatch, "fakeplug_list_tasks", TASK_MODULE)
    install_entry_points(
        monkeypatch,
        fake_entry_point("labtrust_gym.tasks", "fake_task", "fakeplug_list_tasks:FakeTask"),
        fake_entry_point("labtrust_gym.tasks", "ghost_task", "no_such_module_abc:Task",
                         "ghost-dist", "0.1"),
        fake_entry_point("labtrust_gym.tasks", "not_a_task", "fakeplug_list_tasks:NOT_A_TASK"),
    )


@pytest.mark.usefixtures("broken_and_working_task")
def test_list_imports_entry_points_and_names_broken_ones_on_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "list", "tasks")
    listed = out.split()
    assert code == 0
    assert "fake_task" in listed and "throughput_sla" in listed
    assert "ghost_task" not in listed and "not_a_task" not in listed
    broken = [line for line in err.splitlines() if line.startswith("broken:")]
    assert len(broken) == 2
    ghost = next(line for line in broken if "ghost_task" in line)
    assert "ghost-dist 0.1" in ghost and "ModuleNotFoundError" in ghost
    assert any("not_a_task" in line and "BenchmarkTask" in line for line in broken)


@pytest.mark.usefixtures("broken_and_working_task")
def test_list_exits_nonzero_on_broken_plugins_in_strict_mode(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "--strict-plugins", "list", "tasks")
    assert code == 1
    assert "fake_task" in out.split()
    assert "2 broken task(s) (strict mode)" in err


def test_list_data_kinds(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list", "scales", "--verbose")
    rows = dict(line.split("\t") for line in out.splitlines())
    assert code == 0 and rows["small_smoke"] == "4" and rows["corridor_heavy"] == "200"
    code, out, _ = run(capsys, "list", "injections", "--json")
    injections = {row["id"]: row["kind"] for row in json.loads(out)}
    assert injections["INJ-COMMS-DROP-001"] == "message"
    assert injections["INJ-DEVICE-FAULT-001"] == "state"
    code, out, _ = run(capsys, "list", "profiles")
    layers = dict(line.split("\t") for line in out.splitlines())
    assert layers["hospital_lab"] == "shipped" and layers["example"] == "shipped"


def test_list_profiles_shows_a_user_profile_and_its_layer(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "policy" / "lab_profiles").mkdir(parents=True)
    (tmp_path / "policy" / "lab_profiles" / "mine.v0.1.yaml").write_text("profile_id: mine\n")
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "list", "profiles", "-v")
    rows = {line.split("\t")[0]: line.split("\t")[1:] for line in out.splitlines()}
    assert code == 0
    assert rows["mine"][0] == f"user {tmp_path.resolve() / 'policy'}"
    assert rows["mine"][1].endswith("mine.v0.1.yaml")
    assert rows["hospital_lab"][0] == "shipped"


def test_list_help_names_every_kind(capsys: pytest.CaptureFixture[str]) -> None:
    from labtrust_gym.cli.list_cmd import kind_names

    code, out, _ = run(capsys, "list", "--help")
    flat = " ".join(out.split())
    assert code == 0
    for kind in kind_names():
        assert kind in flat.replace("- ", "-")


@pytest.mark.parametrize(
    "command",
    [["run-benchmark"], ["summarize-results"], ["eval-agent"], ["golden"], ["quick-eval"],
     ["determinism-report"], ["list"], ["plugins", "list"]],
    ids=lambda c: "-".join(c),
)
def test_help_shows_no_python_types(capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    code, out, _ = run(capsys, *command, "--help")
    assert code == 0
    assert not re.search(r"<(str|int|float|path|bool|list\[.*?\])>", out), out


def test_fixed_choices_are_shown_and_enforced(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "run-benchmark", "--help")
    assert "<local|ray>" in out and "<explicit|simulated>" in out and "<0.2|0.3>" in out
    code, _, err = run(capsys, "run-benchmark", "--task", "throughput_sla", "--executor", "k8s")
    assert code == 2 and "'k8s' is not one of 'local', 'ray'" in err


def test_bad_integer_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "run-benchmark", "--task", "throughput_sla", "--episodes", "two")
    assert code == 2 and "'two' is not a valid integer" in err and "Traceback" not in err


@pytest.mark.parametrize("option", ["--profile", "--strict-plugins"])
def test_global_option_after_the_command_says_where_it_goes(
    capsys: pytest.CaptureFixture[str], option: str
) -> None:
    args = ["run-benchmark", "--task", "throughput_sla", option]
    code, _, err = run(capsys, *args, *(["example"] if option == "--profile" else []))
    assert code == 2
    assert f"{option} is an option of `labtrust` itself: put it before the command" in err


def test_policy_note_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "policy" / "lab_profiles").mkdir(parents=True)
    (tmp_path / "policy" / "lab_profiles" / "peer.v0.1.yaml").write_text(
        "profile_id: peer\nmetrics_aggregator_id: null\ncoordination_study_spec_path: s.yaml\n"
    )
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "--profile", "peer", "list", "domains")
    assert code == 0 and "hospital_lab" in out.split()
    notes = [line for line in err.splitlines() if "coordination_study_spec_path" in line]
    assert len(notes) == 1 and notes[0].startswith("note: ")


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABTRUST_")}
    return subprocess.run([sys.executable, "-m", "labtrust_gym", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_cheap_commands_import_neither_pydantic_nor_importlib_metadata(tmp_path: Path) -> None:
    """typer converts values with pydantic, and importlib.metadata pulls in email and zipfile:
    together more than half of a cheap command's start-up (docs/performance.md)."""
    probe = (
        "import sys\nfrom labtrust_gym.cli import main\n"
        "for args in (['--help'], ['list', 'tasks'], ['run-benchmark', '--help'],"
        " ['list', 'domains']):\n"
        "    try:\n        main(args)\n    except SystemExit:\n        pass\n"
        "print('HEAVY', sorted(m for m in ('pydantic', 'importlib.metadata') if m in sys.modules),"
        " file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            cwd=tmp_path, timeout=120)
    assert "HEAVY []" in result.stderr, result.stderr


def test_eval_agent_imports_from_the_working_directory_and_records_agents(
    tmp_path: Path,
) -> None:
    (tmp_path / "idle_agent.py").write_text(
        "class Idle:\n"
        "    def act(self, obs, infos, t):\n"
        "        return {a: 0 for a in obs}\n"
    )
    result = _cli("eval-agent", "--agent", "idle_agent:Idle", "--task", "throughput_sla",
                  "--agent-ids", "ops_0,qc_0", "--out", "r.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["config"]["external_agent"] == {"spec": "idle_agent:Idle",
                                               "agent_ids": ["ops_0", "qc_0"]}
    assert doc["agent_baseline_id"] == "agent:idle_agent:Idle"
    assert "drove ops_0, qc_0" in result.stdout
    missing = _cli("eval-agent", "--agent", "nowhere:Idle", "--task", "throughput_sla",
                   cwd=tmp_path)
    assert missing.returncode == 2 and "cannot import 'nowhere'" in missing.stderr
    assert not (tmp_path / "results.json").exists()  # refused before any episode ran
