"""Task labs: deterministic in the seed, task content present, injections applied."""

from __future__ import annotations

import pytest

from labtrust_gym.benchmarks.injections import check_injection, list_injections
from labtrust_gym.benchmarks.injectors import build_injector
from labtrust_gym.benchmarks.tasks import get_task
from labtrust_gym.errors import InvalidInputError, UnknownIdError
from tests.benchmarks.builtin_names import BUILTIN_TASKS

TASKS = BUILTIN_TASKS


@pytest.mark.parametrize("name", TASKS)
def test_initial_state_is_a_pure_function_of_the_seed(name: str) -> None:
    task = get_task(name)()
    a, b, c = task.get_initial_state(5), task.get_initial_state(5), task.get_initial_state(6)
    assert a == b
    assert a["arrivals"] != c["arrivals"]
    assert [x["agent_id"] for x in a["agents"]] == [x["agent_id"] for x in c["agents"]]


def test_task_content() -> None:
    stat = get_task("stat_insertion")().get_initial_state(1)
    assert sum(a["priority"] == "STAT" for a in stat["arrivals"]) >= 5
    qc = get_task("qc_cascade")().get_initial_state(1)
    assert {f["device_id"] for f in qc["qc_failures"]} == {"DEV_CHEM_A1", "DEV_HAEM_B1"}
    assert "DEV_CHEM_B2" in {d["device_id"] for d in qc["devices"]}
    assert len(qc["devices"]) == 6  # the five defaults kept
    adv = get_task("adversarial_disruption")().get_initial_state(1)
    assert {"agent_id": "adversary_0", "role": "adversary", "zone_id": "Z_INGRESS"} in adv["agents"]
    assert adv["tokens"][0]["expires_t_s"] == 1
    ms = get_task("multi_site_stat")().get_initial_state(1)
    remote = [a for a in ms["arrivals"] if a.get("site_id") == "SITE_NORTH"]
    assert len(remote) == 6 and all(a["priority"] == "STAT" for a in remote)
    ins = get_task("insider_key_misuse")().get_initial_state(1)
    assert ins["strict_signatures"] is True
    assert any(k["status"] == "revoked" for k in ins["keys"])
    scale = get_task("coord_scale")().get_initial_state(1)
    assert len(scale["agents"]) == 8


def test_calibration_overrides_and_rejects_typos() -> None:
    task = get_task("throughput_sla")()
    busy = task.get_initial_state(1, calibration={"arrival_rate_per_min": 6.0})
    assert len(busy["arrivals"]) > len(task.get_initial_state(1)["arrivals"])
    with pytest.raises(InvalidInputError, match="Did you mean 'stat_fraction'"):
        task.get_initial_state(1, calibration={"stat_fraktion": 0.5})


def test_injections() -> None:
    known = list_injections()
    assert {"INJ-COMMS-DROP-001", "INJ-DEVICE-FAULT-001", "INJ-QC-DRIFT-001"} <= set(known)
    with pytest.raises(UnknownIdError, match="INJ-DEVICE-FAULT-001"):
        check_injection("INJ-DEVICE-FAULT-01")
    state = get_task("coord_risk")().get_initial_state(2)

    def fault_of(seed: int) -> dict:
        entry = check_injection("INJ-DEVICE-FAULT-001")
        return build_injector(entry, seed, horizon_steps=100, dt_s=10.0).edit_state(state)

    fault = fault_of(2)
    added = [f for f in fault["device_faults"] if f not in state["device_faults"]]
    assert len(added) == 1 and added[0]["device_id"].startswith("DEV_CHEM_ANALYZER")
    # window [0.2, 0.6] of 100 steps x 10 s
    assert added[0]["t_s"] == 200.0 and added[0]["duration_s"] == 400.0
    assert fault_of(2) == fault
    drop = build_injector(check_injection("INJ-COMMS-DROP-001"), 3, 100, 10.0)
    actions = {f"a{i}": 1 for i in range(1000)}
    kept = drop.actions(actions, 0)
    assert 700 < len(kept) < 900 and drop.trace.injected == 1000 - len(kept)
    again = build_injector(check_injection("INJ-COMMS-DROP-001"), 3, 100, 10.0)
    assert again.actions(actions, 0) == kept


def test_qc_cascade_failures_catch_results_on_both_failing_analyzers() -> None:
    """White-box: each scheduled QC failure lands while that analyzer has results under review,
    so results of both the chemistry and the haematology analyzer get invalidated and rerun."""
    from labtrust_gym.benchmarks import episode
    from labtrust_gym.benchmarks.runner import prepare_jobs, run_episode_job

    devices: set[str] = set()
    _, jobs = prepare_jobs("qc_cascade", 6, 0)
    for job in jobs:
        run_episode_job(job)
        env = episode._ENV_CACHE[next(reversed(episode._ENV_CACHE))]
        eng = env.engine
        devices.update(eng.results[rid].device_id for rid in eng.query("results(invalidated)"))
    assert {"DEV_CHEM_A1", "DEV_HAEM_B1"} <= devices
