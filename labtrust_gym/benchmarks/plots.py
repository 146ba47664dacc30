"""Figures of a coordination study (``labtrust make-plots``), drawn with matplotlib.

matplotlib is the optional ``plots`` extra and is imported only here, when a figure is drawn.
Figures are built on ``matplotlib.figure.Figure`` with the Agg canvas (no pyplot, no global
backend switch), at a fixed size and dpi (``FIGSIZE`` x ``DPI`` = 800 x 500 pixels), with the
PNG ``Software`` and SVG ``Date``/``Creator`` metadata left out and a fixed SVG hash salt, so a
rerun on the same study and matplotlib version writes byte-identical files.

Input is the study directory's ``summary_coord.csv`` and ``pareto.csv``
(:mod:`labtrust_gym.benchmarks.study_summary`); output goes to ``<study>/plots/``:

* ``throughput.*``  — mean throughput of the clean cells per method (bars per scale), with the
  95% confidence interval as error bars;
* ``resilience.*``  — heatmap of mean throughput under each injection relative to the same
  method and scale without it (1.0 = unaffected), methods x injections; with another
  ``resilience_metric`` the file is ``resilience_<metric>.*``;
* ``pareto.*``      — throughput against violations for every cell, one panel per scale; the
  non-dominated cells of each (scale, injection) group are filled, the dominated ones hollow.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from labtrust_gym.errors import ConfigError, InvalidInputError

from .study_summary import PARETO_CSV, SUMMARY_FILE

FIGSIZE = (8.0, 5.0)
DPI = 100
FORMATS = ("png", "svg")
DEFAULT_RESILIENCE_METRIC = "throughput"
CLEAN = "none"
_RC = {
    "svg.hashsalt": "labtrust-gym",
    "svg.fonttype": "path",
    "font.family": "DejaVu Sans",
    "font.size": 9.0,
    "axes.titlesize": 10.0,
}


def _matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ConfigError(
            "make-plots needs matplotlib: install the plots extra with "
            "`pip install 'labtrust-gym[plots]'`."
        ) from None
    return matplotlib


def _read_csv(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise InvalidInputError(
            f"{str(path)!r} not found: --in must be a study directory written by "
            "`labtrust run-coordination-study`."
        )
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [{k: _value(v) for k, v in row.items()} for row in rows]


def _value(text: str) -> Any:
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return text


def _num(value: Any) -> float:
    return float(value) if isinstance(value, float) and math.isfinite(value) else math.nan


def _ordered(values: Sequence[Any]) -> list[str]:
    """Distinct values in first-seen order (the spec's order: rows follow it)."""
    seen: dict[str, None] = {}
    for v in values:
        seen.setdefault(str(v), None)
    return list(seen)


def _new_figure() -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, out_dir: Path, name: str, formats: Sequence[str]) -> list[Path]:
    import io

    from labtrust_gym.fileio import atomic_write_bytes

    written = []
    for fmt in formats:
        buf = io.BytesIO()
        metadata = {"Software": None} if fmt == "png" else {"Date": None, "Creator": None}
        fig.savefig(buf, format=fmt, dpi=DPI, metadata=metadata)
        written.append(atomic_write_bytes(out_dir / f"{name}.{fmt}", buf.getvalue()))
    return written


def plot_throughput(rows: Sequence[dict[str, Any]]) -> Any:
    fig = _new_figure()
    ax = fig.add_subplot(1, 1, 1)
    clean = [r for r in rows if r["injection"] == CLEAN]
    methods = _ordered([r["method"] for r in clean])
    scales = _ordered([r["scale"] for r in clean])
    width = 0.8 / max(len(scales), 1)
    for j, scale in enumerate(scales):
        by_method = {r["method"]: r for r in clean if r["scale"] == scale}
        xs, heights, lows, highs = [], [], [], []
        for i, method in enumerate(methods):
            row = by_method.get(method)
            if row is None:
                continue
            mean = _num(row.get("throughput_mean"))
            xs.append(i - 0.4 + width * (j + 0.5))
            heights.append(mean)
            # no interval (fewer than two episodes): no error bar rather than a NaN one
            low, high = _num(row.get("throughput_ci95_low")), _num(row.get("throughput_ci95_high"))
            lows.append(max(mean - low, 0.0) if math.isfinite(low) else 0.0)
            highs.append(max(high - mean, 0.0) if math.isfinite(high) else 0.0)
        ax.bar(xs, heights, width=width * 0.9, yerr=[lows, highs], capsize=3, label=scale,
               color=f"C{j % 10}")
    ax.set_xticks(range(len(methods)))
    ax.set_xticklabels(methods, rotation=15, ha="right")
    ax.set_ylabel("results released per episode")
    ax.set_title("Throughput without injection (mean, 95% CI)")
    if scales:
        ax.legend(title="scale", loc="best")
    fig.subplots_adjust(left=0.1, right=0.97, top=0.92, bottom=0.2)
    return fig


