"""Regressions for the risk-injection review findings (issue 10 follow-up): collusion that costs
the lab, containment that is not an end-of-episode artefact, delayed orders recorded when held,
violation signals matched by invariant and target, a harm tolerance, the clean twin's LLM spend."""

from __future__ import annotations

from labtrust_gym.benchmarks.runner import prepare_jobs, run_episode_job


def _metrics(injection: str, seed: int, method: str | None, scale: str | None = None) -> dict:
    _, jobs = prepare_jobs(
        "coord_risk", 1, seed, injection=injection, coord_method=method, scale=scale
    )
    return run_episode_job(jobs[0])["metrics"]


def test_collusion_on_the_real_market_auction_costs_turnaround() -> None:
    """Before: the shading ring won work and served it like honest agents, so every seed's
    outcome equalled the clean twin's. Now ring members slow-walk their awards (markup)."""
    changed = 0
    for seed in (42, 43, 44):
        m = _metrics("INJ-COLLUSION-001", seed, "market_auction")
        assert m["sec_collusion_native"] == 1 and m["sec_colluder_awards"] > 0
        assert m["sec_ring_idle_steps"] > 0
        delta = (m["sec_turnaround_delta_s"], m["sec_throughput_delta"], m["sec_violations_delta"])
        changed += delta != (0.0, 0, 0)
    assert changed >= 2
