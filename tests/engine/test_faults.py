"""Device faults and maintenance windows that come from policy (not only initial_state)."""

from __future__ import annotations

import shutil
from pathlib import Path

from labtrust_gym.engine.core import HospitalLabEngine
from labtrust_gym.engine.golden import base_state


def _policy_with(tmp_path: Path, old: str, new: str) -> Path:
    from labtrust_gym.config import get_repo_root, policy_dir

    dst = tmp_path / "policy"
    shutil.copytree(policy_dir(get_repo_root()), dst)
    f = dst / "equipment" / "equipment.v0.1.yaml"
    text = f.read_text()
    assert old in text
    f.write_text(text.replace(old, new))
    return dst


def _emits(policy: Path, seed: int, until: float) -> list[tuple[float, str, str]]:
    eng = HospitalLabEngine(None, {"policy_root": str(policy)})
    eng.reset(base_state(), rng_seed=seed)
    eng.advance_to(until)
    return [(e["t_s"], e["emit"], e["id"]) for e in eng.drain_system_emits()]


def test_random_faults_from_mtbf_are_seeded_and_repaired(tmp_path: Path) -> None:
    policy = _policy_with(
        tmp_path,
        "qc_gated: false, mtbf_s: null, repair_s: 900",
        "qc_gated: false, mtbf_s: 3600, repair_s: 600",
    )
    a = _emits(policy, 1, 40_000)
    assert a == _emits(policy, 1, 40_000)
    assert a != _emits(policy, 2, 40_000)
    faults = [e for e in a if e[1] == "DEVICE_FAULT"]
    cleared = [e for e in a if e[1] == "DEVICE_FAULT_CLEARED"]
    assert len(faults) >= 3 and all(d == "DEV_CENTRIFUGE_1" for _, _, d in faults)
    assert len(cleared) >= len(faults) - 1


def test_policy_maintenance_window_blocks_runs(tmp_path: Path) -> None:
    policy = _policy_with(
        tmp_path,
        "maintenance_windows: []",
        "maintenance_windows: [{device_id: DEV_HAEM_B1, start_s: 0, end_s: 100}]",
    )
    eng = HospitalLabEngine(None, {"policy_root": str(policy)})
    st = base_state()
    st["agents"][1]["zone_id"] = "Z_ANALYZER_HALL_B"
    st["arrivals"] = [
        {"specimen_id": "S1", "t_s": 0, "priority": "STAT", "panel": "CBC", "patient_id": "P"}
    ]
    eng.reset(st)
    for action in ("CREATE_ACCESSION", "ACCEPT_SPECIMEN"):
        eng.step(
            {
                "t_s": 0,
                "agent_id": "reception_0",
                "action_type": action,
                "args": {"specimen_id": "S1"},
            }
        )
    eng.step(
        {
            "t_s": 0,
            "agent_id": "ops_0",
            "action_type": "QUEUE_RUN",
            "args": {"device_id": "DEV_HAEM_B1", "specimen_id": "S1"},
        }
    )
    res = eng.step(
        {
            "t_s": 50,
            "agent_id": "ops_0",
            "action_type": "START_RUN",
            "args": {"device_id": "DEV_HAEM_B1"},
        }
    )
    assert res["blocked_reason_code"] == "DEVICE.MAINTENANCE"
    res = eng.step(
        {
            "t_s": 100,
            "agent_id": "ops_0",
            "action_type": "START_RUN",
            "args": {"device_id": "DEV_HAEM_B1"},
        }
    )
    assert res["status"] == "ACCEPTED"
