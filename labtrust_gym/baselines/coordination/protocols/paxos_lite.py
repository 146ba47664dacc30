"""Paxos-lite: one single-decree Paxos (Synod) instance per step, with a rotating proposer,
majority quorums over a fixed set of acceptors, and a lossy channel that can delay a decision.

**Instances.** Instance ``i`` decides one value (the wiring proposes the step's plan). A step
works on the lowest undecided instance; if it ends undecided, the next step continues the *same*
instance (a later ballot) — the decision is delayed, never replaced.

**Nodes and ballots.** ``acceptors`` and ``proposers`` are agent ids (an agent may be both);
:meth:`PaxosLite.for_agents` makes every agent a proposer and draws ``acceptors`` (a parameter,
default 5) of them as acceptors. At step ``s`` the active proposers are
``proposers[(s + q) mod P]`` for ``q < proposers_per_step`` (1 by default: one leader per step;
more models dueling leaders). Ballot numbers are
``count · P + proposer index``, so no two proposers ever use the same ballot; a proposer's next
ballot exceeds every ballot it has seen.

**Messages** (through a :class:`~.channel.LossyChannel`; a message sent in round ``r`` with
delay ``d`` is read in round ``r + 1 + d``)::

    prepare(i, b)                 proposer -> every acceptor
    promise(i, b, ab, av)         acceptor -> proposer   if b > promised: promised = b;
                                  (ab, av) = its accepted ballot and value, or (-1, None)
    accept(i, b, v)               proposer -> every acceptor, once a majority promised;
                                  v = the value of the highest ab among the promises, else its own
    accepted(i, b, v)             acceptor -> proposer   if b >= promised: promised = b and it
                                  accepts (b, v)
    nack(i, b, promised)          acceptor -> proposer   when it refuses a prepare or an accept

A proposer that hears ``accepted`` from a majority for one of its ballots (even one it has since
abandoned for a higher one) *learns* the decision; the step stops there and the instance is
closed for every node (the coordination layer commits it; this announcement is not sent through
the lossy channel), so late messages of a closed instance are ignored (``stale_messages``).

An active proposer starts a new ballot when it has none, when it is refused (nack), or when
``retry_after_rounds`` rounds pass without a decision. A step runs at most
``max_rounds_per_step`` rounds. Without loss or delay a decision takes 5 rounds (prepare,
promise, accept, accepted, learn: rounds 0..4 of the step).

**Safety** is checked by a ghost monitor that sees every acceptance (not the messages): a value
is *chosen* in instance ``i`` when a majority of acceptors accepted it in one ballot. Paxos
guarantees at most one chosen value per instance; ``safety_violations`` counts (since
construction) instances where the monitor saw two (always 0 — the property tests check it across
drop/delay patterns and dueling proposers).

**Complexity.** O(A) messages per round (A acceptors, independent of the number of agents N);
O(A · max_rounds_per_step) per step.

Counters (per step): ``rounds``, ``ballots``, ``messages_sent``, ``messages_dropped``,
``messages_delayed``, ``messages_delivered``, ``nacks``, ``stale_messages`` (for an instance
already closed), ``decided`` (1 if this step decided an instance), ``undecided`` (1 if the step
ended with its instance open), ``decision_latency_steps`` and ``decision_latency_rounds`` (from
the instance's first ballot to its decision; 0 when nothing was decided), ``safety_violations``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from labtrust_gym.errors import InvalidInputError

from .channel import LossyChannel
from .common import Counters, ParamsRecord, range_validator, seeded_rng

_NONE = -1
#: decided values and monitor records are kept for this many most recent instances
KEEP_INSTANCES = 16


@attrs.frozen(kw_only=True)
class PaxosParams(ParamsRecord):
    """Parameters (defaults = the method's ``default_params``)."""

    protocol = "paxos-lite"

    acceptors: int = attrs.field(default=5, validator=range_validator(1))
    drop_rate: float = attrs.field(default=0.05, validator=range_validator(0.0, 1.0))
    delay_rate: float = attrs.field(default=0.1, validator=range_validator(0.0, 1.0))
    max_delay_rounds: int = attrs.field(default=2, validator=range_validator(0))
    max_rounds_per_step: int = attrs.field(default=12, validator=range_validator(1))
    retry_after_rounds: int = attrs.field(default=8, validator=range_validator(4))
    proposers_per_step: int = attrs.field(default=1, validator=range_validator(1))



@attrs.frozen
class PaxosStepResult:
    """One step: the ``instance`` worked on, whether it was ``decided`` this step and its
    ``value``; ``latest`` = (instance, value) of the newest decided instance (None before any);
    ``proposer`` = the step's (first) active proposer."""

    step: int
    instance: int
    proposer: str
    decided: bool
    value: Any
    latest: tuple[int, Any] | None
    counters: Counters


@attrs.define
class _Proposer:
    index: int
    ballot: int = _NONE
    phase: str = "idle"  # idle | preparing | accepting
    value: Any = None
    promises: dict[int, tuple[int, Any]] = attrs.Factory(dict)
    #: as learner: ballot -> (value, acceptors that reported accepting it), its own ballots
    accepts: dict[int, tuple[Any, set[int]]] = attrs.Factory(dict)
    started_round: int = 0
    highest_seen: int = _NONE


@attrs.define
class _Acceptor:
    promised: int = _NONE
    accepted_ballot: int = _NONE
    accepted_value: Any = None


class PaxosLite:
    """The acceptors' and proposers' state across steps; :meth:`run_step` once per step."""

    def __init__(
        self,
        acceptors: Sequence[str],
        proposers: Sequence[str],
        params: PaxosParams | Mapping[str, Any] | None = None,
        *,
        seed: int = 0,
        fates: Sequence[int] | None = None,
    ) -> None:
        self.params = PaxosParams.coerce(params)
        if not acceptors or not proposers:
            raise InvalidInputError("Paxos-lite needs at least one acceptor and one proposer.")
        for what, ids in (("acceptor", acceptors), ("proposer", proposers)):
            if len(set(ids)) != len(ids):
                raise InvalidInputError(f"Paxos-lite {what} ids must be unique.")
        self.acceptor_ids = tuple(acceptors)
        self.proposer_ids = tuple(proposers)
        self.a = len(acceptors)
        self.majority = self.a // 2 + 1
        # channel addresses: acceptors 0..A-1, proposers A..A+P-1
        self.channel = LossyChannel(
            drop_rate=self.params.drop_rate,
            delay_rate=self.params.delay_rate,
            max_delay_rounds=self.params.max_delay_rounds,
            seed=seed,
            fates=fates,
        )
        self.instance = 0
        self.decided: dict[int, Any] = {}
        self._acceptors = [_Acceptor() for _ in acceptors]
        self._proposers = [_Proposer(p) for p in range(len(proposers))]
        self._round = 0
        self._outbox: list[tuple[int, int, tuple[Any, ...]]] = []
        self._instance_start: tuple[int, int] | None = None  # (step, round) of its first ballot
        self._last_step: int | None = None
        # ghost monitor: (instance, ballot) -> (value, acceptors that accepted it)
        self._votes: dict[tuple[int, int], tuple[Any, set[int]]] = {}
        #: instance -> the distinct values the monitor saw chosen (last KEEP_INSTANCES only)
        self.chosen: dict[int, list[Any]] = {}
        #: instances in which the monitor saw two different values chosen (must stay 0)
        self.safety_violations = 0

    @classmethod
    def for_agents(
        cls,
        agent_ids: Sequence[str],
        params: PaxosParams | Mapping[str, Any] | None = None,
        *,
        seed: int = 0,
    ) -> PaxosLite:
        """Every agent a proposer (rotation in id order); ``params.acceptors`` of them (all when
        there are fewer) acceptors, drawn with ``numpy.random.default_rng([seed, 0])`` from the
        sorted ids and kept in id order."""
        p = PaxosParams.coerce(params)
        ids = sorted(agent_ids)
        if not ids:
            raise InvalidInputError("Paxos-lite needs at least one agent.")
        picked = seeded_rng(seed, 0).choice(len(ids), size=min(p.acceptors, len(ids)),
                                            replace=False)
        return cls([ids[i] for i in sorted(picked.tolist())], ids, p, seed=seed)

    # -- the step -------------------------------------------------------------------------------

    def run_step(self, step: int, value: Any) -> PaxosStepResult:
        """Work on the open instance for up to ``max_rounds_per_step`` rounds; active proposers
        propose ``value`` unless Paxos makes them adopt an earlier accepted one."""
        if self._last_step is not None and step <= self._last_step:
            raise InvalidInputError(
                f"Paxos-lite steps must increase: step {step} after step {self._last_step}."
            )
        self._last_step = step
        p = self.params
        n_prop = len(self._proposers)
        active = [(step + q) % n_prop for q in range(min(p.proposers_per_step, n_prop))]
        before = self.channel.counters()
        c: Counters = {"rounds": 0, "ballots": 0, "nacks": 0, "stale_messages": 0,
                       "decided": 0, "undecided": 0, "decision_latency_steps": 0,
                       "decision_latency_rounds": 0}
        instance = self.instance
        decided_value: Any = None
        for _ in range(p.max_rounds_per_step):
            now = self._round
            self._round += 1
            c["rounds"] += 1
            for delivery in self.channel.deliver(now - 1):
                assert delivery.payload is not None  # every paxos message has one
                for src, dst, msg in zip(
                    delivery.src.tolist(), delivery.dst.tolist(), delivery.payload.tolist(),
                    strict=True,
                ):
                    self._handle(int(src), int(dst), msg, c)
            if instance in self.decided:
                decided_value = self.decided[instance]
                self._outbox.clear()  # the commit supersedes the replies of this round
                break
            for q in active:
                prop = self._proposers[q]
                if prop.phase == "idle" or now - prop.started_round >= p.retry_after_rounds:
                    self._start_ballot(now, step, prop, value)
                    c["ballots"] += 1
            self._flush(now)
        after = self.channel.counters()
        for key in ("messages_sent", "messages_dropped", "messages_delayed",
                    "messages_delivered"):
            c[key] = after[key] - before[key]
        c["safety_violations"] = self.safety_violations
        decided = instance in self.decided
        if decided:
            c["decided"] = 1
            assert self._instance_start is not None
            start_step, start_round = self._instance_start
            c["decision_latency_steps"] = step - start_step
            c["decision_latency_rounds"] = self._round - 1 - start_round
            self._close(instance)
        else:
            c["undecided"] = 1
        latest = max(self.decided.items()) if self.decided else None
        return PaxosStepResult(
            step, instance, self.proposer_ids[active[0]], decided, decided_value, latest, c
        )

    def _post(self, src: int, dst: int, msg: tuple[Any, ...]) -> None:
        self._outbox.append((src, dst, msg))

    def _flush(self, now: int) -> None:
        """Send this round's messages as one batch (in the order they were posted)."""
        if not self._outbox:
            return
        payload = np.empty(len(self._outbox), dtype=object)
        for k, (_, _, msg) in enumerate(self._outbox):
            payload[k] = msg
        self.channel.send(
            now, [m[0] for m in self._outbox], [m[1] for m in self._outbox], payload
        )
        self._outbox.clear()

    def _close(self, instance: int) -> None:
        """Instance decided: every node moves on to the next one."""
        self.instance = instance + 1
        self._instance_start = None
        self._acceptors = [_Acceptor() for _ in self._acceptors]
        for prop in self._proposers:
            prop.phase, prop.ballot, prop.value = "idle", _NONE, None
            prop.promises.clear()
            prop.accepts.clear()
        # late messages of closed instances are ignored, so old records can go
        for key in [k for k in self._votes if k[0] <= instance]:
            del self._votes[key]
        for table in (self.decided, self.chosen):
            for old in [i for i in table if i <= instance - KEEP_INSTANCES]:
                del table[old]

    def _start_ballot(self, now: int, step: int, prop: _Proposer, value: Any) -> None:
        n_prop = len(self._proposers)
        count = max(prop.highest_seen, prop.ballot) // n_prop + 1
        prop.ballot = count * n_prop + prop.index
        prop.highest_seen = max(prop.highest_seen, prop.ballot)
        prop.phase = "preparing"
        prop.value = value
        prop.promises.clear()
        prop.started_round = now
        if self._instance_start is None:
            self._instance_start = (step, now)
        me = self.a + prop.index
        for acc in range(self.a):
            self._post(me, acc, ("prepare", self.instance, prop.ballot))

    # -- message handling ---------------------------------------------------------------------

    def _handle(self, src: int, dst: int, msg: tuple[Any, ...], c: Counters) -> None:
        if msg[1] != self.instance:
            c["stale_messages"] += 1
            return
        if dst < self.a:
            self._acceptor(dst, src, msg)
        else:
            self._proposer(self._proposers[dst - self.a], src, msg, c)

    def _acceptor(self, me: int, src: int, msg: tuple[Any, ...]) -> None:
        state = self._acceptors[me]
        kind, instance, ballot = msg[0], msg[1], msg[2]
        if kind == "prepare":
            if ballot > state.promised:
                state.promised = ballot
                reply: tuple[Any, ...] = (
                    "promise", instance, ballot, state.accepted_ballot, state.accepted_value
                )
            else:
                reply = ("nack", instance, ballot, state.promised)
        elif kind == "accept":
            if ballot >= state.promised:
                state.promised = ballot
                state.accepted_ballot = ballot
                state.accepted_value = msg[3]
                self._observe_acceptance(instance, ballot, msg[3], me)
                reply = ("accepted", instance, ballot, msg[3])
            else:
                reply = ("nack", instance, ballot, state.promised)
        else:
            raise AssertionError(f"acceptor got {kind!r}")
        self._post(me, src, reply)

    def _proposer(self, prop: _Proposer, src: int, msg: tuple[Any, ...], c: Counters) -> None:
        kind, instance, ballot = msg[0], msg[1], msg[2]
        if kind == "nack":
            c["nacks"] += 1
            prop.highest_seen = max(prop.highest_seen, msg[3])
            if ballot == prop.ballot and prop.phase != "idle":
                prop.phase = "idle"  # refused: an active proposer retries with a higher ballot
            return
        if kind == "promise" and ballot == prop.ballot and prop.phase == "preparing":
            prop.promises[src] = (msg[3], msg[4])
            if len(prop.promises) >= self.majority:
                best_ballot, best_value = max(
                    prop.promises.values(), key=lambda bv: bv[0]
                )
                if best_ballot != _NONE:
                    prop.value = best_value  # Paxos: adopt the highest accepted value
                prop.phase = "accepting"
                me = self.a + prop.index
                for acc in range(self.a):
                    self._post(me, acc, ("accept", instance, ballot, prop.value))
        elif kind == "accepted":
            # learner: a majority of acceptors accepting one of its ballots decides, even a
            # ballot it has since abandoned for a higher one
            value, voters = prop.accepts.setdefault(ballot, (msg[3], set()))
            voters.add(src)
            if len(voters) >= self.majority:
                self.decided[instance] = value

    def _observe_acceptance(self, instance: int, ballot: int, value: Any, acceptor: int) -> None:
        """The ghost monitor: a value accepted by a majority in one ballot is chosen."""
        held, voters = self._votes.setdefault((instance, ballot), (value, set()))
        if held != value:  # one ballot carrying two values would be a protocol bug
            self.safety_violations += 1
            return
        voters.add(acceptor)
        if len(voters) == self.majority:
            chosen = self.chosen.setdefault(instance, [])
            if all(value != v for v in chosen):
                chosen.append(value)
                if len(chosen) == 2:
                    self.safety_violations += 1


__all__ = ["PaxosLite", "PaxosParams", "PaxosStepResult"]
