"""Scale presets and the deterministic lab generator."""

from __future__ import annotations

import pytest

from labtrust_gym.envs.scale import (
    generate_initial_state,
    list_scale_configs,
    load_scale_config,
)
from labtrust_gym.errors import InvalidInputError, SchemaValidationError, UnknownIdError

REQUIRED = {
    "small_smoke": 4,
    "small_8": 8,
    "medium_stress_signed_bus": 75,
    "corridor_heavy": 200,
    "large_1000": 1000,
    "xl_2000": 2000,
}


def test_required_presets_exist_with_their_sizes() -> None:
    assert set(REQUIRED) <= set(list_scale_configs())
    for name, n in REQUIRED.items():
        cfg = load_scale_config(name)
        counts = cfg.role_counts()
        assert sum(counts.values()) == n == cfg.num_agents
        assert all(c >= 1 for c in counts.values())
        ids = cfg.agent_ids()
        assert len(ids) == len(set(ids)) == n


def test_role_counts_follow_integer_weights_exactly() -> None:
    counts = load_scale_config("corridor_heavy").role_counts()
    assert counts == {"reception": 15, "runner": 120, "ops": 40, "qc": 15, "supervisor": 10}


def test_every_named_role_gets_an_agent_even_when_tiny() -> None:
    cfg = load_scale_config({"base": "xl_2000", "num_agents": 5})
    assert set(cfg.role_counts()) == {"reception", "runner", "ops", "qc", "supervisor"}
    with pytest.raises(InvalidInputError, match="5 roles"):
        load_scale_config({"base": "xl_2000", "num_agents": 4}).role_counts()


def test_generation_is_deterministic_in_the_seed() -> None:
    a = generate_initial_state("corridor_heavy", 7)
    b = generate_initial_state("corridor_heavy", 7)
    c = generate_initial_state("corridor_heavy", 8)
    assert a == b
    assert a["arrivals"] != c["arrivals"]
    # the lab itself (agents, devices) does not depend on the seed
    assert a["agents"] == c["agents"] and a["devices"] == c["devices"]


def test_generated_lab_matches_the_config() -> None:
    cfg = load_scale_config("corridor_heavy")
    st = generate_initial_state(cfg, 0)
    assert [x["agent_id"] for x in st["agents"]] == cfg.agent_ids()
    per_type: dict[str, int] = {}
    for d in st["devices"]:
        per_type[d["device_type"]] = per_type.get(d["device_type"], 0) + 1
    assert per_type == cfg.devices_per_type
    horizon = cfg.horizon_steps * cfg.dt_s
    expected = cfg.arrival_rate_per_min * horizon / 60.0
    n = len(st["arrivals"])
    assert abs(n - expected) < 5 * expected**0.5  # Poisson count within 5 sigma
    times = [x["t_s"] for x in st["arrivals"]]
    assert times == sorted(times) and times[0] >= 0 and times[-1] < horizon
    assert {x["site_id"] for x in st["arrivals"]} <= {"SITE_MAIN", "SITE_NORTH", "SITE_EAST"}
    assert len({x["site_id"] for x in st["arrivals"]}) == cfg.num_sites
    stat = sum(x["priority"] == "STAT" for x in st["arrivals"]) / n
    assert abs(stat - cfg.stat_fraction) < 0.05
    assert len(st["qc_failures"]) == cfg.qc_failures
    assert len(st["device_faults"]) == cfg.device_faults


def test_generated_state_is_accepted_by_the_engine() -> None:
    from labtrust_gym.engine.core import HospitalLabEngine

    eng = HospitalLabEngine()
    eng.reset(generate_initial_state("corridor_heavy", 0), deterministic=True, rng_seed=0)
    assert len(eng.agent_ids) == 200


def test_strict_signature_preset_carries_one_key_per_agent() -> None:
    st = generate_initial_state("medium_stress_signed_bus", 0)
    assert st["strict_signatures"] is True
    assert {k["agent_id"] for k in st["keys"]} == {a["agent_id"] for a in st["agents"]}


def test_errors_name_the_problem() -> None:
    with pytest.raises(UnknownIdError, match="Did you mean 'xl_2000'"):
        load_scale_config("xl_200")
    with pytest.raises(SchemaValidationError, match="num_agent"):
        load_scale_config({"base": "small_8", "num_agent": 3})
    with pytest.raises(UnknownIdError, match=r"base_missing.*Known"):
        load_scale_config({"base": "base_missing"})
    with pytest.raises(InvalidInputError, match="num_sites"):
        generate_initial_state({"base": "small_8", "num_sites": 9}, 0)
