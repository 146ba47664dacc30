"""Summary statistics: quantiles, t critical values and confidence intervals."""

from __future__ import annotations

import itertools
import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labtrust_gym.benchmarks.stats import (
    ci95_mean,
    quantile,
    sample_std,
    summarize,
    summarize_episode_metrics,
    t_critical_975,
)

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


def test_quantile_matches_linear_interpolation_definition() -> None:
    values = [10.0, 1.0, 4.0, 7.0]  # sorted: 1 4 7 10
    assert quantile(values, 0.0) == 1.0
    assert quantile(values, 1.0) == 10.0
    assert quantile(values, 0.5) == pytest.approx(5.5)
    # position (n-1)*q = 3*0.25 = 0.75 → 1 + 0.75*(4-1)
    assert quantile(values, 0.25) == pytest.approx(3.25)


@given(st.lists(finite, min_size=1, max_size=40), st.floats(min_value=0, max_value=1))
def test_quantile_is_bounded_and_monotone(values: list[float], q: float) -> None:
    v = quantile(values, q)
    assert min(values) <= v <= max(values)
    assert quantile(values, q / 2) <= v + 1e-9


def test_quantile_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        quantile([], 0.5)
    with pytest.raises(ValueError):
        quantile([1.0], 1.5)


def test_t_critical_table_and_expansion_are_continuous() -> None:
    assert t_critical_975(1) == pytest.approx(12.7062, abs=1e-4)
    assert t_critical_975(30) == pytest.approx(2.0423, abs=1e-4)
    # df = 31 comes from the expansion; known value 2.0395
    assert t_critical_975(31) == pytest.approx(2.0395, abs=1e-4)
    assert t_critical_975(120) == pytest.approx(1.9799, abs=1e-4)
    assert t_critical_975(10_000) == pytest.approx(1.96, abs=1e-3)
    values = [t_critical_975(df) for df in range(1, 200)]
    assert all(a > b for a, b in itertools.pairwise(values))


def test_ci95_contains_the_mean_and_shrinks_with_n() -> None:
    rng = random.Random(3)
    small = [rng.gauss(5, 1) for _ in range(5)]
    large = [rng.gauss(5, 1) for _ in range(500)]
    lo_s, hi_s = ci95_mean(small)
    lo_l, hi_l = ci95_mean(large)
    assert lo_s < sum(small) / 5 < hi_s
    assert (hi_l - lo_l) < (hi_s - lo_s)
    assert lo_l < 5 < hi_l


def test_ci95_hand_computed() -> None:
    values = [1.0, 2.0, 3.0]
    half = 4.302652730 * 1.0 / math.sqrt(3)
    assert ci95_mean(values) == pytest.approx((2 - half, 2 + half))
    assert sample_std(values) == pytest.approx(1.0)
    assert ci95_mean([4.0]) == (4.0, 4.0)


def test_summarize_episode_metrics_skips_non_numbers() -> None:
    episodes = [
        {"throughput": 3, "p95_turnaround_s": None, "ok": True, "by": {"a": 1}},
        {"throughput": 5, "p95_turnaround_s": 100.0, "ok": False, "by": {"a": 2}},
    ]
    summary = summarize_episode_metrics(episodes)
    assert set(summary) == {"throughput", "p95_turnaround_s"}
    assert summary["throughput"]["mean"] == 4.0
    assert summary["throughput"]["quantiles"]["p50"] == 4.0
    assert summary["p95_turnaround_s"]["n"] == 1
    assert summarize([2.0, 2.0])["std"] == 0.0
