"""The CoordinationMethod contract of the seed: two members suffice, the rest default to no-ops."""

from __future__ import annotations

from typing import Any

import pytest

from labtrust_gym.baselines.coordination.interface import CoordinationMethod, is_coordination_method
from labtrust_gym.envs.action_contract import ACTION_NOOP


class Minimal(CoordinationMethod):
    @property
    def method_id(self) -> str:
        return "minimal"

    def propose_actions(self, obs: Any, infos: Any, t: int) -> dict[str, Any]:
        return {agent: {"action_index": ACTION_NOOP, "action_type": "NOOP"} for agent in obs}


def test_minimal_subclass_works_with_default_hooks() -> None:
    method = Minimal()
    assert method.method_id == "minimal" and is_coordination_method(method)
    assert method.reset(0, {}, None) is None
    assert method.on_step_result([{"status": "ACCEPTED"}]) is None
    assert method.on_episode_end({"throughput": 0}) is None
    subs = {"a": {"action_index": 1}}
    combined = method.combine_submissions(subs, {}, 0)
    assert combined == subs and combined["a"] is not subs["a"]
    assert method.propose_actions({"ops_0": {}}, {}, 0) == {
        "ops_0": {"action_index": ACTION_NOOP, "action_type": "NOOP"}
    }


def test_both_members_are_required() -> None:
    class NoPropose(CoordinationMethod):
        @property
        def method_id(self) -> str:
            return "x"

    with pytest.raises(TypeError, match="propose_actions"):
        NoPropose()  # type: ignore[abstract]


def test_duck_typed_methods_are_accepted_and_others_refused() -> None:
    class Duck:
        method_id = "duck"

        def propose_actions(self, obs: Any, infos: Any, t: int) -> dict[str, Any]:
            return {}

    assert is_coordination_method(Duck())
    assert not is_coordination_method(object())
