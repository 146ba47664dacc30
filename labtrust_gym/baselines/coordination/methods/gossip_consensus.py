"""``gossip_consensus``: agents agree on how the workforce is spread by gossiping per-zone load
digests over a lossy channel (:mod:`~labtrust_gym.baselines.coordination.protocols.gossip`).

Every agent sees the lab's work boards (they are in every observation) but not where the other
agents are. Each step every taking-part agent (wiring: :mod:`.protocol_bridge`) observes its own
zone's load digest — the agents standing there — and then, for ``rounds_per_step`` rounds,
pushes its whole belief map to ``fanout`` random peers through the lossy channel (messages lost
with ``drop_rate``, delayed with ``delay_rate`` by up to ``max_delay_rounds`` rounds; the newer
entry wins; a zone never heard of counts as empty). Then each agent acts on its own: work in its
own zone when there is a unit it may do (agents in row order, each unit once), else a unit of the
work done anywhere, else it walks one hop (its role's shortest path) towards the zone it rates
best,

    score(z) = open units it may do in z - CROWDING · agents it believes stand in z
               - DISTANCE_COST · hops to z,

when that score is positive; else it waits. Nobody assigns anyone: agents with the same belief
head for the same room, and beliefs are stale (a zone is known as it was when last observed).

Counted: messages sent and dropped (the channel's), planning work = belief entries the messages
improved + agents that decided.

Known weakness: no agreement on *who* does what — agents that share a belief walk to the same
room (the crowding term only counts agents already there, as last heard), and lost or delayed
digests hide the agents that already went, so rooms get over- or under-served.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from labtrust_gym.baselines.coordination.methods.protocol_bridge import (
    ProtocolBridge,
    capability,
    protocol_params,
)
from labtrust_gym.baselines.coordination.protocols import GossipNetwork, GossipParams
from labtrust_gym.baselines.coordination.toolkit import FAR, CoordinationView, ToolkitMethod
from labtrust_gym.errors import ConfigError

#: Score lost per agent believed to stand in a zone (they will take its work first).
CROWDING = 0.5
#: Score lost per hop to a zone.
DISTANCE_COST = 0.25


class GossipConsensus(ToolkitMethod):
    ID = "gossip_consensus"

    def on_reset(self) -> None:
        params = GossipParams.from_mapping(protocol_params(self.params))
        lay = self.layout
        self.bridge = bridge = ProtocolBridge(lay, self.work, self.router)
        self.rows = bridge.participants(self.view.rows)
        self.cap_index = {c: k for k, c in enumerate(bridge.capabilities)}
        self.net = GossipNetwork(
            [lay.agent_ids[r] for r in self.rows], len(lay.zone_ids), params, seed=self.seed
        )
        # per role: positions in self.rows, the fields it may serve, its hop table
        self.groups: list[tuple[str, np.ndarray, list[int], np.ndarray]] = []
        by_role: dict[str, list[int]] = {}
        for pos, row in enumerate(self.rows):
            role = lay.agent_role[row]
            if role is None:
                raise _no_role(lay.agent_ids[row])
            by_role.setdefault(role, []).append(pos)
        for role in sorted(by_role):
            fields = [self.cap_index[c] for c in sorted(bridge.role_caps[role])]
            dist, _hop = self.routes.table(role)
            hops = np.array(dist, dtype=np.float64)
            hops[hops >= FAR] = np.inf
            self.groups.append((role, np.array(by_role[role]), fields, hops))

    def decide(self, view: CoordinationView) -> dict[int, int]:
        bridge, lay = self.bridge, self.layout
        zoned, anywhere = bridge.items(view, self.work)
        nz = len(lay.zone_ids)
        work = np.zeros((nz, len(self.cap_index)))  # the boards: open units per zone and kind
        for it in zoned:
            work[it.zones[0], self.cap_index[capability(it.roles)]] += it.slots
        zone = view.zone
        zones = np.array([zone[r] for r in self.rows], dtype=np.int64)
        standing = np.bincount(zones, minlength=nz).astype(np.float64)  # the digests
        res = self.net.step(max(view.t, 0), zones, standing)
        rc = res.counters
        c = self.counters
        c.messages_sent += int(rc["messages_sent"])
        c.messages_dropped += int(rc["messages_dropped"])
        c.planning_work += int(rc["entries_updated"]) + len(self.rows)
        out = self._work_here(view, zoned)
        bridge.take_anywhere(view, self.rows, anywhere, out)
        values = res.values
        rows = self.rows
        step_toward = self.router.step_toward
        for _role, positions, fields, hops in self.groups:
            if not fields:
                continue
            here = zones[positions]
            open_units = work[:, fields].sum(axis=1)  # (zones,)
            score = open_units[None, :] - CROWDING * values[positions] - DISTANCE_COST * hops[here]
            score[:, open_units <= 0] = -np.inf
            score[np.arange(len(positions)), here] = -np.inf  # its own zone: handled above
            best = np.argmax(score, axis=1)
            good = score[np.arange(len(positions)), best] > 0
            for pos, target, ok in zip(positions.tolist(), best.tolist(), good.tolist(),
                                       strict=True):
                row = rows[pos]
                if ok and row not in out:
                    e = step_toward(view, row, target)
                    if e is not None:
                        out[row] = e
        return out

    def _work_here(self, view: CoordinationView, zoned: list[Any]) -> dict[int, int]:
        """Agents (row order) take a unit of work in their own zone that their role may do."""
        here: dict[tuple[int, str], list[Any]] = {}
        for it in zoned:
            for role in sorted(it.roles):
                here.setdefault((it.zones[0], role), []).append(it)
        left = {it.key: it.slots for it in zoned}
        out: dict[int, int] = {}
        roles, zone = self.layout.agent_role, view.zone
        entry_for = self.router.entry_for
        for row in self.rows:
            role = roles[row]
            if role is None:
                raise _no_role(self.layout.agent_ids[row])
            for it in here.get((zone[row], role), ()):
                if left[it.key] > 0:
                    e = entry_for(view, row, it)
                    if e is not None:
                        left[it.key] -= 1
                        out[row] = e
                        break
        return out


def factory(
    policy: dict[str, Any],
    repo_root: Path | None,
    scale_config: Mapping[str, Any] | None,
    params: dict[str, Any],
) -> GossipConsensus:
    return GossipConsensus(policy, repo_root, scale_config, params)


def _no_role(agent_id: str) -> ConfigError:
    """A participant without a role: the lab the method runs on broke the bridge's contract."""
    return ConfigError(
        f"gossip_consensus: agent {agent_id!r} takes part but has no role; give every lab agent "
        "a role in the lab profile (or pick a coordination method that needs none)."
    )
