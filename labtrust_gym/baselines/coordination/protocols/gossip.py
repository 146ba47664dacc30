"""Gossip of per-zone load digests over a lossy channel: every agent ends each step with a
belief map (zone -> last known load figures and their version).

**State.** Agent ``a``'s belief about zone ``z`` is ``(values, version)``: ``values`` the zone's
load figures (``n_fields`` floats, e.g. open work and queue length) as observed at step
``version``; ``version = -1`` means "never heard of it".

**A step** ``s`` with the lab's true digests ``truth`` (shape ``(Z,)`` or ``(Z, n_fields)``):

1. *observe*: each agent sees its own zone: ``belief[a][zone(a)] = (truth[zone(a)], s)``;
2. ``rounds_per_step`` gossip rounds; in each, every agent pushes its whole belief map (a copy
   taken at sending time) to ``fanout`` peers drawn uniformly, with replacement, from the other
   agents, through a :class:`~.channel.LossyChannel` (lost with probability ``drop_rate``,
   delayed with probability ``delay_rate`` by ``1..max_delay_rounds`` rounds; a message sent in
   round ``r`` with delay ``d`` arrives at the end of round ``r + d`` — a delay may carry it into
   a later step). On arrival each receiver keeps, per zone, the entry
   with the higher version (*last writer wins*); among equal versions arriving together the one
   delivered first wins (delivery order: due round, then send order).
3. *measure* (against ``truth``): ``convergence`` = fraction of agents whose belief equals the
   truth on every zone some agent stands in this step (``observed_zones``; a zone nobody stands
   in cannot be known, so it is left out), ``mean_age`` / ``max_age`` = ``s - version`` over
   known entries, ``unknown_fraction`` = entries (of all zones) never heard of.

Global rounds are numbered ``step · rounds_per_step + r``; steps must increase.

**Randomness.** One ``numpy.random.default_rng(seed)`` draws the peers (one ``(N, fanout)``
integer array per round) and the channel has its own generator seeded with ``seed + 1``.

**Complexity.** O(rounds_per_step · N · fanout · Z · F) per step with numpy arrays (F =
``n_fields``), plus a sort of the entries that improve a receiver's belief (few once beliefs have
spread): no N x N term — each agent talks to ``fanout`` peers per round, whatever N is.

Counters (per step): ``rounds``, ``messages_sent``, ``messages_dropped``, ``messages_delayed``,
``messages_delivered``, ``entries_updated`` (belief entries a message improved), ``convergence``,
``observed_zones``,
``mean_age``, ``max_age``, ``unknown_fraction``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from labtrust_gym.errors import InvalidInputError

from .channel import LossyChannel
from .common import Counters, ParamsRecord, range_validator


@attrs.frozen(kw_only=True)
class GossipParams(ParamsRecord):
    """Parameters (defaults = the method's ``default_params``)."""

    protocol = "gossip"

    rounds_per_step: int = attrs.field(default=3, validator=range_validator(1))
    fanout: int = attrs.field(default=2, validator=range_validator(1))
    drop_rate: float = attrs.field(default=0.1, validator=range_validator(0.0, 1.0))
    delay_rate: float = attrs.field(default=0.1, validator=range_validator(0.0, 1.0))
    max_delay_rounds: int = attrs.field(default=2, validator=range_validator(0))



@attrs.frozen
class GossipResult:
    """One step's outcome. ``values[a, z]`` (shape ``(N, Z)`` or ``(N, Z, F)``) and
    ``versions[a, z]`` are agent ``a``'s belief (read-only copies, agents in constructor order)."""

    step: int
    values: np.ndarray
    versions: np.ndarray
    counters: Counters

    def belief(self, agent: int) -> dict[int, tuple[Any, int]]:
        """Agent ``agent``'s known zones: ``{zone index: (value(s), version)}`` in zone order
        (a float per zone for 1-D truth, else a list of ``n_fields`` floats)."""
        known = np.flatnonzero(self.versions[agent] >= 0)
        return {
            int(z): (self.values[agent, z].tolist(), int(self.versions[agent, z])) for z in known
        }


class GossipNetwork:
    """The agents' beliefs and the channel between them, carried from step to step."""

    def __init__(
        self,
        agent_ids: Sequence[str],
        n_zones: int,
        params: GossipParams | Mapping[str, Any] | None = None,
        *,
        seed: int = 0,
        n_fields: int = 1,
    ) -> None:
        self.params = GossipParams.coerce(params)
        if len(agent_ids) < 2:
            raise InvalidInputError("Gossip needs at least two agents to exchange digests.")
        if n_zones < 1 or n_fields < 1:
            raise InvalidInputError("Gossip needs n_zones >= 1 and n_fields >= 1.")
        self.agent_ids = tuple(agent_ids)
        self.n = len(agent_ids)
        self.z = int(n_zones)
        self.f = int(n_fields)
        self._rng = np.random.default_rng(seed)
        self.channel = LossyChannel(
            drop_rate=self.params.drop_rate,
            delay_rate=self.params.delay_rate,
            max_delay_rounds=self.params.max_delay_rounds,
            seed=int(seed) + 1,
        )
        self.values = np.zeros((self.n, self.z, self.f), dtype=np.float64)
        self.versions = np.full((self.n, self.z), -1, dtype=np.int64)
        self._snapshots: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._last_step: int | None = None

    def step(self, step: int, agent_zones: Sequence[int] | np.ndarray, truth: Any) -> GossipResult:
        """Observe, gossip ``rounds_per_step`` rounds, measure (see the module docstring)."""
        if self._last_step is not None and step <= self._last_step:
            raise InvalidInputError(
                f"Gossip steps must increase: step {step} after step {self._last_step}."
            )
        zones = np.asarray(agent_zones, dtype=np.int64)
        true = np.asarray(truth, dtype=np.float64).reshape(self.z, -1)
        if zones.shape != (self.n,) or true.shape != (self.z, self.f):
            raise InvalidInputError(
                f"Gossip step: give one zone index per agent ({self.n}) and truth of shape "
                f"({self.z},) or ({self.z}, {self.f}); got {zones.shape} and {np.shape(truth)}."
            )
        if zones.size and (zones.min() < 0 or zones.max() >= self.z):
            raise InvalidInputError(f"Gossip step: zone indices must be in 0..{self.z - 1}.")
        self._last_step = step
        rows = np.arange(self.n)
        self.values[rows, zones] = true[zones]
        self.versions[rows, zones] = step
        before = self.channel.counters()
        updated = 0
        p = self.params
        for r in range(p.rounds_per_step):
            now = step * p.rounds_per_step + r
            self._snapshots[now] = (self.values.copy(), self.versions.copy())
            pick = self._rng.integers(0, self.n - 1, size=(self.n, p.fanout))
            peers = pick + (pick >= rows[:, None])  # uniform over the others
            self.channel.send(now, np.repeat(rows, p.fanout), peers.ravel())
            updated += self._merge(self.channel.deliver(now))
            for old in [k for k in self._snapshots if k < now - p.max_delay_rounds]:
                del self._snapshots[old]
        after = self.channel.counters()
        counters: Counters = {
            key: after[key] - before[key]
            for key in ("messages_sent", "messages_dropped", "messages_delayed",
                        "messages_delivered")
        }
        counters["rounds"] = p.rounds_per_step
        counters["entries_updated"] = updated
        counters.update(self._measure(step, true, zones))
        values = self.values[:, :, 0] if self.f == 1 and np.ndim(truth) == 1 else self.values
        values = values.copy()
        versions = self.versions.copy()
        values.flags.writeable = False
        versions.flags.writeable = False
        return GossipResult(step, values, versions, counters)

    def _merge(self, deliveries: list[Any]) -> int:
        """Apply delivered digests: per (receiver, zone) the newest version wins; among equal
        versions the message delivered first.

        Only entries newer than what their receiver holds are looked at (few, once beliefs
        have spread): gather versions, keep the newer (message, zone) pairs, sort those by
        (receiver, zone, version descending, delivery order) and take the first of each.
        """
        if not deliveries:
            return 0
        snaps = [self._snapshots[int(d.sent_round[0])] for d in deliveries]
        ver = np.concatenate([snap_ver[d.src] for d, (_, snap_ver) in zip(deliveries, snaps,
                                                                          strict=True)])
        dst = np.concatenate([d.dst for d in deliveries])
        msg, zone = np.nonzero(ver > self.versions[dst])
        if not msg.size:
            return 0
        cell = dst[msg] * self.z + zone
        new_ver = ver[msg, zone]
        pick = np.lexsort((msg, -new_ver, cell))  # last key sorts first
        cell_sorted = cell[pick]
        first = pick[np.r_[True, cell_sorted[1:] != cell_sorted[:-1]]]
        msg, zone, rows = msg[first], zone[first], dst[msg[first]]
        self.versions[rows, zone] = new_ver[first]
        # which delivery batch each winning message came from, and its sender there
        bounds = np.cumsum([len(d) for d in deliveries])
        batch = np.searchsorted(bounds, msg, side="right")
        offset = msg - np.r_[0, bounds[:-1]][batch]
        for b in np.unique(batch).tolist():
            sel = batch == b
            snap_val = snaps[b][0]
            self.values[rows[sel], zone[sel]] = snap_val[deliveries[b].src[offset[sel]],
                                                         zone[sel]]
        return int(first.shape[0])

    def _measure(self, step: int, true: np.ndarray, zones: np.ndarray) -> Counters:
        known = self.versions >= 0
        observed = np.zeros(self.z, dtype=bool)
        observed[zones] = True
        same = np.all(self.values[:, observed] == true[None, observed], axis=2)
        equal = known[:, observed] & same
        n_known = int(known.sum())
        ages = (step - self.versions)[known]
        return {
            "convergence": float(np.all(equal, axis=1).mean()),
            "observed_zones": int(observed.sum()),
            "mean_age": float(ages.mean()) if n_known else 0.0,
            "max_age": int(ages.max()) if n_known else 0,
            "unknown_fraction": 1.0 - n_known / known.size,
        }


__all__ = ["GossipNetwork", "GossipParams", "GossipResult"]
