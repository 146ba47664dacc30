"""A seeded lossy, delaying message channel with counters (used by gossip and paxos-lite).

Time is counted in *rounds* (integers chosen by the caller). A message sent at round ``r`` is
dropped with probability ``drop_rate``; a message not dropped is delayed with probability
``delay_rate`` by ``d`` rounds drawn uniformly from ``1..max_delay_rounds`` (else ``d = 0``), and
becomes due at round ``r + d``. ``deliver(now)`` hands out every message due at or before
``now`` that was not handed out yet, ordered by due round, then send order. (Whether a protocol
reads its inbox before or after it sends in a round is the protocol's choice; both of ours
document it.)

Messages travel in batches of numpy arrays - ``src``, ``dst`` (node positions) and an optional
``payload`` whose first axis is aligned with them - so that thousands of gossip messages cost a
few array operations. A single message is a batch of one.

Fates are drawn from ``numpy.random.default_rng(seed)``: per batch, one uniform per message for
the drop (only when ``drop_rate > 0``), then, when delays are on (``delay_rate > 0`` and
``max_delay_rounds > 0``), one uniform per message for "delayed?" and one integer per message
for the delay. Tests may instead script the fates: ``fates`` is a sequence of ints consumed one
per message in send order (``-1`` = drop, ``d >= 0`` = delay ``d``); when it is used up, the
seeded draws take over.

Cost: O(m) per batch of m messages sent, O(m + number of due rounds) to deliver them.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import numpy as np

from labtrust_gym.errors import InvalidInputError

from .common import Counters, check_range


@attrs.frozen
class Delivery:
    """A batch of messages handed out by :meth:`LossyChannel.deliver` (arrays aligned)."""

    src: np.ndarray
    dst: np.ndarray
    payload: np.ndarray | None
    sent_round: np.ndarray

    def __len__(self) -> int:
        return int(self.src.shape[0])


class LossyChannel:
    """A seeded message channel that drops and delays messages; see the module docstring."""

    def __init__(
        self,
        *,
        drop_rate: float = 0.0,
        delay_rate: float = 0.0,
        max_delay_rounds: int = 0,
        seed: int = 0,
        fates: Sequence[int] | None = None,
    ) -> None:
        check_range("drop_rate", drop_rate, 0.0, 1.0)
        check_range("delay_rate", delay_rate, 0.0, 1.0)
        check_range("max_delay_rounds", max_delay_rounds, 0)
        if int(max_delay_rounds) != max_delay_rounds:
            raise InvalidInputError(
                f"Parameter max_delay_rounds={max_delay_rounds!r} must be a whole number of rounds."
            )
        self.drop_rate = float(drop_rate)
        self.delay_rate = float(delay_rate)
        self.max_delay_rounds = int(max_delay_rounds)
        self._rng = np.random.default_rng(seed)
        self._fates = np.asarray(list(fates or ()), dtype=np.int64)
        if self._fates.size and int(self._fates.min()) < -1:
            raise InvalidInputError("Scripted channel fates are -1 (drop) or a delay >= 0.")
        self._fate_pos = 0
        # due round -> batches (src, dst, payload, sent) in send order
        self._queue: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray | None, int]]] = {}
        self.sent = 0
        self.dropped = 0
        self.delayed = 0
        self.delivered = 0
        self.delay_rounds_total = 0

    # -- sending ------------------------------------------------------------------------------

    def _draw_fates(self, n: int) -> np.ndarray:
        """Per message: -1 dropped, else its delay in rounds."""
        fate = np.zeros(n, dtype=np.int64)
        scripted = 0
        if self._fate_pos < self._fates.size:
            scripted = min(n, self._fates.size - self._fate_pos)
            fate[:scripted] = self._fates[self._fate_pos : self._fate_pos + scripted]
            self._fate_pos += scripted
        rest = n - scripted
        if rest:
            drawn = np.zeros(rest, dtype=np.int64)
            drop = self._rng.random(rest) < self.drop_rate if self.drop_rate > 0.0 else None
            if self.delay_rate > 0.0 and self.max_delay_rounds > 0:
                late = self._rng.random(rest) < self.delay_rate
                amount = self._rng.integers(1, self.max_delay_rounds + 1, size=rest)
                drawn = np.where(late, amount, 0)
            if drop is not None:
                drawn = np.where(drop, -1, drawn)
            fate[scripted:] = drawn
        return fate

    def send(
        self,
        now: int,
        src: np.ndarray | Sequence[int],
        dst: np.ndarray | Sequence[int],
        payload: np.ndarray | None = None,
    ) -> None:
        """Send a batch of messages at round ``now`` (arrays of equal length along axis 0)."""
        src_a = np.asarray(src, dtype=np.int64)
        dst_a = np.asarray(dst, dtype=np.int64)
        n = int(src_a.shape[0])
        if dst_a.shape[0] != n or (payload is not None and payload.shape[0] != n):
            raise InvalidInputError("LossyChannel.send: src, dst and payload lengths differ.")
        if n == 0:
            return
        fate = self._draw_fates(n)
        self.sent += n
        kept = fate >= 0
        self.dropped += int(n - np.count_nonzero(kept))
        self.delayed += int(np.count_nonzero(fate > 0))
        self.delay_rounds_total += int(fate[kept].sum())
        for d in np.unique(fate[kept]).tolist():
            sel = fate == d
            every = bool(sel.all())
            self._queue.setdefault(now + d, []).append((
                src_a if every else src_a[sel],
                dst_a if every else dst_a[sel],
                None if payload is None else (payload if every else payload[sel]),
                now,
            ))

    def send_one(self, now: int, src: int, dst: int, message: object) -> None:
        """Send one message whose payload is any Python object (paxos-lite's messages)."""
        box = np.empty(1, dtype=object)
        box[0] = message
        self.send(now, (src,), (dst,), box)

    # -- receiving ----------------------------------------------------------------------------

    def deliver(self, now: int) -> list[Delivery]:
        """Every message due at or before ``now`` not handed out yet (due round, send order)."""
        due = sorted(r for r in self._queue if r <= now)
        out: list[Delivery] = []
        for r in due:
            for src, dst, payload, sent in self._queue.pop(r):
                self.delivered += int(src.shape[0])
                out.append(Delivery(src, dst, payload, np.full(src.shape[0], sent)))
        return out

    def pending(self) -> int:
        """Messages sent and not yet delivered (in flight)."""
        return sum(int(b[0].shape[0]) for batches in self._queue.values() for b in batches)

    def counters(self) -> Counters:
        """Totals since construction: sent, dropped, delayed (d > 0), delivered, in flight."""
        return {
            "messages_sent": self.sent,
            "messages_dropped": self.dropped,
            "messages_delayed": self.delayed,
            "messages_delivered": self.delivered,
            "messages_in_flight": self.pending(),
        }


__all__ = ["Delivery", "LossyChannel"]
