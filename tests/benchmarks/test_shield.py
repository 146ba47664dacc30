"""The shield: forbidden or malformed proposals become NOOP with a SHIELD.* code, are counted,
never reach the engine, and leave decision records (with LLM calls' verdicts) in the chain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from labtrust_gym.baselines.coordination.interface import CoordinationMethod
from labtrust_gym.baselines.coordination.registry import register_coordination_method
from labtrust_gym.benchmarks.runner import prepare_jobs, run_episode_job
from labtrust_gym.benchmarks.shield import (
    INVALID_ACTION,
    INVALID_INDEX,
    MASKED,
    NOT_IN_CATALOG,
    Shield,
)
from labtrust_gym.engine.hashchain import read_log, verify_chain
from labtrust_gym.errors import PluginError

MALFORMED = {
    "qc_0": 10**6,  # outside the catalog
    "supervisor_0": "RELEASE_RESULT",  # a string is not an action
    "runner_1": {"action_type": "TELEPORT", "args": {}},  # no catalog entry issues it
}


def _masked_entry(mask: Any) -> int:
    return next(i for i in range(1, len(mask)) if not mask[i])


def _valid_entry(mask: Any) -> int:
    return next((i for i in range(2, len(mask)) if mask[i]), 1)


class Forbidden(CoordinationMethod):
    """Proposes, for every agent, an entry its mask forbids (a few agents: malformed proposals)."""

    @property
    def method_id(self) -> str:
        return "forbidden"

    def propose_actions(self, obs: Any, infos: Any, t: int) -> dict[str, Any]:
        out: dict[str, Any] = {a: _masked_entry(ob["action_mask"]) for a, ob in obs.items()}
        for aid, act in MALFORMED.items():
            if aid in out:
                out[aid] = act
        return out


class FakeLLM(CoordinationMethod):
    """An 'LLM' method: one call per step for two agents; ops_0 gets a valid proposal, runner_0 a
    masked one (say a release the runner's role may not do)."""

    @property
    def method_id(self) -> str:
        return "fake_llm"

    def __init__(self) -> None:
        self.pending: list[dict[str, Any]] = []

    def propose_actions(self, obs: Any, infos: Any, t: int) -> dict[str, Any]:
        self.pending.append(
            {
                "backend_id": "fake",
                "model": "fake-1",
                "request_hash": f"req{t:04d}",
                "answer_hash": f"ans{t:04d}",
                "tokens_in": 100 + t,
                "tokens_out": 7,
                "latency_ms": 12.5,
                "agent_ids": ["ops_0", "runner_0"],
                "valid": True,
                "error": None,
            }
        )
        return {
            "ops_0": _valid_entry(obs["ops_0"]["action_mask"]),
            "runner_0": {"entry": "RELEASE_RESULT@next"},
        }

    def pop_llm_decisions(self) -> list[dict[str, Any]]:
        out, self.pending = self.pending, []
        return out


def _run(method: str, factory: Any, tmp_path: Path, **kw: Any) -> tuple[dict[str, Any], Path]:
    register_coordination_method(method, factory, replace=True)
    _, jobs = prepare_jobs("throughput_sla", 1, 7, coord_method=method, log_dir=tmp_path, **kw)
    out = run_episode_job(jobs[0])
    return out, next(tmp_path.glob("*.jsonl"))


def _records(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line)["record"] for line in read_log(log)]


