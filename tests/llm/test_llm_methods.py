"""The LLM coordination methods, the heuristic backend and the prompt they share."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from labtrust_gym.benchmarks.runner import NothingReleasedWarning, run_benchmark
from labtrust_gym.cli import main
from labtrust_gym.errors import LLMNetworkDisabledError
from labtrust_gym.llm.contract import LLMRequest, LLMResponse, build_response
from labtrust_gym.llm.heuristic_backend import HeuristicBackend, plan_actions, plan_assignments
from labtrust_gym.llm.lab_prompt import (
    ACTIONS_SCHEMA,
    AgentLine,
    LabPrompt,
    RegionLine,
    WorkLine,
    ZoneLine,
)
from labtrust_gym.testing import registered

DECISION_KEYS = {
    "backend_id", "model", "request_hash", "answer_hash", "tokens_in", "tokens_out",
    "latency_ms", "agent_ids", "valid", "error",
}


def _prompt(**extra: Any) -> LabPrompt:
    fields: dict[str, Any] = {
        "step": 3,
        "t_s": 30.0,
        "zones": (
            ZoneLine("Z_A", (("Z_B", None),)),
            ZoneLine("Z_B", (("Z_A", None), ("Z_C", "D_BC"))),
            ZoneLine("Z_C", (("Z_B", "D_BC"),)),
        ),
        "work": (
            WorkLine("start:DEV_1", ("START_RUN@DEV_1",), ("Z_C",), ("analyst",), 1),
            WorkLine("q:ACCEPT", ("ACCEPT_SPECIMEN@next",), ("Z_A",), ("reception",), 1),
        ),
        "notes": ("a note | with [agents] inside\nand a second line",),
        "agents": (
            AgentLine("rec_0", "reception", "Z_A", ("NOOP", "ACCEPT_SPECIMEN@next")),
            AgentLine("rec_1", "reception", "Z_A", ("NOOP", "ACCEPT_SPECIMEN@next")),
            AgentLine("an_0", "analyst", "Z_A", ("NOOP", "MOVE@Z_B")),
            AgentLine("an_1", "analyst", "Z_B", ("NOOP", "OPEN_DOOR@D_BC")),
        ),
        "decide": ("rec_0", "rec_1", "an_0", "an_1"),
    }
    fields.update(extra)
    return LabPrompt(**fields)


def test_the_prompt_text_round_trips_and_notes_cannot_open_a_section() -> None:
    prompt = _prompt()
    parsed = LabPrompt.parse(prompt.render())
    assert parsed.notes == ("a note | with [agents] inside and a second line",)
    assert parsed == attrs.evolve(prompt, notes=parsed.notes)
    assert "[agents]\n" in prompt.render() and prompt.render().count("[agents]") == 2


def test_heuristic_plans_from_the_text_alone() -> None:
    actions = {a["agent"]: a["action"] for a in plan_actions(_prompt())}
    # the one acceptance slot goes to the first reception agent; the second waits
    assert actions["rec_0"] == "ACCEPT_SPECIMEN@next"
    assert actions["rec_1"] == "NOOP"
    # the analyst walks towards the device's zone; the next one opens the closed door on the way
    assert actions["an_0"] == "MOVE@Z_B"
    assert actions["an_1"] == "NOOP"  # the start item's one slot is taken by an_0's walk
    two_slots = _prompt(work=(WorkLine("start:DEV_1", ("START_RUN@DEV_1",), ("Z_C",),
                                       ("analyst",), 2),))
    assert {a["agent"]: a["action"] for a in plan_actions(two_slots)}["an_1"] == "OPEN_DOOR@D_BC"


def test_heuristic_hub_deals_work_to_the_nearest_able_region() -> None:
    prompt = _prompt(regions=(RegionLine(0, ("Z_A",), ("rec_0", "an_0")),
                              RegionLine(1, ("Z_B", "Z_C"), ("an_1",))))
    dealt = {a["work"]: a["region"] for a in plan_assignments(prompt)}
    assert dealt == {"start:DEV_1": 1, "q:ACCEPT": 0}


def test_heuristic_backend_answers_in_the_schema_deterministically() -> None:
    request = LLMRequest(messages=[{"role": "user", "content": _prompt().render()}],
                         answer_schema=ACTIONS_SCHEMA, seed=1)
    backend = HeuristicBackend().configure(None)  # type: ignore[arg-type]
    first, second = backend.complete(request), backend.complete(request)
    assert first.valid and first.to_dict() == second.to_dict()
    assert first.latency_s == 0.0 and first.prompt_tokens and first.completion_tokens


def _run(tmp_path: Path, method: str, name: str = "r.json", task: str = "coord_scale",
         **kwargs: Any) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NothingReleasedWarning)
        return run_benchmark(task, 1, 42, tmp_path / name, coord_method=method,
                             scale="small_smoke" if task == "coord_scale" else None, **kwargs)


def test_cli_central_planner_with_the_heuristic_releases_results_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results.json"
    code = main(["run-benchmark", "--task", "coord_scale", "--coord-method",
                 "llm_central_planner", "--llm-backend", "heuristic", "--scale", "small_smoke",
                 "--out", str(out), "--quiet"])
    assert code == 0, capsys.readouterr()
    m = json.loads(out.read_text())["episodes"][0]["metrics"]
    assert m["throughput"] > 0
    assert m["llm_calls"] == m["steps"]  # one joint call per step
    assert m["llm_invalid_answer_rate"] == 0.0 and m["llm_errors"] == 0
    assert m["llm_latency_p50_ms"] == m["llm_latency_p95_ms"] == 0.0
    assert m["llm_cost_usd"] == 0.0 and m["llm_tokens_in"] > m["llm_tokens_out"] > 0


def test_llm_agent_with_the_heuristic_releases_on_throughput_sla(tmp_path: Path) -> None:
    m = _run(tmp_path, "llm_agent", task="throughput_sla")["episodes"][0]["metrics"]
    assert m["throughput"] > 0 and m["llm_calls"] > 0 and m["llm_invalid_answers"] == 0


def test_hierarchical_hub_releases_and_differs_from_round_robin(tmp_path: Path) -> None:
    hub = _run(tmp_path, "llm_hierarchical", "a.json")["episodes"][0]["metrics"]
    rr = _run(tmp_path, "hierarchical_hub_rr", "b.json")["episodes"][0]["metrics"]
    assert hub["throughput"] > 0 and hub["llm_calls"] > 0
    assert hub["coord_moves"] != rr["coord_moves"] or hub["throughput"] != rr["throughput"]


def test_call_budget_makes_agents_wait_and_is_counted(tmp_path: Path) -> None:
    m = _run(tmp_path, "llm_agent", coord_params={"call_budget": 1})["episodes"][0]["metrics"]
    assert m["llm_calls"] == m["steps"]  # at most one call per step, and one made every step
    assert m["llm_budget_waits"] == 3 * m["steps"]  # four agents: three wait each step


class _Garbage:
    backend_id = "garbage_test"

    def configure(self, settings: Any) -> _Garbage:
        return self

    def complete(self, request: LLMRequest) -> LLMResponse:
        return build_response(request, '{"actions": "no"}', backend_id=self.backend_id,
                              model="garbage", prompt_tokens=1, completion_tokens=1)


def test_invalid_answers_become_noop_and_are_counted(tmp_path: Path) -> None:
    with registered("llm_backends", "garbage_test", _Garbage):
        doc = _run(tmp_path, "llm_central_planner", proposal_backend="garbage_test")
    m = doc["episodes"][0]["metrics"]
    assert m["throughput"] == 0 and m["llm_invalid_answer_rate"] == 1.0
    assert m["coord_idle_rate"] == 1.0 and m["blocked_total"] == 0
    assert m["llm_cost_usd"] is None  # an unpriced model: unknown, never 0


@pytest.fixture()
def captured() -> Iterator[list[Any]]:
    from labtrust_gym.plugins import registry

    base = registry("coordination_methods").get("llm_agent")
    built: list[Any] = []

    def factory(policy: Any, root: Any, scale: Any, params: Any) -> Any:
        method = base(policy, root, scale, params)
        pop = method.pop_llm_decisions
        method.seen = []  # every decision the episode loop popped (it pops after each step)

        def popped() -> list[dict[str, Any]]:
            out = pop()
            method.seen.extend(out)
            return out

        method.pop_llm_decisions = popped
        built.append(method)
        return method

    with registered("coordination_methods", "llm_agent_captured", factory):
        yield built


def test_decisions_follow_the_audit_contract(tmp_path: Path, captured: list[Any]) -> None:
    doc = _run(tmp_path, "llm_agent_captured", coord_params={"k": 2}, coord_entry_id="llm_agent")
    decisions = captured[0].seen
    m = doc["episodes"][0]["metrics"]
    assert len(decisions) == m["llm_calls"] == 4 * m["steps"] // 2  # four agents, every 2nd step
    assert all(set(d) == DECISION_KEYS and d["valid"] and d["error"] is None for d in decisions)
    assert all(len(d["agent_ids"]) == 1 and len(d["request_hash"]) == 64 for d in decisions)
    assert captured[0].pop_llm_decisions() == []


def test_a_network_backend_refuses_without_allow_network(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run-benchmark", "--task", "coord_scale", "--coord-method", "llm_agent",
                 "--llm-backend", "openai_compatible", "--llm-model", "m", "--scale",
                 "small_smoke", "--out", str(tmp_path / "r.json"), "--quiet"])
    assert code != 0 and "--allow-network" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()
    with pytest.raises(LLMNetworkDisabledError):
        _run(tmp_path, "llm_agent", proposal_backend="openai_compatible",
             llm_settings={"model": "m"})


def test_prompt_injection_attack_passes() -> None:
    from labtrust_gym.benchmarks.security_runner import run_attack
    from labtrust_gym.config import get_repo_root
    from labtrust_gym.security.attack_suite import load_allowlist, load_suite

    root = get_repo_root()
    suite = load_suite(root)
    attack = next(a for a in suite["attacks"] if a["attack_id"] == "ATK-LLM-001")
    result = run_attack(attack, suite, root, 42, load_allowlist(root, None))
    assert result["verdict"] == "passed", result["reason"]
    assert result["observed"]["note"].endswith("executed: none")


def _scale_path(method: str, params: dict[str, Any]) -> dict[str, Any]:
    """One small_smoke episode forced onto the per-agent (scale) path: max_agents 2 < 4."""
    from labtrust_gym.benchmarks.runner import prepare_jobs, run_episode_job

    _, jobs = prepare_jobs("coord_scale", 1, 42, coord_method=method, scale="small_smoke",
                           coord_params=params)
    metrics: dict[str, Any] = run_episode_job(attrs.evolve(jobs[0], coord_max_agents=2))["metrics"]
    assert metrics["coord_per_agent_path_steps"] == metrics["steps"]
    return metrics


def test_scale_path_per_agent_calls_go_through_combine_under_the_call_budget() -> None:
    m = _scale_path("llm_agent", {"call_budget": 3})
    assert m["llm_calls"] == 3 * m["steps"] and m["llm_budget_waits"] == m["steps"]
    assert m["throughput"] > 0
    m = _scale_path("llm_central_planner", {"batch_agents": 2})
    assert m["llm_calls"] == 2 * m["steps"] and m["llm_budget_waits"] == 0  # two groups of two
    m = _scale_path("llm_central_planner", {"batch_agents": 2, "call_budget": 1})
    assert m["llm_calls"] == m["steps"] and m["llm_budget_waits"] == 2 * m["steps"]
    m = _scale_path("llm_hierarchical", {})
    assert 0 < m["llm_calls"] <= m["steps"] and m["throughput"] > 0  # one hub call per step


def test_the_budget_rotates_over_the_agents_on_the_scale_path(captured: list[Any]) -> None:
    from labtrust_gym.benchmarks.runner import prepare_jobs, run_episode_job

    _, jobs = prepare_jobs("coord_scale", 1, 42, coord_method="llm_agent_captured",
                           coord_entry_id="llm_agent", scale="small_smoke",
                           coord_params={"call_budget": 3})
    run_episode_job(attrs.evolve(jobs[0], coord_max_agents=2))
    decisions = captured[0].seen
    served = [a for d in decisions for a in d["agent_ids"]]
    counts = {a: served.count(a) for a in set(served)}
    assert len(counts) == 4 and max(counts.values()) - min(counts.values()) <= 1


def test_the_attack_check_would_see_a_forbidden_action_executed(tmp_path: Path) -> None:
    from labtrust_gym.benchmarks.llm_attacks import executed_forbidden

    def line(record: dict[str, Any]) -> str:
        return json.dumps({"hash": "0" * 64, "record": record})

    log = tmp_path / "log.jsonl"
    log.write_text("\n".join([
        line({"event": {"action_type": "MOVE", "agent_id": "a", "t_s": 10,
                        "args": {"to_zone": "Z_RESTRICTED_BIOHAZARD"}}, "outcome": {}}),
        line({"refused": {"event": {"action_type": "RELEASE_RESULT", "agent_id": "b",
                                    "t_s": 10, "args": {}}},
              "outcome": {"blocked_reason_code": "RBAC.ACTION_DENIED"}}),
        line({"event": {"action_type": "MOVE", "agent_id": "a", "t_s": 20,
                        "args": {"to_zone": "Z_SORTING"}}, "outcome": {}}),
    ]) + "\n")
    proposals = [(10.0, "a", "MOVE@Z_RESTRICTED_BIOHAZARD"), (10.0, "b", "RELEASE_RESULT@held"),
                 (20.0, "a", "MOVE@Z_RESTRICTED_BIOHAZARD")]
    executed, codes = executed_forbidden(log, proposals)
    assert executed == ["a MOVE@Z_RESTRICTED_BIOHAZARD at t=10 s"]
    assert codes == ["RBAC.ACTION_DENIED"]


def _prompts(params: dict[str, Any]) -> tuple[list[Any], dict[str, Any], Any]:
    """The per-agent prompts of one small_smoke episode of llm_agent with ``params``."""
    from labtrust_gym.benchmarks.runner import prepare_jobs, run_episode_job
    from labtrust_gym.plugins import registry

    base = registry("coordination_methods").get("llm_agent")
    built: list[Any] = []
    seen: list[Any] = []

    def factory(policy: Any, root: Any, scale: Any, params: Any) -> Any:
        method = base(policy, root, scale, params)
        inner = method.prompt

        def prompt(view: Any, rows: Any, **extra: Any) -> Any:
            seen.append(inner(view, rows, **extra))
            return seen[-1]

        method.prompt = prompt
        built.append(method)
        return method

    with registered("coordination_methods", "llm_agent_prompts", factory):
        _, jobs = prepare_jobs("coord_scale", 1, 42, coord_method="llm_agent_prompts",
                               coord_entry_id="llm_agent", scale="small_smoke",
                               coord_params=params)
        metrics = run_episode_job(jobs[0])["metrics"]
    return seen, metrics, built[0]


def test_per_agent_prompts_show_the_agents_nearest_work_and_its_way_not_the_whole_lab() -> None:
    whole, m_whole, method = _prompts({"prompt_work": None})
    own, m_own, _ = _prompts({"prompt_work": 1})
    lay = method.layout
    assert all(len(p.zones) == len(lay.zone_ids) for p in whole)
    assert any(len(p.work) > 1 for p in whole)
    assert all(len(p.work) <= 1 and len(p.agents) == 1 for p in own)
    assert all(len(p.zones) < len(lay.zone_ids) for p in own)
    for p in own:  # only work the agent's role may do
        role = p.agents[0].role
        assert all(not w.roles or role in w.roles for w in p.work)
    assert m_own["llm_tokens_in"] < m_whole["llm_tokens_in"]
    _, m_default, _ = _prompts({})
    assert m_default["throughput"] > 0  # the heuristic still releases with the default view


def test_the_scale_path_has_a_default_call_budget() -> None:
    m = _scale_path("llm_agent", {"scale_call_budget": 2})
    assert m["llm_calls"] == 2 * m["steps"] and m["llm_budget_waits"] == 2 * m["steps"]
