"""Space in the env: full zones and one-way doorways, through the catalog, masks and contention."""

from __future__ import annotations

from typing import Any

import pytest

from labtrust_gym.engine import default_initial_state
from labtrust_gym.engine.domain_env.catalog import valid_for
from labtrust_gym.envs import LabTrustParallelEnv
from labtrust_gym.errors import InvalidInputError


def _env(**caps: int) -> LabTrustParallelEnv:
    state = default_initial_state(n_specimens=0)
    state["zone_capacity"] = caps
    return LabTrustParallelEnv(initial_state=state, max_steps=10)


def _entry(env: LabTrustParallelEnv, name: str) -> int:
    return env.action_catalog.index(name)


def test_a_second_mover_into_the_last_cell_is_contended_not_blocked() -> None:
    env = _env(Z_ALIQUOT=1)
    obs, _ = env.reset(seed=0)
    move = _entry(env, "MOVE@Z_ALIQUOT")
    # runner_0 (pre-analytics) and runner_1 (centrifuge bay) both see the aliquot room free
    assert obs["runner_0"]["action_mask"][move] and obs["runner_1"]["action_mask"][move]
    obs, rewards, _, _, infos = env.step({"runner_0": move, "runner_1": move})
    assert infos["runner_0"]["zone_id"] == "Z_ALIQUOT"
    assert infos["runner_1"]["contended"] and infos["runner_1"]["step_result"] is None
    assert infos["runner_1"]["lab"]["contended"] == {"runner_1": "ZONE.AT_CAPACITY"}
    assert rewards["runner_1"] == 0.0
    # the room is full now: nobody next to it may move in, and the mask says so truthfully
    ops = env.engine.agents["ops_0"]
    assert not obs["ops_0"]["action_mask"][move]
    assert not obs["runner_1"]["action_mask"][move]
    assert not valid_for(env.engine, ops, env.domain._models[move])
    # forced anyway, the engine refuses with the reason code
    _, _, _, _, infos = env.step({"runner_1": move})
    assert infos["runner_1"]["step_result"]["blocked_reason_code"] == "ZONE.AT_CAPACITY"


def test_crossing_a_doorway_both_ways_at_once_is_a_swap() -> None:
    env = _env()
    env.reset(seed=0)
    to_centrifuge = _entry(env, "MOVE@Z_CENTRIFUGE_BAY")
    to_pre = _entry(env, "MOVE@Z_PREANALYTICS")
    _, _, _, _, infos = env.step({"runner_0": to_centrifuge, "runner_1": to_pre})
    assert infos["runner_0"]["zone_id"] == "Z_CENTRIFUGE_BAY"
    assert infos["runner_1"]["zone_id"] == "Z_CENTRIFUGE_BAY"
    assert infos["runner_1"]["lab"]["contended"] == {"runner_1": "ZONE.SWAP"}
    # the next instant the doorway is free both ways
    _, _, _, _, infos = env.step({"runner_1": to_pre})
    assert infos["runner_1"]["zone_id"] == "Z_PREANALYTICS"


def test_zone_state_reports_occupancy_and_capacity() -> None:
    env = _env(Z_ALIQUOT=3)
    env.reset(seed=0)
    assert env.engine.query("zone_state(Z_ALIQUOT)")["capacity"] == 3
    assert env.engine.query("zone_state(Z_QC_SUPERVISOR)")["occupancy"] == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"zone_capacity": {"Z_QC_SUPERVISOR": 1}}, "2 agents start in zone 'Z_QC_SUPERVISOR'"),
        ({"zone_capacity": {"Z_NOWHERE": 1}}, "unknown zone 'Z_NOWHERE'"),
        ({"capacity_scale": 0.1}, "start in zone"),
    ],
)
def test_initial_states_that_do_not_fit_are_refused(change: dict[str, Any], message: str) -> None:
    state = default_initial_state(n_specimens=0)
    state.update(change)
    with pytest.raises(InvalidInputError, match=message):
        LabTrustParallelEnv(initial_state=state)
