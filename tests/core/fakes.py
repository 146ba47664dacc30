"""Fake entry points and throwaway plugin modules for plugin-platform tests."""

from __future__ import annotations

import importlib.metadata as metadata
import sys
import textwrap
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from labtrust_gym import plugins


class FakeDist:
    """Just enough of ``importlib.metadata.Distribution`` for attribution."""

    def __init__(self, name: str, version: str = "1.0") -> None:
        self.name = name
        self.version = version
        self.metadata = {"Name": name}


def fake_entry_point(
    group: str, name: str, value: str, dist: str = "fake-dist", version: str = "1.0"
) -> metadata.EntryPoint:
    ep = metadata.EntryPoint(name=name, value=value, group=group)
    return ep._for(FakeDist(dist, version))  # type: ignore[attr-defined]


def install_entry_points(monkeypatch: pytest.MonkeyPatch, *eps: metadata.EntryPoint) -> None:
    """Make the plugin loader see exactly ``eps`` (and no installed entry points)."""
    by_group: dict[str, list[metadata.EntryPoint]] = defaultdict(list)
    for ep in eps:
        by_group[ep.group].append(ep)
    monkeypatch.setattr(plugins, "_iter_entry_points", lambda group: list(by_group.get(group, [])))


def write_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, source: str) -> None:
    """Create an importable module ``name`` under ``tmp_path`` (removed from sys.modules after)."""
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)


TASK_MODULE = """
from labtrust_gym.benchmarks.tasks import BenchmarkTask

class FakeTask(BenchmarkTask):
    def __init__(self):
        super().__init__(name="fake_task", max_steps=5, scripted_agents=["ops_0"],
                         reward_config={"throughput_reward": 1.0})

class OtherTask(BenchmarkTask):
    def __init__(self):
        super().__init__(name="other_task", max_steps=5, scripted_agents=["ops_0"],
                         reward_config={})

NOT_A_TASK = object()
"""


def problems_text() -> str:
    return "\n".join(p.describe() for p in plugins.problems())


def any_value() -> Any:
    return object()