def test_forbidden_proposals_become_noops_with_codes_and_never_reach_the_engine(
    tmp_path: Path,
) -> None:
    out, log = _run("forbidden", lambda p, r, s, k: Forbidden(), tmp_path)
    m = out["metrics"]
    assert m["shield_proposals"] > 0
    assert m["shield_blocks"] == m["shield_proposals"] and m["shield_block_rate"] == 1.0
    steps = m["steps"]
    assert m["shield_blocks_by_reason"][INVALID_INDEX] == steps
    assert m["shield_blocks_by_reason"][INVALID_ACTION] == steps
    assert m["shield_blocks_by_reason"][NOT_IN_CATALOG] == steps
    assert m["shield_blocks_by_reason"][MASKED] == m["shield_blocks"] - 3 * steps
    assert m["throughput"] == 0
    records = _records(log)
    # nothing any agent proposed reached the engine: no accepted and no refused agent event
    assert not [r for r in records if "event" in r or "refused" in r]
    decisions = [r["decision"] for r in records if "decision" in r]
    assert [d["step"] for d in decisions] == list(range(steps))
    first = {b["agent_id"]: b for b in decisions[0]["blocks"]}
    assert first["qc_0"] == {"agent_id": "qc_0", "proposed": "index 1000000",
                             "reason_code": INVALID_INDEX}
    assert first["supervisor_0"]["reason_code"] == INVALID_ACTION
    assert first["runner_1"] == {"agent_id": "runner_1", "proposed": "TELEPORT",
                                 "reason_code": NOT_IN_CATALOG}
    assert first["ops_0"]["reason_code"] == MASKED and first["ops_0"]["proposed"] != "NOOP"
    assert verify_chain(read_log(log))["records"]["decision"] == steps


class ForbiddenPerAgent(Forbidden):
    """The scale path: each agent's own submission is forbidden; combine keeps them all."""

    def propose_agent(self, agent_id: str, obs: Any, infos: Any, t: int) -> Any:
        return _masked_entry(obs[agent_id]["action_mask"])

    def combine_submissions(self, submissions: Any, obs: Any, t: int) -> dict[str, Any]:
        return dict(submissions)


def test_the_scale_path_output_is_shielded_too(tmp_path: Path) -> None:
    import attrs

    register_coordination_method("forbidden_pa", lambda p, r, s, k: ForbiddenPerAgent(),
                                 replace=True)
    _, jobs = prepare_jobs("throughput_sla", 1, 7, coord_method="forbidden_pa", log_dir=tmp_path)
    job = attrs.evolve(jobs[0], coord_max_agents=2, coord_scale_capable=True)
    m = run_episode_job(job)["metrics"]
    assert m["coord_per_agent_path_steps"] == m["steps"]
    assert m["shield_blocks"] == m["shield_proposals"] > 0
    assert set(m["shield_blocks_by_reason"]) == {MASKED}
    records = _records(next(tmp_path.glob("*.jsonl")))
    assert not [r for r in records if "event" in r or "refused" in r]


def test_llm_decisions_are_chained_with_the_shield_verdicts(tmp_path: Path) -> None:
    out, log = _run("fake_llm", lambda p, r, s, k: FakeLLM(), tmp_path)
    records = _records(log)
    llm = [r["decision"] for r in records if r.get("decision", {}).get("kind") == "llm"]
    steps = out["metrics"]["steps"]
    assert len(llm) == steps
    d = llm[3]
    assert d["backend_id"] == "fake" and d["model"] == "fake-1"
    assert (d["request_hash"], d["answer_hash"]) == ("req0003", "ans0003")
    assert (d["tokens_in"], d["tokens_out"], d["valid"], d["error"]) == (103, 7, True, None)
    assert d["latency_ms"] == 0  # wall-clock: zeroed in deterministic runs
    verdicts = {v["agent_id"]: v for v in d["verdicts"]}
    assert verdicts["ops_0"]["verdict"] == "PASS"
    assert verdicts["runner_0"] == {
        "agent_id": "runner_0",
        "verdict": "BLOCKED",
        "proposed": "RELEASE_RESULT@next",
        "reason_code": MASKED,
    }
    # the runner's release never reached the engine; ops_0's proposals did
    agents = {
        (r.get("event") or r.get("refused", {}).get("event") or {}).get("agent_id")
        for r in records
    }
    assert "runner_0" not in agents and "ops_0" in agents
    assert out["metrics"]["shield_blocks"] == steps  # runner_0, every step
    # the whole chain verifies, anchor included
    from labtrust_gym.security.anchor import verify_log
    from labtrust_gym.security.keys import load_trust

    res = verify_log(log, load_trust(()), chain_only=False, keys=None)
    assert res["records"]["decision"] == 2 * steps  # per step: the LLM call, the block


