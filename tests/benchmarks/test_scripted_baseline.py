"""The scripted baseline acts through the catalog and reads no answer keys."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from labtrust_gym.baselines.scripted import ScriptedLabController
from labtrust_gym.benchmarks.tasks import get_task
from labtrust_gym.envs.parallel_env import LabTrustParallelEnv

#: privileged queries the baseline must not use (the acceptance reason, the result's values or
#: read-back): it derives them from the inspection and the phone call, through the catalog
ANSWER_KEYS = ("acceptance_check(", "result(", "result_status(")


def _run(task_name: str, seed: int, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    task = get_task(task_name)()
    state = task.get_initial_state(seed)
    env = LabTrustParallelEnv(task=task, initial_state=state)
    obs, infos = env.reset(seed=seed)
    asked: list[str] = []
    query = env.engine.query

    def recording_query(expr: str) -> Any:
        asked.append(expr)
        return query(expr)

    monkeypatch.setattr(env.engine, "query", recording_query)
    baseline = ScriptedLabController(release_review_s=getattr(task, "release_review_s", 0.0))
    baseline.reset(env, seed, None, state)
    stats = {"blocked": 0, "contended": 0, "entries": set(), "asked": asked}
    t = 0
    while env.agents:
        actions = baseline.act(obs, infos, t)
        assert all(isinstance(a, int) for a in actions.values())  # catalog indices only
        for aid, a in actions.items():
            assert env.action_mask(aid)[a], (aid, env.action_catalog[a].name)  # masked in
        obs, _, _, _, infos = env.step(actions)
        for info in infos.values():
            res = info["step_result"]
            stats["blocked"] += res is not None and res["status"] == "BLOCKED"
            stats["contended"] += info["contended"]
            if res is not None:
                stats["entries"].add(info["entry"])
        t += 1
    stats["released"] = env.engine.n_released
    stats["counts"] = env.engine.query("stats")
    return stats


@pytest.mark.parametrize("task_name", ["qc_cascade", "stat_insertion"])
def test_baseline_acts_through_masked_in_catalog_entries_without_answer_keys(
    task_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stats = _run(task_name, 3, monkeypatch)
    assert stats["released"] > 0 and stats["blocked"] == 0
    assert not [q for q in stats["asked"] if q.startswith(ANSWER_KEYS)], stats["asked"][:5]
    assert all(e is not None and "@" in e for e in stats["entries"])


def test_problem_specimens_are_held_or_rejected_by_their_inspection_finding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stats = _run("qc_cascade", 1, monkeypatch)
    counts = stats["counts"]["stage_counts"]
    assert counts["held"] + counts["rejected"] > 0
    assert {"HOLD_SPECIMEN@next", "REJECT_SPECIMEN@next"} & stats["entries"]


def test_critical_results_are_acknowledged_with_the_read_back_heard(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from labtrust_gym.benchmarks.labs import build_lab

    task = get_task("throughput_sla")()
    state = build_lab(task, 2)
    state["critical_rate"] = 1.0
    env = LabTrustParallelEnv(task=task, initial_state=state)
    obs, infos = env.reset(seed=2)
    baseline = ScriptedLabController()
    baseline.reset(env, 2, None, state)
    acked = 0
    t = 0
    while env.agents:
        obs, _, _, _, infos = env.step(baseline.act(obs, infos, t))
        for info in infos.values():
            res = info["step_result"]
            if res is not None and info["action_type"] == "ACK_CRITICAL":
                assert res["status"] == "ACCEPTED" and not res["violations"]
                acked += 1
        t += 1
    assert acked > 0 and np.isfinite(acked)
