"""A deterministic synthetic scene (zone grid, agents, work items) for the protocols' tests and
benchmark: the protocols' own inputs without building a lab.

``grid_graph(rows, cols)`` is a 4-neighbour grid of zones ``Z_r_c``; ``make_scene(n_agents,
n_items, seed)`` scatters agents (capabilities: one or two of :data:`KINDS`, load 0..3) and items
(priority 0/1/2 with weights 0.7/0.2/0.1, a deadline, a required kind or None for one in five)
uniformly over it.
"""

from __future__ import annotations

import attrs
import numpy as np

from .common import AgentInfo, WorkItem, ZoneGraph

KINDS = ("accession", "run", "qc", "release")


def grid_graph(rows: int = 4, cols: int = 4) -> ZoneGraph:
    ids = [f"Z_{r}_{c}" for r in range(rows) for c in range(cols)]
    nbrs: list[list[int]] = [[] for _ in ids]
    for r in range(rows):
        for c in range(cols):
            i = r * cols + c
            if c + 1 < cols:
                nbrs[i].append(i + 1)
            if r + 1 < rows:
                nbrs[i].append(i + cols)
    return ZoneGraph(ids, nbrs)


@attrs.frozen
class Scene:
    graph: ZoneGraph
    agents: tuple[AgentInfo, ...]
    items: tuple[WorkItem, ...]


def make_scene(
    n_agents: int, n_items: int, seed: int = 0, *, rows: int = 4, cols: int = 4
) -> Scene:
    graph = grid_graph(rows, cols)
    rng = np.random.default_rng(seed)
    z = len(graph.zone_ids)
    a_zone = rng.integers(0, z, n_agents).tolist()
    a_load = rng.integers(0, 4, n_agents).tolist()
    a_kind = rng.integers(0, len(KINDS), (n_agents, 2)).tolist()
    a_two = (rng.random(n_agents) < 0.3).tolist()
    agents = tuple(
        AgentInfo(
            f"agent_{i:05d}",
            graph.zone_ids[a_zone[i]],
            float(a_load[i]),
            frozenset(KINDS[k] for k in (a_kind[i] if a_two[i] else a_kind[i][:1])),
        )
        for i in range(n_agents)
    )
    w_zone = rng.integers(0, z, n_items).tolist()
    w_prio = rng.choice(3, size=n_items, p=[0.7, 0.2, 0.1]).tolist()
    w_deadline = rng.integers(0, 600, n_items).tolist()
    w_kind = rng.integers(-1, len(KINDS), n_items).tolist()  # -1: anyone (one in five)
    items = tuple(
        WorkItem(
            f"item_{j:05d}",
            graph.zone_ids[w_zone[j]],
            int(w_prio[j]),
            float(w_deadline[j]),
            None if w_kind[j] < 0 else KINDS[w_kind[j]],
        )
        for j in range(n_items)
    )
    return Scene(graph, agents, items)


__all__ = ["KINDS", "Scene", "grid_graph", "make_scene"]
