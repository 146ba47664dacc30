"""The lossy channel: delivery order, drops, delays, scripted fates, seeds, conservation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labtrust_gym.baselines.coordination.protocols import LossyChannel
from labtrust_gym.errors import InvalidInputError


def _flat(deliveries: list) -> list[tuple[int, int, int]]:
    return [
        (int(s), int(d), int(r))
        for b in deliveries
        for s, d, r in zip(b.src, b.dst, b.sent_round, strict=True)
    ]


def test_lossless_channel_delivers_everything_in_send_order() -> None:
    ch = LossyChannel(seed=1)
    ch.send(0, [0, 1, 2], [5, 6, 7])
    ch.send(0, [3], [8])
    assert ch.deliver(-1) == []
    assert _flat(ch.deliver(0)) == [(0, 5, 0), (1, 6, 0), (2, 7, 0), (3, 8, 0)]
    assert ch.deliver(0) == []  # handed out once
    assert ch.counters() == {"messages_sent": 4, "messages_dropped": 0, "messages_delayed": 0,
                             "messages_delivered": 4, "messages_in_flight": 0}


def test_payload_rides_along_with_its_message() -> None:
    ch = LossyChannel(seed=0, fates=[0, -1, 1])
    ch.send(3, [0, 1, 2], [9, 9, 9], np.array([[10, 11], [20, 21], [30, 31]]))
    now = ch.deliver(3)
    assert now[0].payload.tolist() == [[10, 11]]
    later = ch.deliver(4)
    assert later[0].payload.tolist() == [[30, 31]] and later[0].sent_round.tolist() == [3]
    ch.send_one(5, 1, 2, ("prepare", 0, 7))
    assert ch.deliver(5)[0].payload.tolist() == [("prepare", 0, 7)]


def test_drop_everything() -> None:
    ch = LossyChannel(drop_rate=1.0, seed=0)
    ch.send(0, np.arange(100), np.arange(100))
    assert ch.deliver(10) == []
    assert ch.dropped == 100 and ch.delivered == 0


def test_delays_hold_messages_until_due() -> None:
    ch = LossyChannel(delay_rate=1.0, max_delay_rounds=3, seed=2)
    ch.send(10, np.arange(300), np.zeros(300, dtype=int))
    assert ch.deliver(10) == [] and ch.delayed == 300
    by_round = {r: len(_flat(ch.deliver(r))) for r in (11, 12, 13)}
    assert sum(by_round.values()) == 300 and all(v > 50 for v in by_round.values())
    assert ch.delay_rounds_total == by_round[11] + 2 * by_round[12] + 3 * by_round[13]


def test_rates_are_roughly_respected_and_seeded() -> None:
    def run(seed: int) -> tuple[int, int, list]:
        ch = LossyChannel(drop_rate=0.2, delay_rate=0.3, max_delay_rounds=2, seed=seed)
        ch.send(0, np.arange(5000), np.arange(5000))
        got = _flat(ch.deliver(0))
        return ch.dropped, ch.delayed, got

    dropped, delayed, got = run(7)
    assert 850 < dropped < 1150 and 1050 < delayed < 1350  # 20% and 30% of the 80% kept
    assert run(7) == (dropped, delayed, got)
    assert run(8)[2] != got


def test_scripted_fates_then_seeded_draws() -> None:
    ch = LossyChannel(drop_rate=1.0, seed=0, fates=[0, 2])
    ch.send(0, [1, 2, 3], [4, 5, 6])
    assert _flat(ch.deliver(0)) == [(1, 4, 0)]
    assert _flat(ch.deliver(2)) == [(2, 5, 0)]
    assert ch.dropped == 1  # the third message fell back to the seeded draw (drop_rate 1)


def test_bad_arguments() -> None:
    with pytest.raises(InvalidInputError, match="drop_rate"):
        LossyChannel(drop_rate=1.5)
    with pytest.raises(InvalidInputError, match="whole number"):
        LossyChannel(max_delay_rounds=1.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="lengths differ"):
        LossyChannel().send(0, [1, 2], [3])
    with pytest.raises(InvalidInputError, match="fates"):
        LossyChannel(fates=[-2])


@settings(max_examples=60, deadline=None)
@given(
    drop=st.floats(0.0, 1.0),
    delay=st.floats(0.0, 1.0),
    max_delay=st.integers(0, 4),
    sizes=st.lists(st.integers(0, 30), min_size=1, max_size=8),
    seed=st.integers(0, 2**16),
)
def test_every_message_is_dropped_delivered_or_in_flight(
    drop: float, delay: float, max_delay: int, sizes: list[int], seed: int
) -> None:
    ch = LossyChannel(drop_rate=drop, delay_rate=delay, max_delay_rounds=max_delay, seed=seed)
    arrived: list[tuple[int, int]] = []  # (round handed out, round sent)
    for r, n in enumerate(sizes):
        ch.send(r, np.full(n, r), np.arange(n))
        arrived += [(r, sent) for _, _, sent in _flat(ch.deliver(r))]
    c = ch.counters()
    assert c["messages_sent"] == sum(sizes)
    assert c["messages_sent"] == c["messages_dropped"] + c["messages_delivered"] + c[
        "messages_in_flight"]
    assert all(0 <= got - sent <= max_delay for got, sent in arrived)
    end = len(sizes) - 1 + max_delay
    arrived += [(end, sent) for _, _, sent in _flat(ch.deliver(end))]
    assert ch.pending() == 0 and len(arrived) == sum(sizes) - ch.dropped
