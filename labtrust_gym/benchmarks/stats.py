"""Summary statistics across episodes: quantiles and 95% confidence intervals.

Pure Python on purpose: results must be byte-identical across processes and machines, so every
sum runs in a fixed order and no vectorised library chooses its own reduction order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

QUANTILE_LEVELS: tuple[tuple[str, float], ...] = (
    ("p05", 0.05),
    ("p25", 0.25),
    ("p50", 0.50),
    ("p75", 0.75),
    ("p95", 0.95),
)

# Two-sided 95% Student-t critical values t_{0.975, df} for df = 1..30.
_T975 = (
    12.706204736,
    4.302652730,
    3.182446305,
    2.776445105,
    2.570581836,
    2.446911851,
    2.364624252,
    2.306004135,
    2.262157163,
    2.228138852,
    2.200985160,
    2.178812830,
    2.160368656,
    2.144786688,
    2.131449546,
    2.119905299,
    2.109815578,
    2.100922040,
    2.093024054,
    2.085963447,
    2.079613845,
    2.073873068,
    2.068657610,
    2.063898562,
    2.059538553,
    2.055529439,
    2.051830516,
    2.048407142,
    2.045229642,
    2.042272456,
)
_Z975 = 1.959963984540054


def t_critical_975(df: int) -> float:
    """Critical value of Student's t for a two-sided 95% interval with ``df`` degrees of freedom."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    # Cornish-Fisher expansion around the normal quantile; error < 1e-6 for df > 30.
    z = _Z975
    v = float(df)
    return (
        z
        + (z**3 + z) / (4 * v)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
    )


def quantile(values: Sequence[float], q: float) -> float:
    """Quantile with linear interpolation between order statistics (Hyndman-Fan type 7)."""
    if not values:
        raise ValueError("quantile of an empty sequence")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile level must be in [0, 1], got {q}")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    frac = pos - lo
    if frac == 0.0 or lo == hi:
        return float(ordered[lo])
    return float(ordered[lo] + (ordered[hi] - ordered[lo]) * frac)


def mean(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("mean of an empty sequence")
    return math.fsum(values) / len(values)


def sample_std(values: Sequence[float]) -> float:
    """Sample standard deviation (n - 1 denominator); 0.0 for a single value."""
    n = len(values)
    if n < 2:
        return 0.0
    m = mean(values)
    return math.sqrt(math.fsum((x - m) ** 2 for x in values) / (n - 1))


def ci95_mean(values: Sequence[float]) -> tuple[float, float]:
    """Student-t 95% confidence interval of the mean; degenerate (mean, mean) for n = 1."""
    m = mean(values)
    n = len(values)
    if n < 2:
        return (m, m)
    half = t_critical_975(n - 1) * sample_std(values) / math.sqrt(n)
    return (m - half, m + half)


def summarize(values: Sequence[float]) -> dict[str, Any]:
    """Summary of one metric across episodes: n, mean, std, min, max, quantiles, ci95."""
    vals = [float(v) for v in values]
    low, high = ci95_mean(vals)
    return {
        "n": len(vals),
        "mean": mean(vals),
        "std": sample_std(vals),
        "min": min(vals),
        "max": max(vals),
        "quantiles": {name: quantile(vals, level) for name, level in QUANTILE_LEVELS},
        "ci95": {"low": low, "high": high, "method": "student_t"},
    }


def summarize_episode_metrics(episode_metrics: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Summaries for every numeric scalar metric present in at least one episode.

    Booleans and non-numeric values (dicts of counts, lists) are skipped; a metric that is None in
    some episodes is summarised over the episodes where it is a number (``n`` says how many).
    """
    names: set[str] = set()
    for metrics in episode_metrics:
        for key, value in metrics.items():
            if _is_number(value):
                names.add(key)
    summary: dict[str, Any] = {}
    for name in sorted(names):
        vals = [m[name] for m in episode_metrics if _is_number(m.get(name))]
        summary[name] = summarize(vals)
    return summary


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
