"""A non-editable install from the wheel works from any directory (policy ships inside it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_install_runs_a_benchmark_outside_the_checkout(tmp_path: Path) -> None:
    wheel_dir, target, work = tmp_path / "wheel", tmp_path / "site", tmp_path / "elsewhere"
    work.mkdir()
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "-w", str(wheel_dir), str(REPO)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = wheel_dir.glob("labtrust_gym-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                    str(target), str(wheel)], check=True, capture_output=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if k != "LABTRUST_POLICY_DIR"}
    env["PYTHONPATH"] = str(target)  # shadows the editable checkout

    def run(*code: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, *code], cwd=work, env=env, capture_output=True,
                              text=True, timeout=300)

    where = run("-c", "import labtrust_gym, labtrust_gym.config as c; "
                      "print(labtrust_gym.__file__); print(c.get_repo_root())")
    assert where.returncode == 0, where.stderr
    module_file, root = where.stdout.split()
    assert module_file.startswith(str(target)) and root.startswith(str(target))
    result = run("-m", "labtrust_gym", "run-benchmark", "--task", "throughput_sla",
                 "--episodes", "1", "--out", "results.json")
    assert result.returncode == 0, result.stderr
    assert (work / "results.json").is_file()
    golden = run("-m", "labtrust_gym", "golden")
    assert golden.returncode == 0, golden.stdout + golden.stderr
