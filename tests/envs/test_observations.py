"""What an observation shows: the agent itself, its zone's doors, the lab's work; three modes."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.spaces import Box

from labtrust_gym.engine.domain_env.views import SELF_FIELDS
from labtrust_gym.envs.parallel_env import LabTrustParallelEnv


def _lab_state() -> dict:
    from labtrust_gym.engine.initial_state import default_initial_state

    st = default_initial_state(0, n_specimens=0)
    st["arrivals"] = [
        {"specimen_id": f"S{i}", "t_s": 0, "priority": "ROUTINE", "panel": "CBC",
         "patient_id": f"P{i}"}
        for i in range(3)
    ]
    return st


def test_agents_of_the_same_role_and_zone_are_told_apart() -> None:
    env = LabTrustParallelEnv(scale_config={"base": "corridor_heavy", "horizon_steps": 3})
    obs, _ = env.reset(seed=0)
    own = np.stack([obs[a]["observation"]["self"] for a in env.possible_agents])
    assert own.shape == (200, len(SELF_FIELDS))
    assert len({tuple(row) for row in own.tolist()}) == 200  # every agent's own block differs
    assert own[0, 0] == 0.0 and own[-1, 0] == 1.0


def test_lab_block_counts_the_work_queues_and_doors_block_shows_the_zone() -> None:
    env = LabTrustParallelEnv(initial_state=_lab_state(), max_steps=20)
    obs, _ = env.reset(seed=0)
    lab = env.domain.views.unflatten(np.zeros(env.domain.views.flat_dim))  # field layout
    assert set(lab) >= {"role", "zone", "self", "here", "doors", "queues", "work", "lab", "time"}
    fields = env.engine.query("work_counts")
    counts = dict(zip(fields, obs["reception_0"]["observation"]["lab"], strict=True))
    assert counts["to_accession"] == 3.0 and counts["releasable"] == 0.0
    noop = dict.fromkeys(env.agents, 0)
    create = env.action_catalog.index("CREATE_ACCESSION@next")
    obs, *_ = env.step({**noop, "reception_0": create})
    counts = dict(zip(fields, obs["ops_0"]["observation"]["lab"], strict=True))
    assert counts["to_accession"] == 2.0 and counts["to_accept"] == 1.0
    # runner_0 stands in the pre-analytics zone, at the closed outer airlock door
    doors = obs["runner_0"]["observation"]["doors"]
    nd = len(env.engine.door_ids)
    here = [env.engine.door_ids[i] for i in np.flatnonzero(doors[:nd])]
    assert here == ["D_AIRLOCK_OUTER"] and doors[nd:].sum() == 0
    opened = env.action_catalog.index("OPEN_DOOR@D_AIRLOCK_OUTER")
    obs, *_ = env.step({**noop, "runner_0": opened})
    assert obs["runner_0"]["observation"]["doors"][nd + env.engine.door_ids.index(
        "D_AIRLOCK_OUTER")] == 1


@pytest.mark.parametrize("mode", ["flat", "box"])
def test_flat_and_box_observations_are_the_dict_fields_concatenated(mode: str) -> None:
    dict_env = LabTrustParallelEnv(initial_state=_lab_state(), max_steps=5)
    other = LabTrustParallelEnv(initial_state=_lab_state(), max_steps=5, obs_mode=mode)
    d_obs, _ = dict_env.reset(seed=1)
    o_obs, o_infos = other.reset(seed=1)
    for a in dict_env.possible_agents:
        flat = o_obs[a] if mode == "box" else o_obs[a]["observation"]
        fields = other.domain.views.unflatten(flat)
        for name, value in d_obs[a]["observation"].items():
            assert np.array_equal(fields[name], np.asarray(value, dtype=np.float32)), (a, name)
        assert other.observation_space(a).contains(o_obs[a])
        if mode == "box":  # a plain Box observation: the mask rides in the info
            assert isinstance(other.observation_space(a), Box)
            assert np.array_equal(o_infos[a]["action_mask"], d_obs[a]["action_mask"])


def test_render_accepts_and_ignores_extra_arguments() -> None:
    env = LabTrustParallelEnv(max_steps=3, render_mode="ansi")
    env.reset(seed=0)
    assert "DEV_CHEM_A1" in env.render("rgb_array", mode="human")