def test_verify_log_cli_counts_decision_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from labtrust_gym.cli import main

    out, log = _run("forbidden", lambda p, r, s, k: Forbidden(), tmp_path)
    capsys.readouterr()
    assert main(["verify-log", str(log)]) == 0
    text = capsys.readouterr().out
    assert f"{out['metrics']['steps']} runner decisions" in text and text.startswith("OK:")
    # an edited decision record breaks the chain like any other line
    lines = log.read_bytes().split(b"\n")
    lines[3] = lines[3].replace(b"SHIELD.MASKED", b"SHIELD.MASKEX", 1)
    log.write_bytes(b"\n".join(lines))
    assert main(["verify-log", "--chain-only", str(log)]) == 2


def test_shield_runs_are_byte_identical(tmp_path: Path) -> None:
    a, log_a = _run("fake_llm", lambda p, r, s, k: FakeLLM(), tmp_path / "a")
    b, log_b = _run("fake_llm", lambda p, r, s, k: FakeLLM(), tmp_path / "b")
    assert a["log_sha256"] == b["log_sha256"] and a["metrics"] == b["metrics"]
    assert log_a.read_bytes() == log_b.read_bytes()


def test_a_malformed_llm_decision_is_a_plugin_error(tmp_path: Path) -> None:
    class Bad(FakeLLM):
        def pop_llm_decisions(self) -> list[dict[str, Any]]:
            out = super().pop_llm_decisions()
            return [{**d, "tokens_in": "many"} for d in out]

    with pytest.raises(PluginError, match="tokens_in"):
        _run("bad_llm", lambda p, r, s, k: Bad(), tmp_path)


def test_shield_unit_checks_every_form_against_the_env() -> None:
    from labtrust_gym.envs import LabTrustParallelEnv

    env = LabTrustParallelEnv(max_steps=5)
    env.reset(seed=3)
    shield = Shield(env)
    agent = env.agents[0]
    mask = env.action_mask(agent)
    ok, bad = _valid_entry(mask), _masked_entry(mask)
    name = env.action_catalog[bad].name
    cases: list[tuple[Any, str | None]] = [
        (0, None),
        (ok, None) if mask[ok] else (0, None),
        (bad, MASKED),
        ({"entry": name}, MASKED),
        ({"entry": "NO_SUCH@x"}, INVALID_ACTION),
        ({"entry": name, "action_index": 0}, INVALID_ACTION),
        ({"action_index": 3, "bogus": 1}, INVALID_ACTION),
        (True, INVALID_ACTION),
        (-1, INVALID_INDEX),
        (len(env.action_catalog), INVALID_INDEX),
        ({"action_type": "TELEPORT"}, NOT_IN_CATALOG),
        ({"action_type": "NOOP"}, None),
    ]
    for act, code in cases:
        sent = shield.check({agent: act})
        if code is None:
            assert sent[agent] == act and not shield.step_blocks, act
        else:
            assert sent[agent] == 0, act
            assert shield.step_blocks == [
                {"agent_id": agent, "proposed": shield.step_blocks[0]["proposed"],
                 "reason_code": code}
            ], act
    assert shield.metrics()["shield_proposals"] == len(cases)
    assert shield.metrics()["shield_blocks"] == sum(1 for _, c in cases if c)
    # an explicit event is judged by the entry its args target
    zone_moves = [e for e in env.action_catalog if e.action_type == "MOVE" and e.target]
    closed = next(e for e in zone_moves if not mask[e.index])
    shield.check({agent: {"action_type": "MOVE", "args": {"to_zone": closed.target}}})
    assert shield.step_blocks[0]["proposed"] == closed.name
    assert shield.step_blocks[0]["reason_code"] == MASKED
    # args ride along with an entry and win: a valid entry cannot be retargeted by them
    open_moves = [e for e in zone_moves if mask[e.index]]
    if open_moves:
        sent = shield.check({agent: {"entry": open_moves[0].name,
                                     "args": {"to_zone": closed.target}}})
        assert sent[agent] == 0 and shield.step_blocks[0]["proposed"] == closed.name
    # an explicit action_type wins over an entry riding along (as in the env)
    shield.check({agent: {"action_type": "TELEPORT", "entry": "TICK"}})
    assert shield.step_blocks[0]["reason_code"] == NOT_IN_CATALOG
    # agents it does not guard pass untouched
    assert shield.check({agent: 10**6}, guarded=()) == {agent: 10**6}
    # a valid {"entry": name} passes untouched; verdicts answer for passing proposals too
    ok_name = env.action_catalog[ok].name
    assert shield.check({agent: {"entry": ok_name}}) == {agent: {"entry": ok_name}}
    assert shield.verdict(agent, {agent: {"entry": ok_name}}) == {
        "verdict": "PASS", "proposed": ok_name}
    assert shield.verdict("nobody", {})["verdict"] == "NONE"
    # an id that is no live agent is left for the env, which refuses it naming the source
    assert shield.check({"ghost": 3}) == {"ghost": 3} and not shield.step_blocks