def resilience_matrix(
    rows: Sequence[dict[str, Any]], metric: str = "throughput"
) -> tuple[list[str], list[str], list[list[float]]]:
    """(methods, column labels, values): ``metric`` mean under each injection divided by the
    same method and scale's clean mean (NaN when the clean mean is 0 or missing)."""
    methods = _ordered([r["method"] for r in rows])
    scales = _ordered([r["scale"] for r in rows])
    injections = [i for i in _ordered([r["injection"] for r in rows]) if i != CLEAN]
    index = {(r["method"], r["scale"], r["injection"]): r for r in rows}
    columns = [(inj, sc) for sc in scales for inj in injections]
    labels = [inj if len(scales) == 1 else f"{inj}\n({sc})" for inj, sc in columns]
    values: list[list[float]] = []
    for method in methods:
        line = []
        for inj, sc in columns:
            base = index.get((method, sc, CLEAN))
            hit = index.get((method, sc, inj))
            num = _num(hit.get(f"{metric}_mean")) if hit else math.nan
            den = _num(base.get(f"{metric}_mean")) if base else math.nan
            line.append(num / den if den and math.isfinite(den) else math.nan)
        values.append(line)
    return methods, labels, values


#: Metrics where more is better, checked first: names ending in one of these suffixes (conflicts
#: *avoided*, ratios to clean) or containing one of these fragments (throughput, on-time and
#: compliance rates, attacks contained / detected / refused, utilization, results released,
#: reward). ``sec_time_to_containment_s`` is a time, so it matches no fragment here.
HIGHER_IS_BETTER_SUFFIXES = ("_avoided", "_ratio")
HIGHER_IS_BETTER_PARTS = ("throughput", "on_time", "compliance", "sec_contained", "sec_detected",
                          "refused", "utilization", "released_per", "reward")
#: Name fragments of the other metrics where less is better (their heatmap colours are
#: reversed). A metric matching neither list is coloured as higher-is-better.
LOWER_IS_BETTER_PARTS = ("turnaround", "violation", "blocked", "block_rate", "time_to", "harm",
                         "lost", "late", "held", "holds", "rejected", "injected_accepted",
                         "conflict", "stale", "dropped", "idle", "delay", "attack_success", "queue",
                         "reruns", "gini", "blocks", "errors", "invalid", "cost", "welfare_loss",
                         "colluder", "discarded", "latency", "messages", "replans", "budget_waits",
                         "unknown_actions", "masked_proposals", "tokens", "calls")


def higher_is_better(metric: str) -> bool:
    return metric.endswith(HIGHER_IS_BETTER_SUFFIXES) or any(
        part in metric for part in HIGHER_IS_BETTER_PARTS
    )


def lower_is_better(metric: str) -> bool:
    """True when less of ``metric`` is better: it matches no higher-is-better rule and contains
    a fragment of :data:`LOWER_IS_BETTER_PARTS`."""
    return not higher_is_better(metric) and any(part in metric for part in LOWER_IS_BETTER_PARTS)


def plot_resilience(rows: Sequence[dict[str, Any]], metric: str = "throughput") -> Any:
    import numpy as np

    methods, labels, values = resilience_matrix(rows, metric)
    fig = _new_figure()
    ax = fig.add_subplot(1, 1, 1)
    data = np.array(values, dtype=float).reshape(len(methods), len(labels))
    finite = data[np.isfinite(data)]
    from matplotlib.colors import TwoSlopeNorm

    # 1.0 (as clean) is the neutral middle colour; green is better than clean, red worse
    vmax = max(2.0, float(finite.max())) if finite.size else 2.0
    norm = TwoSlopeNorm(vmin=0.0, vcenter=1.0, vmax=vmax)
    cmap = "RdYlGn_r" if lower_is_better(metric) else "RdYlGn"
    image = ax.imshow(np.ma.masked_invalid(data), cmap=cmap, norm=norm, aspect="auto")
    for i in range(data.shape[0]):
        for j in range(data.shape[1]):
            text = "n/a" if not math.isfinite(data[i, j]) else f"{data[i, j]:.2f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=9)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(methods)))
    ax.set_yticklabels(methods)
    ax.set_title(f"Resilience: {metric} under injection / {metric} clean (same seeds)")
    fig.colorbar(image, ax=ax, label="ratio to clean")
    fig.subplots_adjust(left=0.22, right=0.98, top=0.92, bottom=0.27)
    return fig


