"""Episode metrics: the default aggregator and the metrics-aggregator registry façade.

An aggregator turns one finished episode into a flat ``{metric: value}`` mapping. Its signature
is that of :func:`compute_episode_metrics`: the per-step engine step results first, then keyword
context the runner gathers from the engine and the task. Plugin aggregators should accept
``**context`` so new context keys never break them. Every metric is defined in docs/metrics.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .stats import quantile

MetricsAggregator = Callable[..., dict[str, Any]]

DEFAULT_AGGREGATOR_ID = "default"

#: The keyword context the runner passes to every aggregator, after the per-step results.
CONTEXT_KEYS: tuple[str, ...] = (
    "t_end_s",
    "specimens",
    "sla_turnaround_s",
    "critical_results",
    "device_busy_s",
    "queue_lengths",
    "attack_attempts",
    "attack_start_step",
    "insider_attack_steps",
    "rewards",
    "episode_steps",
    "results_qc_held",
    "specimen_reruns",
)


# --------------------------------------------------------------------------------------------
# Registry façade (thin: the one plugin manager holds the registrations)
# --------------------------------------------------------------------------------------------


def register_metrics_aggregator(
    aggregator_id: str, aggregator: MetricsAggregator, *, replace: bool = False
) -> None:
    """Register ``aggregator`` (same signature as :func:`compute_episode_metrics`)."""
    from labtrust_gym.plugins import registry

    registry("metrics_aggregators").register(aggregator_id, aggregator, replace=replace)


def get_metrics_aggregator(aggregator_id: str) -> MetricsAggregator:
    """Resolve an aggregator id; unknown ids raise ``UnknownIdError`` listing the known ones."""
    from labtrust_gym.plugins import registry

    aggregator: MetricsAggregator = registry("metrics_aggregators").get(aggregator_id)
    return aggregator


def list_metrics_aggregators() -> list[str]:
    from labtrust_gym.plugins import registry

    return registry("metrics_aggregators").ids()


def check_aggregator_signature(aggregator_id: str) -> None:
    """Refuse, before any episode runs, an aggregator that cannot be called the way the runner
    calls it: ``aggregator(step_results_per_step, **context)`` with :data:`CONTEXT_KEYS`.
    (What it returns is checked on every call, by the plugin table's contract.)"""
    import inspect

    from labtrust_gym.errors import PluginError
    from labtrust_gym.plugins import registry

    aggregator = registry("metrics_aggregators").get(aggregator_id)
    try:
        signature = inspect.signature(aggregator)
    except (TypeError, ValueError):  # a builtin or C callable: nothing to inspect
        return
    try:
        signature.bind([], **dict.fromkeys(CONTEXT_KEYS))
    except TypeError as exc:
        raise PluginError(
            f"Metrics aggregator {aggregator_id!r} "
            f"({registry('metrics_aggregators').provider(aggregator_id)}) cannot be called as "
            f"aggregator(step_results_per_step, **context): {exc}. Give it the signature of "
            "compute_episode_metrics or accept **context (docs/metrics.md)."
        ) from None


# --------------------------------------------------------------------------------------------
# The default aggregator
# --------------------------------------------------------------------------------------------


def _count(counter: dict[str, int], key: str) -> None:
    counter[key] = counter.get(key, 0) + 1


def _fraction(num: int, den: int) -> float | None:
    return num / den if den else None


def compute_episode_metrics(
    step_results_per_step: Sequence[Sequence[Mapping[str, Any]]],
    *,
    t_end_s: float | None = None,
    specimens: Sequence[Mapping[str, Any]] | None = None,
    sla_turnaround_s: float | None = None,
    critical_results: Sequence[Mapping[str, Any]] | None = None,
    device_busy_s: Mapping[str, float] | None = None,
    queue_lengths: Sequence[int] | None = None,
    attack_attempts: Sequence[Mapping[str, Any]] | None = None,
    attack_start_step: int | None = None,
    insider_attack_steps: Sequence[int] | None = None,
    rewards: Mapping[str, float] | None = None,
    results_qc_held: int | None = None,
    specimen_reruns: int | None = None,
    **_context: Any,
) -> dict[str, Any]:
    """Metrics of one episode.

    :param step_results_per_step: for every env step, the engine step results of that step
        (``status``, ``emits``, ``violations``, ``blocked_reason_code``, ``token_consumed`` …).
    :param t_end_s: simulated time at the end of the episode.
    :param specimens: one record per specimen: ``specimen_id``, ``priority``
        (STAT/URGENT/ROUTINE), ``arrival_s``, ``released_s`` (None if not released), and for
        unreleased ones their ``status`` (held/rejected ones left the workflow; the others past
        the SLA at ``t_end_s`` count late).
    :param sla_turnaround_s: the task's turnaround SLA (on-time rate is measured against it).
    :param critical_results: one record per critical result: ``acknowledged`` (read-back done)
        and ``within_deadline``.
    :param device_busy_s: busy seconds per device id over the episode.
    :param queue_lengths: total device queue length sampled after every step.
    :param attack_attempts: one record per adversarial/insider attempt: ``step``, ``kind``
        (``adversary``/``insider``), ``status`` (ACCEPTED/BLOCKED), ``detected`` (bool).
    :param attack_start_step: the step the adversary starts acting.
    :param insider_attack_steps: the steps at which insider attacks are scheduled.
    :param rewards: summed reward per agent id.
    :param results_qc_held: results placed on QC hold by a QC failure during the episode.
    :param specimen_reruns: analyses repeated after a QC rerun invalidated their results.
    """
    violations_by_id: dict[str, int] = {}
    blocked_by_reason: dict[str, int] = {}
    held = 0
    rejected = 0
    tokens_minted = 0
    tokens_consumed = 0
    for step_results in step_results_per_step:
        for result in step_results:
            if result.get("status") == "BLOCKED":
                _count(blocked_by_reason, str(result.get("blocked_reason_code") or "UNSPECIFIED"))
            for violation in result.get("violations") or ():
                if violation.get("status") == "VIOLATION":
                    _count(violations_by_id, str(violation.get("invariant_id")))
            if result.get("token_consumed"):
                tokens_consumed += 1
            for emit in result.get("emits") or ():
                name = emit if isinstance(emit, str) else str(emit.get("type", ""))
                if name == "TOKEN_MINTED":
                    tokens_minted += 1
                elif name == "SPECIMEN_HELD":
                    held += 1
                elif name == "SPECIMEN_REJECTED":
                    rejected += 1

    metrics: dict[str, Any] = {
        "steps": len(step_results_per_step),
        "violations_total": sum(violations_by_id.values()),
        "violations_by_invariant_id": dict(sorted(violations_by_id.items())),
        "blocked_total": sum(blocked_by_reason.values()),
        "blocked_by_reason_code": dict(sorted(blocked_by_reason.items())),
        "specimens_held": held,
        "specimens_rejected": rejected,
        "results_qc_held": int(results_qc_held or 0),
        "specimen_reruns": int(specimen_reruns or 0),
        "holds_count": held + int(results_qc_held or 0),
        "tokens_minted": tokens_minted,
        "tokens_consumed": tokens_consumed,
        "sla_turnaround_s": float(sla_turnaround_s) if sla_turnaround_s is not None else None,
    }
    if t_end_s is not None:
        metrics["t_end_s"] = float(t_end_s)

    metrics.update(_turnaround_metrics(specimens or (), sla_turnaround_s, t_end_s))
    metrics.update(_critical_metrics(critical_results or ()))
    metrics.update(_device_metrics(device_busy_s, queue_lengths, t_end_s))
    metrics.update(_attack_metrics(attack_attempts or (), attack_start_step, insider_attack_steps))
    if rewards is not None:
        by_agent = {agent: float(value) for agent, value in sorted(rewards.items())}
        metrics["reward_by_agent"] = by_agent
        metrics["reward_total"] = math.fsum(by_agent.values())
    return metrics


#: Specimens that left the workflow by decision (never to be released).
_OUT_OF_WORKFLOW = frozenset({"held", "rejected"})


def _turnaround_metrics(
    specimens: Sequence[Mapping[str, Any]], sla_turnaround_s: float | None, t_end_s: float | None
) -> dict[str, Any]:
    turnaround: list[float] = []
    by_priority: dict[str, list[float]] = {"STAT": [], "ROUTINE": []}
    late_unreleased = 0
    for spec in specimens:
        released = spec.get("released_s")
        if released is None:
            arrival = spec.get("arrival_s")
            if (
                sla_turnaround_s is not None
                and t_end_s is not None
                and arrival is not None
                and spec.get("status") not in _OUT_OF_WORKFLOW
                and t_end_s - float(arrival) > sla_turnaround_s
            ):
                late_unreleased += 1
            continue
        tat = float(released) - float(spec["arrival_s"])
        turnaround.append(tat)
        bucket = by_priority.get(str(spec.get("priority")))
        if bucket is not None:
            bucket.append(tat)
    stat = by_priority["STAT"]
    routine = by_priority["ROUTINE"]
    out: dict[str, Any] = {
        "specimens_arrived": len(specimens),
        "throughput": len(turnaround),
        "stat_throughput": len(stat),
        "turnaround_s_mean": _mean(turnaround),
        "stat_turnaround_s_mean": _mean(stat),
        "routine_turnaround_s_mean": _mean(routine),
        "p50_turnaround_s": quantile(turnaround, 0.5) if turnaround else None,
        "p95_turnaround_s": quantile(turnaround, 0.95) if turnaround else None,
        "p95_stat_turnaround_s": quantile(stat, 0.95) if stat else None,
        "late_unreleased": late_unreleased if sla_turnaround_s is not None else None,
        "on_time_rate": None,
    }
    if sla_turnaround_s is not None and (turnaround or late_unreleased):
        on_time = sum(1 for tat in turnaround if tat <= sla_turnaround_s)
        out["on_time_rate"] = on_time / (len(turnaround) + late_unreleased)
    return out


def _mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def _critical_metrics(critical: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    compliant = sum(1 for c in critical if c.get("acknowledged") and c.get("within_deadline", True))
    return {
        "critical_results": len(critical),
        "critical_communication_compliance": _fraction(compliant, len(critical)),
    }


def _device_metrics(
    device_busy_s: Mapping[str, float] | None,
    queue_lengths: Sequence[int] | None,
    t_end_s: float | None,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if device_busy_s is not None and t_end_s:
        util = {
            dev: min(1.0, max(0.0, float(busy) / t_end_s))
            for dev, busy in sorted(device_busy_s.items())
        }
        out["device_utilization"] = util
        out["mean_device_utilization"] = math.fsum(util.values()) / len(util) if util else None
    if queue_lengths is not None:
        out["queue_length_mean"] = (
            math.fsum(queue_lengths) / len(queue_lengths) if queue_lengths else None
        )
        out["queue_length_max"] = max(queue_lengths) if queue_lengths else None
    return out


def _attack_metrics(
    attempts: Sequence[Mapping[str, Any]],
    attack_start_step: int | None,
    insider_attack_steps: Sequence[int] | None,
) -> dict[str, Any]:
    """Attack outcomes. *Contained* = BLOCKED by the engine, or accepted but then flagged by an
    invariant violation (``detected``); detection latency counts from the attack start."""
    if not attempts and attack_start_step is None and not insider_attack_steps:
        return {}

    def contained(a: Mapping[str, Any]) -> bool:
        return a.get("status") == "BLOCKED" or bool(a.get("detected"))

    blocked = sum(1 for a in attempts if a.get("status") == "BLOCKED")
    start = attack_start_step
    if start is None and insider_attack_steps:
        start = min(insider_attack_steps)
    if start is None and attempts:
        start = min(int(a["step"]) for a in attempts)
    detections = sorted(int(a.get("detected_step", a["step"])) for a in attempts if contained(a))
    later = [d for d in detections if start is not None and d >= start]
    out: dict[str, Any] = {
        "attack_attempts": len(attempts),
        "attacks_blocked": blocked,
        "detection_latency_steps": later[0] - start if later and start is not None else None,
        "containment_rate": _fraction(sum(1 for a in attempts if contained(a)), len(attempts)),
    }
    insider = [a for a in attempts if a.get("kind") == "insider"]
    n_contained = sum(1 for a in insider if contained(a))
    out["insider_attacks"] = len(insider)
    out["insider_attacks_contained"] = n_contained
    out["insider_containment_fraction"] = _fraction(n_contained, len(insider))
    return out


__all__ = [
    "CONTEXT_KEYS",
    "DEFAULT_AGGREGATOR_ID",
    "MetricsAggregator",
    "check_aggregator_signature",
    "compute_episode_metrics",
    "get_metrics_aggregator",
    "list_metrics_aggregators",
    "register_metrics_aggregator",
]
