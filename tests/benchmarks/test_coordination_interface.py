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


class GreedyByName(CoordinationMethod):
    """A method written from the docs alone: it reads the catalog it is given and each agent's
    mask, and names entries — no engine access. Preference: the lab's work, then wandering."""

    PREFER = ("RELEASE_RESULT@next", "ACK_CRITICAL@next", "NOTIFY_CRITICAL@next",
              "ACCEPT_SPECIMEN@next", "CREATE_ACCESSION@next", "START_RUN", "QUEUE_RUN")

    def __init__(self) -> None:
        self.names: list[str] = []

    @property
    def method_id(self) -> str:
        return "greedy_by_name"

    def reset(self, seed: int, policy: dict[str, Any], scale_config: Any) -> None:
        self.names = policy["action_catalog"].names()
        self.rank = {n: i for i, n in enumerate(self.PREFER)}

    def propose_actions(self, obs: Any, infos: Any, t: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for agent, ob in obs.items():
            valid = [self.names[i] for i, ok in enumerate(ob["action_mask"]) if ok and i > 0]
            best = min(valid, key=lambda n: self.rank.get(n, len(self.rank)), default=None)
            if best is not None and best in self.rank:
                out[agent] = {"entry": best}
            elif valid:  # walk somewhere (the bare MOVE draws a valid neighbour)
                out[agent] = 3
        return out


def test_a_method_that_names_catalog_entries_runs_the_lab(tmp_path: Any) -> None:
    from labtrust_gym.baselines.coordination.registry import register_coordination_method
    from labtrust_gym.benchmarks.runner import run_benchmark
    from labtrust_gym.fileio import load_json
    from labtrust_gym.plugins import reset_plugins

    try:
        register_coordination_method("greedy_by_name", lambda *args: GreedyByName())
        out = tmp_path / "greedy.json"
        run_benchmark("throughput_sla", 1, 0, out, coord_method="greedy_by_name")
        metrics = load_json(out)["episodes"][0]["metrics"]
        assert metrics["throughput"] > 0 and metrics["blocked_total"] == 0
    finally:
        reset_plugins()
