"""README honesty: its set-up commands are what .ci/run runs; its labtrust commands work."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")


def _bash_blocks() -> list[list[str]]:
    blocks = re.findall(r"```bash\n(.*?)```", README, re.DOTALL)
    return [[line.split("  #")[0].strip() for line in b.splitlines() if line.strip()]
            for b in blocks]


def test_setup_is_two_commands_that_ci_runs() -> None:
    setup = _bash_blocks()[0]
    assert len(setup) == 2, setup
    install, main_job = setup[0].split(" && ")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert f"python -m {install}" in ci or install in ci
    assert main_job in ci
    assert re.search(rf"^{re.escape(setup[1])}$", ci, re.MULTILINE)


def _labtrust_commands() -> list[str]:
    commands = []
    for block in _bash_blocks()[1:]:
        commands.extend(line for line in block if line.startswith("labtrust "))
    return commands


@pytest.mark.slow
def test_readme_labtrust_commands_run_in_order(tmp_path: Path) -> None:
    """Every `labtrust …` line of README's later blocks, in order, in one working directory."""
    commands = _labtrust_commands()
    assert len(commands) >= 8
    for command in commands:
        args = shlex.split(command)[1:]
        result = subprocess.run([sys.executable, "-m", "labtrust_gym", *args], cwd=tmp_path,
                                capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
        assert "warning:" not in result.stderr, f"{command}\n{result.stderr}"


def test_readme_python_examples_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README, re.DOTALL)
    assert blocks
    for block in blocks:
        namespace: dict[str, object] = {}
        exec(compile(block, "README.md", "exec"), namespace)  # our own README, trusted
        env = namespace.get("env")
        if env is not None:
            assert not env.agents  # type: ignore[attr-defined]  # the loop ran to the end
            # random masked actions do the lab's work through the catalog
            assert env.get_reward_counters()["released"] > 0  # type: ignore[attr-defined]
