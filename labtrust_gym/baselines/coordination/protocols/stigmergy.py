"""Stigmergy: a per-zone pheromone field that open work deposits into, that evaporates and
diffuses every step, and whose gradient the agents climb.

**Field.** One row per kind of work (the items' required capability; ``None`` = work anyone can
do), one column per zone. Step ``t`` with open items ``q``::

    F_t = D((1 - evaporation) · F_{t-1} + Q_t)
    Q_t[c, z] = Σ over open items of kind c in zone z of deposit · (1 + priority_gain · priority)
    D(F)[c, z] = F[c, z] + (diffusion / d_max) · Σ_{y adjacent to z} (F[c, y] - F[c, z])

with ``d_max`` the largest zone degree: every edge carries the same fraction of the difference
across it, so ``D`` conserves mass, each new level is a weighted average of old levels (no new
peaks appear away from deposits; a zone keeps at least ``1 - diffusion`` of its own), and a
field left alone flattens to uniform — no drift toward well-connected zones, which a per-node
split (``diffusion / deg``) would cause and which would lure agents away from the work. Work
that stays open keeps depositing, so a zone's level grows (without diffusion: toward
``deposit·weight / evaporation``) while the work is there and decays geometrically once it is
done.

**Agents** (the loop of :mod:`.local_rules`): work in their own zone when they can; otherwise
they smell ``P(z)`` = the sum of the rows they can serve (``None`` and their capabilities) and
move to an adjacent zone ``y`` with ``P(y) - P(here) > follow_threshold`` — the steepest
(``choice="greedy"``) or one drawn with probability proportional to the rise
(``choice="proportional"``, default); else explore with probability ``explore``, else stay.

**Randomness:** ``numpy.random.default_rng([seed, step])`` for the agents' draws; the field is
deterministic.

**Complexity:** field update O(K·(Z + E) + M) for K kinds of work and E edges (numpy); agents
O(N log N + M log M) plus O(K·Z + degree) per distinct (zone, capability set): O(Z + N + M)
per step up to the sorts.

Counters: ``deposited`` (pheromone added this step), ``evaporated``, ``field_mass``,
``field_max`` (after the update), ``workers``, ``movers``, ``explorers``, ``idle``, ``work_left``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

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
class StigmergyParams(ParamsRecord):
    """Parameters (defaults = the method's ``default_params``)."""

    protocol = "stigmergy"

    deposit: float = attrs.field(default=1.0, validator=range_validator(0.0, low_open=True))
    priority_gain: float = attrs.field(default=1.0, validator=range_validator(0.0))
    evaporation: float = attrs.field(default=0.2, validator=range_validator(0.0, 1.0))
    diffusion: float = attrs.field(default=0.3, validator=range_validator(0.0, 1.0))
    follow_threshold: float = attrs.field(default=0.0, validator=range_validator(0.0))
    explore: float = attrs.field(default=0.05, validator=range_validator(0.0, 1.0))
    choice: str = attrs.field(default="proportional", validator=choice_validator)



@attrs.frozen
class StigmergyResult:
    """Decisions (one per agent, input order), the field after the update (read-only,
    ``field[kinds.index(kind), zone]``) and counters."""

    decisions: tuple[LocalDecision, ...]
    field: np.ndarray
    kinds: tuple[str | None, ...]
    counters: Counters


class PheromoneField:
    """The field and its update; :meth:`step` once per step."""

    def __init__(
        self, graph: ZoneGraph, params: StigmergyParams | Mapping[str, Any] | None = None,
        *, seed: int = 0,
    ) -> None:
        self.params = StigmergyParams.coerce(params)
        self.graph = graph
        self.seed = int(seed)
        z = len(graph.zone_ids)
        self.kinds: list[str | None] = [None]
        self._kind_row: dict[str | None, int] = {None: 0}
        self.field = np.zeros((1, z), dtype=np.float64)
        src = [y for y, nbrs in enumerate(graph.neighbours) for _ in nbrs]
        dst = [x for nbrs in graph.neighbours for x in nbrs]
        self._deg = np.array([len(n) for n in graph.neighbours], dtype=np.float64)
        self._rate = self.params.diffusion / max(1.0, float(self._deg.max()))
        self._src = np.array(src, dtype=np.int64)
        self._dst = np.array(dst, dtype=np.int64)

    def _row(self, kind: str | None) -> int:
        row = self._kind_row.get(kind)
        if row is None:
            row = self._kind_row[kind] = len(self.kinds)
            self.kinds.append(kind)
            self.field = np.vstack([self.field, np.zeros((1, self.field.shape[1]))])
        return row

    def diffuse(self, field: np.ndarray) -> np.ndarray:
        """``D(field)`` of the module docstring (rows = kinds, columns = zones)."""
        if not self._src.size or self._rate == 0.0:
            return field.copy()
        out = field * (1.0 - self._rate * self._deg)
        for r in range(field.shape[0]):
            out[r] += self._rate * np.bincount(
                self._dst, weights=field[r, self._src], minlength=field.shape[1]
            )
        return out

    def update(self, items: Sequence[WorkItem]) -> Counters:
        """Evaporate, deposit for ``items``, diffuse; returns the field counters."""
        p = self.params
        rows = [self._row(w.capability) for w in items]
        cols = [self.graph.zone_index(w.zone) for w in items]
        amounts = [p.deposit * (1.0 + p.priority_gain * w.priority) for w in items]
        before = float(self.field.sum())
        field = self.field * (1.0 - p.evaporation)
        evaporated = before - float(field.sum())
        if items:
            np.add.at(field, (np.array(rows), np.array(cols)), np.array(amounts))
        self.field = self.diffuse(field)
        return {
            "deposited": float(sum(amounts)),
            "evaporated": evaporated,
            "field_mass": float(self.field.sum()),
            "field_max": float(self.field.max()),
        }

    def smell(self, caps: frozenset[str]) -> np.ndarray:
        """``P(z)`` for an agent with ``caps``: the rows of ``None`` and of its capabilities."""
        rows = [self._kind_row[k] for k in self.kinds if k is None or k in caps]
        return self.field[rows].sum(axis=0)

    def step(
        self, agents: Sequence[AgentInfo], items: Sequence[WorkItem], step: int
    ) -> StigmergyResult:
        """Update the field with ``items``, then decide every agent's move."""
        p = self.params
        counters = self.update(items)
        scene = local_scene(agents, items, self.graph)
        smells: dict[frozenset[str], list[float]] = {}
        graph = self.graph

        def attraction(z: int, caps: frozenset[str]) -> tuple[list[int], list[float]]:
            level = smells.get(caps)
            if level is None:
                level = smells[caps] = self.smell(caps).tolist()
            options: list[int] = []
            weights: list[float] = []
            for y in graph.neighbours[z]:
                rise = level[y] - level[z]
                if rise > p.follow_threshold:
                    options.append(y)
                    weights.append(rise)
            return options, weights

        decisions, local = local_decisions(
            agents, items, graph, scene, attraction,
            greedy=p.choice == "greedy", explore=p.explore, rng=seeded_rng(self.seed, step),
        )
        counters.update(local)
        field = self.field.copy()
        field.flags.writeable = False
        return StigmergyResult(decisions, field, tuple(self.kinds), counters)


__all__ = ["PheromoneField", "StigmergyParams", "StigmergyResult"]
