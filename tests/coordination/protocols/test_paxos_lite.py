"""Paxos-lite: decisions without loss, delayed decisions with loss, value adoption, and the
safety property (at most one value chosen per instance) across drop/delay patterns."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labtrust_gym.baselines.coordination.protocols import PaxosLite, PaxosParams
from labtrust_gym.errors import InvalidInputError

LOSSLESS = PaxosParams(drop_rate=0.0, delay_rate=0.0)


def _nodes(a: int = 5, p: int = 3) -> tuple[list[str], list[str]]:
    return [f"acc{i}" for i in range(a)], [f"prop{i}" for i in range(p)]


def test_lossless_decides_every_step_in_five_rounds_with_rotating_proposer() -> None:
    px = PaxosLite(*_nodes(), LOSSLESS, seed=0)
    for step in range(6):
        r = px.run_step(step, f"plan{step}")
        assert r.decided and r.value == f"plan{step}" and r.instance == step
        assert r.latest == (step, f"plan{step}")
        assert r.proposer == f"prop{step % 3}"
        c = r.counters
        assert c["rounds"] == 5 and c["decision_latency_rounds"] == 4
        assert c["decision_latency_steps"] == 0 and c["ballots"] == 1
        # 5 prepares, 5 promises, 5 accepts, 5 accepted
        assert c["messages_sent"] == 20 and c["messages_dropped"] == 0
        assert c["undecided"] == 0 and c["safety_violations"] == 0


def test_total_loss_leaves_the_instance_open_then_it_decides_later() -> None:
    # the first 10 messages (both ballots of step 0) are lost: step 0 cannot decide; step 1 (a
    # new proposer) can
    px = PaxosLite(*_nodes(), PaxosParams(drop_rate=0.0, delay_rate=0.0,
                                          max_rounds_per_step=6, retry_after_rounds=4),
                   seed=0, fates=[-1] * 10)
    r0 = px.run_step(0, "plan0")
    assert not r0.decided and r0.counters["undecided"] == 1 and r0.latest is None
    assert r0.counters["ballots"] == 2 and r0.counters["messages_dropped"] == 10
    r1 = px.run_step(1, "plan1")
    assert r1.instance == 0 and r1.decided and r1.value == "plan1"
    assert r1.counters["decision_latency_steps"] == 1
    assert px.run_step(2, "plan2").instance == 1


def test_a_value_accepted_by_a_majority_survives_the_proposer_change() -> None:
    # step 0: prepare/promise/accept get through, every "accepted" reply is lost, so prop0 never
    # learns that plan0 was chosen; step 1's proposer must adopt plan0, not propose plan1
    fates = [0] * 15 + [-1] * 5
    px = PaxosLite(*_nodes(), PaxosParams(drop_rate=0.0, delay_rate=0.0, max_rounds_per_step=5),
                   seed=0, fates=fates)
    r0 = px.run_step(0, "plan0")
    assert not r0.decided and px.chosen == {0: ["plan0"]}  # chosen, not yet learned
    r1 = px.run_step(1, "plan1")
    assert r1.decided and r1.value == "plan0" and r1.instance == 0


def test_dueling_proposers_stay_safe() -> None:
    px = PaxosLite(*_nodes(5, 4), PaxosParams(proposers_per_step=3, drop_rate=0.2,
                                              delay_rate=0.3), seed=11)
    decided = 0
    for step in range(40):
        r = px.run_step(step, step)
        decided += r.decided
        assert r.counters["safety_violations"] == 0
    assert decided > 0


def test_seeded_runs_repeat() -> None:
    def run(seed: int) -> list:
        px = PaxosLite(*_nodes(), PaxosParams(drop_rate=0.3, delay_rate=0.3), seed=seed)
        return [(r.decided, r.value, r.counters) for r in (px.run_step(s, s) for s in range(15))]

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_for_agents_draws_acceptors_from_the_agents() -> None:
    ids = [f"agent_{i}" for i in range(50)]
    px = PaxosLite.for_agents(ids[::-1], {"acceptors": 7}, seed=3)
    assert px.proposer_ids == tuple(sorted(ids)) and len(px.acceptor_ids) == 7
    assert list(px.acceptor_ids) == sorted(px.acceptor_ids) and set(px.acceptor_ids) <= set(ids)
    assert PaxosLite.for_agents(ids, {"acceptors": 7}, seed=3).acceptor_ids == px.acceptor_ids
    assert PaxosLite.for_agents(ids, {"acceptors": 7}, seed=4).acceptor_ids != px.acceptor_ids
    assert len(PaxosLite.for_agents(ids[:3], seed=0).acceptor_ids) == 3
    assert px.run_step(0, "plan").counters["rounds"] >= 5


def test_bad_inputs() -> None:
    with pytest.raises(InvalidInputError, match="at least one acceptor"):
        PaxosLite([], ["p"])
    with pytest.raises(InvalidInputError, match="ids must be unique"):
        PaxosLite(["a", "a"], ["p"])
    px = PaxosLite(["a"], ["p"], LOSSLESS)
    assert px.run_step(0, "x").decided  # a single acceptor is its own majority
    with pytest.raises(InvalidInputError, match="steps must increase"):
        px.run_step(0, "y")


@settings(max_examples=150, deadline=None)
@given(
    acceptors=st.integers(1, 7),
    proposers=st.integers(1, 4),
    per_step=st.integers(1, 3),
    fates=st.lists(st.integers(-1, 3), max_size=300),
    drop=st.floats(0.0, 0.6),
    delay=st.floats(0.0, 0.6),
    retry=st.integers(4, 8),
    seed=st.integers(0, 1000),
)
def test_at_most_one_value_is_chosen_per_instance(
    acceptors: int, proposers: int, per_step: int, fates: list[int], drop: float, delay: float,
    retry: int, seed: int,
) -> None:
    params = PaxosParams(drop_rate=drop, delay_rate=delay, max_delay_rounds=3,
                         retry_after_rounds=retry, proposers_per_step=per_step,
                         max_rounds_per_step=8)
    px = PaxosLite(*_nodes(acceptors, proposers), params, seed=seed, fates=fates)
    proposed: list[tuple[int, int]] = []
    learned: dict[int, object] = {}
    for step in range(12):
        r = px.run_step(step, (step, seed))
        proposed.append((step, seed))
        assert r.counters["safety_violations"] == 0
        for instance, values in px.chosen.items():
            assert len(values) <= 1, f"instance {instance} chose {values}"
        if r.decided:
            learned[r.instance] = r.value
            assert px.chosen[r.instance] == [r.value]  # what was learned is what was chosen
            assert r.value in proposed  # and was proposed by someone
    assert sorted(learned) == list(range(len(learned)))  # instances decided in order
