"""Shared helpers of the security tests: the CLI in-process, a policy copy, a run with logs."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from labtrust_gym.cli import main
from labtrust_gym.config import get_repo_root, policy_dir


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``labtrust ARGS`` in-process: ``(exit code, stdout, stderr)``."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def copy_policy(tmp_path: Path) -> Path:
    """A full copy of the shipped policy directory, to weaken or break in a test."""
    dest = tmp_path / "policy"
    shutil.copytree(policy_dir(get_repo_root()), dest)
    return dest


def edit_yaml(path: Path, edit: Any) -> None:
    """Load ``path``, let ``edit(doc)`` change it, write it back."""
    import yaml

    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


def run_with_logs(
    run_dir: Path, task: str = "insider_key_misuse", episodes: int = 1, **options: Any
) -> Path:
    """A results file and anchored logs under ``run_dir``; returns the results path."""
    from labtrust_gym.benchmarks.runner import run_benchmark

    run_dir.mkdir(parents=True, exist_ok=True)
    out = run_dir / f"{task}.json"
    run_benchmark(task, episodes, 0, out, log_dir=run_dir / "logs", **options)
    return out


def flip(path: Path, pos: int) -> bytes:
    """Flip the low bit of byte ``pos`` of ``path``; return the original bytes."""
    data = path.read_bytes()
    edited = bytearray(data)
    edited[pos] ^= 0x01
    path.write_bytes(bytes(edited))
    return data
