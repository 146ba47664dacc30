"""Reactive swarm: local rules only — an agent decides from its own zone and the adjacent ones.

Rules (the loop of :mod:`.local_rules`):

1. *work here* — an item in my zone I can do and no agent before me (by id) here took: take it;
2. *else go where work is* — for each adjacent zone ``y`` I see ``work(y)`` = its items nobody
   there took that I can do, and ``idle(y)`` = the agents there with nothing to do (the crowd I
   would compete with). Its attraction is ``work(y) - repulsion · idle(y)``; I move to an
   adjacent zone with positive attraction — the most attractive one (``choice="greedy"``, ties to
   the lower zone index) or one drawn with probability proportional to attraction
   (``choice="proportional"``, the default: surplus agents of one zone spread out instead of
   herding);
3. *else explore* with probability ``explore`` (a random adjacent zone), *else stay*.

Nothing global is read: the per-zone counts are what each zone's board shows to agents in it or
next to it. No memory is kept between steps.

**Randomness:** ``numpy.random.default_rng([seed, step])`` — a step's decisions depend on the
seed, the step and the inputs only.

**Complexity:** O(N log N + M log M) to sort agents and items into zones, plus, per distinct
(zone, capability set), O(degree · |capabilities|): O(N + M) up to the sorts, no N x M term.

Counters: ``workers``, ``movers``, ``explorers``, ``idle`` (agents that stay), ``work_left``
(items not taken by an agent in their zone).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from .common import (
    AgentInfo,
    Counters,
    LocalDecision,
    ParamsRecord,
    WorkItem,
    ZoneGraph,
    choice_validator,
    range_validator,
    seeded_rng,
)
from .local_rules import local_decisions, local_scene


@attrs.frozen(kw_only=True)
class SwarmParams(ParamsRecord):
    """Parameters (defaults = the method's ``default_params``)."""

    protocol = "swarm"

    repulsion: float = attrs.field(default=0.5, validator=range_validator(0.0))
    explore: float = attrs.field(default=0.05, validator=range_validator(0.0, 1.0))
    choice: str = attrs.field(default="proportional", validator=choice_validator)



@attrs.frozen
class SwarmResult:
    """Decisions (one per agent, input order) and counters."""

    decisions: tuple[LocalDecision, ...]
    counters: Counters


def swarm_step(
    agents: Sequence[AgentInfo],
    items: Sequence[WorkItem],
    graph: ZoneGraph,
    params: SwarmParams | Mapping[str, Any] | None = None,
    *,
    seed: int = 0,
    step: int = 0,
) -> SwarmResult:
    """Every agent's decision for one step (see the module docstring)."""
    p = SwarmParams.coerce(params)
    scene = local_scene(agents, items, graph)
    # per zone: items nobody there took, counted by required capability (None = anyone)
    left_by_cap: list[dict[str | None, int]] = []
    for left in scene.left:
        counts: dict[str | None, int] = {}
        for j in left:
            cap = items[j].capability
            counts[cap] = counts.get(cap, 0) + 1
        left_by_cap.append(counts)

    def attraction(z: int, caps: frozenset[str]) -> tuple[list[int], list[float]]:
        options: list[int] = []
        weights: list[float] = []
        for y in graph.neighbours[z]:
            counts = left_by_cap[y]
            work = sum(n for cap, n in counts.items() if cap is None or cap in caps)
            score = work - p.repulsion * scene.idle[y]
            if score > 0:
                options.append(y)
                weights.append(score)
        return options, weights

    rng = seeded_rng(seed, step)
    decisions, counters = local_decisions(
        agents, items, graph, scene, attraction,
        greedy=p.choice == "greedy", explore=p.explore, rng=rng,
    )
    return SwarmResult(decisions, counters)


__all__ = ["SwarmParams", "SwarmResult", "swarm_step"]
