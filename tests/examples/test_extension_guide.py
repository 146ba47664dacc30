"""The extension guide's five steps, taken verbatim from docs/extension_guide.md and run from an
empty directory: every ``# file:`` block is written as shown, the package is pip-installed, and
the ``labtrust`` commands of step 5 run."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "extension_guide.md"
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


def _steps() -> tuple[dict[str, str], list[str]]:
    text = GUIDE.read_text(encoding="utf-8")
    section = text[text.index("## Your first plugin") : text.index("## Worked examples")]
    files: dict[str, str] = {}
    commands: list[str] = []
    for lang, body in BLOCK.findall(section):
        first = body.partition("\n")[0]
        if first.startswith("# file: "):
            files[first.removeprefix("# file: ").strip()] = body
        elif lang == "bash":
            commands += [line for line in body.splitlines() if line.strip()]
    return files, commands


def test_guide_blocks_are_complete() -> None:
    files, commands = _steps()
    assert set(files) == {
        "pyproject.toml",
        "mylab_labtrust/__init__.py",
        "mylab_labtrust/tasks.py",
        "policy/lab_profiles/my_lab.v0.1.yaml",
    }
    assert commands[0] == "pip install -e ."
    assert all(c.startswith("labtrust ") for c in commands[1:])


@pytest.mark.slow
def test_the_five_steps_work_from_an_empty_directory(tmp_path: Path) -> None:
    files, commands = _steps()
    project = tmp_path / "mylab"
    for rel, body in files.items():
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text(body, encoding="utf-8")
    site = tmp_path / "site"  # `pip install -e .` of step 5, into a throwaway directory
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--target", str(site), str(project)],
                   check=True, capture_output=True, timeout=600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABTRUST_")}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(REPO)])
    outputs = []
    for command in commands[1:]:
        args = shlex.split(command)[1:]
        result = subprocess.run([sys.executable, "-m", "labtrust_gym", *args], cwd=project,
                                env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"{command}: {result.stderr}"
        outputs.append(result.stdout)
    assert "my_custom_task" in outputs[0].split()
    doc = json.loads((project / "out.json").read_text())
    assert doc["task"] == "my_custom_task" and doc["partner_id"] == "my_partner"
    assert [ep["seed"] for ep in doc["episodes"]] == [42, 43]
    assert all(ep["metrics"]["throughput"] > 0 for ep in doc["episodes"])