def test_shield_judges_the_arg_key_the_env_sends_not_a_decoy() -> None:
    """Review finding (issue 14): with two strings in ``args`` the shield judged the first key
    (sorted) naming an entry; the env sends ``to_zone``. Every form is checked against the env:
    a form the shield passes is stepped on a copy of the env, and the event sent must be a move
    to the zone the shield judged."""
    import copy

    from labtrust_gym.envs import LabTrustParallelEnv

    env = LabTrustParallelEnv(max_steps=10)
    env.reset(seed=3)
    cat = env.action_catalog
    moves = [e for e in cat if e.action_type == "MOVE" and e.target]
    agent, ok, closed = next(
        (a, o, c)
        for a in env.agents
        for o in moves if env.action_mask(a)[o.index]
        for c in moves if not env.action_mask(a)[c.index] and "RESTRICTED" in c.target
    )
    mask = env.action_mask(agent)
    move_idx = 3
    cases: list[tuple[Any, str | None]] = [
        ({"entry": ok.name, "args": {"a": ok.target, "to_zone": closed.target}}, INVALID_ACTION),
        ({"entry": ok.name, "args": {"to_zone": closed.target}}, MASKED),
        ({"entry": ok.name, "args": {"to_zone": "Z_NOWHERE"}}, NOT_IN_CATALOG),
        ({"entry": ok.name, "args": {"to_zone": 7}}, INVALID_ACTION),
        ({"action_index": ok.index, "args": {"a_decoy": ok.target, "to_zone": closed.target}},
         INVALID_ACTION),
        ({"action_index": move_idx, "args": {"to_zone": closed.target}}, MASKED),
        ({"action_type": "MOVE", "args": {"a": ok.target, "to_zone": closed.target}},
         INVALID_ACTION),
        # an explicit action_type conflicting with the entry or index riding along
        ({"action_type": "MOVE", "entry": closed.name}, INVALID_ACTION),
        ({"action_type": "MOVE", "action_index": closed.index}, INVALID_ACTION),
        ({"action_type": "OPEN_DOOR", "entry": ok.name}, INVALID_ACTION),
        ({"action_type": "MOVE", "entry": ok.name, "args": {"to_zone": closed.target}},
         INVALID_ACTION),
        # an explicit event missing an argument the engine requires (the env fills only a bare
        # type's target): the engine would refuse it as EVENT.BAD_ARGS
        ({"action_type": "CLOSE_DOOR"}, INVALID_ACTION),
        ({"action_type": "RELEASE_RESULT", "args": {}}, INVALID_ACTION),
        # consistent forms pass
        ({"entry": ok.name, "args": {"to_zone": ok.target}}, None),
        ({"action_type": "MOVE", "entry": ok.name, "args": {"to_zone": ok.target}}, None),
        ({"action_type": "MOVE", "action_index": move_idx, "args": {"to_zone": ok.target}}, None),
        ({"action_index": 0, "action_type": "NOOP"}, None),
    ]
    assert mask[ok.index] and not mask[closed.index]
    for act, code in cases:
        shield = Shield(env)
        sent = shield.check({agent: act})
        if code is not None:
            assert sent[agent] == 0 and shield.step_blocks[0]["reason_code"] == code, act
            continue
        assert sent[agent] == act and not shield.step_blocks, act
        proposed = shield.verdict(agent, {agent: act})["proposed"]
        clone = copy.deepcopy(env)
        _, _, _, _, infos = clone.step({**{a: 0 for a in clone.agents}, agent: act})
        result = infos[agent]["step_result"]
        if proposed == "NOOP":
            assert result is None, act
            continue
        assert result["status"] == "ACCEPTED", (act, result)
        assert f"MOVE@{infos[agent]['zone_id']}" == proposed == ok.name, act


