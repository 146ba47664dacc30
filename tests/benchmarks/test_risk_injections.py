"""Risk injections v0.2: the policy file, the injector interface, the sec_* metrics against the
clean twin, injections that change the outcome, and survival of lost/delayed messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from labtrust_gym.benchmarks.injections import check_injection, list_injections, load_injections
from labtrust_gym.benchmarks.injectors import INJECTORS, build_injector
from labtrust_gym.benchmarks.runner import prepare_jobs, run_episode_job
from labtrust_gym.errors import InvalidInputError

SEC_KEYS = (
    "sec_applied",
    "sec_attack_success",
    "sec_time_to_detection_steps",
    "sec_time_to_containment_steps",
    "sec_results_lost",
    "sec_throughput_delta",
    "sec_throughput_ratio",
    "sec_p95_turnaround_delta_s",
    "sec_violations_delta",
    "sec_clean_throughput",
)
METHODS = ("centralized_planner", "kernel_whca", "hierarchical_hub_rr")


def _metrics(injection: str, seed: int, method: str | None, scale: str | None = None) -> dict:
    _, jobs = prepare_jobs(
        "coord_risk", 1, seed, injection=injection, coord_method=method, scale=scale
    )
    return run_episode_job(jobs[0])["metrics"]


def test_policy_has_every_required_injection_with_definitions() -> None:
    entries = load_injections()
    assert len(entries) >= 12
    mechanisms = {e["mechanism"] for e in entries.values()}
    assert mechanisms == set(INJECTORS)  # every threat of the issue is covered
    for iid, entry in entries.items():
        assert entry["kind"] == INJECTORS[entry["mechanism"]].kind, iid
        for part in ("success", "detection", "containment"):
            assert entry[part]["definition"].strip(), (iid, part)
    # the old ids still resolve
    for old in ("INJ-DEVICE-FAULT-001", "INJ-QC-DRIFT-001", "INJ-COMMS-DROP-001"):
        assert check_injection(old)["injection_id"] == old


def test_kind_is_declared_and_checked_against_the_mechanism(tmp_path: Path) -> None:
    entry = dict(check_injection("INJ-COMMS-DROP-001"))
    entry["kind"] = "state"  # a message injection declared as a state edit
    path = tmp_path / "policy" / "coordination" / "risk_injections.v0.2.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump({"version": "0.2", "injections": [entry]}))
    with pytest.raises(InvalidInputError, match="mechanism 'msg_drop' is of kind 'message'"):
        load_injections(tmp_path)


def test_injectors_are_seeded_by_injection_and_episode_seed() -> None:
    entry = check_injection("INJ-COMMS-DELAY-001")
    joint = {f"a{i}": 1 for i in range(50)}

    class _Env:
        possible_agents = sorted(joint)

    def run(seed: int) -> list[Any]:
        inj = build_injector(entry, seed, horizon_steps=100, dt_s=10.0)
        inj.on_reset(_Env(), None)
        return [sorted(inj.actions(dict(joint), t)) for t in range(25, 35)]

    assert run(1) == run(1)
    assert run(1) != run(2)


@pytest.mark.slow
def test_every_injection_yields_sec_metrics_and_most_change_the_outcome() -> None:
    changed: dict[str, bool] = {}
    for iid in list_injections():
        for method in METHODS:
            for seed in (1, 2):
                m = _metrics(iid, seed, method)
                assert all(k in m for k in SEC_KEYS), (iid, method)
                assert m["sec_applied"] == 1, (iid, method, seed)
                moved = (
                    m["sec_throughput_delta"] != 0
                    or m["sec_violations_delta"] != 0
                    or (m["sec_p95_turnaround_delta_s"] or 0.0) != 0.0
                )
                changed[iid] = changed.get(iid, False) or moved
    assert sum(changed.values()) >= 0.75 * len(changed), changed


def test_clean_twin_is_the_same_seed_without_the_injection() -> None:
    m = _metrics("INJ-PLANNER-DOS-001", 3, "centralized_planner")
    _, jobs = prepare_jobs("coord_scale", 1, 3, coord_method="centralized_planner")
    clean = run_episode_job(jobs[0])["metrics"]
    assert m["sec_clean_throughput"] == clean["throughput"]
    assert m["sec_throughput_delta"] == m["throughput"] - clean["throughput"] < 0
    assert m["sec_attack_success"] == 1 and m["sec_detected"] == 0
    # item by item: at least the missing count is lost; the rest of the harm is delay
    assert m["sec_results_lost"] >= clean["throughput"] - m["throughput"]
    assert m["sec_results_delayed"] > 0 and m["sec_results_delay_mean_s"] > 0


def test_sec_metrics_are_deterministic() -> None:
    a = _metrics("INJ-INSIDER-001", 5, "kernel_whca")
    b = _metrics("INJ-INSIDER-001", 5, "kernel_whca")
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert a["sec_detected"] == 1 and a["sec_injected_refused"] >= 1


def test_device_fault_is_detected_then_contained() -> None:
    m = _metrics("INJ-DEVICE-FAULT-001", 1, None)
    assert m["sec_time_to_detection_steps"] == 0
    # the fault lasts 40% of the 120-step episode: contained when the analyzer is back
    assert m["sec_time_to_containment_steps"] == 48
    assert m["sec_time_to_containment_s"] == 480.0


def test_spoofing_is_refused_on_the_signed_bus() -> None:
    unsigned = _metrics("INJ-ID-SPOOF-001", 1, "centralized_planner")
    assert unsigned["sec_attack_success"] == 1 and unsigned["sec_detected"] == 0
    signed = _metrics("INJ-ID-SPOOF-001", 1, None, scale="medium_stress_signed_bus")
    assert signed["sec_injected_accepted"] == 0 and signed["sec_injected_refused"] >= 1
    assert signed["sec_attack_success"] == 0 and signed["sec_detected"] == 1
    assert signed["sec_contained"] == 1
    assert any(code.startswith("SIG.") for code in signed["blocked_by_reason_code"])


class _Colluding:
    """A fake auction method: it records the ring it is told about and reports awards."""

    method_id = "fake_auction"

    def __init__(self) -> None:
        self.ring: list[str] = []
        self.kwargs: dict[str, Any] = {}

    def reset(self, seed: int, policy: Any, scale_config: Any) -> None:
        pass

    def set_collusion(
        self, members: Any, scheme: str = "shade", shade: float = 0.3, markup: float = 0.3
    ) -> None:
        self.ring = list(members)
        self.kwargs = {"scheme": scheme, "shade": shade, "markup": markup}

    def propose_actions(self, obs: Any, infos: Any, t: int) -> dict[str, Any]:
        return {}

    def on_step_result(self, step_outputs: Any) -> None:
        pass

    def on_episode_end(self, metrics: Any) -> None:
        pass

    def coordination_report(self) -> dict[str, Any]:
        return {"coord_colluder_awards": len(self.ring), "welfare_loss": 1.5}


def test_collusion_uses_set_collusion_when_the_method_has_it() -> None:
    from labtrust_gym.baselines.coordination.registry import register_coordination_method

    made: list[_Colluding] = []

    def factory(policy: Any, root: Any, scale: Any, params: Any) -> _Colluding:
        made.append(_Colluding())
        return made[-1]

    register_coordination_method("fake_auction", factory)
    m = _metrics("INJ-COLLUSION-001", 1, "fake_auction")
    ring = made[-1].ring
    assert len(ring) >= 2 and all(a.startswith(("ops_", "runner_")) for a in ring)
    assert made[-1].kwargs == {"scheme": "shade", "shade": 0.3, "markup": 0.3}
    assert m["sec_collusion_native"] == 1
    assert m["sec_colluder_awards"] == len(ring) and m["sec_welfare_loss"] == 1.5
    fallback = _metrics("INJ-COLLUSION-001", 1, "centralized_planner")
    assert fallback["sec_collusion_native"] == 0 and fallback["sec_injected_events"] > 0


@pytest.mark.parametrize("scale", ["corridor_heavy", "medium_stress_signed_bus"])
@pytest.mark.parametrize("injection", ["INJ-COMMS-DROP-001", "INJ-COMMS-DELAY-001"])
def test_lost_and_delayed_messages_do_not_crash_transport_labs(scale: str, injection: str) -> None:
    """Regression (issue 10): a dropped dispatch made the scripted reception query a consignment
    that never existed (``Unknown consignment 'CONS_003'``). Two-site labs with couriers, the
    scripted reception and a coordination method must survive lost and delayed orders."""
    for method in (None, "centralized_planner"):
        m = _metrics(injection, 1, method, scale=scale)
        assert m["sec_applied"] == 1 and m["sec_injected_events"] > 0
        assert m["throughput"] > 0


def test_docs_list_every_injection_with_its_definitions() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "risk_injections.md").read_text()
    for iid, entry in load_injections().items():
        assert f"`{iid}`" in doc, iid
        for part in ("success", "detection", "containment"):
            assert entry[part]["definition"] in doc, (iid, part)


@pytest.mark.slow
def test_every_method_survives_every_injection() -> None:
    from labtrust_gym.plugins import registry

    for method in sorted(registry("coordination_methods").ids()):
        for iid in list_injections():
            m = _metrics(iid, 1, method, scale="small_smoke")
            assert "sec_attack_success" in m, (method, iid)


def test_receiving_a_consignment_never_dispatched_is_refused_not_raised() -> None:
    """The engine side of the regression: a reception order naming a consignment whose dispatch
    was lost is a BLOCKED step with a reason code, never an exception."""
    from labtrust_gym.benchmarks.tasks import get_task
    from labtrust_gym.envs import LabTrustParallelEnv
    from labtrust_gym.plugins import load_plugins

    load_plugins()
    task = get_task("coord_risk")()
    task.scale_config = "corridor_heavy"
    env = LabTrustParallelEnv(task=task, initial_state=task.get_initial_state(1), max_steps=3)
    env.reset(seed=1)
    order = {"action_type": "RECEIVE_TRANSPORT", "args": {"consignment_id": "CONS_003"}}
    _obs, _rew, _te, _tr, infos = env.step({"reception_0": order})
    result = infos["reception_0"]["step_result"]
    assert result["status"] == "BLOCKED"
    assert result["blocked_reason_code"] == "TRANSPORT.UNKNOWN_CONSIGNMENT"
