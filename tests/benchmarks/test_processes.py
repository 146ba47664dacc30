"""Process-level behaviour: the Ray executor, Ctrl-C, piped output, light module scope."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labtrust_gym.benchmarks.results import read_results
from labtrust_gym.cli import main

REPO = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["LABTRUST_POLICY_DIR"] = str(REPO / "policy")
    env.pop("LABTRUST_PROFILE", None)
    return env


def _labtrust(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", "from labtrust_gym.cli import main; main()", *args],
        cwd=cwd,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.ray
def test_ray_executor_matches_workers_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("ray")
    one, ray_out = tmp_path / "one.json", tmp_path / "ray.json"
    common = ["run-benchmark", "--task", "coord_risk", "--episodes", "3", "--seed", "5"]
    assert main([*common, "--out", str(one)]) == 0
    assert main([*common, "--executor", "ray", "--workers", "2", "--out", str(ray_out)]) == 0
    capsys.readouterr()
    assert one.read_bytes() == ray_out.read_bytes()
    assert read_results(ray_out)["episodes"][2]["seed"] == 7


def test_ray_address_needs_ray_executor(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = main(
        [
            "run-benchmark",
            "--task",
            "throughput_sla",
            "--ray-address",
            "auto",
            "--out",
            str(tmp_path / "r.json"),
        ]
    )
    assert code == 2 and "--ray-address needs --executor ray" in capsys.readouterr().err


def test_piped_run_is_quiet_and_one_line(tmp_path: Path) -> None:
    proc = _labtrust(
        "run-benchmark",
        "--task",
        "throughput_sla",
        "--episodes",
        "2",
        "--out",
        "r.json",
        cwd=tmp_path,
    )
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out.splitlines() == [out.strip()] and out.startswith("Wrote r.json")
    assert "━" not in err and "%" not in err  # no progress bar when not on a terminal


def _interrupt_mid_run(tmp_path: Path, *extra: str) -> tuple[int, str]:
    """Start a long run, wait until episodes are being written, then press Ctrl-C."""
    logs = tmp_path / "logs"
    proc = _labtrust(
        "run-benchmark",
        "--task",
        "stat_insertion",
        "--episodes",
        "5000",
        "--log",
        str(logs),
        "--out",
        "r.json",
        *extra,
        cwd=tmp_path,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (logs.is_dir() and any(logs.iterdir())):
        time.sleep(0.05)
    assert logs.is_dir() and any(logs.iterdir()), "the run never started"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


def test_ctrl_c_leaves_no_results_file(tmp_path: Path) -> None:
    code, err = _interrupt_mid_run(tmp_path)
    assert code == 130, err
    assert [p.name for p in tmp_path.iterdir()] == ["logs"]  # no r.json, no temp file
    assert not [p for p in (tmp_path / "logs").iterdir() if p.suffix != ".jsonl"]


def test_ctrl_c_with_workers_leaves_no_results_file(tmp_path: Path) -> None:
    code, err = _interrupt_mid_run(tmp_path, "--workers", "2")
    assert code == 130, err
    assert [p.name for p in tmp_path.iterdir()] == ["logs"]


def test_plugin_and_command_modules_import_nothing_heavy() -> None:
    code = (
        "import sys, labtrust_gym.benchmarks.builtin_plugin, labtrust_gym.cli.benchmark_cmd, "
        "labtrust_gym.benchmarks.tasks, labtrust_gym.baselines.coordination.interface\n"
        "heavy = [m for m in ('numpy', 'gymnasium', 'pettingzoo', 'jsonschema', 'cryptography', "
        "'labtrust_gym.engine.core', 'labtrust_gym.envs.parallel_env') if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=_env()
    ).stdout
    assert out.strip() == "[]"
