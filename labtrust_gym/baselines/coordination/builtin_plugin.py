"""The built-in coordination methods, registered through the same hook a third party uses.

Listed in ``labtrust_gym.plugins.BUILTIN_PLUGINS``. Each registered factory is a small function
that imports its method's module (``labtrust_gym.baselines.coordination.methods.<module>``) only
when a method is built, so ``labtrust --help`` and listing commands stay fast. The policy entries
(description, class, scale_capable, max_agents, default_params, known weaknesses) are in
``policy/coordination/coordination_methods.v0.1.yaml``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from labtrust_gym.hookspecs import Register, hookimpl

#: method id -> module under labtrust_gym.baselines.coordination.methods
BUILTIN_METHODS: dict[str, str] = {
    "scripted": "scripted",
    "noop": "noop",
    "random": "uniform_random",
    "centralized_planner": "centralized_planner",
    "kernel_centralized_edf": "kernel_centralized_edf",
    "kernel_whca": "kernel_whca",
    "hierarchical_hub_rr": "hierarchical_hub_rr",
    "llm_agent": "llm_agent",
    "llm_central_planner": "llm_central_planner",
    "llm_hierarchical": "llm_hierarchical",
    "market_auction": "market_auction",
    "gossip_consensus": "gossip_consensus",
    "consensus_paxos_lite": "consensus_paxos_lite",
    "swarm_reactive": "swarm_reactive",
    "swarm_stigmergy_priority": "swarm_stigmergy_priority",
}


def _factory(method_id: str, module: str) -> Callable[..., Any]:
    def factory(policy: Any, repo_root: Any, scale_config: Any, params: Any) -> Any:
        mod = importlib.import_module(f"labtrust_gym.baselines.coordination.methods.{module}")
        return mod.factory(policy, repo_root, scale_config, params)

    factory.__name__ = f"{module}_factory"
    factory.__qualname__ = factory.__name__
    factory.__doc__ = f"Builds the built-in coordination method {method_id!r}."
    return factory


#: The registered factories (one object per id, so re-registration is a no-op).
FACTORIES: dict[str, Callable[..., Any]] = {
    method_id: _factory(method_id, module) for method_id, module in BUILTIN_METHODS.items()
}


@hookimpl
def labtrust_register_coordination_methods(register: Register) -> None:
    for method_id, factory in FACTORIES.items():
        register(method_id, factory)
