"""The domain protocol: LabTrustParallelEnv and the runner drive a domain they know nothing about.

A tiny domain (a work line: items arrive, workers process them, a station breaks and is
repaired) built on ``SimpleDomainEnv`` exercises what the env and the runner rely on; the
worked pharmacy domain (plugins_examples/domain_example) is tested there, through pip.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gymnasium import spaces
from pettingzoo.test import parallel_api_test

from labtrust_gym.benchmarks.runner import run_benchmark
from labtrust_gym.benchmarks.tasks import BenchmarkTask
from labtrust_gym.config import LabProfile, set_active_profile
from labtrust_gym.domain.actions import CatalogEntry
from labtrust_gym.domain.protocol import DomainEnv, RewardSignals
from labtrust_gym.domain.simple import EntrySpec, SimpleDomainEnv
from labtrust_gym.envs import LabTrustParallelEnv
from labtrust_gym.errors import ConfigError, InvalidInputError
from labtrust_gym.testing import registered

ROLES = {"worker": {"TICK", "PROCESS", "REPAIR"}, "clerk": {"TICK"}}


class Line:
    """The adapter: ``check`` is ``step``'s dry run."""

    def __init__(self, spec: Any = None, config: Any = None) -> None:
        self.now_s = 0.0

    def reset(self, state: Any, *, deterministic: bool = True, rng_seed: int = 0) -> None:
        self.roles = {a["agent_id"]: a["role"] for a in state["agents"]}
        self.items = {i["item_id"]: {"t_s": i["t_s"], "done_s": None} for i in state["items"]}
        self.broken = bool(state.get("broken", False))
        self.now_s = 0.0

    def arrived(self) -> list[str]:
        return sorted(i for i, r in self.items.items()
                      if r["t_s"] <= self.now_s and r["done_s"] is None)

    def check(self, ev: dict[str, Any]) -> str | None:
        at, role = ev["action_type"], self.roles.get(ev["agent_id"])
        if at not in ROLES.get(str(role), ()):
            return "RBAC.ACTION_DENIED"
        if at == "PROCESS" and (self.broken or ev["args"].get("item_id") not in self.arrived()):
            return "LINE.NOTHING_TO_DO"
        if at == "REPAIR" and not self.broken:
            return "LINE.NOT_BROKEN"
        return None

    def step(self, ev: dict[str, Any]) -> dict[str, Any]:
        reason = self.check(ev)
        emits = []
        if reason is None and ev["action_type"] == "PROCESS":
            self.items[ev["args"]["item_id"]]["done_s"] = self.now_s
            emits = ["ITEM_DONE"]
        elif reason is None and ev["action_type"] == "REPAIR":
            self.broken = False
        return {"event_id": None, "status": "BLOCKED" if reason else "ACCEPTED", "emits": emits,
                "violations": [], "blocked_reason_code": reason, "token_consumed": [],
                "hashchain": {"head_hash": "0" * 64, "length": 0, "last_event_hash": None}}

    def query(self, expr: str) -> Any:
        raise InvalidInputError(f"no queries: {expr!r}")

    def domain_env(self, options: dict[str, Any]) -> DomainEnv:
        return LineEnv(self, options)


class LineEnv(SimpleDomainEnv):
    reward_signals = RewardSignals(release_emits=frozenset({"ITEM_DONE"}),
                                   progress_actions=frozenset({"REPAIR"}))

    def lab_agents(self) -> list[tuple[str, str | None]]:
        return list(self.adapter.roles.items())

    def entries(self) -> list[EntrySpec]:
        return [EntrySpec("PROCESS", "next"), EntrySpec("REPAIR", "S1", "device")]

    def candidates(self, agent_id: str, entry: CatalogEntry) -> Iterator[dict[str, Any]]:
        if entry.action_type == "TICK":
            yield {"action_type": "TICK", "args": {}}
        elif entry.action_type == "REPAIR":
            yield {"action_type": "REPAIR", "args": {"station": "S1"}}
        else:
            for item in self.adapter.arrived():
                yield {"action_type": "PROCESS", "args": {"item_id": item}}

    def observation_fields(self) -> dict[str, spaces.Box]:
        return {"waiting": spaces.Box(0.0, np.inf, (1,), np.float32),
                "broken": spaces.Box(0, 1, (1,), np.int8)}

    def observe_agent(self, agent_id: str) -> dict[str, np.ndarray]:
        line = self.adapter
        return {"waiting": np.array([len(line.arrived())], dtype=np.float32),
                "broken": np.array([line.broken], dtype=np.int8)}

    def clock(self, t: float) -> list[Any]:
        self.adapter.now_s = float(t)
        return []

    def work_items(self) -> list[dict[str, Any]]:
        return [{"specimen_id": i, "priority": "ROUTINE", "arrival_s": float(r["t_s"]),
                 "released_s": r["done_s"], "status": "waiting"}
                for i, r in self.adapter.items.items() if r["t_s"] <= self.adapter.now_s]


def lab(n_items: int = 4, broken: bool = False) -> dict[str, Any]:
    return {"agents": [{"agent_id": "worker_0", "role": "worker"},
                       {"agent_id": "worker_1", "role": "worker"},
                       {"agent_id": "clerk_0", "role": "clerk"}],
            "items": [{"item_id": f"I{k}", "t_s": 10 * k} for k in range(n_items)],
            "broken": broken}


