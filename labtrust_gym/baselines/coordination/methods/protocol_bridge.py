"""The wiring shared by the protocol-based methods: coordination view -> protocol records -> acts.

The five methods built on :mod:`labtrust_gym.baselines.coordination.protocols`
(``market_auction``, ``gossip_consensus``, ``consensus_paxos_lite``, ``swarm_reactive``,
``swarm_stigmergy_priority``) turn a step's toolkit work list into the protocols' small records
the same way:

* **capabilities** — a toolkit item names the set of roles that may do it; that role set, written
  ``"roleA|roleB"``, is the protocol item's ``capability``, and an agent's capabilities are every
  such role set that contains its role (fixed per layout: the work model's role sets). Agents
  whose role can do none of the lab's work take no part;
* **items** — an item with ``slots`` free units becomes that many protocol items
  (``"<key>#<k>"``), in the first of its zones; priority 2 for critical-result calls, 1 for
  releases, 0 otherwise; deadline = the toolkit's estimated deadline. Items done *anywhere*
  (releases, critical calls, approvals, dispatch) have no zone: each method says how it shares
  them out (:meth:`ProtocolBridge.take_anywhere` gives them to agents in row order);
* **zone graph** — the floor's zone graph (every zone, undirected), built once per layout;
* **acts** — "work on this item" -> the router's entry for the item (only entries the agent's
  mask allows), "move to that adjacent zone" -> :meth:`Router.hop_entry` (the move, or opening the
  door on that edge), anything not allowed -> wait.

Batch devices start as under ``centralized_planner``: when the batch is full, its queue head has
waited :data:`BATCH_WAIT_S`, or no more specimens of its type are ready
(:func:`~labtrust_gym.baselines.coordination.toolkit.batch_due`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from labtrust_gym.baselines.coordination.protocols import AgentInfo, LocalDecision, ZoneGraph
from labtrust_gym.baselines.coordination.protocols import WorkItem as ProtocolItem
from labtrust_gym.baselines.coordination.protocols.common import MOVE, WORK
from labtrust_gym.baselines.coordination.toolkit import (
    ClaimSet,
    CoordinationView,
    LabLayout,
    Router,
    WorkItem,
    WorkModel,
    batch_due,
)
from labtrust_gym.errors import InvalidInputError, did_you_mean

#: A batch device's queue head waits this long (s) for a full batch before it is started.
BATCH_WAIT_S = 60.0
#: Params the runner adds for every method (docs/coordination.md); the protocols take the rest.
RUNNER_KEYS = frozenset({"compute_budget", "proposal_backend", "pz_to_engine"})
#: Protocol priority of a toolkit item kind (larger is served first).
PRIORITY = {"critical": 2, "result": 1}


def protocol_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The method's params without the runner's keys: the protocol's parameter mapping (its
    ``from_mapping`` refuses any other key, so a typo is an error, never ignored)."""
    return {k: v for k, v in params.items() if k not in RUNNER_KEYS}


def capability(roles: Iterable[str]) -> str:
    """The capability string of a role set (sorted role ids joined by ``|``)."""
    return "|".join(sorted(roles))


