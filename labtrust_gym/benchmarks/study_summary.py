"""A study's tables: ``summary_coord.csv`` (one row per cell) and the Pareto table.

Metrics are read generically from each cell's ``results.json``: every numeric or boolean
per-episode metric (``throughput``, ``violations_total``, ``coord_*``, ``sec_*``, a plugin
aggregator's own …) gets its mean and Student-t 95% confidence interval across the episodes where
it has a value, and that number of episodes as ``<metric>_n`` (booleans count 0/1, so their mean
is a rate; dicts and lists are left out). With fewer than two values there is no interval: the
CI fields are left empty rather than collapsing to the mean.
Rows follow the spec's cell order; columns are the fixed ones, the three headline metrics, then
every other metric in sorted order.

The Pareto table compares the methods of each (scale, injection) group — cells of different
scales or injections are different problems — on mean throughput (higher is better), mean
violations and mean p95 turnaround (lower is better). A cell is non-dominated when no other cell
of its group is at least as good on all three and better on one. A missing value (no result
released, so no turnaround) counts as the worst possible.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .stats import summarize

if TYPE_CHECKING:
    from .studies import CellJob, StudySpec

SUMMARY_FILE = "summary_coord.csv"
PARETO_CSV = "pareto.csv"
PARETO_MD = "pareto.md"
#: (metric, True when higher is better): the Pareto objectives, also the summary's first metrics.
OBJECTIVES: tuple[tuple[str, bool], ...] = (
    ("throughput", True),
    ("violations_total", False),
    ("p95_turnaround_s", False),
)
#: Fewer values than this give no confidence interval (empty CI fields): one value has no spread.
MIN_CI_N = 2
KEY_COLUMNS = ("cell_id", "method", "scale", "injection", "task", "episodes", "seeds")


def cell_row(cell: CellJob, doc: Mapping[str, Any]) -> dict[str, Any]:
    """One summary row: the cell's keys, then ``<metric>_mean/_ci95_low/_ci95_high/_n`` (the CI
    is None, an empty field, when fewer than :data:`MIN_CI_N` episodes have the metric)."""
    summary = episode_stats([ep["metrics"] for ep in doc["episodes"]])
    row: dict[str, Any] = {
        "cell_id": cell.cell_id,
        "method": cell.method,
        "scale": cell.scale,
        "injection": cell.injection,
        "task": cell.task,
        "episodes": len(doc["episodes"]),
        "seeds": " ".join(str(s) for s in doc["seeds"]),
    }
    for metric, stats in summary.items():
        has_ci = stats["n"] >= MIN_CI_N
        row[f"{metric}_mean"] = stats["mean"]
        row[f"{metric}_ci95_low"] = stats["ci95"]["low"] if has_ci else None
        row[f"{metric}_ci95_high"] = stats["ci95"]["high"] if has_ci else None
        row[f"{metric}_n"] = stats["n"]
    return row


def _scalar(value: Any) -> float | None:
    """A metric value as a number: ints and finite floats as they are, booleans as 0/1 (their
    mean is a rate, e.g. how often an attack succeeded); anything else (None, dicts) is None."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def episode_stats(episode_metrics: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per metric: mean and 95% CI over the episodes where it is a number or a boolean."""
    names = sorted({k for m in episode_metrics for k, v in m.items() if _scalar(v) is not None})
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        values = [v for v in (_scalar(m.get(name)) for m in episode_metrics) if v is not None]
        out[name] = summarize(values)
    return out


def summary_columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    headline = [m for m, _ in OBJECTIVES]
    metrics = sorted(
        {k.rsplit("_", 1)[0] for row in rows for k in row if k.endswith("_mean")} - set(headline)
    )
    cols = list(KEY_COLUMNS)
    for metric in [*headline, *metrics]:
        cols += [f"{metric}_mean", f"{metric}_ci95_low", f"{metric}_ci95_high", f"{metric}_n"]
    return cols


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else value


def to_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return buf.getvalue()


