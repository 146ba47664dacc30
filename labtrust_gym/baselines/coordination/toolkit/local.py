"""The per-agent (scale) path: each agent decides from its own zone, then claims are merged.

On the scale path (``N > max_agents`` of a ``scale_capable`` method) no global assignment is
computed. :class:`LocalBoard` is built once per step in O(N + items x roles + roles x zones²): the
zone-bound items each (role, zone) can do there, the items each role can do anywhere, each agent's
position among the agents of its role in its zone, the nearest zone with unmet work per (role,
zone), and the claims on offer (:class:`ClaimSet`: every item's slots, ``cell:<zone>`` = free
cells, ``need:<zone>`` = slots there that the agents already there cannot cover). An agent's
own decision (:meth:`LocalBoard.choose`) is O(1): the item at its position in its zone's list
(agents of one zone spread over its items), else a job done anywhere, else a hop towards work.
:func:`resolve_claims` then grants submissions in the method's rank order, all claims of a
submission or none; every refused submission is a counted conflict.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from labtrust_gym.baselines.coordination.toolkit.act import Router, submission
from labtrust_gym.baselines.coordination.toolkit.layout import FAR, LabLayout, Routes
from labtrust_gym.baselines.coordination.toolkit.view import CoordinationView
from labtrust_gym.baselines.coordination.toolkit.work import ClaimSet, WorkItem

#: rank(row, item or None, distance) -> sortable; smaller wins a contested claim.
Rank = Callable[[int, WorkItem | None, int], Any]
#: The submission of an agent that waits (shared: never modified).
WAIT: Mapping[str, Any] = MappingProxyType(submission(None))


class LocalBoard:
    """The shared, per-step facts every agent's own decision reads (module docstring)."""

    def __init__(
        self,
        layout: LabLayout,
        routes: Routes,
        view: CoordinationView,
        items: list[WorkItem],
        rows: list[int] | None = None,
    ) -> None:
        self.layout = layout
        self.view = view
        roles = layout.agent_role
        zone = view.zone
        nz = len(layout.zone_ids)
        self.here: dict[tuple[str, int], list[WorkItem]] = {}
        self.anywhere: dict[str, list[WorkItem]] = {}
        slots_at = [0] * nz
        for it in items:
            if it.zones:
                for z in it.zones:
                    slots_at[z] += it.slots
                    for r in it.roles:
                        self.here.setdefault((r, z), []).append(it)
            else:
                for r in it.roles:
                    self.anywhere.setdefault(r, []).append(it)
        self.position = [0] * len(layout.agent_ids)
        present = [0] * nz
        seen: dict[tuple[str | None, int], int] = {}
        for row in view.rows if rows is None else rows:
            key = (roles[row], zone[row])
            k = seen.get(key, 0)
            self.position[row] = k
            seen[key] = k + 1
            if (key[0], key[1]) in self.here:
                present[key[1]] += 1
        self.claims = ClaimSet(items)
        for z in range(nz):
            self.claims.offer(f"cell:{z}", max(0, layout.capacity[z] - view.occupancy[z]))
            self.claims.offer(f"need:{z}", max(0, slots_at[z] - present[z]))
        self.walk_to: dict[tuple[str, int], int] = {}
        wanted = [z for z in range(nz) if slots_at[z] > present[z]]
        for (role_or_none, z) in seen:
            if role_or_none is None or not wanted:
                continue
            r = role_or_none
            dist, _hop = routes.table(r)
            best, best_d = -1, FAR
            for w in wanted:
                if (r, w) in self.here and 0 < dist[z][w] < best_d:
                    best, best_d = w, dist[z][w]
            self.walk_to[(r, z)] = best
        #: (role, zone) keys whose agents have nothing to do this step (the common case)
        self.nothing = frozenset(
            key
            for key in seen
            if key[0] is None
            or (
                key not in self.here
                and key[0] not in self.anywhere
                and self.walk_to.get(key, -1) < 0  # type: ignore[arg-type]
            )
        )

    def choose(self, router: Router, row: int, rank: Rank) -> Mapping[str, Any]:
        """Agent ``row``'s own submission (see the module docstring)."""
        view = self.view
        key = (self.layout.agent_role[row], view.zone[row])
        if key in self.nothing:  # nothing here, nothing anywhere, nowhere to go: wait
            return WAIT
        role = key[0]
        pos = self.position[row]
        items = self.here.get(key)  # type: ignore[arg-type]
        if items:
            it = items[pos % len(items)]
            return submission(router.entry_for(view, row, it), it.key, rank(row, it, 0))
        anywhere = self.anywhere.get(role)  # type: ignore[arg-type]
        if anywhere:
            it = anywhere[pos % len(anywhere)]
            return submission(router.entry_for(view, row, it), it.key, rank(row, it, 0))
        target = self.walk_to.get(key, -1)  # type: ignore[arg-type]
        if target < 0:
            return WAIT
        e = router.step_toward(view, row, target)
        if e is None or e not in router.layout.move:
            return submission(e, f"need:{target}", rank(row, None, 1))
        nxt = router.layout.move.index(e)
        sub = submission(e, f"need:{target}", rank(row, None, 1))
        sub["also"] = f"cell:{nxt}"
        return sub


def resolve_claims(
    claims: ClaimSet, submissions: Mapping[int, Mapping[str, Any]]
) -> tuple[dict[int, int], int]:
    """Grant submissions in rank order (then row): all their claims (``claim``, ``also``) or
    none. Returns ``({row: entry}, refused)``."""
    out: dict[int, int] = {}
    refused = 0
    order = sorted(
        (sub["rank"], row) for row, sub in submissions.items() if sub["entry"] is not None
    )
    left = claims.left
    take = claims.take
    for _rank, row in order:
        sub = submissions[row]
        claim = sub["claim"]
        also = sub.get("also")
        if (claim is not None and left(claim) <= 0) or (also is not None and left(also) <= 0):
            refused += 1
            continue
        if claim is not None:
            take(claim)
        if also is not None:
            take(also)
        out[row] = sub["entry"]
    return out, refused


__all__ = ["LocalBoard", "Rank", "resolve_claims"]
