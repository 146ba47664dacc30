"""Engine-only timing: microseconds per event by kind, and reset time.

``python -m labtrust_gym.engine.timing [--agents 200] [--steps 50] [--no-record-log]``

Each kind steps a lab of N runners through ``steps`` batches of one event per agent via
``step_batch`` (the env's path), best of 7 runs, CPU time (``time.process_time``) so that a busy
machine distorts less. This is a measurement tool, not a test.
"""

from __future__ import annotations

import argparse
import time
from typing import Any


def _lab(n: int) -> dict[str, Any]:
    from labtrust_gym.engine.golden import base_state

    st = base_state()
    st["agents"] = [
        {"agent_id": f"runner_{i}", "role": "runner", "zone_id": "Z_SORTING"} for i in range(n)
    ]
    return st


def _batches(kind: str, n: int, steps: int) -> list[list[dict[str, Any]]]:
    out = []
    here = ["Z_SORTING"] * n
    for k in range(steps):
        batch = []
        for i in range(n):
            ev: dict[str, Any] = {
                "t_s": float(k * 10),
                "agent_id": f"runner_{i}",
                "action_type": kind,
                "args": {},
            }
            if kind == "MOVE":
                here[i] = "Z_PREANALYTICS" if here[i] == "Z_SORTING" else "Z_SORTING"
                ev["args"] = {"to_zone": here[i]}
            elif kind == "BLOCKED":
                ev["action_type"] = "RELEASE_RESULT"  # runners may not: RBAC.ACTION_DENIED
                ev["args"] = {"result_id": "R_X"}
            batch.append(ev)
        out.append(batch)
    return out


def measure(
    n: int = 200, steps: int = 50, record_log: bool = True, repeat: int = 7
) -> dict[str, float]:
    from labtrust_gym.engine.core import HospitalLabEngine

    results: dict[str, float] = {}
    for kind in ("NOOP", "TICK", "MOVE", "BLOCKED"):
        batches = _batches(kind, n, steps)
        best = float("inf")
        for _ in range(repeat):
            eng = HospitalLabEngine(None, {"record_log": record_log})
            eng.reset(_lab(n))
            t0 = time.process_time()
            for k, batch in enumerate(batches):
                eng.advance_to(k * 10.0)
                eng.step_batch(batch)
            best = min(best, (time.process_time() - t0) / (n * steps) * 1e6)
        results[f"{kind}_us_per_event"] = round(best, 2)
    eng = HospitalLabEngine(None, {"record_log": record_log})
    from labtrust_gym.engine.initial_state import default_initial_state

    states = [default_initial_state(seed=i, n_specimens=30) for i in range(50)]
    eng.reset(states[0])
    t0 = time.process_time()
    for st in states:
        eng.reset(st)
    results["reset_ms_default_lab_30_arrivals"] = round(
        (time.process_time() - t0) / len(states) * 1e3, 3
    )
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--agents", type=int, default=200)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--no-record-log", action="store_true")
    a = ap.parse_args(argv)
    for k, v in measure(a.agents, a.steps, not a.no_record_log).items():
        print(f"{k:36s} {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
