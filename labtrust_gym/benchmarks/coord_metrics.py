"""Coordination metrics of an episode run with ``--coord-method`` (docs/metrics.md, Coordination).

:class:`CoordinationTally` watches every step from the env's infos (O(driven agents) per step):
what each driven agent did, which choices the engine refused or found taken for space reasons,
who did the lab's work. At the end it merges what the method itself reports through its
optional ``coordination_report()`` hook (planning work, replans, conflicts planned around,
conflicts its ``combine_submissions`` resolved, messages sent/dropped); a key the method does
not report is ``None`` — "not reported", never a made-up 0. Wall-clock planning time is measured
too but written only when ``deterministic=False`` (results files are deterministic, so it is
``None`` there; ``bench/bench_coordination.py`` reports it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

#: Reason codes of space conflicts (docs/engine.md "Space"), by metric.
CELL_CODES = frozenset({"ZONE.AT_CAPACITY"})
EDGE_CODES = frozenset({"ZONE.EDGE_BUSY"})
SWAP_CODES = frozenset({"ZONE.SWAP"})
#: Event types that are not the lab's work (for the work-distribution Gini).
NOT_WORK = frozenset({"NOOP", "TICK", "MOVE", "OPEN_DOOR", "CLOSE_DOOR"})
#: ``coordination_report()`` keys and the metric each becomes.
REPORTED = {
    "cell_conflicts_avoided": "coord_cell_conflicts_avoided",
    "swaps_avoided": "coord_swaps_avoided",
    "replans": "coord_replans",
    "combine_conflicts": "coord_combine_conflicts",
    "messages_sent": "coord_messages_sent",
    "messages_dropped": "coord_messages_dropped",
    "colluder_awards": "coord_colluder_awards",
    "welfare_loss": "coord_welfare_loss",
}


def gini(values: Iterable[float]) -> float:
    """Gini coefficient of non-negative values: ``sum_ij |x_i - x_j| / (2 n^2 mean)`` (0 = equal
    shares, 1 - 1/n = one agent did everything; 0 when nobody did anything)."""
    xs = sorted(float(v) for v in values)
    n = len(xs)
    total = math.fsum(xs)
    if n == 0 or total <= 0:
        return 0.0
    return math.fsum((2 * (i + 1) - n - 1) * x for i, x in enumerate(xs)) / (n * total)


class CoordinationTally:
    """Per-step counts of one episode (see the module docstring)."""

    def __init__(self, driven: list[str]) -> None:
        self.driven = list(driven)
        self.work = dict.fromkeys(driven, 0)
        self.cell = self.edge = self.swap = 0
        self.idle = self.decisions = self.stale = self.moves = 0
        self.steps = 0
        self.wall_s = 0.0
        self.per_agent_steps = 0

    def observe(self, infos: Mapping[str, Any]) -> None:
        """One step's infos (after ``env.step``)."""
        self.steps += 1
        work = self.work
        idle = decisions = stale = moves = 0
        info: Any = None
        for aid in self.driven:
            info = infos.get(aid)
            if info is None:
                continue
            res = info["step_result"]
            if res is None:  # NOOP, or a contended choice (counted below)
                idle += 1
                continue
            decisions += 1
            if res["status"] == "BLOCKED":
                stale += 1
                idle += 1
                self._space(res.get("blocked_reason_code"))
                continue
            at = info["action_type"]
            if at == "MOVE":
                moves += 1
            elif at == "TICK":
                idle += 1
            elif at not in NOT_WORK:
                work[aid] += 1
        lab = (info or {}).get("lab") or {}
        for aid, code in (lab.get("contended") or {}).items():
            if aid in work:  # a driven agent's valid choice, taken by an earlier agent
                decisions += 1
                stale += 1
                self._space(code)
        self.idle += idle
        self.decisions += decisions
        self.stale += stale
        self.moves += moves

    def _space(self, code: str | None) -> None:
        if code in CELL_CODES:
            self.cell += 1
        elif code in EDGE_CODES:
            self.edge += 1
        elif code in SWAP_CODES:
            self.swap += 1

    def metrics(
        self, throughput: int, report: Mapping[str, Any] | None, *, deterministic: bool = True
    ) -> dict[str, Any]:
        """The ``coord_*`` metrics (docs/metrics.md)."""
        n = len(self.driven)
        steps = max(self.steps, 1)
        report = dict(report or {})
        out: dict[str, Any] = {
            "coord_cell_conflicts": self.cell,
            "coord_edge_conflicts": self.edge,
            "coord_swap_conflicts": self.swap,
            "coord_moves": self.moves,
            "coord_work_gini": gini(self.work.values()),
            "coord_idle_rate": self.idle / (n * steps) if n else 0.0,
            "coord_stale_decision_rate": self.stale / self.decisions if self.decisions else 0.0,
            "coord_released_per_agent": throughput / n if n else 0.0,
            "coord_per_agent_path_steps": self.per_agent_steps,
        }
        for key, metric in REPORTED.items():
            value = report.get(key)
            out[metric] = _number(value)
        work = _number(report.get("planning_work"))
        out["coord_planning_work_per_step"] = work / steps if work is not None else None
        out["coord_planning_wall_ms_per_step"] = (
            None if deterministic else 1000.0 * self.wall_s / steps
        )
        return out


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if isinstance(value, int) else float(value)


__all__ = ["CoordinationTally", "gini"]