class ProtocolBridge:
    """Per-layout tables and the per-step conversion (see the module docstring)."""

    def __init__(self, layout: LabLayout, work: WorkModel, router: Router) -> None:
        self.layout = layout
        self.router = router
        self.graph = ZoneGraph(layout.zone_ids, layout.neighbors)
        role_sets: set[frozenset[str]] = set()
        for rs in (*work.start_roles, *work.queue_roles, *work.qc_roles, work.dispatch_roles):
            role_sets.add(rs)
        for entry in work.lists:
            role_sets.add(entry[6])
        caps = sorted(capability(rs) for rs in role_sets if rs)
        #: role -> the capability strings it holds (empty: it takes no part)
        self.role_caps: dict[str | None, frozenset[str]] = {
            role: frozenset(c for c in caps if role is not None and role in c.split("|"))
            for role in set(layout.agent_role)
        }
        self.capabilities = tuple(caps)
        self._infos: dict[int, AgentInfo] = {}

    def participants(self, rows: Iterable[int]) -> list[int]:
        """The rows whose role can do some of the lab's work (in the given order)."""
        roles, caps = self.layout.agent_role, self.role_caps
        return [row for row in rows if caps.get(roles[row])]

    def agents(
        self,
        view: CoordinationView,
        rows: Sequence[int],
        load: Sequence[float] | None = None,
        needed: Iterable[str] | None = None,
        zone_id: str | None = None,
    ) -> tuple[list[int], list[AgentInfo]]:
        """``(rows taking part, their AgentInfo)``: id, zone (``zone_id`` instead when given),
        ``load[row]`` (0 when None) and capabilities. With ``needed`` (the capabilities of the
        step's items) only agents holding one of them take part, with those capabilities only —
        the others could not bid or act on anything, so leaving them out changes no outcome.
        Records are reused while an agent's zone, load and capabilities stay the same."""
        lay = self.layout
        ids, zones, roles, caps = lay.agent_ids, lay.zone_ids, lay.agent_role, self.role_caps
        want = None if needed is None else frozenset(needed)
        if want is not None:
            caps = {role: c & want for role, c in caps.items()}
        zone = view.zone
        cache = self._infos
        out_rows: list[int] = []
        out: list[AgentInfo] = []
        for row in rows:
            held = caps[roles[row]]
            if not held:
                continue
            where = zones[zone[row]] if zone_id is None else zone_id
            amount = 0.0 if load is None else load[row]
            info = cache.get(row)
            if (info is None or info.zone != where or info.load != amount
                    or info.capabilities != held):
                info = cache[row] = AgentInfo(ids[row], where, amount, held)
            out_rows.append(row)
            out.append(info)
        return out_rows, out

    def items(
        self, view: CoordinationView, work: WorkModel
    ) -> tuple[list[WorkItem], list[WorkItem]]:
        """The step's work list (batch starts filtered), split into (zone-bound, anywhere)."""
        zoned: list[WorkItem] = []
        anywhere: list[WorkItem] = []
        lay = self.layout
        for it in work.items(view):
            if it.kind == "start" and not batch_due(view, lay, it, BATCH_WAIT_S):
                continue
            (zoned if it.zones else anywhere).append(it)
        return zoned, anywhere

    def protocol_items(
        self, items: Sequence[WorkItem], zone: str | None = None
    ) -> tuple[list[ProtocolItem], dict[str, WorkItem]]:
        """One protocol item per free unit of each item, placed in its first zone (or ``zone``
        for items done anywhere); and protocol item id -> toolkit item."""
        out: list[ProtocolItem] = []
        back: dict[str, WorkItem] = {}
        zones = self.layout.zone_ids
        for it in items:
            where = zones[it.zones[0]] if it.zones else zone
            if where is None:
                raise InvalidInputError(
                    f"Work item {it.key!r} is done anywhere: give the zone it is auctioned in."
                )
            cap = capability(it.roles)
            prio = PRIORITY.get(it.kind, 0)
            for k in range(it.slots):
                pid = f"{it.key}#{k}"
                out.append(ProtocolItem(pid, where, prio, it.deadline_s, cap))
                back[pid] = it
        return out, back

    def take_anywhere(
        self, view: CoordinationView, rows: Iterable[int], items: Sequence[WorkItem],
        out: dict[int, int],
    ) -> int:
        """Give the units of the items done anywhere to ``rows`` (in this order) that are not in
        ``out`` yet, each agent the first item its role may do with a unit left; returns how
        many agents took one."""
        if not items:
            return 0
        claims = ClaimSet(items)
        roles = self.layout.agent_role
        entry_for = self.router.entry_for
        taken = 0
        units = sum(it.slots for it in items)
        for row in rows:
            if taken >= units:
                break
            if row in out:
                continue
            role = roles[row]
            for it in items:
                if role in it.roles and claims.left(it.key) > 0:
                    e = entry_for(view, row, it)
                    if e is not None:
                        claims.take(it.key)
                        out[row] = e
                        taken += 1
                    break
        return taken

    def act_local(
        self,
        view: CoordinationView,
        rows: Sequence[int],
        decisions: Sequence[LocalDecision],
        back: Mapping[str, WorkItem],
        anywhere: Sequence[WorkItem],
    ) -> dict[int, int]:
        """Acts of local-rule decisions (``decisions[i]`` is ``rows[i]``'s): workers do their
        item; then agents not working take the work done anywhere (:meth:`take_anywhere`); the
        movers left step into their chosen zone; the rest wait."""
        out: dict[int, int] = {}
        entry_for = self.router.entry_for
        for row, dec in zip(rows, decisions, strict=True):
            if dec.action == WORK and dec.item_id is not None:
                e = entry_for(view, row, back[dec.item_id])
                if e is not None:
                    out[row] = e
        self.take_anywhere(view, rows, anywhere, out)
        for row, dec in zip(rows, decisions, strict=True):
            if dec.action == MOVE and row not in out:
                e = self.move_entry(view, row, dec.zone)
                if e is not None:
                    out[row] = e
        return out

    def move_entry(self, view: CoordinationView, row: int, zone_id: str) -> int | None:
        """The entry taking ``row`` into the adjacent zone ``zone_id`` (None: not allowed now)."""
        here = view.zone[row]
        nxt = self.layout.zone_index[zone_id]
        if nxt == here:
            return None
        return self.router.hop_entry(view, row, here, nxt)

    def row_of(self, agent_ids: Iterable[str]) -> list[int]:
        """Rows of ``agent_ids``; an unknown id is an :class:`InvalidInputError`."""
        rows = []
        known = self.layout.agent_row
        for aid in agent_ids:
            row = known.get(aid)
            if row is None:
                raise InvalidInputError(
                    f"Unknown agent {aid!r}.{did_you_mean(aid, list(known))} "
                    f"Known agents: {', '.join(sorted(known)[:20])}"
                    f"{' ...' if len(known) > 20 else ''}."
                )
            rows.append(row)
        return rows


__all__ = [
    "BATCH_WAIT_S",
    "PRIORITY",
    "RUNNER_KEYS",
    "ProtocolBridge",
    "capability",
    "protocol_params",
]
