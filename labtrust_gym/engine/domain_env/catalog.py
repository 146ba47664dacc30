"""A lab's action catalog: the entries, and how each resolves to an engine event.

:func:`build_catalog` derives the catalog from the engine's lab once per env (deterministic
order, docs/envs.md "The action catalog"): the six bare indices, then per device
``QUEUE_RUN``/``START_RUN``/``RUN_QC``/``RESTOCK_REAGENT``, per zone ``MOVE``, per door
``OPEN_DOOR``/``CLOSE_DOOR``, then the work queues. Each entry has a model here that knows:

* ``access(pol, probe)`` — its rules that depend only on the agent's role and zone (evaluated once
  per (role, zone) key when the env is built);
* ``passable(eng, zone_id)`` — rules that depend on the agent's zone and the lab's state (moves);
* ``state(eng, probe)`` — rules about the lab's state (device, queue, tokens), evaluated once per
  step for all agents;
* ``events(eng, agent)`` — the candidate events it resolves to, in service order; the entry is
  valid for an agent iff one of them passes the engine's own dry run (:meth:`engine.check`).

All three parts call the engine's rule functions (:mod:`labtrust_gym.engine.rules`, the
``check_<action>`` functions); nothing here re-states a rule. :func:`valid_for` is the definition
of an entry's validity the masks are tested against.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from labtrust_gym.domain.actions import (
    ACTION_NAMES,
    NEXT,
    ActionCatalog,
    CatalogEntry,
    entry_name,
)
from labtrust_gym.engine.actions_lab import (
    CHECKS as LAB_CHECKS,
)
from labtrust_gym.engine.actions_lab import (
    acceptance_failure,
    heard_read_back,
    past_stability,
    qc_target,
    queue_target,
    restock_target,
    start_run_state,
)
from labtrust_gym.engine.actions_trust import CHECKS as TRUST_CHECKS
from labtrust_gym.engine.actions_trust import check_token
from labtrust_gym.engine.records import PRIORITY_RANK, AgentRec
from labtrust_gym.engine.rules import (
    device_access,
    door_access,
    door_can_close,
    door_can_open,
    move_passable,
    move_static,
)

CHECKS = {**LAB_CHECKS, **TRUST_CHECKS}
Event = dict[str, Any]

#: What an accepted event may have changed, for the entries whose ``deps`` name it: a door, a
#: device, or the work queues (specimens, results, tokens, consignments). ``None`` = anything
#: (the gate's inputs: enforcement, freezes, the kill switch, or an unknown action type).
QUEUES = "queues"
#: A plain move changes where agents are: occupancy of two zones and a doorway's traffic at this
#: instant, which later moves of the same step depend on (engine.rules.move_space); masks see
#: occupancy through their own cache key, so it does not count as a change of the lab.
MOVES = "moves"
_NOTHING: frozenset[str] = frozenset()
_QUEUES = frozenset({QUEUES})
_MOVES = frozenset({MOVES})
_MOVES_QUEUES = frozenset({MOVES, QUEUES})
_QUEUE_WORK = frozenset(
    {
        "CREATE_ACCESSION",
        "ACCEPT_SPECIMEN",
        "HOLD_SPECIMEN",
        "REJECT_SPECIMEN",
        "RELEASE_RESULT",
        "NOTIFY_CRITICAL",
        "ACK_CRITICAL",
        "MINT_TOKEN",
        "APPROVE_TOKEN",
        "REVOKE_TOKEN",
        "DISPATCH_TRANSPORT",
        "CHAIN_OF_CUSTODY_SIGN",
        "RECEIVE_TRANSPORT",
    }
)


def touched_by(
    action_type: str, args: dict[str, Any], result: dict[str, Any]
) -> frozenset[str] | None:
    """What an event may have changed that other agents' masks depend on (see ``Entry.deps``).

    This is invalidation metadata, not a rule: it only decides which masked-in choices of later
    agents in the same step are re-checked with the engine's rules before they are sent.
    """
    if result["status"] != "ACCEPTED":
        return _NOTHING
    if "ENFORCEMENT_APPLIED" in result["emits"]:
        return None
    if action_type in ("TICK", "NOOP"):
        return _NOTHING
    if action_type == "MOVE":  # changes where agents are (and a token it used)
        return _MOVES_QUEUES if result["token_consumed"] else _MOVES
    if action_type in ("OPEN_DOOR", "CLOSE_DOOR"):
        return frozenset({"door:" + str(args.get("door_id"))})
    if action_type == "RESTOCK_REAGENT":
        return frozenset({"device:" + str(args.get("device_id"))})
    if action_type in ("QUEUE_RUN", "START_RUN", "RUN_QC"):
        return frozenset({"device:" + str(args.get("device_id")), QUEUES})
    if action_type in _QUEUE_WORK:
        return _QUEUES
    return None


def mutates_lab(action_type: str, args: dict[str, Any], result: dict[str, Any]) -> bool:
    """Whether an event may have changed what any agent's mask depends on, beyond where agents
    stand (the masks key their move rows on zone occupancy themselves)."""
    what = touched_by(action_type, args, result)
    return what is None or not what <= _MOVES


#: Bare indices: how their target is chosen among the agent's valid entries of that kind.
BARE_ARGS: dict[str, str] = {
    "NOOP": "no event",
    "TICK": "no arguments (waits one step; logged)",
    "QUEUE_RUN": "a valid QUEUE_RUN@<device> in the agent's zone: the shortest queue",
    "MOVE": "a valid MOVE@<zone>, drawn uniformly with the env's seeded RNG",
    "OPEN_DOOR": "a valid OPEN_DOOR@<door>: the first in door order",
    "START_RUN": "a valid START_RUN@<device> in the agent's zone: the longest queue",
}


def _spec_key(s: Any) -> tuple[int, float, str]:
    return PRIORITY_RANK[s.priority], s.arrival_t_s, s.specimen_id


def _usable_tokens(eng: Any, token_type: str, scope_value: str, agent: AgentRec) -> list[str]:
    """Ids of the live tokens of ``token_type`` scoped to ``scope_value`` that ``agent`` may use
    (the engine's own token check decides), oldest first."""
    key = eng.policy.token_types[token_type]["scope_key"]
    out = []
    for tid, tok in eng.tokens.items():
        if tok.token_type != token_type or tok.scope.get(key) != scope_value:
            continue
        if not isinstance(
            check_token(eng, agent, {"token_refs": [tid]}, token_type, scope_value, ""), str
        ):
            out.append(tid)
    return out


class Entry:
    """The model of one catalog entry (see the module docstring)."""

    kind = "queue"
    args_doc = ""
    #: A token type whose holder-bound tokens make the entry valid for their holders only.
    token_type: str | None = None
    #: The entry's validity depends on who the agent is (not only role and zone).
    identity = False
    #: The entry's state depends on the agent's role (evaluated per role).
    by_role = False
    #: The entry's state can change with time alone (stability limits, escalation deadlines,
    #: token expiry), so it is re-evaluated every step, not only after the lab changed.
    timed = False
    #: The entry's state never changes during an episode (evaluated once per reset).
    static_state = False
    #: What the entry's validity depends on besides the gate (see :func:`touched_by`).
    deps: frozenset[str] = _QUEUES

    def __init__(self, action_type: str, target: str | None) -> None:
        self.action_type = action_type
        self.target = target
        self.name = entry_name(action_type, target)

    def access(self, pol: Any, probe: AgentRec) -> bool:
        return True

    def passable(self, eng: Any, zone_id: str) -> bool:
        return True

    def state(self, eng: Any, probe: AgentRec) -> bool:
        for ev in self.events(eng, probe):
            if not isinstance(CHECKS[self.action_type](eng, probe, ev["args"], ev), str):
                return True
        return False

    def state_by_role(self, eng: Any, probes: list[AgentRec]) -> list[bool]:
        """:meth:`state` for a probe of each role (entries whose check reads the role)."""
        return [self.state(eng, p) for p in probes]

    def events(self, eng: Any, agent: AgentRec) -> Iterator[Event]:
        raise NotImplementedError

    def first_event(self, eng: Any, agent: AgentRec) -> Event | None:
        """The first candidate event (single-target entries: their only one)."""
        for ev in self.events(eng, agent):
            return ev
        return None

    def fallback(self, eng: Any, agent: AgentRec) -> Event:
        """The event a masked-out choice sends (the engine answers with the real reason)."""
        for ev in self.events(eng, agent):
            return ev
        return self._event({})

    def _event(self, args: dict[str, Any], **extra: Any) -> Event:
        ev: Event = {"action_type": self.action_type, "args": args}
        ev.update(extra)
        return ev


class Bare(Entry):
    """Indices 0..5. NOOP and TICK are entries of their own; the other four choose among the
    agent's valid entries of their kind (see :data:`BARE_ARGS`)."""

    kind = "bare"
    deps = _NOTHING

    def __init__(self, action_type: str) -> None:
        super().__init__(action_type, None)
        self.args_doc = BARE_ARGS[action_type]

    def state(self, eng: Any, probe: AgentRec) -> bool:
        return True

    def events(self, eng: Any, agent: AgentRec) -> Iterator[Event]:
        yield self._event({})

    def first_event(self, eng: Any, agent: AgentRec) -> Event | None:
        return {"action_type": self.action_type, "args": {}}


class DeviceEntry(Entry):
    kind = "device"

    def __init__(self, action_type: str, device_id: str) -> None:
        super().__init__(action_type, device_id)
        self.args_doc = f"device_id={device_id}"
        self.deps = frozenset({"device:" + device_id, QUEUES})

    def access(self, pol: Any, probe: AgentRec) -> bool:
        return probe._policy is not None and device_access(probe, self._dev) is None

    def bind(self, eng: Any) -> None:
        self._dev = eng.devices[self.target]

    def events(self, eng: Any, agent: AgentRec) -> Iterator[Event]:
        yield self._event({"device_id": self.target})

    def first_event(self, eng: Any, agent: AgentRec) -> Event | None:
        return {"action_type": self.action_type, "args": {"device_id": self.target}}


class QueueRunEntry(DeviceEntry):
    """QUEUE_RUN@D: the next specimen ready for D's device type (service order)."""

    def __init__(self, device_id: str) -> None:
        super().__init__("QUEUE_RUN", device_id)
        self.args_doc = f"device_id={device_id}, specimen_id=the next ready specimen of its type"

    def state(self, eng: Any, probe: AgentRec) -> bool:
        ready = eng._ready_by_type[self._dev.device_type]
        if not ready:
            return False
        first = min(ready.values(), key=_spec_key)
        return not isinstance(queue_target(eng, self._dev, first.specimen_id), str)

    def events(self, eng: Any, agent: AgentRec) -> Iterator[Event]:
        ready = eng._ready_by_type[self._dev.device_type]
        for s in sorted(ready.values(), key=_spec_key):
            yield self._event({"device_id": self.target, "specimen_id": s.specimen_id})

    def first_event(self, eng: Any, agent: AgentRec) -> Event | None:
        ready = eng._ready_by_type[self._dev.device_type]
        if not ready:
            return None
        first = min(ready.values(), key=_spec_key)
        return self._event({"device_id": self.target, "specimen_id": first.specimen_id})


class StartRunEntry(DeviceEntry):
    """START_RUN@D; attaches the STABILITY_OVERRIDE tokens the batch needs and the agent may
    use."""

    token_type = "STABILITY_OVERRIDE"
    timed = True

    def __init__(self, device_id: str) -> None:
        super().__init__("START_RUN", device_id)
        self.args_doc = (
            f"device_id={device_id}; token_refs=usable STABILITY_OVERRIDE tokens for the batch"
        )

    def _ev(self, eng: Any, agent: AgentRec) -> Event:
        refs = self._tokens(eng, agent)
        return (
            self._event({"device_id": self.target}, token_refs=refs)
            if refs
            else self._event({"device_id": self.target})
        )

    def _tokens(self, eng: Any, agent: AgentRec) -> list[str]:
        dev = self._dev
        if not dev.queue or not eng.tokens:
            return []
        ok = start_run_state(eng, dev, agent, None)
        if ok != "STABILITY.EXPIRED":
            return []
        refs: list[str] = []
        cap = dev._spec["capacity"]
        batch = sorted(dev.queue)[:cap]
        for entry in batch:
            refs.extend(_usable_tokens(eng, "STABILITY_OVERRIDE", entry[3], agent)[:1])
        return refs

    def state(self, eng: Any, probe: AgentRec) -> bool:
        ev = self._ev(eng, probe)
        return not isinstance(start_run_state(eng, self._dev, probe, ev), str)

    def events(self, eng: Any, agent: AgentRec) -> Iterator[Event]:
        yield self._ev(eng, agent)

    def first_event(self, eng: Any, agent: AgentRec) -> Event | None:
        return self._ev(eng, agent)


class QcEntry(DeviceEntry):
    static_state = True

    def __init__(self, device_id: str) -> None:
        super().__init__("RUN_QC", device_id)
        self.deps = _NOTHING

    def state(self, eng: Any, probe: AgentRec) -> bool:
        return qc_target(self._dev) is None


class RestockEntry(DeviceEntry):
    static_state = True

    def __init__(self, device_id: str) -> None:
        super().__init__("RESTOCK_REAGENT", device_id)
        self.deps = _NOTHING

    def state(self, eng: Any, probe: AgentRec) -> bool:
        return restock_target(self._dev) is None


class MoveEntry(Entry):
    """MOVE@Z; into a restricted zone it attaches a RESTRICTED_ENTRY token the agent may use."""

    kind = "zone"
    token_type = "RESTRICTED_ENTRY"
    timed = True

    def __init__(self, zone_id: str, restricted: bool, doors: list[str]) -> None:
        super().__init__("MOVE", zone_id)
        self.restricted = restricted
        self.deps = frozenset(
            ["door:" + d for d in doors] + [MOVES] + ([QUEUES] if restricted else [])
        )
        self.args_doc = f"to_zone={zone_id}" + (
            "; token_refs=a usable RESTRICTED_ENTRY token" if restricted else ""
        )

    def access(self, pol: Any, probe: AgentRec) -> bool:
        return move_static(pol, probe._policy, probe.zone_id, str(self.target)) is None

    def passable(self, eng: Any, zone_id: str) -> bool:
        return (
            zone_id not in eng.policy.neighbors[self.target]
            or move_passable(eng, zone_id, str(self.target)) is None
        )

    def state(self, eng: Any, probe: AgentRec) -> bool:
        if not self.restricted:
            return True
        return bool(_usable_tokens(eng, "RESTRICTED_ENTRY", str(self.target), probe))

    def events(self, eng: Any, agent: AgentRec) -> Iterator[Event]:
        yield self.first_event(eng, agent)  # type: ignore[misc]

    def first_event(self, eng: Any, agent: AgentRec) -> Event | None:
        args = {"to_zone": self.target}
        if self.restricted:
            refs = _usable_tokens(eng, "RESTRICTED_ENTRY", str(self.target), agent)[:1]
            if refs:
                return {"action_type": "MOVE", "args": args, "token_refs": refs}
        return {"action_type": "MOVE", "args": args}


class DoorEntry(Entry):
    kind = "door"

    def __init__(self, action_type: str, door_id: str) -> None:
        super().__init__(action_type, door_id)
        self.args_doc = f"door_id={door_id}"
        self.deps = frozenset({"door:" + door_id})

    def access(self, pol: Any, probe: AgentRec) -> bool:
        return door_access(pol, probe.zone_id, str(self.target)) is None

    def state(self, eng: Any, probe: AgentRec) -> bool:
        rule = door_can_open if self.action_type == "OPEN_DOOR" else door_can_close
        return rule(eng, str(self.target)) is None

    def events(self, eng: Any, agent: AgentRec) -> Iterator[Event]:
        yield self._event({"door_id": self.target})

    def first_event(self, eng: Any, agent: AgentRec) -> Event | None:
        return {"action_type": self.action_type, "args": {"door_id": self.target}}


# ------------------------------------------------------------------ work queues
class SpecimenQueue(Entry):
    """A specimen work queue: the first specimen of ``statuses`` (service order: STAT > URGENT >
    ROUTINE, then arrival, then id) the engine's check accepts for this action."""

    def __init__(self, action_type: str, statuses: tuple[str, ...], doc: str) -> None:
        super().__init__(action_type, NEXT)
        self.statuses = statuses
        self.args_doc = doc

    def _candidates(self, eng: Any) -> list[Any]:
        by = eng.by_status
        if len(self.statuses) == 1:
            return sorted(by[self.statuses[0]].values(), key=_spec_key)
        return sorted((s for st in self.statuses for s in by[st].values()), key=_spec_key)

    def state(self, eng: Any, probe: AgentRec) -> bool:
        # any valid candidate proves the entry valid: no need to sort
        check = CHECKS[self.action_type]
        for st in self.statuses:
            for s in eng.by_status[st].values():
                ev = self._for(eng, s)
                if ev is not None and not isinstance(check(eng, probe, ev["args"], ev), str):
                    return True
        return False

    def _for(self, eng: Any, s: Any) -> Event | None:
        return self._event({"specimen_id": s.specimen_id})

    def events(self, eng: Any, agent: AgentRec) -> Iterator[Event]:
        for s in self._candidates(eng):
            ev = self._for(eng, s)
            if ev is not None:
                yield ev


class FindingQueue(SpecimenQueue):
    """HOLD/REJECT: the reason code is the acceptance finding of the specimen's inspection
    (:func:`labtrust_gym.engine.actions_lab.acceptance_failure`, the rules over what reception
    sees: label against order, leak, fill, temperature record)."""

    def _for(self, eng: Any, s: Any) -> Event | None:
        code = acceptance_failure(eng, s)
        if code is None:
            return None
        return self._event({"specimen_id": s.specimen_id}, reason_code=code)


class ResultQueue(Entry):
    """Results awaiting release (``generated``): the first the engine lets this agent release,
    in the specimens' service order."""

    def __init__(self) -> None:
        super().__init__("RELEASE_RESULT", NEXT)
        self.args_doc = "result_id=the first releasable result (its specimen's service order)"

    def _key(self, eng: Any) -> Any:
        specs = eng.specimens
        return lambda r: _spec_key(specs[r.specimen_id])

    def events(self, eng: Any, agent: AgentRec) -> Iterator[Event]:
        for r in sorted(eng.results_by_status["generated"].values(), key=self._key(eng)):
            yield self._event({"result_id": r.result_id})

    def state(self, eng: Any, probe: AgentRec) -> bool:
        check = CHECKS["RELEASE_RESULT"]
        for r in eng.results_by_status["generated"].values():
            if not isinstance(check(eng, probe, {"result_id": r.result_id}, None), str):
                return True
        return False


class HeldRelease(ResultQueue):
    """RELEASE_RESULT@held: a QC-held result released under a usable RELEASE_OVERRIDE token."""

    token_type = "RELEASE_OVERRIDE"
    timed = True

    def __init__(self) -> None:
        Entry.__init__(self, "RELEASE_RESULT", "held")
        self.args_doc = (
            "result_id=the first QC-held result with a usable RELEASE_OVERRIDE token; token_refs"
        )

    def events(self, eng: Any, agent: AgentRec) -> Iterator[Event]:
        for r in sorted(eng.results_by_status["qc_hold"].values(), key=self._key(eng)):
            refs = _usable_tokens(eng, "RELEASE_OVERRIDE", r.result_id, agent)[:1]
            if refs:
                yield self._event({"result_id": r.result_id}, token_refs=refs)

    def fallback(self, eng: Any, agent: AgentRec) -> Event:
        for r in eng.results_by_status["qc_hold"].values():
            return self._event({"result_id": r.result_id})
        return self._event({})

    state = Entry.state


class CriticalQueue(Entry):
    """NOTIFY_CRITICAL / ACK_CRITICAL on critical results awaiting acknowledgement (oldest
    first): notify at the next tier of the ladder; acknowledge with the read-back the notifying
    agent heard (:func:`heard_read_back`)."""

    def __init__(self, action_type: str) -> None:
        super().__init__(action_type, NEXT)
        self.timed = action_type == "NOTIFY_CRITICAL"  # escalation deadlines pass with time
        self.args_doc = (
            "result_id=the oldest critical result due its next tier, tier=that tier"
            if action_type == "NOTIFY_CRITICAL"
            else "result_id=the oldest notified critical result, read_back=the read-back heard"
        )

    def events(self, eng: Any, agent: AgentRec) -> Iterator[Event]:
        pending = sorted(eng.crit_pending.values(), key=lambda r: (r.generated_t_s, r.result_id))
        for r in pending:
            if self.action_type == "NOTIFY_CRITICAL":
                yield self._event({"result_id": r.result_id, "tier": r.tier + 1})
            else:
                heard = heard_read_back(r)
                if heard is not None:
                    yield self._event({"result_id": r.result_id, "read_back": heard})

    def state(self, eng: Any, probe: AgentRec) -> bool:
        if not eng.crit_pending:
            return False
        return Entry.state(self, eng, probe)


class ConsignmentQueue(Entry):
    def __init__(self, action_type: str, status: str) -> None:
        super().__init__(action_type, NEXT)
        self.status = status
        self.args_doc = f"consignment_id=the oldest {status} consignment"

    def events(self, eng: Any, agent: AgentRec) -> Iterator[Event]:
        for cid, c in eng.consignments.items():
            if c.status == self.status:
                yield self._event({"consignment_id": cid})


class DispatchEntry(Entry):
    """DISPATCH_TRANSPORT@route: every specimen waiting at the route's origin, one consignment."""

    kind = "route"

    def __init__(self, route_id: str, from_site: str) -> None:
        super().__init__("DISPATCH_TRANSPORT", route_id)
        self.from_site = from_site
        self.args_doc = f"route_id={route_id}, specimen_ids=every specimen waiting at {from_site}"

    def events(self, eng: Any, agent: AgentRec) -> Iterator[Event]:
        ids = [
            s.specimen_id
            for s in sorted(eng.by_status["arrived"].values(), key=_spec_key)
            if s.site_id == self.from_site
        ]
        if ids:
            yield self._event({"route_id": self.target, "specimen_ids": ids})

    def state(self, eng: Any, probe: AgentRec) -> bool:
        site = self.from_site
        ids = [s.specimen_id for s in eng.by_status["arrived"].values() if s.site_id == site]
        if not ids:
            return False
        args = {"route_id": self.target, "specimen_ids": ids}
        return not isinstance(CHECKS[self.action_type](eng, probe, args, None), str)


class MintEntry(Entry):
    """MINT_TOKEN@<type>: a token of that type for the first item that needs one and has no
    live token yet (RELEASE_OVERRIDE: a QC-held result; STABILITY_OVERRIDE: a queued specimen
    past its stability limit)."""

    by_role = True
    timed = True

    def __init__(self, token_type: str) -> None:
        super().__init__("MINT_TOKEN", token_type)
        self.token_type_minted = token_type
        what = "QC-held result" if token_type == "RELEASE_OVERRIDE" else "expired queued specimen"
        self.args_doc = f"token_type={token_type}, scope=the first {what} without a live token"

    def _scopes(self, eng: Any) -> Iterator[str]:
        if self.target == "RELEASE_OVERRIDE":
            for r in sorted(eng.results_by_status["qc_hold"].values(), key=lambda r: r._seq):
                yield r.result_id
        else:
            for s in sorted(eng.by_status["queued"].values(), key=_spec_key):
                if past_stability(eng, s):
                    yield s.specimen_id

    def _live(self, eng: Any) -> set[str]:
        key = eng.policy.token_types[self.target]["scope_key"]
        now = eng.now_s
        return {
            str(t.scope.get(key))
            for t in eng.tokens.values()
            if t.token_type == self.target
            and (t.status == "pending" or (t.status == "active" and now < (t.expires_t_s or 0)))
        }

    def events(self, eng: Any, agent: AgentRec) -> Iterator[Event]:
        key = eng.policy.token_types[self.target]["scope_key"]
        live = None
        for scope in self._scopes(eng):
            if live is None:
                live = self._live(eng)
            if scope not in live:
                yield self._event({"token_type": self.target, "scope": {key: scope}})

    def state(self, eng: Any, probe: AgentRec) -> bool:
        return self.state_by_role(eng, [probe])[0]

    def state_by_role(self, eng: Any, probes: list[AgentRec]) -> list[bool]:
        # the candidates do not depend on who mints: find the first once, then ask the engine's
        # check for each role (only the role's mint right differs between them)
        if self.target == "RELEASE_OVERRIDE" and not eng.results_by_status["qc_hold"]:
            return [False] * len(probes)
        if self.target == "STABILITY_OVERRIDE" and not eng.by_status["queued"]:
            return [False] * len(probes)
        ev = self.first_event(eng, probes[0])
        if ev is None:
            return [False] * len(probes)
        check = CHECKS["MINT_TOKEN"]
        return [not isinstance(check(eng, p, ev["args"], ev), str) for p in probes]


class ApproveEntry(Entry):
    """APPROVE_TOKEN@next: the oldest pending token this agent may approve."""

    identity = True
    by_role = True

    def __init__(self) -> None:
        super().__init__("APPROVE_TOKEN", NEXT)
        self.args_doc = "token_id=the oldest pending token the agent may approve"

    def events(self, eng: Any, agent: AgentRec) -> Iterator[Event]:
        for tid, tok in eng.tokens.items():
            if tok.status == "pending":
                yield self._event({"token_id": tid})

    def state(self, eng: Any, probe: AgentRec) -> bool:
        return any(t.status == "pending" for t in eng.tokens.values()) and Entry.state(
            self, eng, probe
        )


# ------------------------------------------------------------------ the catalog
def build_catalog(eng: Any) -> tuple[ActionCatalog, list[Entry]]:
    """The catalog of the engine's current lab and the model of each entry (same order)."""
    pol = eng.policy
    models: list[Entry] = [Bare(name) for name in ACTION_NAMES]
    devices = [eng.devices[d] for d in eng.device_ids]
    models += [QueueRunEntry(d.device_id) for d in devices]
    models += [StartRunEntry(d.device_id) for d in devices]
    models += [QcEntry(d.device_id) for d in devices if qc_target(d) is None]
    models += [RestockEntry(d.device_id) for d in devices if restock_target(d) is None]
    models += [
        MoveEntry(z, z in pol.restricted_zones, sorted(d for d in pol.neighbors[z].values() if d))
        for z in eng.zone_ids
    ]
    models += [DoorEntry("OPEN_DOOR", d) for d in eng.door_ids]
    models += [DoorEntry("CLOSE_DOOR", d) for d in eng.door_ids]
    models += [
        SpecimenQueue(
            "CREATE_ACCESSION", ("arrived",), "specimen_id=the next arrived specimen at the lab"
        ),
        SpecimenQueue(
            "ACCEPT_SPECIMEN",
            ("accessioned",),
            "specimen_id=the next accessioned specimen passing every acceptance rule",
        ),
        FindingQueue(
            "HOLD_SPECIMEN",
            ("accessioned",),
            "specimen_id=the next accessioned specimen failing an acceptance rule; "
            "reason_code=its inspection finding",
        ),
        FindingQueue(
            "REJECT_SPECIMEN",
            ("accessioned",),
            "specimen_id=the next accessioned specimen failing an acceptance rule (HOLD's "
            "target); reason_code=its inspection finding",
        ),
        ResultQueue(),
        HeldRelease(),
        CriticalQueue("NOTIFY_CRITICAL"),
        CriticalQueue("ACK_CRITICAL"),
        ConsignmentQueue("RECEIVE_TRANSPORT", "arrived"),
        ConsignmentQueue("CHAIN_OF_CUSTODY_SIGN", "created"),
    ]
    lab = eng.lab_site_id
    models += [
        DispatchEntry(rid, r["from_site"])
        for rid, r in sorted(pol.routes.items())
        if r["to_site"] == lab
    ]
    models += [
        MintEntry(t) for t in ("RELEASE_OVERRIDE", "STABILITY_OVERRIDE") if t in pol.token_types
    ]
    models.append(ApproveEntry())
    bind(models, eng)
    entries = [
        CatalogEntry(i, m.name, m.action_type, m.target, m.kind, m.args_doc)
        for i, m in enumerate(models)
    ]
    return ActionCatalog(entries), models


def bind(models: list[Entry], eng: Any) -> None:
    """Point the device entries at the engine's device records (after every reset)."""
    for m in models:
        if isinstance(m, DeviceEntry):
            m.bind(eng)


def valid_for(eng: Any, agent: AgentRec, model: Entry) -> bool:
    """The definition of an entry's validity: one of its events passes the engine's dry run
    (signatures aside: the env signs what it sends)."""
    if model.action_type == "NOOP":
        return True
    for ev in model.events(eng, agent):
        full = {"t_s": eng.now_s, "agent_id": agent.agent_id, **ev}
        if eng.check(full, verify_signature=False) is None:
            return True
    return False


__all__ = [
    "BARE_ARGS",
    "MOVES",
    "QUEUES",
    "Entry",
    "bind",
    "build_catalog",
    "mutates_lab",
    "touched_by",
    "valid_for",
]
