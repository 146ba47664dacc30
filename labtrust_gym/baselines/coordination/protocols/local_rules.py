"""The decision loop shared by the local-rule protocols (:mod:`.swarm`, :mod:`.stigmergy`).

Every agent, seeing only its own zone and the adjacent ones:

1. *work here?* — if its zone holds an item it can do, it takes one (:func:`assign_local_work`:
   agents by id, items in service order, one each);
2. *else move* — to an adjacent zone the protocol's ``attraction`` makes worth it: options with
   positive weight, chosen greedily (heaviest, ties to the lower zone index) or with probability
   proportional to the weight;
3. *else explore* — with probability ``explore`` step to a uniformly drawn adjacent zone;
4. *else stay*.

``attraction(zone, capabilities) -> (options, weights)`` depends only on what the agent can see,
so it is computed once per (zone, capability set) and shared by the agents that have both.
Two uniforms per agent are drawn up front from the protocol's generator (one for the weighted
choice, one for exploring), so an agent's draws do not depend on what the others do.

Cost: O(N log N + M log M + Σ neighbours over distinct (zone, capability set) pairs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs
import numpy as np

from .common import (
    MOVE,
    STAY,
    WORK,
    AgentInfo,
    Counters,
    LocalDecision,
    WorkItem,
    ZoneGraph,
    assign_local_work,
    group_indices_by_zone,
    pick_weighted,
)

Attraction = Callable[[int, frozenset[str]], tuple[list[int], list[float]]]


@attrs.frozen
class LocalScene:
    """What the agents see this step: ``agent_zone[i]``, ``taken`` ({agent: item} of step 1),
    ``left[z]`` (zone ``z``'s items nobody there took, service order), ``idle[z]`` (agents in
    ``z`` that took nothing)."""

    agent_zone: list[int]
    taken: dict[int, int]
    left: list[list[int]]
    idle: list[int]


def local_scene(
    agents: Sequence[AgentInfo], items: Sequence[WorkItem], graph: ZoneGraph
) -> LocalScene:
    agents_in_zone = group_indices_by_zone([a.zone for a in agents], graph, "Agent")
    items_in_zone = group_indices_by_zone([w.zone for w in items], graph, "Work item")
    taken, left = assign_local_work(agents, agents_in_zone, items, items_in_zone)
    zone_of = [0] * len(agents)
    idle = []
    for z, members in enumerate(agents_in_zone):
        busy = 0
        for i in members:
            zone_of[i] = z
            busy += i in taken
        idle.append(len(members) - busy)
    return LocalScene(zone_of, taken, left, idle)


def local_decisions(
    agents: Sequence[AgentInfo],
    items: Sequence[WorkItem],
    graph: ZoneGraph,
    scene: LocalScene,
    attraction: Attraction,
    *,
    greedy: bool,
    explore: float,
    rng: np.random.Generator,
) -> tuple[tuple[LocalDecision, ...], Counters]:
    """Steps 1-4 of the module docstring for every agent (decisions in input order)."""
    n = len(agents)
    u = rng.random(n).tolist()
    v = rng.random(n).tolist()
    cache: dict[tuple[int, frozenset[str]], tuple[list[int], list[float]]] = {}
    zone_ids = graph.zone_ids
    out: list[LocalDecision] = []
    workers = movers = explorers = 0
    for i, agent in enumerate(agents):
        z = scene.agent_zone[i]
        j = scene.taken.get(i)
        if j is not None:
            out.append(LocalDecision(agent.agent_id, WORK, zone_ids[z], items[j].item_id))
            workers += 1
            continue
        key = (z, agent.capabilities)
        seen = cache.get(key)
        if seen is None:
            seen = cache[key] = attraction(z, agent.capabilities)
        options, weights = seen
        if options:
            target = pick_weighted(options, weights, u[i], greedy)
            out.append(LocalDecision(agent.agent_id, MOVE, zone_ids[target]))
            movers += 1
            continue
        nbrs = graph.neighbours[z]
        if explore > 0.0 and nbrs and v[i] < explore:
            target = nbrs[min(int(u[i] * len(nbrs)), len(nbrs) - 1)]
            out.append(LocalDecision(agent.agent_id, MOVE, zone_ids[target], explored=True))
            movers += 1
            explorers += 1
            continue
        out.append(LocalDecision(agent.agent_id, STAY, zone_ids[z]))
    counters: Counters = {
        "workers": workers,
        "movers": movers,
        "explorers": explorers,
        "idle": n - workers - movers,
        "work_left": sum(len(x) for x in scene.left),
    }
    return tuple(out), counters


__all__ = ["Attraction", "LocalScene", "local_decisions", "local_scene"]