def test_receipt_bundles_of_a_shielded_llm_run_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The built-in scripted method, wrapped as an 'LLM' that also proposes one forbidden release
    a step: results are released, decisions are chained, receipts export and verify."""
    from labtrust_gym.cli import main
    from labtrust_gym.plugins import registry

    scripted = registry("coordination_methods").get("scripted")

    class Wrapped(CoordinationMethod):
        def __init__(self, inner: Any) -> None:
            self.inner = inner
            self.pending: list[dict[str, Any]] = []

        @property
        def method_id(self) -> str:
            return "scripted_llm"

        def reset(self, seed: int, policy: Any, scale_config: Any) -> None:
            self.inner.reset(seed, policy, scale_config)

        def propose_actions(self, obs: Any, infos: Any, t: int) -> dict[str, Any]:
            out = dict(self.inner.propose_actions(obs, infos, t))
            out["runner_0"] = {"entry": "RELEASE_RESULT@next"}
            self.pending.append({"backend_id": "fake", "model": "m", "request_hash": "r",
                                 "answer_hash": "a", "tokens_in": 1, "tokens_out": 1,
                                 "latency_ms": 1.0, "agent_ids": ["runner_0"], "valid": True,
                                 "error": None})
            return out

        def pop_llm_decisions(self) -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = self.pending
            self.pending = []
            return out

    register_coordination_method(
        "scripted_llm", lambda p, r, s, k: Wrapped(scripted(p, r, s, k)), replace=True
    )
    run = tmp_path / "run"
    run.mkdir()
    from labtrust_gym.benchmarks.runner import run_benchmark

    doc = run_benchmark("throughput_sla", 1, 0, run / "r.json", coord_method="scripted_llm",
                        log_dir=run / "logs")
    m = doc["episodes"][0]["metrics"]
    assert m["throughput"] > 0 and m["shield_blocks"] >= m["steps"]
    capsys.readouterr()
    assert main(["export-receipts", "--run", str(run), "--out", str(tmp_path / "b")]) == 0
    assert main(["verify-bundle", str(tmp_path / "b")]) == 0, capsys.readouterr().err


class ExternalForbidden:
    """An external agent (eval-agent) whose every proposal its mask forbids."""

    def act(self, obs: Any, infos: Any, t: int) -> dict[str, Any]:
        return {"ops_0": _masked_entry(obs["ops_0"]["action_mask"])}


def test_an_external_agent_is_shielded_and_the_baseline_untouched(tmp_path: Path) -> None:
    _, jobs = prepare_jobs("throughput_sla", 1, 7, log_dir=tmp_path, agent_ids=("ops_0",),
                           agent_spec="tests.benchmarks.test_shield:ExternalForbidden")
    m = run_episode_job(jobs[0])["metrics"]
    assert m["shield_blocks"] == m["steps"]  # ops_0, every step; the baseline's: none blocked
    assert m["shield_proposals"] > m["shield_blocks"]
    records = _records(next(tmp_path.glob("*.jsonl")))
    blocked = {b["agent_id"] for r in records if "decision" in r for b in r["decision"]["blocks"]}
    assert blocked == {"ops_0"}
    assert not [r for r in records if (r.get("event") or {}).get("agent_id") == "ops_0"]
