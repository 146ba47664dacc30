"""Gossip of load digests: convergence, degradation with loss, last-writer-wins, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labtrust_gym.baselines.coordination.protocols import GossipNetwork, GossipParams
from labtrust_gym.errors import InvalidInputError

Z = 8


def _net(n: int = 200, seed: int = 0, **params: float) -> GossipNetwork:
    return GossipNetwork([f"a{i}" for i in range(n)], Z, GossipParams(**params), seed=seed)


def _zones(n: int) -> np.ndarray:
    return np.arange(n) % Z


def _run(net: GossipNetwork, steps: int, truth: np.ndarray) -> list[dict]:
    return [net.step(s, _zones(net.n), truth).counters for s in range(steps)]


def test_lossless_gossip_converges() -> None:
    truth = np.arange(Z, dtype=float) * 3
    net = _net(drop_rate=0.0, delay_rate=0.0)
    out = _run(net, 4, truth)
    assert out[0]["messages_dropped"] == 0 and out[0]["messages_sent"] == 200 * 2 * 3
    assert out[-1]["convergence"] == 1.0 and out[-1]["unknown_fraction"] == 0.0
    assert [c["convergence"] for c in out] == sorted(c["convergence"] for c in out)
    result = net.step(4, _zones(200), truth)
    assert result.values.shape == (200, Z) and np.all(result.values == truth)
    assert result.belief(0)[0] == (0.0, 4)  # its own zone, observed this step


def test_loss_degrades_convergence_and_freshness() -> None:
    truth = np.arange(Z, dtype=float)
    clean = _run(_net(drop_rate=0.0, delay_rate=0.0, rounds_per_step=1, fanout=1), 5, truth)
    lossy = _run(_net(drop_rate=0.7, delay_rate=0.3, max_delay_rounds=2, rounds_per_step=1,
                      fanout=1), 5, truth)
    assert lossy[-1]["messages_dropped"] > 0 and lossy[-1]["messages_delayed"] > 0
    for step in (2, 3):
        assert lossy[step]["convergence"] < clean[step]["convergence"]
        assert lossy[step]["unknown_fraction"] > clean[step]["unknown_fraction"]
    # changing truth: stale beliefs age, and loss makes them older
    moving = [_net(drop_rate=d, delay_rate=0.0, rounds_per_step=1, fanout=1) for d in (0, 0.7)]
    ages = []
    for net in moving:
        for s in range(8):
            c = net.step(s, _zones(200), truth + s).counters
        ages.append(c["mean_age"])
    assert ages[1] > ages[0] > 0


def test_newer_version_wins_over_a_late_old_message() -> None:
    net = GossipNetwork(["a", "b"], 2, GossipParams(rounds_per_step=1, fanout=1, drop_rate=0.0,
                                                     delay_rate=0.0), seed=0)
    net.step(0, [0, 1], [5.0, 7.0])  # a knows zone 0, b zone 1; each tells the other
    assert net.versions.tolist() == [[0, 0], [0, 0]]
    net.versions[1, 0] = 9  # b holds a newer (step 9) belief about zone 0 ...
    net.values[1, 0, 0] = 42.0
    net.step(1, [1, 1], [6.0, 8.0])  # ... a's step-0 view of zone 0 must not overwrite it
    assert net.values[1, 0, 0] == 42.0 and net.versions[1, 0] == 9


def test_convergence_counts_only_zones_someone_observes() -> None:
    net = GossipNetwork(["a", "b", "c"], 4, GossipParams(drop_rate=0.0, delay_rate=0.0),
                        seed=0)
    for s in range(3):
        c = net.step(s, [0, 1, 1], [1.0, 2.0, 3.0, 4.0]).counters
    assert c["observed_zones"] == 2 and c["convergence"] == 1.0
    assert c["unknown_fraction"] == 0.5  # zones 2 and 3: nobody there, nobody knows them


def test_several_fields_per_zone() -> None:
    net = GossipNetwork([f"a{i}" for i in range(50)], 3, GossipParams(drop_rate=0.0,
                        delay_rate=0.0), seed=1, n_fields=2)
    truth = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
    for s in range(4):
        r = net.step(s, np.arange(50) % 3, truth)
    assert r.values.shape == (50, 3, 2) and r.counters["convergence"] == 1.0


def test_same_seed_same_beliefs_other_seed_differs() -> None:
    truth = np.arange(Z, dtype=float)

    def go(seed: int) -> tuple[list, np.ndarray]:
        net = _net(seed=seed)
        out = [net.step(s, _zones(200), truth + (s % 3)) for s in range(3)]
        return [r.counters for r in out], out[-1].versions

    a, b, c = go(4), go(4), go(5)
    assert a[0] == b[0] and np.array_equal(a[1], b[1])
    assert a[0] != c[0]


def test_bad_inputs() -> None:
    with pytest.raises(InvalidInputError, match="at least two agents"):
        GossipNetwork(["solo"], 3)
    net = _net(n=4)
    with pytest.raises(InvalidInputError, match="one zone index per agent"):
        net.step(0, [0, 1], np.zeros(Z))
    with pytest.raises(InvalidInputError, match="zone indices"):
        net.step(0, [0, 1, 2, 99], np.zeros(Z))
    net.step(3, [0, 1, 2, 3], np.zeros(Z))
    with pytest.raises(InvalidInputError, match="steps must increase"):
        net.step(3, [0, 1, 2, 3], np.zeros(Z))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 1000),
    drop=st.floats(0.0, 0.9),
    delay=st.floats(0.0, 0.9),
    max_delay=st.integers(0, 3),
    fanout=st.integers(1, 3),
    rounds=st.integers(1, 3),
)
def test_beliefs_are_true_values_of_their_version(
    seed: int, drop: float, delay: float, max_delay: int, fanout: int, rounds: int
) -> None:
    """Whatever the loss: a belief (value, version v) is the zone's true value at step v, and
    its age never exceeds the step (gossip never invents or mixes up digests)."""
    n, z = 30, 4
    rng = np.random.default_rng(seed)
    history = rng.integers(0, 50, size=(6, z)).astype(float)
    net = GossipNetwork([f"a{i}" for i in range(n)], z, GossipParams(
        drop_rate=drop, delay_rate=delay, max_delay_rounds=max_delay, fanout=fanout,
        rounds_per_step=rounds), seed=seed)
    for s in range(6):
        r = net.step(s, rng.integers(0, z, n), history[s])
        known = r.versions >= 0
        a_idx, z_idx = np.nonzero(known)
        assert np.array_equal(r.values[a_idx, z_idx], history[r.versions[a_idx, z_idx], z_idx])
        assert 0 <= r.counters["max_age"] <= s
        sent = r.counters["messages_sent"]
        assert sent == n * fanout * rounds
        assert r.counters["messages_dropped"] <= sent
