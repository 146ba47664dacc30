"""What the episode metrics of a hospital lab are computed from (``DomainEnv.metrics_inputs``).

The records are read through the engine's queries at the end of the episode: every specimen with
its arrival, priority and (when released) release time, the critical results and whether each
was acknowledged in time, and the QC holds and reruns (docs/metrics.md).
"""

from __future__ import annotations

from typing import Any


def metrics_context(
    eng: Any, device_busy_s: dict[str, float], queue_totals: list[int]
) -> dict[str, Any]:
    q = eng.query
    released = {r["specimen_id"]: r for r in q("released_results")}
    # Turnaround needs arrival/priority of released specimens; the unreleased ones their
    # arrival and status (on-time rate: still in the workflow and past the SLA = late).
    specimens: list[dict[str, Any]] = []
    for sid in q("specimens(all)"):
        rel = released.get(sid)
        if rel is None:
            spec = eng.specimens[sid]
            specimens.append(
                {
                    "specimen_id": sid,
                    "released_s": None,
                    "arrival_s": float(spec.arrival_t_s),
                    "status": spec.status,
                }
            )
        else:
            specimens.append(
                {
                    "specimen_id": sid,
                    "priority": rel.get("priority"),
                    "arrival_s": float(rel["arrival_t_s"]),
                    "released_s": float(rel["release_t_s"]),
                }
            )
    qc_held = list(q("results(qc_hold)"))
    invalidated = list(q("results(invalidated)"))
    # Critical results: released ones are flagged in released_results; the rest are few.
    candidates = {r["result_id"] for r in released.values() if r.get("critical")}
    candidates.update(q("results(generated)"))
    candidates.update(qc_held)
    critical = []
    for rid in sorted(candidates):
        res = q(f"result({rid})")
        if res.get("critical"):
            critical.append(
                {
                    "result_id": rid,
                    "acknowledged": bool(res.get("acked")),
                    "within_deadline": bool(res.get("acked")) and not res.get("overdue_reported"),
                }
            )
    return {
        "t_end_s": float(eng.now_s),
        "specimens": specimens,
        "critical_results": critical,
        "device_busy_s": device_busy_s,
        "queue_lengths": list(queue_totals),
        "results_qc_held": len(qc_held) + len(invalidated),
        "specimen_reruns": len(invalidated),
    }
