"""Every metric in docs/metrics.md varies across the built-in tasks or seeds — or the doc says
why it is constant ("Constant by design")."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import attrs

from labtrust_gym.benchmarks.runner import prepare_jobs, run_episode_job
from tests.benchmarks.builtin_names import BUILTIN_TASKS as TASKS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "metrics.md").read_text(encoding="utf-8")


def _documented_metrics() -> set[str]:
    names: set[str] = set()
    for line in DOC.splitlines():
        m = re.match(r"^\| (`[^|]+`) \|", line)
        if m:
            names.update(re.findall(r"`([a-z0-9_]+)`", m.group(1)))
    return names


def _constant_by_design() -> set[str]:
    section = DOC.split("### Constant by design", 1)[1].split("\n## ", 1)[0]
    return {n for line in section.splitlines() if line.startswith("- ")
            for n in re.findall(r"`([a-z0-9_]+)`", line.split("—")[0])}


def _episodes() -> list[dict[str, Any]]:
    out = []
    for task in TASKS:
        _, jobs = prepare_jobs(task, 2, 4)  # seeds 4 and 5
        out.extend(run_episode_job(job)["metrics"] for job in jobs)
    _, jobs = prepare_jobs("coord_risk", 2, 4, injection="INJ-COMMS-DROP-001")
    out.extend(run_episode_job(job)["metrics"] for job in jobs)
    # the sec_* metrics: detected and contained, refused and accepted, not applied, violations
    for task, injection, scale in (
        ("coord_risk", "INJ-DEVICE-FAULT-001", None),
        ("coord_risk", "INJ-QC-DRIFT-001", None),
        ("qc_cascade", "INJ-QC-DRIFT-001", None),  # a drifted result held, not released
        ("coord_risk", "INJ-INSIDER-001", None),
        ("coord_risk", "INJ-ID-SPOOF-001", "small_smoke"),  # no supervisor: not applied
        ("coord_risk", "INJ-DOOR-STUCK-001", None),
        ("adversarial_disruption", "INJ-DOOR-STUCK-001", None),
        ("coord_risk", "INJ-COMMS-DELAY-001", None),  # held orders discarded at the end
        ("coord_risk", "INJ-COMMS-DELAY-001", "small_smoke"),
    ):
        _, jobs = prepare_jobs(task, 1, 4, injection=injection, scale=scale)
        out.extend(run_episode_job(job)["metrics"] for job in jobs)
    # a real bidder ring in market_auction (coord_colluder_awards, coord_welfare_loss)
    _, jobs = prepare_jobs("coord_risk", 1, 4, injection="INJ-COLLUSION-001",
                           coord_method="market_auction")
    out.extend(run_episode_job(job)["metrics"] for job in jobs)
    for method in ("random", "kernel_whca", "hierarchical_hub_rr", "gossip_consensus",
                   "market_auction"):  # the coord_* metrics (messages: gossip, auction)
        _, jobs = prepare_jobs("coord_scale", 2, 4, coord_method=method, scale="small_smoke")
        out.extend(run_episode_job(job)["metrics"] for job in jobs)
    _, jobs = prepare_jobs("coord_scale", 2, 4, coord_method="random", scale="small_8")
    out.extend(run_episode_job(job)["metrics"] for job in jobs)  # full rooms: cell conflicts
    # the scale path (per-agent proposals + combine), forced on the small lab
    _, jobs = prepare_jobs("coord_scale", 2, 4, coord_method="kernel_whca", scale="small_8")
    out.extend(run_episode_job(attrs.evolve(job, coord_max_agents=2))["metrics"] for job in jobs)
    out.extend(_llm_episodes())
    return out


class _Mixed:
    """An LLM backend whose answers vary by step: invalid, unknown action, masked action, a
    failed call, or the heuristic's answer; latency varies too (the llm_* metrics)."""

    backend_id = "mixed_test"

    def configure(self, settings: Any) -> _Mixed:
        return self

    def complete(self, request: Any) -> Any:
        from labtrust_gym.errors import LLMBackendError
        from labtrust_gym.llm.contract import build_response
        from labtrust_gym.llm.heuristic_backend import HeuristicBackend

        step = int(request.metadata["step"])
        agent = request.metadata["agents"][0]
        if step % 7 == 6:
            raise LLMBackendError("scripted timeout", kind="timeout", backend_id="mixed_test")
        text = {
            0: '{"actions": [',
            1: json.dumps({"actions": [{"agent": agent, "action": "FLY@MOON"}]}),
            2: json.dumps({"actions": [{"agent": agent, "action": "RELEASE_RESULT@held"}]}),
        }.get(step % 4) or HeuristicBackend().complete(request).text
        return build_response(request, text, backend_id="mixed_test", model="mixed",
                              prompt_tokens=10 + step, completion_tokens=5,
                              latency_s=0.001 * (step % 5))


def _llm_episodes() -> list[dict[str, Any]]:
    from labtrust_gym.testing import registered

    out = []
    runs: list[tuple[str, dict[str, Any]]] = [
        ("llm_agent", {"call_budget": 1}),
        ("llm_hierarchical", {}),
        ("llm_central_planner", {"proposal_backend": "mixed_test"}),
    ]
    with registered("llm_backends", "mixed_test", _Mixed):
        for method, params in runs:
            _, jobs = prepare_jobs("coord_scale", 1, 4, coord_method=method, scale="small_smoke",
                                   coord_params=params)
            out.extend(run_episode_job(job)["metrics"] for job in jobs)
        # an injected LLM run: the clean twin's LLM usage (sec_clean_llm_*)
        for method, params in runs:
            _, jobs = prepare_jobs("coord_risk", 1, 4, coord_method=method, scale="small_smoke",
                                   coord_params=params, injection="INJ-COMMS-DROP-001")
            out.extend(run_episode_job(job)["metrics"] for job in jobs)
    return out


def test_every_documented_metric_varies_or_is_documented_constant() -> None:
    documented = _documented_metrics()
    constant = _constant_by_design()
    assert {"throughput", "on_time_rate", "tokens_consumed", "containment_rate"} <= documented
    assert constant == {
        "containment_rate",
        "insider_containment_fraction",
        "coord_planning_wall_ms_per_step",
    }
    episodes = _episodes()
    seen: dict[str, set[str]] = {}
    for metrics in episodes:
        for name, value in metrics.items():
            seen.setdefault(name, set()).add(json.dumps(value, sort_keys=True))
    missing = sorted(documented - set(seen))
    assert not missing, f"documented metrics never produced: {missing}"
    flat = sorted(n for n in documented - constant if len(seen[n]) < 2)
    assert not flat, f"metrics constant across tasks and seeds but not documented: {flat}"
    for name in constant - {"coord_planning_wall_ms_per_step"}:
        assert len(seen[name] - {"null"}) == 1, (name, seen[name])
    assert seen["coord_planning_wall_ms_per_step"] == {"null"}
