"""From "agent X should do item W / go to zone Z" to a catalog action, and the method's counters.

:class:`Router` is the last stage of every built-in method: an agent already where its item is
done takes the item's entry (or the first alternative its mask allows); an agent elsewhere takes
one hop along its role's shortest path (``MOVE@<next zone>``), or opens the door in the way when
the door is closed; an agent whose mask allows neither waits (``None``: NOOP). Only masked-in
entries are ever returned, so the engine never refuses a built-in method's choice — a same-step
conflict with an earlier agent shows up as contention, with the engine's reason code.

:class:`Counters` is what a method reports through ``coordination_report()`` (docs/metrics.md,
"Coordination"): planning work, replans, conflicts it planned around, conflicts its
``combine_submissions`` resolved, messages sent and dropped.
"""

from __future__ import annotations

from typing import Any

import attrs

from labtrust_gym.baselines.coordination.toolkit.layout import FAR, LabLayout, Routes
from labtrust_gym.baselines.coordination.toolkit.view import CoordinationView
from labtrust_gym.baselines.coordination.toolkit.work import WorkItem


class Router:
    """Turns targets into catalog entries for one agent (see the module docstring)."""

    def __init__(self, layout: LabLayout, routes: Routes) -> None:
        self.layout = layout
        self.routes = routes

    def distance(self, row: int, here: int, zones: tuple[int, ...]) -> int:
        """Hops from ``here`` to the nearest of ``zones`` for agent ``row``'s role (0 when
        ``zones`` is empty: doable anywhere; :data:`FAR` when none is reachable)."""
        if not zones:
            return 0
        dist, _hop = self.routes.table(self.layout.agent_role[row])
        row_d = dist[here]
        return min(row_d[z] for z in zones)

    def nearest(self, row: int, here: int, zones: tuple[int, ...]) -> int:
        """The nearest of ``zones`` (ties: the first listed); -1 when none is reachable."""
        dist, _hop = self.routes.table(self.layout.agent_role[row])
        best, best_d = -1, FAR
        for z in zones:
            d = dist[here][z]
            if d < best_d:
                best, best_d = z, d
        return best

    def step_toward(self, view: CoordinationView, row: int, target: int) -> int | None:
        """The entry taking agent ``row`` one hop towards zone ``target``: the move, else the
        door in the way; None when neither is allowed now (or it is there already)."""
        here = view.zone[row]
        if here == target or target < 0:
            return None
        _dist, hop = self.routes.table(self.layout.agent_role[row])
        nxt = hop[here][target]
        if nxt < 0:
            return None
        return self.hop_entry(view, row, here, nxt)

    def hop_entry(self, view: CoordinationView, row: int, here: int, nxt: int) -> int | None:
        """The entry crossing from ``here`` into the adjacent zone ``nxt`` (the move, or opening
        the closed door on that edge), if the agent's mask allows it."""
        lay = self.layout
        move = lay.move[nxt]
        if view.can(row, move):
            return move
        door = lay.edge_door.get((here, nxt))
        if door is not None:
            opener = lay.open_door.get(door)
            if view.can(row, opener):
                return opener
        return None

    def act_on(self, view: CoordinationView, row: int, item: WorkItem) -> int | None:
        """Agent ``row``'s entry for ``item``: walk to its nearest zone, or do it there."""
        here = view.zone[row]
        if item.zones and here not in item.zones:
            return self.step_toward(view, row, self.nearest(row, here, item.zones))
        return self.entry_for(view, row, item)

    @staticmethod
    def entry_for(view: CoordinationView, row: int, item: WorkItem) -> int | None:
        """The item's entry, or the first alternative, that the agent's mask allows."""
        if view.can(row, item.entry):
            return item.entry
        for e in item.alt:
            if view.can(row, e):
                return e
        return None


@attrs.define
class Counters:
    """Per-episode counters a method reports (``coordination_report()``; docs/metrics.md).

    :ivar planning_work: deterministic units of planning work (each method says what it counts:
        candidate evaluations, search-node expansions, messages processed).
    :ivar replans: plans thrown away and made again before they were finished.
    :ivar cell_conflicts_avoided: moves the method held back or rerouted because the target
        cell would have been full when the agent arrived.
    :ivar swaps_avoided: moves held back because another agent crosses the same doorway the
        other way at that instant (or uses up its lanes).
    :ivar combine_conflicts: per-agent submissions ``combine_submissions`` overruled.
    :ivar messages_sent, messages_dropped: protocol messages (0 for centralised methods).
    """

    planning_work: int = 0
    replans: int = 0
    cell_conflicts_avoided: int = 0
    swaps_avoided: int = 0
    combine_conflicts: int = 0
    messages_sent: int = 0
    messages_dropped: int = 0

    def report(self) -> dict[str, int]:
        return {
            "planning_work": self.planning_work,
            "replans": self.replans,
            "cell_conflicts_avoided": self.cell_conflicts_avoided,
            "swaps_avoided": self.swaps_avoided,
            "combine_conflicts": self.combine_conflicts,
            "messages_sent": self.messages_sent,
            "messages_dropped": self.messages_dropped,
        }


def submission(entry: int | None, claim: str | None = None, rank: Any = 0) -> dict[str, Any]:
    """A per-agent submission on the scale path: the entry the agent wants (None: wait), the
    claim key it needs to win (a work item's key, a cell) and its rank for the method's
    conflict rule (smaller wins)."""
    return {"entry": entry, "claim": claim, "rank": rank}


__all__ = ["Counters", "Router", "submission"]
