"""Records shared by the protocol modules, and the helpers more than one of them uses.

The protocols never see the env: the wiring round builds these small records from the
coordination view (agents with their zone, load and allowed work; open work items; the zone
graph) and turns the protocols' decisions back into catalog actions.

* :class:`ZoneGraph` — zone ids, undirected adjacency, all-pairs hop distances (BFS).
* :class:`AgentInfo` — one agent: id, zone, load (work it already holds), capabilities.
* :class:`WorkItem` — one open work item: id, zone, priority, deadline, required capability.
* :func:`service_key` — the one order in which work is served everywhere (priority, deadline, id).
* :func:`assign_local_work` — "work here? take it": agents in a zone take that zone's items.
* :func:`build_params` — a protocol's parameter record from a ``default_params``-style mapping.

Ties are never left to dict or set order: wherever two agents compare equal, the one with the
smaller ``agent_id`` (plain string order) wins; wherever two items do, the smaller ``item_id``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import attrs
import numpy as np

from labtrust_gym.errors import InvalidInputError, did_you_mean

#: Counters every protocol returns: name -> number (ints for counts, floats for costs/ages).
Counters = dict[str, float]

#: Distance of a zone that cannot be reached.
UNREACHABLE = -1


def _to_tuple_of_tuples(value: Iterable[Iterable[int]]) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(int(v) for v in row) for row in value)


def str_frozenset(value: Iterable[str]) -> frozenset[str]:
    """attrs converter: any iterable of ids -> frozenset (kept as is when it already is one)."""
    return value if isinstance(value, frozenset) else frozenset(value)


def _to_str_tuple(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(str(v) for v in value)


@attrs.frozen
class ZoneGraph:
    """The zone graph: ``zone_ids`` (index order), ``neighbours[i]`` = the sorted indices of the
    zones adjacent to zone ``i``. Edges are undirected (an edge given once connects both ways).

    Computed at construction (O(Z·(Z+E)), once per episode): ``dist[i][j]`` = hops from ``i`` to
    ``j`` (``UNREACHABLE`` = -1 when there is no path), ``by_distance[i]`` = every reachable zone
    index ordered by (distance from ``i``, index), ``rings[i][d]`` = the zones exactly ``d`` hops
    from ``i`` (ascending), and ``index`` = zone id -> index.
    """

    zone_ids: tuple[str, ...] = attrs.field(converter=_to_str_tuple)
    neighbours: tuple[tuple[int, ...], ...] = attrs.field(converter=_to_tuple_of_tuples)
    dist: tuple[tuple[int, ...], ...] = attrs.field(init=False)
    by_distance: tuple[tuple[int, ...], ...] = attrs.field(init=False)
    rings: tuple[tuple[tuple[int, ...], ...], ...] = attrs.field(init=False)
    index: Mapping[str, int] = attrs.field(init=False)

    @neighbours.validator
    def _check(self, _attr: Any, value: tuple[tuple[int, ...], ...]) -> None:
        z = len(self.zone_ids)
        if z == 0:
            raise InvalidInputError("ZoneGraph needs at least one zone id.")
        if len(set(self.zone_ids)) != z:
            raise InvalidInputError("ZoneGraph zone_ids must be unique; a zone id is repeated.")
        if len(value) != z:
            raise InvalidInputError(
                f"ZoneGraph.neighbours has {len(value)} rows for {z} zones; give one row per zone."
            )
        for i, row in enumerate(value):
            for j in row:
                if not 0 <= j < z or j == i:
                    raise InvalidInputError(
                        f"ZoneGraph.neighbours[{i}] holds {j}: a neighbour must be another zone "
                        f"index in 0..{z - 1}."
                    )

    @index.default
    def _index(self) -> Mapping[str, int]:
        return {zone: i for i, zone in enumerate(self.zone_ids)}

    def __attrs_post_init__(self) -> None:
        z = len(self.zone_ids)
        adj: list[set[int]] = [set() for _ in range(z)]
        for i, row in enumerate(self.neighbours):
            for j in row:
                adj[i].add(j)
                adj[j].add(i)
        sym = tuple(tuple(sorted(a)) for a in adj)
        dist: list[tuple[int, ...]] = []
        for src in range(z):
            d = [UNREACHABLE] * z
            d[src] = 0
            todo = deque([src])
            while todo:
                u = todo.popleft()
                for v in sym[u]:
                    if d[v] == UNREACHABLE:
                        d[v] = d[u] + 1
                        todo.append(v)
            dist.append(tuple(d))
        order = tuple(
            tuple(j for _, j in sorted((d, j) for j, d in enumerate(row) if d != UNREACHABLE))
            for row in dist
        )
        object.__setattr__(self, "neighbours", sym)
        object.__setattr__(self, "dist", tuple(dist))
        object.__setattr__(self, "by_distance", order)
        rings = []
        for src, row in enumerate(order):
            by_hops: list[list[int]] = [[] for _ in range(max(dist[src][j] for j in row) + 1)]
            for j in row:
                by_hops[dist[src][j]].append(j)
            rings.append(tuple(tuple(r) for r in by_hops))
        object.__setattr__(self, "rings", tuple(rings))

    @classmethod
    def from_adjacency(
        cls, zone_ids: Sequence[str], adjacency: Mapping[str, Iterable[str]]
    ) -> ZoneGraph:
        """Build from ``{zone_id: [adjacent zone ids]}`` (either direction suffices)."""
        index = {zone: i for i, zone in enumerate(zone_ids)}
        rows: list[list[int]] = [[] for _ in zone_ids]
        for zone, others in adjacency.items():
            for other in others:
                for name in (zone, other):
                    if name not in index:
                        raise InvalidInputError(
                            f"Zone graph edge {zone!r}-{other!r} names unknown zone {name!r}."
                            f"{did_you_mean(name, zone_ids)} Known zones: {', '.join(zone_ids)}."
                        )
                rows[index[zone]].append(index[other])
        return cls(zone_ids, rows)

    def zone_index(self, zone_id: str) -> int:
        """The index of ``zone_id``; an unknown id is an :class:`InvalidInputError`."""
        try:
            return self.index[zone_id]
        except KeyError:
            raise InvalidInputError(
                f"Unknown zone {zone_id!r}.{did_you_mean(zone_id, self.zone_ids)} "
                f"Known zones: {', '.join(self.zone_ids)}."
            ) from None


def _non_negative(name: str, value: float) -> None:
    if not value >= 0:
        raise InvalidInputError(f"AgentInfo.{name}={value!r}: give a number >= 0.")


@attrs.frozen
class AgentInfo:
    """One agent as a protocol sees it.

    * ``agent_id`` — unique; ties between agents are broken by this id (string order);
    * ``zone`` — the zone id the agent stands in;
    * ``load`` — work it already holds (queued or in-progress items), >= 0; raises its bids;
    * ``capabilities`` — the kinds of work it can do (e.g. the catalog action types its mask
      allows); a :class:`WorkItem` whose ``capability`` is None can be done by anyone.
    """

    agent_id: str
    zone: str
    load: float = attrs.field(default=0.0, validator=lambda _i, _a, v: _non_negative("load", v))
    capabilities: frozenset[str] = attrs.field(default=frozenset(), converter=str_frozenset)


@attrs.frozen
class WorkItem:
    """One open work item.

    * ``item_id`` — unique;
    * ``zone`` — the zone where it must be done;
    * ``priority`` — larger is more urgent (the wiring maps STAT 2, URGENT 1, ROUTINE 0);
    * ``deadline`` — a time or step by which it is due (only compared), None = none;
    * ``capability`` — what an agent needs to do it, None = any agent.
    """

    item_id: str
    zone: str
    priority: int = 0
    deadline: float | None = None
    capability: str | None = None


def service_key(item: WorkItem) -> tuple[int, float, str]:
    """The order work is served in: higher priority, then earlier deadline (None last), then id."""
    return (-item.priority, math.inf if item.deadline is None else item.deadline, item.item_id)


def group_indices_by_zone(
    zones: Sequence[str], graph: ZoneGraph, what: str
) -> list[list[int]]:
    """``out[z]`` = positions ``i`` (ascending) with ``zones[i]`` = zone ``z``. O(len + Z)."""
    out: list[list[int]] = [[] for _ in graph.zone_ids]
    index = graph.index
    for i, zone in enumerate(zones):
        z = index.get(zone)
        if z is None:
            raise InvalidInputError(
                f"{what} {i} stands in unknown zone {zone!r}."
                f"{did_you_mean(zone, graph.zone_ids)} Known zones: {', '.join(graph.zone_ids)}."
            )
        out[z].append(i)
    return out


def assign_local_work(
    agents: Sequence[AgentInfo],
    agents_in_zone: Sequence[Sequence[int]],
    items: Sequence[WorkItem],
    items_in_zone: Sequence[Sequence[int]],
) -> tuple[dict[int, int], list[list[int]]]:
    """"Work here? Take it." In every zone, agents (by ``agent_id``) take, one each, the first item
    in service order they can do that no earlier agent in the zone took.

    Returns ``({agent position: item position}, left)`` where ``left[z]`` = the positions of zone
    ``z``'s items nobody took, in service order. O(N log N + M log M) plus, per zone with work,
    its agents x the capability kinds of its items.
    """
    taken: dict[int, int] = {}
    left: list[list[int]] = []
    for z, members in enumerate(agents_in_zone):
        here = items_in_zone[z]
        if not here:
            left.append([])
            continue
        # one queue per required capability, each in service order; None = anyone
        queues: dict[str | None, deque[int]] = {}
        for j in sorted(here, key=lambda j: service_key(items[j])):
            queues.setdefault(items[j].capability, deque()).append(j)
        remaining = len(here)
        for i in sorted(members, key=lambda i: agents[i].agent_id):
            if not remaining:
                break
            caps = agents[i].capabilities
            best: int | None = None
            best_cap: str | None = None
            for cap, queue in queues.items():
                if queue and (cap is None or cap in caps):
                    j = queue[0]
                    if best is None or service_key(items[j]) < service_key(items[best]):
                        best, best_cap = j, cap
            if best is not None:
                queues[best_cap].popleft()
                taken[i] = best
                remaining -= 1
        left.append(sorted((j for q in queues.values() for j in q),
                           key=lambda j: service_key(items[j])))
    return taken, left


#: What a local-rule agent does this step (:class:`LocalDecision`.action).
WORK, MOVE, STAY = "work", "move", "stay"


@attrs.frozen
class LocalDecision:
    """A swarm / stigmergy agent's decision: ``work`` on ``item_id`` in its zone, ``move`` to the
    adjacent ``zone``, or ``stay`` (``zone`` = its own). ``explored`` marks a random step."""

    agent_id: str
    action: str
    zone: str
    item_id: str | None = None
    explored: bool = False


#: How a local-rule agent picks among attractive neighbours (``choice`` parameter).
CHOICES = ("proportional", "greedy")


def choice_validator(_inst: Any, _attr: Any, value: str) -> None:
    """attrs validator of a ``choice`` parameter."""
    if value not in CHOICES:
        raise InvalidInputError(f"Unknown choice {value!r}; use one of: {', '.join(CHOICES)}.")


def pick_weighted(options: Sequence[int], weights: Sequence[float], u: float, greedy: bool) -> int:
    """One of ``options`` (ascending zone indices, weights > 0): the heaviest (ties: the first)
    when ``greedy``, else drawn with probability proportional to its weight using ``u`` in
    [0, 1)."""
    if greedy:
        best = 0
        for k in range(1, len(options)):
            if weights[k] > weights[best]:
                best = k
        return options[best]
    target = u * sum(weights)
    acc = 0.0
    for option, weight in zip(options, weights, strict=True):
        acc += weight
        if target < acc:
            return option
    return options[-1]


def seeded_rng(*keys: int) -> np.random.Generator:
    """A numpy generator seeded from non-negative ints (e.g. ``(seed, step)``): the same keys
    give the same stream, whatever ran before."""
    for key in keys:
        if int(key) != key or key < 0:
            raise InvalidInputError(f"Seeds and steps must be whole numbers >= 0; got {key!r}.")
    return np.random.default_rng([int(k) for k in keys])


P = TypeVar("P", bound="ParamsRecord")


class ParamsRecord:
    """Base of the protocols' attrs parameter records (``protocol`` names the protocol in
    errors): :meth:`from_mapping` builds one from a ``default_params``-style mapping, refusing an
    unknown key with the known ones (typo protection); :meth:`coerce` accepts either."""

    __slots__ = ()
    protocol: ClassVar[str] = "protocol"

    @classmethod
    def from_mapping(cls: type[P], params: Mapping[str, Any] | None) -> P:
        params = dict(params or {})
        known = [a.name for a in attrs.fields(cls)]  # type: ignore[arg-type]
        for key in params:
            if key not in known:
                raise InvalidInputError(
                    f"Unknown {cls.protocol} parameter {key!r}.{did_you_mean(key, known)} "
                    f"Known: {', '.join(known)}."
                )
        return cls(**params)

    @classmethod
    def coerce(cls: type[P], params: P | Mapping[str, Any] | None) -> P:
        """``params`` itself when it is already this record, else :meth:`from_mapping`."""
        return params if isinstance(params, cls) else cls.from_mapping(params)  # type: ignore[arg-type]


def check_range(
    name: str, value: float, low: float, high: float = math.inf, *, low_open: bool = False
) -> None:
    """Raise :class:`InvalidInputError` unless ``low <= value <= high`` (``low < value``)."""
    ok = (value > low if low_open else value >= low) and value <= high
    if not ok or math.isnan(value):
        bracket = "(" if low_open else "["
        upper = "inf)" if high == math.inf else f"{high}]"
        raise InvalidInputError(
            f"Parameter {name}={value!r} is out of range; give a value in {bracket}{low}, {upper}."
        )


def range_validator(
    low: float, high: float = math.inf, *, low_open: bool = False
) -> Any:
    """An attrs validator built on :func:`check_range`."""

    def _validate(_inst: Any, attribute: Any, value: float) -> None:
        check_range(attribute.name, value, low, high, low_open=low_open)

    return _validate


__all__ = [
    "CHOICES",
    "MOVE",
    "STAY",
    "UNREACHABLE",
    "WORK",
    "AgentInfo",
    "Counters",
    "LocalDecision",
    "ParamsRecord",
    "WorkItem",
    "ZoneGraph",
    "assign_local_work",
    "check_range",
    "choice_validator",
    "group_indices_by_zone",
    "pick_weighted",
    "range_validator",
    "seeded_rng",
    "service_key",
]
