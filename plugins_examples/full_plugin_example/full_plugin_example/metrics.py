"""``full_example_costs``: the default metrics plus staff cost per released result.

The hourly cost of each role comes from ``policy/full_example/costs.v0.1.yaml``, a file this
plugin ships in its policy layer; a user overrides it by putting a file at the same path in their
own ``policy/`` directory (policy is layered: the highest layer that has a file wins).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from labtrust_gym.benchmarks.metrics import compute_episode_metrics
from labtrust_gym.config import get_repo_root, policy_path
from labtrust_gym.fileio import load_yaml


def hourly_costs() -> dict[str, float]:
    """``{role: cost per hour}`` read through the policy layers."""
    doc = load_yaml(policy_path(get_repo_root(), "full_example", "costs.v0.1.yaml"))
    return {str(role): float(cost) for role, cost in doc["hourly_cost_by_role"].items()}


def _role(agent_id: str) -> str:
    return agent_id.rsplit("_", 1)[0]


def metrics_with_costs(steps: Sequence[Any], **context: Any) -> dict[str, Any]:
    """``compute_episode_metrics`` + ``staff_cost`` and ``cost_per_release``."""
    metrics = compute_episode_metrics(steps, **context)
    costs = hourly_costs()
    hours = float(context.get("t_end_s") or 0.0) / 3600.0
    agents = list((context.get("rewards") or {}).keys())
    staff_cost = sum(costs.get(_role(a), costs.get("default", 0.0)) for a in agents) * hours
    released = int(metrics.get("throughput") or 0)
    metrics["staff_cost"] = round(staff_cost, 2)
    metrics["cost_per_release"] = round(staff_cost / released, 2) if released else None
    return metrics