def plot_pareto(prows: Sequence[dict[str, Any]]) -> Any:
    from matplotlib.lines import Line2D

    fig = _new_figure()
    scales = _ordered([r["scale"] for r in prows])
    methods = _ordered([r["method"] for r in prows])
    injections = _ordered([r["injection"] for r in prows])
    markers = "os^Dvp*hX<>"
    axes = [fig.add_subplot(1, max(len(scales), 1), k + 1) for k in range(len(scales))]
    for ax, scale in zip(axes, scales, strict=True):
        violations = [_num(r["violations_total_mean"]) for r in prows if r["scale"] == scale]
        if not any(v > 0 for v in violations):  # all zero: a readable axis instead of +-0.05
            ax.set_xlim(-0.5, 1.5)
        for r in (r for r in prows if r["scale"] == scale):
            color = f"C{methods.index(r['method']) % 10}"
            front = r["non_dominated"] == "true"
            ax.scatter(
                [_num(r["violations_total_mean"])],
                [_num(r["throughput_mean"])],
                marker=markers[injections.index(r["injection"]) % len(markers)],
                s=60,
                facecolors=color if front else "none",
                edgecolors=color,
                linewidths=1.5,
            )
        ax.set_title(f"scale {scale}")
        ax.set_xlabel("violations (mean, lower is better)")
        ax.set_ylabel("throughput (mean, higher is better)")
    handles = [Line2D([], [], color=f"C{i % 10}", marker="o", linestyle="", label=m)
               for i, m in enumerate(methods)]
    handles += [Line2D([], [], color="black", marker=markers[i % len(markers)], linestyle="",
                       markerfacecolor="none", label=f"injection {inj}")
                for i, inj in enumerate(injections)]
    fig.legend(handles=handles, loc="center right", fontsize=7, framealpha=0.9)
    fig.suptitle("Pareto: filled = non-dominated in its (scale, injection) group\n"
                 "(throughput, violations and p95 turnaround)", x=0.4)
    fig.subplots_adjust(left=0.09, right=0.72, top=0.84, bottom=0.12, wspace=0.35)
    return fig


def _metrics_of_clean_cells(rows: Sequence[dict[str, Any]], known: Sequence[str]) -> list[str]:
    """The metrics of ``known`` with a finite, non-zero mean in at least one clean cell (a
    ratio to a clean value of 0 is undefined: such a heatmap would be all n/a)."""
    clean = [r for r in rows if r["injection"] == CLEAN]
    return [
        m for m in known
        if any(math.isfinite(v := _num(r.get(f"{m}_mean"))) and v != 0 for r in clean)
    ]


def resilience_name(metric: str) -> str:
    """The resilience figure's file stem: ``resilience`` for throughput, else
    ``resilience_<metric>`` (so figures of different metrics never overwrite or mix)."""
    if metric == DEFAULT_RESILIENCE_METRIC:
        return "resilience"
    return "resilience_" + re.sub(r"[^A-Za-z0-9._-]", "_", metric)


def make_plots(
    study_dir: str | Path,
    *,
    formats: Sequence[str] = ("png",),
    resilience_metric: str = DEFAULT_RESILIENCE_METRIC,
) -> list[Path]:
    """Draw the three figures of the study in ``study_dir`` into ``study_dir/plots/``;
    the resilience heatmap compares ``resilience_metric`` (a summary metric) with clean."""
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise InvalidInputError(f"Figure formats must be among {FORMATS}, got {list(formats)}.")
    base = Path(study_dir)
    rows = _read_csv(base / SUMMARY_FILE)
    prows = _read_csv(base / PARETO_CSV)
    if not rows:
        raise InvalidInputError(f"{str(base / SUMMARY_FILE)!r} has no cells to plot.")
    known = sorted(k[: -len("_mean")] for k in rows[0] if k.endswith("_mean"))
    if resilience_metric not in known:
        from labtrust_gym.errors import UnknownIdError

        raise UnknownIdError.for_id("study metric", resilience_metric, known)
    usable = _metrics_of_clean_cells(rows, known)
    if resilience_metric not in usable:
        raise InvalidInputError(
            f"--metric {resilience_metric}: no clean (injection {CLEAN!r}) cell has a non-zero "
            "value for it, so the resilience heatmap has no baseline to divide by. The sec_* "
            "metrics exist only in injected cells and already compare each one with its clean twin "
            "(e.g. sec_throughput_ratio, sec_p95_turnaround_delta_s; see summary_coord.csv). "
            f"Metrics usable here: {', '.join(usable)}."
        )
    matplotlib = _matplotlib()
    from labtrust_gym.fileio import ensure_output_dir

    out = ensure_output_dir(base / "plots", label="plots directory")
    written: list[Path] = []
    with matplotlib.rc_context(_RC):
        for name, fig in (
            ("throughput", plot_throughput(rows)),
            (resilience_name(resilience_metric), plot_resilience(rows, resilience_metric)),
            ("pareto", plot_pareto(prows)),
        ):
            written += _save(fig, out, name, formats)
    return written


__all__ = [
    "DPI",
    "FIGSIZE",
    "higher_is_better",
    "lower_is_better",
    "make_plots",
    "resilience_matrix",
    "resilience_name",
]