def _objective(row: Mapping[str, Any], metric: str, higher: bool) -> float:
    """The value to minimise (higher-is-better metrics negated); missing = worst."""
    value = row.get(f"{metric}_mean")
    if not isinstance(value, int | float) or not math.isfinite(value):
        return math.inf
    return -float(value) if higher else float(value)


def dominates(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """``a`` is at least as good as ``b`` on every objective and better on one."""
    va = [_objective(a, m, h) for m, h in OBJECTIVES]
    vb = [_objective(b, m, h) for m, h in OBJECTIVES]
    return all(x <= y for x, y in zip(va, vb, strict=True)) and va != vb


def pareto_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per (scale, injection) group: each cell's objectives, its non-dominated flag and the
    methods that dominate it. Groups in first-seen order, cells in row order."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["scale"], row["injection"]), []).append(row)
    out: list[dict[str, Any]] = []
    for (scale, injection), members in groups.items():
        for row in members:
            by = [o["method"] for o in members if o is not row and dominates(o, row)]
            entry: dict[str, Any] = {
                "scale": scale,
                "injection": injection,
                "method": row["method"],
                "cell_id": row["cell_id"],
            }
            for metric, _ in OBJECTIVES:
                entry[f"{metric}_mean"] = row.get(f"{metric}_mean")
            entry["non_dominated"] = not by
            entry["dominated_by"] = " ".join(by)
            out.append(entry)
    return out


def _fmt(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def pareto_markdown(study_id: str, prows: Sequence[Mapping[str, Any]]) -> str:
    lines = [
        f"# Pareto table: study {study_id}",
        "",
        "Per scale and injection: mean throughput (higher is better), mean violations and mean "
        "p95 turnaround in seconds (lower is better). A method is non-dominated when no other "
        "method of its group is at least as good on all three and strictly better on one.",
    ]
    current: tuple[str, str] | None = None
    for row in prows:
        group = (row["scale"], row["injection"])
        if group != current:
            current = group
            lines += [
                "",
                f"## scale {group[0]}, injection {group[1]}",
                "",
                "| method | throughput | violations | p95 turnaround s | non-dominated "
                "| dominated by |",
                "|---|---|---|---|---|---|",
            ]
        lines.append(
            "| "
            + " | ".join(
                _fmt(v)
                for v in (
                    row["method"],
                    row["throughput_mean"],
                    row["violations_total_mean"],
                    row["p95_turnaround_s_mean"],
                    row["non_dominated"],
                    row["dominated_by"],
                )
            )
            + " |"
        )
    return "\n".join(lines) + "\n"


PARETO_COLUMNS = (
    "scale",
    "injection",
    "method",
    "cell_id",
    *(f"{m}_mean" for m, _ in OBJECTIVES),
    "non_dominated",
    "dominated_by",
)


def write_study_tables(
    spec: StudySpec, cells: Sequence[CellJob], out_dir: Path, *, policy_root: Path | None = None
) -> list[Path]:
    """Read every cell's results (validated) and write the summary CSV and Pareto CSV/Markdown
    into ``out_dir`` atomically."""
    from labtrust_gym.fileio import atomic_write_text

    from .results import read_results

    rows = [
        cell_row(c, read_results(out_dir / "cells" / c.cell_id / "results.json",
                                 policy_root=policy_root))
        for c in cells
    ]
    prows = pareto_rows(rows)
    pareto_csv_rows = [
        {**r, "non_dominated": "true" if r["non_dominated"] else "false"} for r in prows
    ]
    return [
        atomic_write_text(out_dir / SUMMARY_FILE, to_csv(rows, summary_columns(rows))),
        atomic_write_text(out_dir / PARETO_CSV, to_csv(pareto_csv_rows, PARETO_COLUMNS)),
        atomic_write_text(out_dir / PARETO_MD, pareto_markdown(spec.study_id, prows)),
    ]


__all__ = [
    "MIN_CI_N",
    "OBJECTIVES",
    "PARETO_CSV",
    "PARETO_MD",
    "SUMMARY_FILE",
    "cell_row",
    "dominates",
    "pareto_rows",
    "write_study_tables",
]
