"""``determinism-report``: run a benchmark twice; compare results bytes and episode-log hashes."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def determinism_report(
    task: str,
    episodes: int,
    seed: int,
    out_dir: str | Path,
    *,
    coord_method: str | None = None,
    scale: str | None = None,
    injection: str | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """Run twice into ``out_dir/run_a`` and ``out_dir/run_b``; write and return the report."""
    from labtrust_gym.fileio import atomic_write_json, atomic_write_text, ensure_output_dir

    from .runner import run_benchmark

    out = ensure_output_dir(out_dir, label="--out")
    runs: dict[str, dict[str, Any]] = {}
    for name in ("run_a", "run_b"):
        run_dir = out / name
        run_dir.mkdir(exist_ok=True)
        results_path = run_dir / "results.json"
        doc = run_benchmark(
            task,
            episodes,
            seed,
            results_path,
            coord_method=coord_method,
            scale=scale,
            injection=injection,
            workers=workers,
            log_dir=run_dir / "logs",
        )
        runs[name] = {
            "results_sha256": _sha256(results_path),
            "log_sha256": [ep.get("log_sha256") for ep in doc["episodes"]],
        }
    results_match = runs["run_a"]["results_sha256"] == runs["run_b"]["results_sha256"]
    logs_match = runs["run_a"]["log_sha256"] == runs["run_b"]["log_sha256"]
    report = {
        "task": task,
        "episodes": episodes,
        "seed": seed,
        "coord_method": coord_method,
        "scale": scale,
        "injection": injection,
        "runs": runs,
        "results_identical": results_match,
        "logs_identical": logs_match,
        "passed": results_match and logs_match,
    }
    atomic_write_json(out / "determinism_report.json", report)
    verdict = "PASS" if report["passed"] else "FAIL"
    md = [
        f"# Determinism report: {task}",
        "",
        f"- episodes: {episodes}, base seed: {seed}",
        f"- results sha256: run_a `{runs['run_a']['results_sha256']}`, "
        f"run_b `{runs['run_b']['results_sha256']}` → "
        f"{'identical' if results_match else 'DIFFERENT'}",
        f"- episode logs: {'identical' if logs_match else 'DIFFERENT'} "
        f"({len(runs['run_a']['log_sha256'])} per run)",
        f"- verdict: **{verdict}**",
        "",
    ]
    atomic_write_text(out / "determinism_report.md", "\n".join(md))
    return report
