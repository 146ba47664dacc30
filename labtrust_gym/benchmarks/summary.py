"""Summaries of results files: markdown tables and the v0.2 / v0.3 summary CSVs.

``summary_v0.2.csv`` has one row per results file (task, baseline, episodes, and mean/std of the
CI-stable headline metrics); ``summary_v0.3.csv`` has one row per (results file, metric) with the
quantiles and the 95% confidence interval. Rows are sorted, numbers formatted with ``repr`` of
the float, so the files are deterministic.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from labtrust_gym.errors import InvalidInputError

from .stats import summarize_episode_metrics

#: Headline metrics shown in tables and the v0.2 CSV, in this order.
HEADLINE_METRICS: tuple[str, ...] = (
    "throughput",
    "p50_turnaround_s",
    "p95_turnaround_s",
    "p95_stat_turnaround_s",
    "on_time_rate",
    "violations_total",
    "blocked_total",
    "holds_count",
    "critical_communication_compliance",
    "containment_rate",
)


def find_results(paths: Iterable[str | Path]) -> list[Path]:
    """Results files named by ``paths``: files as given, directories searched recursively."""
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_file():
            found.append(p)
        elif p.is_dir():
            found.extend(sorted(q for q in p.rglob("*.json") if _looks_like_results(q)))
        else:
            raise InvalidInputError(
                f"{str(p)!r} does not exist (expected a results file or directory)."
            )
    if not found:
        raise InvalidInputError(
            f"No results files found in {', '.join(repr(str(p)) for p in paths)}."
        )
    return found


def _looks_like_results(path: Path) -> bool:
    import json

    try:
        head = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(head, dict)
        and head.get("schema_version") in ("0.2", "0.3")
        and "episodes" in head
    )


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-"
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def check_summary(doc: Mapping[str, Any], where: str) -> None:
    """Refuse a results document whose stored ``summary`` disagrees with its episodes.

    The summary is recomputed from ``episodes[].metrics``; a stored one that differs (an edited
    file, or one written by an incompatible version) raises ``EvidenceError``
    (``EVIDENCE.SUMMARY_MISMATCH``) naming the first metric that differs.
    """
    from labtrust_gym.errors import EvidenceError
    from labtrust_gym.fileio import canonical_json

    stored = doc.get("summary")
    if stored is None:
        return
    recomputed = summarize_episode_metrics([ep["metrics"] for ep in doc["episodes"]])
    if canonical_json(stored) == canonical_json(recomputed):
        return
    metrics = sorted(set(stored) | set(recomputed)) if isinstance(stored, Mapping) else []
    first = next(
        (m for m in metrics if canonical_json(stored.get(m)) != canonical_json(recomputed.get(m))),
        "(the summary itself)",
    )
    raise EvidenceError(
        f"{where}: the stored summary disagrees with the episodes it summarises (first "
        f"difference: {first!r}); the file was edited or written by another version. "
        "Refusing to summarise it; re-run the benchmark to regenerate it.",
        code="EVIDENCE.SUMMARY_MISMATCH",
    )


def _summary_of(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    """Per-metric statistics across a results document's episodes, always recomputed from the
    episodes (a stored v0.3 ``summary`` is only checked against them: :func:`check_summary`)."""
    return summarize_episode_metrics([ep["metrics"] for ep in doc["episodes"]])


def headline(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Mean of each headline metric across the document's episodes (None if never numeric)."""
    summary = _summary_of(doc)
    return {m: (summary[m]["mean"] if m in summary else None) for m in HEADLINE_METRICS}


def markdown_table(docs: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    """One row per (label, results document) with the episode count and headline means.

    The ``run`` column is shown only when some label differs from its task id.
    """
    cols = (
        "throughput",
        "p95_turnaround_s",
        "p95_stat_turnaround_s",
        "on_time_rate",
        "violations_total",
        "blocked_total",
        "containment_rate",
    )
    with_run = any(label != doc["task"] for label, doc in docs)
    lead = ["run"] if with_run else []
    header = "| " + " | ".join([*lead, "task", "episodes", *cols]) + " |"
    sep = "|" + "---|" * (len(lead) + 2 + len(cols))
    rows = [header, sep]
    for label, doc in docs:
        h = headline(doc)
        cells = [*([label] if with_run else []), doc["task"], str(len(doc["episodes"]))]
        rows.append("| " + " | ".join([*cells, *(_fmt(h[c]) for c in cols)]) + " |")
    return "\n".join(rows) + "\n"


def _csv(rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for row in rows:
        writer.writerow(
            ["" if v is None else (repr(v) if isinstance(v, float) else v) for v in row]
        )
    return buf.getvalue()


def summary_csv_v02(docs: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    header: list[Any] = ["run", "task", "agent_baseline_id", "episodes"]
    for m in HEADLINE_METRICS:
        header += [f"{m}_mean", f"{m}_std"]
    rows: list[list[Any]] = [header]
    for label, doc in sorted(docs, key=lambda d: d[0]):
        summary = _summary_of(doc)
        row: list[Any] = [label, doc["task"], doc["agent_baseline_id"], len(doc["episodes"])]
        for m in HEADLINE_METRICS:
            s = summary.get(m)
            row += [s["mean"], s["std"]] if s else [None, None]
        rows.append(row)
    return _csv(rows)


def summary_csv_v03(docs: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    rows: list[list[Any]] = [
        [
            "run",
            "task",
            "metric",
            "n",
            "mean",
            "std",
            "min",
            "p05",
            "p25",
            "p50",
            "p75",
            "p95",
            "max",
            "ci95_low",
            "ci95_high",
        ]
    ]
    for label, doc in sorted(docs, key=lambda d: d[0]):
        summary = _summary_of(doc)
        for metric in sorted(summary):
            s = summary[metric]
            q = s["quantiles"]
            rows.append(
                [
                    label,
                    doc["task"],
                    metric,
                    s["n"],
                    s["mean"],
                    s["std"],
                    s["min"],
                    q["p05"],
                    q["p25"],
                    q["p50"],
                    q["p75"],
                    q["p95"],
                    s["max"],
                    s["ci95"]["low"],
                    s["ci95"]["high"],
                ]
            )
    return _csv(rows)


def write_summaries(docs: Sequence[tuple[str, Mapping[str, Any]]], out_dir: Path) -> list[Path]:
    """Write summary_v0.2.csv, summary_v0.3.csv and summary.md atomically into ``out_dir``."""
    from labtrust_gym.fileio import atomic_write_text, ensure_output_dir

    ensure_output_dir(out_dir, label="--out")
    written = [
        atomic_write_text(out_dir / "summary_v0.2.csv", summary_csv_v02(docs)),
        atomic_write_text(out_dir / "summary_v0.3.csv", summary_csv_v03(docs)),
        atomic_write_text(out_dir / "summary.md", "# Results summary\n\n" + markdown_table(docs)),
    ]
    return written
