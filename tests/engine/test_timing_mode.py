"""timing_mode: "explicit" runs take the nominal service time; "simulated" draws them (seeded)."""

from __future__ import annotations

import statistics
from types import SimpleNamespace

import pytest

from labtrust_gym.benchmarks.runner import run_benchmark
from labtrust_gym.engine.actions_lab import service_time
from labtrust_gym.engine.initial_state import default_initial_state
from labtrust_gym.errors import InvalidInputError

from .helpers import make_engine


def _fake_engine(simulated: bool, seed: int = 0) -> SimpleNamespace:
    import random

    return SimpleNamespace(timing_simulated=simulated, service_rng=random.Random(seed))


def test_explicit_mode_uses_nominal_service_time() -> None:
    spec = {"service_time_s": 120, "service_time_cv": 0.2}
    assert {service_time(_fake_engine(False), spec) for _ in range(20)} == {120.0}


def test_simulated_mode_draws_around_nominal_with_the_policy_spread() -> None:
    spec = {"service_time_s": 120, "service_time_cv": 0.2}
    eng = _fake_engine(True, seed=3)
    draws = [service_time(eng, spec) for _ in range(4000)]
    assert statistics.fmean(draws) == pytest.approx(120, rel=0.03)
    assert statistics.pstdev(draws) / statistics.fmean(draws) == pytest.approx(0.2, rel=0.1)
    again = _fake_engine(True, seed=3)
    assert [service_time(again, spec) for _ in range(50)] == draws[:50]
    assert service_time(_fake_engine(True), {"service_time_s": 60}) == 60.0  # no cv: fixed


def test_engine_rejects_unknown_timing_mode() -> None:
    state = default_initial_state(0)
    state["timing_mode"] = "real_time"
    with pytest.raises(InvalidInputError, match="timing_mode"):
        make_engine(state)


def test_timing_mode_changes_benchmark_outcomes_deterministically() -> None:
    def metrics(timing: str, seed: int) -> list[dict[str, object]]:
        doc = run_benchmark("throughput_sla", 2, seed, None, timing=timing)
        return [ep["metrics"] for ep in doc["episodes"]]

    explicit = metrics("explicit", 5)
    simulated = metrics("simulated", 5)
    assert simulated == metrics("simulated", 5)
    assert simulated != explicit
    assert all(m["throughput"] > 0 for m in simulated)
    util = [m["device_utilization"] for m in simulated]
    assert util != [m["device_utilization"] for m in explicit]
