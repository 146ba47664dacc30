"""Tests of the pharmacy domain written with labtrust_gym.testing: it runs through the env, the
runner and the metrics like the built-in domain, and its trust rules hold."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

from labtrust_gym.benchmarks.results import validate_results
from labtrust_gym.config import apply_profile, profile_sources
from labtrust_gym.domain.registry import list_domains
from labtrust_gym.envs import LabTrustParallelEnv
from labtrust_gym.errors import ConfigError
from labtrust_gym.testing import run_steps

pytestmark = pytest.mark.usefixtures("labtrust_plugins")  # fresh, strict plugin manager


def test_entry_points_register_the_domain_and_the_policy_layer_its_profile() -> None:
    assert "pharmacy" in list_domains()
    _path, layer = profile_sources()["pharmacy"]
    assert layer.kind == "plugin" and layer.plugin == "pharmacy_domain"
    assert apply_profile("pharmacy").domain_id == "pharmacy"


@pytest.mark.parametrize("obs_mode", ["dict", "box"])
def test_pettingzoo_parallel_api_test_passes(obs_mode: str) -> None:
    env = LabTrustParallelEnv(domain_id="pharmacy", max_steps=60, obs_mode=obs_mode)
    parallel_api_test(env, num_cycles=60)


def test_the_readme_snippet() -> None:
    env = LabTrustParallelEnv(domain_id="pharmacy", max_steps=60)
    obs, infos = env.reset(seed=0)
    assert env.action_catalog.names()[:3] == ["NOOP", "TICK", "VERIFY_ORDER@next"]
    assert set(obs) == set(infos) == {"pharmacist_0", "pharmacist_1", "technician_0",
                                      "technician_1"}


def test_the_benchmark_releases_orders_and_its_results_validate() -> None:
    apply_profile("pharmacy")
    report = run_steps(task="pharmacy_compounding", steps=120, seed=3)
    metrics = report.metrics
    assert metrics["throughput"] > 0 and metrics["specimens_arrived"] >= metrics["throughput"]
    assert 90 <= metrics["turnaround_s_mean"] <= 900  # at least one compounding, within SLA
    assert metrics["on_time_rate"] is not None and metrics["blocked_total"] == 0
    # every release pays verifier, compounder and checker a share of the throughput reward
    rewards = metrics["reward_by_agent"]
    assert all(rewards[a] > 0 for a in ("pharmacist_0", "pharmacist_1", "technician_0"))
    validate_results(report.results)
    assert report.results["config"]["domain_id"] == "pharmacy"


def test_same_seed_same_results() -> None:
    apply_profile("pharmacy")
    first = run_steps(task="pharmacy_compounding", steps=40, seed=5).results
    again = run_steps(task="pharmacy_compounding", steps=40, seed=5).results
    assert json.dumps(first["episodes"], sort_keys=True) == json.dumps(
        again["episodes"], sort_keys=True
    )


def test_without_its_profile_the_task_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigError, match="labtrust --profile <id>"):
        run_steps(task="pharmacy_compounding", steps=5)


def _line(orders: list[dict[str, Any]]) -> Any:
    from pharmacy_domain.lab import build_line
    from pharmacy_domain.line import PharmacyLine

    line = PharmacyLine()
    line.reset({**build_line(0), "orders": orders})
    return line


def _ev(agent: str, action_type: str, t: float = 0, **args: Any) -> dict[str, Any]:
    return {"t_s": t, "agent_id": agent, "action_type": action_type, "args": args}


def test_two_person_check_and_dose_limit_are_enforced_and_refusals_change_nothing() -> None:
    order = {"order_id": "RX1", "t_s": 0, "priority": "STAT", "drug": "VANCOMYCIN",
             "dose_mg": 1000}
    big = {**order, "order_id": "RX2", "dose_mg": 9000}
    line = _line([order, big])
    assert line.step(_ev("pharmacist_0", "VERIFY_ORDER", order_id="RX2"))[
        "blocked_reason_code"] == "PHARM.DOSE_LIMIT"
    assert line.step(_ev("technician_0", "VERIFY_ORDER", order_id="RX1"))[
        "blocked_reason_code"] == "RBAC.ACTION_DENIED"
    assert line.step(_ev("pharmacist_0", "REJECT_ORDER", order_id="RX2"))["status"] == "ACCEPTED"
    assert line.step(_ev("pharmacist_0", "VERIFY_ORDER", order_id="RX1"))["status"] == "ACCEPTED"
    line.step(_ev("technician_0", "START_COMPOUNDING", order_id="RX1", hood_id="HOOD_1"))
    line.advance_to(100)
    before = (line.query("order(RX1)"), line.chain.state())
    refused = line.step(_ev("pharmacist_0", "FINAL_CHECK", 100, order_id="RX1"))
    assert refused["blocked_reason_code"] == "PHARM.SAME_PHARMACIST"
    assert (line.query("order(RX1)"), line.chain.state()) == before
    released = line.step(_ev("pharmacist_1", "FINAL_CHECK", 100, order_id="RX1"))
    assert released["emits"] == ["ORDER_RELEASED"] and released["hashchain"]["length"] == 4
    assert line.query("released_orders")[0]["handled_by"] == [
        "pharmacist_0", "technician_0", "pharmacist_1"]


def test_a_product_past_its_beyond_use_time_is_reported_once() -> None:
    order = {"order_id": "RX1", "t_s": 0, "priority": "ROUTINE", "drug": "CEFAZOLIN",
             "dose_mg": 2000}
    line = _line([order])
    line.step(_ev("pharmacist_0", "VERIFY_ORDER", order_id="RX1"))
    line.step(_ev("technician_1", "START_COMPOUNDING", order_id="RX1", hood_id="HOOD_2"))
    late = line.step(_ev("pharmacist_0", "TICK", 90 + 601))
    assert late["violations"] == [{"invariant_id": "INV-PHARM-BUD", "status": "VIOLATION",
                                   "reason_code": "PHARM.BEYOND_USE"}]
    assert line.step(_ev("pharmacist_0", "TICK", 800))["violations"] == []


def test_masks_tell_the_truth() -> None:
    """Random agents choosing among their masked-in entries are never refused; an entry the
    mask leaves out is refused when forced."""
    env = LabTrustParallelEnv(domain_id="pharmacy", max_steps=100)
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=2)
    agents = env.possible_agents
    forced_blocked = 0
    while env.agents:
        masks = np.stack([obs[a]["action_mask"] for a in agents])
        actions = dict(zip(agents, (rng.random(masks.shape) * masks).argmax(axis=1).tolist(),
                           strict=True))
        out = np.flatnonzero(masks[0] == 0)
        if out.size and rng.random() < 0.3:  # the first agent acts first: nothing changed yet
            actions[agents[0]] = int(rng.choice(out))
        obs, _, _, _, infos = env.step(actions)
        for a in agents:
            result, chosen = infos[a]["step_result"], actions[a]
            if result is None:
                continue
            if a == agents[0] and not masks[0][chosen]:
                assert result["status"] == "BLOCKED"
                forced_blocked += 1
            else:
                assert result["status"] == "ACCEPTED", (a, infos[a]["entry"], result)
    assert forced_blocked > 0 and env.get_reward_counters()["released"] > 0