class LineTask(BenchmarkTask):
    name = "line_task"
    domain_id = "line"
    max_steps = 12
    scripted_agents = ["worker_0", "worker_1", "clerk_0"]

    def get_initial_state(self, seed: int, calibration: Any = None,
                          policy_root: Any = None) -> dict[str, Any]:
        return lab(6, broken=seed % 2 == 1)


@pytest.fixture
def line_domain() -> Iterator[None]:
    with registered("domains", "line", Line), registered("tasks", "line_task", LineTask):
        yield


def env(**kwargs: Any) -> LabTrustParallelEnv:
    return LabTrustParallelEnv(domain_id="line", **{"initial_state": lab(), **kwargs})


@pytest.mark.usefixtures("line_domain")
@pytest.mark.parametrize("obs_mode", ["dict", "flat", "box"])
def test_the_env_passes_pettingzoo_s_api_test_on_another_domain(obs_mode: str) -> None:
    e = env(obs_mode=obs_mode, max_steps=30)
    parallel_api_test(e, num_cycles=40)
    assert e.metadata["name"] == "labtrust_line_v0"
    obs, infos = e.reset(seed=0)
    assert e.observation_space("worker_0").contains(obs["worker_0"])
    assert "zone_id" not in infos["worker_0"]  # hospital_lab's extra, not the env's
    assert e.state_space.contains(e.state())
    assert e.get_device_ids() == [] and e.get_zone_ids() == []


@pytest.mark.usefixtures("line_domain")
def test_catalog_masks_contention_and_blocked_choices() -> None:
    e = env(initial_state=lab(1))
    obs, _ = e.reset(seed=0)
    cat = e.action_catalog
    assert cat.names() == ["NOOP", "TICK", "PROCESS@next", "REPAIR@S1"]
    process = cat.index("PROCESS@next")
    assert obs["worker_0"]["action_mask"].tolist() == [1, 1, 1, 0]  # I0 waits; S1 works
    assert obs["clerk_0"]["action_mask"].tolist() == [1, 1, 0, 0]  # a clerk may only wait
    assert e.resolve("worker_1", "PROCESS@next") == {"action_type": "PROCESS",
                                                     "args": {"item_id": "I0"}}
    _, rewards, _, _, infos = e.step({"worker_0": process, "worker_1": process,
                                      "clerk_0": process})
    assert infos["worker_0"]["step_result"]["status"] == "ACCEPTED"
    assert infos["worker_1"]["contended"] and infos["worker_1"]["step_result"] is None
    blocked = infos["clerk_0"]["step_result"]  # masked out, sent anyway: refused with a reason
    assert blocked["blocked_reason_code"] == "RBAC.ACTION_DENIED"
    assert rewards == {"worker_0": 1.0, "worker_1": 0.0, "clerk_0": -0.1}
    assert e.get_reward_counters()["released"] == 1
    # an entry name, an explicit action_type and an out-of-range index
    _, _, _, _, infos = e.step({"worker_0": {"entry": "TICK"},
                                "worker_1": {"action_type": "REPAIR", "args": {}}})
    assert infos["worker_0"]["entry"] == "TICK"
    assert infos["worker_1"]["step_result"]["blocked_reason_code"] == "LINE.NOT_BROKEN"
    with pytest.raises(InvalidInputError, match="out of range; this lab's catalog has 4"):
        e.step({"worker_0": 9})


@pytest.mark.usefixtures("line_domain")
def test_what_a_domain_does_not_offer_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="'line' has no scale presets"):
        env(scale_config="small_smoke")
    e = env()
    e.set_signing_keys({})  # nothing to sign with: fine
    with pytest.raises(ConfigError, match="'line' does not sign events"):
        e.set_signing_keys({"worker_0": b"k"})
    with pytest.raises(InvalidInputError, match="other agents"):
        e.reset(seed=0, options={"initial_state": {**lab(), "agents": lab()["agents"][:2]}})
    with pytest.raises(ConfigError, match="has no default lab"):
        LabTrustParallelEnv(domain_id="line")


@pytest.mark.usefixtures("line_domain")
def test_the_runner_drives_the_domain_with_its_default_baseline(tmp_path: Path) -> None:
    set_active_profile(LabProfile(profile_id="line_lab", domain_id="line"))
    doc = run_benchmark("line_task", 2, 0, tmp_path / "r.json")
    assert doc["config"]["domain_id"] == "line" and doc["agent_baseline_id"] == "scripted_v1"
    even, odd = (ep["metrics"] for ep in doc["episodes"])
    assert even["throughput"] == 6 and even["specimens_arrived"] == 6
    assert even["turnaround_s_mean"] == 0.0 and even["blocked_total"] == 0
    # seed 1 starts with the station broken: a worker repairs it first (one worker only:
    # REPAIR@S1 has a fixed target), then both process
    assert odd["throughput"] == 6 and odd["reward_total"] == pytest.approx(6.1)
    assert (tmp_path / "r.json").is_file()


def test_a_task_for_another_domain_is_refused_before_any_episode(
    line_domain: None, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"runs on domain 'line'.*selects domain 'hospital_lab'"):
        run_benchmark("line_task", 1, 0, tmp_path / "r.json")
    assert not (tmp_path / "r.json").exists()
