"""Engine behaviour: the default lab moves specimens to release, determinism, step_batch
equivalence, the step-result schema, fast views and the domain registry entry."""

from __future__ import annotations

import json
import subprocess
import sys

from labtrust_gym.engine.core import HospitalLabEngine
from labtrust_gym.engine.golden import base_state
from labtrust_gym.engine.initial_state import default_initial_state

from .helpers import assert_views_consistent, drive_default_lab, make_engine


def test_default_lab_releases_results_with_positive_turnaround() -> None:
    eng = make_engine(default_initial_state(seed=3, n_specimens=12, horizon_s=1800))
    drive_default_lab(eng, horizon_s=4000)
    released = eng.query("released_results")
    assert len(released) >= 10  # a scripted driver must actually reach release
    assert all(r["tat_s"] > 0 for r in released)
    assert eng.query("stats")["released"] == len(released) == eng.n_released
    assert_views_consistent(eng)


def test_same_seed_same_chain_different_seed_differs() -> None:
    heads = []
    for seed in (7, 7, 8):
        eng = make_engine(default_initial_state(seed=seed), seed=seed)
        drive_default_lab(eng, horizon_s=1500)
        heads.append(eng.chain_head()["head_hash"])
    assert heads[0] == heads[1]
    assert heads[0] != heads[2]


def test_step_batch_equals_stepping_each() -> None:
    events = [
        {
            "t_s": 0,
            "agent_id": "reception_0",
            "action_type": "CREATE_ACCESSION",
            "args": {"specimen_id": "S1"},
        },
        {
            "t_s": 0,
            "agent_id": "reception_0",
            "action_type": "ACCEPT_SPECIMEN",
            "args": {"specimen_id": "S1"},
        },
        {
            "t_s": 0,
            "agent_id": "runner_0",
            "action_type": "MOVE",
            "args": {"to_zone": "Z_RECEPTION"},
        },
        {"t_s": 5, "agent_id": "runner_0", "action_type": "MOVE", "args": {"to_zone": "Z_SORTING"}},
        {"t_s": 5, "agent_id": "ghost", "action_type": "TICK"},
    ]
    a = make_engine()
    b = make_engine()
    assert a.step_batch(events) == [b.step(e) for e in events]
    assert a.snapshot() == b.snapshot()


def test_step_results_match_schema() -> None:
    from labtrust_gym.config import get_repo_root, policy_path
    from labtrust_gym.fileio import validate_with_schema

    schema = policy_path(get_repo_root(), "schemas", "engine_step_result.v0.1.schema.json")
    eng = make_engine()
    results = drive_default_lab(eng, horizon_s=600)
    results.append(eng.step({"t_s": eng.now_s, "agent_id": "nobody", "action_type": "TICK"}))
    assert {r["status"] for r in results} == {"ACCEPTED", "BLOCKED"}
    for r in results:
        validate_with_schema(r, schema, what="step result")


def test_fast_views_track_state() -> None:
    eng = make_engine(base_state())
    i = eng.agent_index["runner_0"]
    eng.step(
        {"t_s": 0, "agent_id": "runner_0", "action_type": "MOVE", "args": {"to_zone": "Z_SORTING"}}
    )
    assert eng.zone_ids[eng.agent_zone[i]] == "Z_SORTING"
    assert (
        eng.next_hop_table[eng.zone_index["Z_RECEPTION"], eng.zone_index["Z_ANALYZER_HALL_B"]]
        == eng.zone_index["Z_ACCESSIONING"]
    )
    assert eng.zone_adjacency[eng.zone_index["Z_SORTING"], eng.zone_index["Z_COLD_STORAGE"]] == 1
    eng.step(
        {
            "t_s": 0,
            "agent_id": "runner_0",
            "action_type": "OPEN_DOOR",
            "args": {"door_id": "D_COLD_STORAGE"},
        }
    )
    assert eng.door_open[eng.door_index["D_COLD_STORAGE"]] == 1
    assert eng.agent_role[eng.agent_index["qc_0"]] == eng.role_ids.index("qc")


def test_critical_values_occur_at_the_configured_rate() -> None:
    from labtrust_gym.engine import clock
    from labtrust_gym.engine.records import SpecimenRec

    st = base_state()
    st["critical_rate"] = 0.3
    eng = make_engine(st, seed=11)
    n = 2000
    crit = 0
    for k in range(n):
        s = SpecimenRec(
            {
                "specimen_id": f"X{k}",
                "t_s": 0,
                "priority": "ROUTINE",
                "panel": "CHEM",
                "patient_id": "P",
            },
            ("CHEM_ANALYZER",),
            "SITE_MAIN",
            "SST",
        )
        crit += clock.generate_result(eng, s, "DEV_CHEM_A1").critical
    assert 0.25 < crit / n < 0.35


def test_hospital_lab_domain_is_registered() -> None:
    from labtrust_gym.domain.adapter import LabTrustEnvAdapter
    from labtrust_gym.domain.registry import get_domain_adapter_factory, list_domains

    assert "hospital_lab" in list_domains()
    adapter = get_domain_adapter_factory("hospital_lab")(None, {"record_log": False})
    assert isinstance(adapter, HospitalLabEngine) and isinstance(adapter, LabTrustEnvAdapter)
    adapter.reset(None)
    assert (
        adapter.step({"t_s": 0, "agent_id": "ops_0", "action_type": "TICK"})["status"] == "ACCEPTED"
    )


def test_plugin_and_cli_modules_stay_light() -> None:
    code = (
        "import sys, json\n"
        "import labtrust_gym.engine.builtin_plugin, labtrust_gym.cli.engine_cmd\n"
        "from labtrust_gym.engine.builtin_plugin import labtrust_register_invariant_handlers as h\n"
        "h(lambda k, v: None)\n"
        "heavy = ['numpy', 'cryptography', 'jsonschema', 'gymnasium', 'pettingzoo',\n"
        "         'labtrust_gym.engine.core']\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_ready_specimens_service_order() -> None:
    st = base_state()
    st["arrivals"] = [
        {"specimen_id": "A", "t_s": 0, "priority": "ROUTINE", "panel": "CBC", "patient_id": "P"},
        {"specimen_id": "B", "t_s": 0, "priority": "STAT", "panel": "CBC", "patient_id": "P"},
        {"specimen_id": "C", "t_s": 0, "priority": "URGENT", "panel": "CBC", "patient_id": "P"},
    ]
    eng = make_engine(st)
    for sid in ("A", "B", "C"):
        for action in ("CREATE_ACCESSION", "ACCEPT_SPECIMEN"):
            eng.step(
                {
                    "t_s": 0,
                    "agent_id": "reception_0",
                    "action_type": action,
                    "args": {"specimen_id": sid},
                }
            )
    assert eng.ready_specimens("HAEM_ANALYZER") == ["B", "C", "A"]
    assert eng.work_by_device_type[eng.device_type_index["HAEM_ANALYZER"]] == 3
