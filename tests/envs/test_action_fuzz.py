"""Property test: any joint action is either refused with InvalidInputError before anything
happens, or stepped with every observation still in its space."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labtrust_gym.envs.parallel_env import LabTrustParallelEnv
from labtrust_gym.errors import InvalidInputError

AGENTS = ["reception_0", "ops_0", "runner_0", "runner_1", "qc_0", "supervisor_0"]
ZONES = ["Z_RECEPTION", "Z_SORTING", "Z_ANALYZER_HALL_A", "Z_RESTRICTED_BIOHAZARD", "Z_NOWHERE"]
_ENV: list[LabTrustParallelEnv] = []


def _env() -> LabTrustParallelEnv:
    """One default-lab env shared by the examples (building one per example is needlessly slow)."""
    if not _ENV:
        _ENV.append(LabTrustParallelEnv(max_steps=10_000))
    env = _ENV[0]
    if not env.agents:
        env.reset(seed=0)
    return env


action_types = st.sampled_from(
    ["NOOP", "TICK", "MOVE", "OPEN_DOOR", "QUEUE_RUN", "START_RUN", "RELEASE_RESULT", "BOGUS"]
)
args = st.dictionaries(
    st.sampled_from(["to_zone", "door_id", "device_id", "specimen_id", "result_id"]),
    st.one_of(st.sampled_from(ZONES), st.text(max_size=4), st.integers(-2, 2)),
    max_size=2,
)
action_dict = st.fixed_dictionaries(
    {},
    optional={
        "action_index": st.integers(-1, 6),
        "action_type": action_types,
        "args": args,
        "reason_code": st.sampled_from(["SPEC.LEAK", "X"]),
        "token_refs": st.lists(st.text(max_size=3), max_size=2),
    },
)
one_action = st.one_of(st.integers(-1, 6), action_dict, st.sampled_from([2.5, "3", None]))
joint = st.dictionaries(st.sampled_from(AGENTS), one_action, max_size=len(AGENTS))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(joint)
def test_any_joint_action_is_refused_cleanly_or_stepped(actions: dict[str, Any]) -> None:
    env = _env()
    assert env.possible_agents == AGENTS
    steps = env.num_steps
    head = env.engine.chain_head()
    try:
        obs, rew, _, _, infos = env.step(actions)
    except InvalidInputError:
        assert env.num_steps == steps and env.engine.chain_head() == head  # nothing happened
        return
    assert env.num_steps == steps + 1
    for a in AGENTS:
        assert env.observation_space(a).contains(obs[a])
        res = infos[a]["step_result"]
        assert res is None or res["status"] in ("ACCEPTED", "BLOCKED")
    assert set(rew) == set(AGENTS)


def test_unknown_agent_changes_nothing() -> None:
    env = _env()
    head = env.engine.chain_head()
    with pytest.raises(InvalidInputError, match="nobody_0"):
        env.step({"nobody_0": 1, "ops_0": 1})
    assert env.engine.chain_head() == head
