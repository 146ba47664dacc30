"""``HospitalLabEngine``: reset, the step pipeline, the hash chain and the fast views.

The step pipeline validates everything before any handler mutates state, so a BLOCKED step
changes nothing. Policy is compiled once (cached per policy root); per reset the engine builds
records, numpy views and the per-action invariant index, then each step is a handful of dict
lookups, the action handler, the in-scope invariants and one SHA-256.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import labtrust_gym.engine.actions_lab as actions_lab
import labtrust_gym.engine.actions_trust as actions_trust
import labtrust_gym.engine.clock as clock
from labtrust_gym.engine.hashchain import (
    GENESIS_HASH,
    LogStream,
    dumps_with_option,
    line_bytes,
    verify_chain,
)
from labtrust_gym.engine.initial_state import validate_initial_state
from labtrust_gym.engine.invariants_runtime import CompiledInvariant, compile_invariants
from labtrust_gym.engine.policy import CompiledPolicy, load_policy
from labtrust_gym.engine.records import (
    PRIORITY_RANK,
    AgentRec,
    ConsignmentRec,
    DeviceRec,
    ResultRec,
    SpecimenRec,
    TokenRec,
)
from labtrust_gym.engine.rules import gate, init_space
from labtrust_gym.engine.validate import check_args, parse_event
from labtrust_gym.errors import ChainIntegrityError, InvalidInputError, PolicyError

Handler = Callable[..., Any]
HANDLERS: dict[str, Handler] = {**actions_lab.HANDLERS, **actions_trust.HANDLERS}
#: Each handler's pure precondition part (see :meth:`HospitalLabEngine.check`).
CHECKS: dict[str, Handler] = {**actions_lab.CHECKS, **actions_trust.CHECKS}
_sha256 = hashlib.sha256
_dumps, _SORT = dumps_with_option()


class HospitalLabEngine:
    """The hospital_lab domain adapter (see docs/engine.md)."""

    # space (set per reset by rules.init_space, read by rules.move_space)
    zone_capacity: list[int]
    zone_occupancy: list[int]
    edge_lanes: dict[int, int]
    edge_instant: float | None
    edge_traffic: dict[int, list[int]]

    def __init__(self, workflow_spec: Any = None, config: dict[str, Any] | None = None) -> None:
        cfg = dict(config or {})
        self.workflow_spec = workflow_spec
        self.config = cfg
        self.policy_root = Path(cfg["policy_root"]) if cfg.get("policy_root") else None
        self.record_log = bool(cfg.get("record_log", True))
        self.report_passing = bool(cfg.get("report_passing_invariants", False))
        self._overlays = list(cfg.get("invariant_overlays") or [])
        self._log_path = cfg.get("log_path")
        self._log_fsync = bool(cfg.get("log_fsync", True))
        self._stream: LogStream | None = None
        self._ready = False
        self.chain_frozen = False

    # ------------------------------------------------------------------ reset
    def reset(
        self,
        initial_state: dict[str, Any] | None = None,
        *,
        deterministic: bool = True,
        rng_seed: int = 0,
    ) -> dict[str, Any]:
        """Build the episode from ``initial_state`` (None = default lab); returns the chain head."""
        self._ready = False  # a reset that raises leaves no half-built episode usable
        pol = load_policy(self.policy_root)
        self.policy: CompiledPolicy = pol
        st = validate_initial_state(initial_state, pol)
        self.initial_state = st
        self.deterministic = deterministic
        self.rng = random.Random(rng_seed)
        self.fault_rng = random.Random(rng_seed * 7919 + 17)
        self.now_s = float(st["start_t_s"])
        self.lab_site_id: str = st["lab_site_id"]
        self.strict = bool(st["strict_signatures"])
        # timing_mode "simulated": run durations drawn around the nominal service time, from an
        # RNG of their own so the other seeded draws do not depend on the timing mode.
        self.timing_simulated = st["timing_mode"] == "simulated"
        self.service_rng = random.Random(rng_seed * 104729 + 3)
        self.critical_rate = float(st.get("critical_rate", pol.default_critical_rate))
        missing = sorted(set(pol.actions) - set(HANDLERS))
        if missing:
            raise PolicyError(
                f"Policy file {str(pol.files['actions'])!r}: actions {missing} have no engine "
                f"handler; the hospital_lab engine implements {sorted(HANDLERS)}."
            )

        # zones, doors
        self.zone_ids = list(pol.zone_ids)
        self.zone_index = {z: i for i, z in enumerate(self.zone_ids)}
        nz = len(self.zone_ids)
        self.door_ids = sorted(pol.doors)
        self.door_index = {d: i for i, d in enumerate(self.door_ids)}
        self.doors_open: dict[str, float] = {}
        self.door_opened_by: dict[str, str] = {}  # who opened each open door
        self.door_overdue_reported: set[str] = set()
        self.door_due: float | None = None  # cache for the door invariant (None = recompute)
        self.crit_due: float | None = None  # cache for the escalation invariant
        self.door_open = np.zeros(len(self.door_ids), dtype=np.int8)
        self.zone_frozen = np.zeros(nz, dtype=np.int8)
        self.frozen_zones: set[str] = set()
        self.zone_restricted = np.array(
            [z in pol.restricted_zones for z in self.zone_ids], dtype=np.int8
        )
        self.zone_adjacency = np.zeros((nz, nz), dtype=np.int8)
        for z, nbrs in pol.neighbors.items():
            for n in nbrs:
                self.zone_adjacency[self.zone_index[z], self.zone_index[n]] = 1
        if "next_hop" not in pol.derived:
            pol.derived["next_hop"] = clock.next_hop_table(self.zone_ids, pol.neighbors)
            pol.derived["next_hop"].setflags(write=False)
        self.next_hop_table = pol.derived["next_hop"]

        # agents
        self.role_ids = sorted(pol.roles)
        role_index = {r: i for i, r in enumerate(self.role_ids)}
        self.agents: dict[str, AgentRec] = {}
        self.agent_ids = []
        for i, a in enumerate(st["agents"]):
            role = a["role"]
            self.agents[a["agent_id"]] = AgentRec(
                a["agent_id"], i, role, pol.roles.get(role) if role else None, a["zone_id"]
            )
            self.agent_ids.append(a["agent_id"])
        self.agent_index = {a: i for i, a in enumerate(self.agent_ids)}
        # agents standing in a restricted zone without an entry authorisation (invariant guard)
        self.restricted_unauthorized: set[str] = {
            a["agent_id"] for a in st["agents"] if a["zone_id"] in pol.restricted_zones
        }
        na = len(self.agent_ids)
        self.agent_zone = np.array(
            [self.zone_index[a["zone_id"]] for a in st["agents"]], dtype=np.int32
        )
        self.agent_role = np.array(
            [role_index[a["role"]] if a["role"] else -1 for a in st["agents"]], dtype=np.int16
        )
        self.agent_throttled_until = np.full(na, -np.inf, dtype=np.float64)
        init_space(self, st)  # zone capacities and occupancy, edge lanes (rules.move_space)

        # devices
        self.device_type_ids = sorted(pol.device_types)
        dtype_index = {t: i for i, t in enumerate(self.device_type_ids)}
        self.device_type_index = dtype_index
        self.devices: dict[str, DeviceRec] = {}
        self.device_ids = []
        self.devices_by_type: dict[str, list[str]] = {t: [] for t in self.device_type_ids}
        for i, d in enumerate(st["devices"]):
            spec = pol.device_types[d["device_type"]]
            if "queue_max" in d:
                spec = {**spec, "queue_max": d["queue_max"]}
            reagent = (
                d.get("reagent", spec["reagent_stock"])
                if spec["reagent_stock"] is not None
                else None
            )
            rec = DeviceRec(
                d["device_id"],
                i,
                d["device_type"],
                d["zone_id"],
                spec,
                reagent,
                d.get("qc_state", "pass"),
            )
            self.devices[d["device_id"]] = rec
            self.device_ids.append(d["device_id"])
            self.devices_by_type[d["device_type"]].append(d["device_id"])
        self.device_index = {d: i for i, d in enumerate(self.device_ids)}
        nd = len(self.device_ids)
        self.device_zone = np.array(
            [self.zone_index[d["zone_id"]] for d in st["devices"]], dtype=np.int32
        )
        self.device_type = np.array(
            [dtype_index[d["device_type"]] for d in st["devices"]], dtype=np.int16
        )
        self.device_queue_len = np.zeros(nd, dtype=np.int32)
        self.device_busy = np.zeros(nd, dtype=np.int8)
        self.device_busy_until = np.zeros(nd, dtype=np.float64)
        self.device_fault = np.zeros(nd, dtype=np.int8)
        self.device_qc_fail = np.array(
            [self.devices[d].qc_state == "fail" for d in self.device_ids], dtype=np.int8
        )
        self.device_reagent = np.array(
            [
                -1 if self.devices[d].reagent is None else self.devices[d].reagent
                for d in self.device_ids
            ],
            dtype=np.int32,
        )
        self.work_by_device_type = np.zeros(len(self.device_type_ids), dtype=np.int32)
        self._ready_by_type: dict[str, dict[str, SpecimenRec]] = {
            t: {} for t in self.device_type_ids
        }

        # specimens, results, tokens, transport
        self.specimens: dict[str, SpecimenRec] = {}
        self.results: dict[str, ResultRec] = {}
        self.tokens: dict[str, TokenRec] = {}
        self.consignments: dict[str, ConsignmentRec] = {}
        self.crit_pending: dict[str, ResultRec] = {}
        self.released: list[dict[str, Any]] = []
        self.stage_counts: dict[str, int] = dict.fromkeys(
            (
                "arrived",
                "in_transit",
                "accessioned",
                "accepted",
                "held",
                "rejected",
                "queued",
                "running",
                "staged",
                "resulted",
            ),
            0,
        )
        self.by_status: dict[str, dict[str, SpecimenRec]] = {k: {} for k in self.stage_counts}
        self.results_by_status: dict[str, dict[str, ResultRec]] = {
            k: {} for k in ("generated", "qc_hold", "invalidated", "released")
        }
        self.n_released = 0
        self.n_critical_pending = 0
        self.n_results_awaiting_release = 0
        self.killed = False
        self._token_seq = 0
        self._consignment_seq = 0
        for t in st["tokens"]:
            tok = TokenRec(
                t["token_id"], t["token_type"], dict(t["scope"]), t.get("holder_agent_id"), None
            )
            tok.status = "active"
            tok.expires_t_s = float(
                t.get("expires_t_s", self.now_s + pol.token_types[t["token_type"]]["ttl_s"])
            )
            self.tokens[tok.token_id] = tok

        from labtrust_gym.engine.signing import KeyRing

        self.keyring = KeyRing([*pol.keys, *st["keys"]])

        # timeline of clock effects
        self.timeline: list[tuple[float, int, str, Any]] = []
        self._tl_seq = 0
        clock.schedule_initial(self, st)
        self.system_emits: list[dict[str, Any]] = []

        # invariants (handlers resolved once per reset)
        self.invariants: list[CompiledInvariant] = compile_invariants(
            pol, self._overlays, st["extra_invariants"]
        )
        self._inv_by_action: dict[str, tuple[CompiledInvariant, ...]] = {}
        for at in pol.actions:
            self._inv_by_action[at] = tuple(inv for inv in self.invariants if inv.applies_to(at))
        # one lookup per step: (arg spec, needs reason_code, handler, invariants, arg names)
        self._plan = {
            at: (
                spec["args"],
                spec["needs_reason_code"],
                HANDLERS[at],
                tuple(
                    (
                        inv.handler,
                        inv.params,
                        inv,
                        getattr(inv.handler, "labtrust_due_attr", None),
                        getattr(inv.handler, "labtrust_guard_attr", None),
                    )
                    for inv in self._inv_by_action[at]
                ),
                frozenset(name for name, _t, _r in spec["args"]),
            )
            for at, spec in pol.actions.items()
        }

        # chain
        self._head = GENESIS_HASH
        self._head_b = GENESIS_HASH.encode()
        self._length = 0
        # The log lives in GC-invisible flat buffers: hashed records back to back, their end
        # offsets and their hex hashes (64 bytes each); lines are built on output.
        self._log_buf = bytearray()
        self._log_ends = array("Q")
        self._log_hashes = bytearray()
        self.chain_frozen = False
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        if self._log_path:
            self._stream = LogStream(self._log_path, self._log_fsync)
        self.stats: dict[str, Any] = {
            "blocked": 0,
            "blocked_by_reason": {},
            "violations_by_invariant": {},
        }
        self.n_accepted = 0
        self.violation_log: list[dict[str, Any]] = []
        # per-step context read by invariant handlers
        self.ctx_agent: AgentRec | None = None
        self.ctx_prev_zone: str | None = None
        self.ctx_consumed: list[str] = []
        self.ctx_started: list[str] = []
        self.ctx_overrides: set[str] = set()
        self._ready = True
        if self.now_s > 0 or self.timeline:
            self.advance_to(self.now_s)
        return self.chain_head()

    # ------------------------------------------------------------------ time
    def advance_to(self, t_s: float) -> None:
        """Move the clock to ``t_s`` processing every clock effect due by then (see docs)."""
        if t_s < self.now_s:
            raise InvalidInputError(
                f"advance_to({t_s}) is earlier than the engine clock {self.now_s}."
            )
        clock.advance(self, float(t_s))

    def drain_system_emits(self) -> list[dict[str, Any]]:
        out = self.system_emits
        self.system_emits = []
        return out

    # ------------------------------------------------------------------ step
    def _blocked(self, ev: Any, code: str) -> dict[str, Any]:
        st = self.stats
        st["blocked"] += 1
        br = st["blocked_by_reason"]
        br[code] = br.get(code, 0) + 1
        h = self._head
        return {
            "event_id": ev.get("event_id") if type(ev) is dict else None,
            "status": "BLOCKED",
            "emits": [],
            "violations": [],
            "blocked_reason_code": code,
            "token_consumed": [],
            "hashchain": {
                "head_hash": h,
                "length": self._length,
                "last_event_hash": h if self._length else None,
            },
        }

    def _accepted_noop(self, eid: str | None) -> dict[str, Any]:
        """NOOP passes the gate and is answered ACCEPTED without touching the chain."""
        self.n_accepted += 1
        h = self._head
        length = self._length
        return {
            "event_id": eid,
            "status": "ACCEPTED",
            "emits": [],
            "violations": [],
            "blocked_reason_code": None,
            "token_consumed": [],
            "hashchain": {
                "head_hash": h,
                "length": length,
                "last_event_hash": h if length else None,
            },
        }

    def step(self, ev: dict[str, Any]) -> dict[str, Any]:
        """Validate and apply one event; never raises for bad input (see docs/engine.md).

        The pipeline: parse → clock → gate (:func:`rules.gate`) → argument types → the
        handler (its pure check, then the mutation) → invariants → chain append. Every stage
        before the mutation either passes the event on or answers BLOCKED with its reason code,
        so a BLOCKED event changes nothing (the clock excepted: time passing is not the event's).
        """
        if self.chain_frozen or not self._ready:
            if not self._ready:
                raise InvalidInputError("HospitalLabEngine.step() called before reset().")
            return self._blocked(ev, "CHAIN.BROKEN")
        parsed = parse_event(ev)
        if parsed.__class__ is str:
            return self._blocked(ev, parsed)
        t, agent_id, at, args, eid, rc, basic = parsed
        now = self.now_s
        if t != now:
            if t < now:
                return self._blocked(ev, "TIME.NON_MONOTONIC")
            clock.advance(self, float(t))
            now = self.now_s
        plan = self._plan.get(at)
        if plan is None:
            return self._blocked(ev, "EVENT.UNKNOWN_ACTION")
        agent = self.agents.get(agent_id)
        if agent is None:
            return self._blocked(ev, "EVENT.UNKNOWN_AGENT")
        code = gate(self, agent, at, ev, now)
        if code is not None:
            return self._blocked(ev, code)
        if at == "NOOP":
            return self._accepted_noop(eid)
        ev_bytes = check_args(ev, args, plan, rc, eid, basic)
        if ev_bytes.__class__ is str:
            return self._blocked(ev, ev_bytes)
        handler = plan[2]
        invs = plan[3]
        self.ctx_agent = agent
        self.ctx_prev_zone = agent.zone_id
        out = handler(self, agent, args, ev)
        if out.__class__ is str:
            return self._blocked(ev, out)
        emits, consumed = out
        violations = self._invariants(invs, ev, agent, emits, consumed, now) if invs else []
        return self._append(ev, ev_bytes, eid, emits, consumed, violations, now)  # type: ignore[arg-type]

    def check(self, ev: dict[str, Any], *, verify_signature: bool = True) -> str | None:
        """Would ``ev`` be accepted now? The reason code it would be BLOCKED with, else None.

        A dry run of :meth:`step`'s stages up to the handler's check: nothing is mutated and the
        clock does not move (an event later than the clock is judged at the current time; an
        earlier one is ``TIME.NON_MONOTONIC``); invariants, which judge what an accepted event
        did, are not run. Coordination methods and language-model agents use it to test an
        action before proposing it. ``verify_signature=False`` skips the signature check of
        strict labs (for a caller that signs what it sends, like the env).
        """
        if not self._ready:
            raise InvalidInputError("HospitalLabEngine.check() called before reset().")
        if self.chain_frozen:
            return "CHAIN.BROKEN"
        parsed = parse_event(ev)
        if parsed.__class__ is str:
            return parsed
        t, agent_id, at, args, eid, rc, basic = parsed
        if t < self.now_s:
            return "TIME.NON_MONOTONIC"
        plan = self._plan.get(at)
        if plan is None:
            return "EVENT.UNKNOWN_ACTION"
        agent = self.agents.get(agent_id)
        if agent is None:
            return "EVENT.UNKNOWN_AGENT"
        code = gate(self, agent, at, ev if verify_signature else None, self.now_s)
        if code is not None or at == "NOOP":
            return code
        ev_bytes = check_args(ev, args, plan, rc, eid, basic)
        if ev_bytes.__class__ is str:
            return ev_bytes
        out = CHECKS[at](self, agent, args, ev)
        return out if out.__class__ is str else None

    def _invariants(
        self,
        invs: tuple[Any, ...],
        ev: dict[str, Any],
        agent: AgentRec,
        emits: list[str],
        consumed: list[str],
        now: float,
    ) -> list[dict[str, Any]]:
        """Run the invariants in the accepted event's scope; returns its violation entries."""
        violations: list[dict[str, Any]] = []
        self.ctx_consumed = consumed
        d = self.__dict__
        skippable = not self.report_passing
        for check, params, inv, due_attr, guard_attr in invs:
            # built-ins that would PASS/not apply are not called (see builtin_invariants)
            if due_attr is not None:
                due = d[due_attr]
                if due is not None and now <= due and skippable:
                    continue
            elif guard_attr is not None and not d[guard_attr] and skippable:
                continue
            try:  # a handler is plugin code: its failure is a violation, not a crash mid-step
                r = check(self, ev, params)
                if r is None:
                    continue
                passed = bool(r[0])
            except Exception as exc:
                r = (False, "INV.HANDLER_ERROR", {"error": f"{type(exc).__name__}: {exc}"})
                passed = False
            if passed:
                if self.report_passing:
                    violations.append(
                        {"invariant_id": inv.invariant_id, "status": "PASS", "reason_code": None}
                    )
                continue
            self._violation(inv, r, agent, emits, violations)
        if self.ctx_started:
            self.ctx_started = []
            self.ctx_overrides = set()
        return violations

    def _append(
        self,
        ev: dict[str, Any],
        ev_bytes: bytes | None,
        eid: str | None,
        emits: list[str],
        consumed: list[str],
        violations: list[dict[str, Any]],
        now: float,
    ) -> dict[str, Any]:
        """Hash the accepted event's record onto the chain, log it and answer ACCEPTED."""
        length = self._length + 1
        outcome = {
            "emits": emits,
            "seq": length,
            "t_s": now,
            "token_consumed": consumed,
            "violations": violations,
        }
        if ev_bytes is None:
            rec = _dumps({"event": ev, "outcome": outcome, "prev_hash": self._head}, option=_SORT)
        else:
            rec = (
                b'{"event":'
                + ev_bytes
                + b',"outcome":'
                + _dumps(outcome, option=_SORT)
                + b',"prev_hash":"'
                + self._head_b
                + b'"}'
            )
        h = _sha256(rec).hexdigest()
        self._length = length
        self._head = h
        self._head_b = hb = h.encode()
        if self.record_log:
            self._log_buf += rec
            self._log_ends.append(len(self._log_buf))
            self._log_hashes += hb
        if self._stream is not None:
            self._stream.write(line_bytes(h, rec))
        self.n_accepted += 1
        return {
            "event_id": eid,
            "status": "ACCEPTED",
            "emits": emits,
            "violations": violations,
            "blocked_reason_code": None,
            "token_consumed": consumed,
            "hashchain": {"head_hash": h, "length": length, "last_event_hash": h},
        }

    def _violation(
        self,
        inv: CompiledInvariant,
        r: Any,
        agent: AgentRec,
        emits: list[str],
        violations: list[dict[str, Any]],
    ) -> None:
        # a handler's own code is used when it is a registered one (plugins may return anything)
        code = r[1] if len(r) > 1 else None
        details = r[2] if len(r) > 2 and isinstance(r[2], dict) else None
        if type(code) is not str or code not in self.policy.reason_codes:
            if code is not None:
                details = {**(details or {}), "unregistered_reason_code": str(code)}
            code = inv.reason_code
        violations.append(
            {"invariant_id": inv.invariant_id, "status": "VIOLATION", "reason_code": code}
        )
        vb = self.stats["violations_by_invariant"]
        vb[inv.invariant_id] = vb.get(inv.invariant_id, 0) + 1
        # Who caused it: the acting agent, unless the handler names another agent (a door left
        # open by whoever opened it) or nobody in particular (an overdue escalation: None).
        responsible: str | None = agent.agent_id
        if details is not None and "responsible_agent_id" in details:
            named = details["responsible_agent_id"]
            responsible = named if named in self.agents else None
        self.violation_log.append(
            {
                "t_s": self.now_s,
                "invariant_id": inv.invariant_id,
                "reason_code": code,
                "agent_id": agent.agent_id,
                "responsible_agent_id": responsible,
                "details": details,
            }
        )
        if inv.enforcement is not None:
            target = self.agents[responsible] if responsible is not None else agent
            actions_trust.apply_enforcement(self, target, inv.enforcement)
            emits.append("ENFORCEMENT_APPLIED")

    def step_batch(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Same as ``[self.step(e) for e in events]``."""
        step = self.step
        return [step(e) for e in events]

    # ------------------------------------------------------------------ chain & log
    def chain_head(self) -> dict[str, Any]:
        return {
            "head_hash": self._head,
            "length": self._length,
            "last_event_hash": self._head if self._length else None,
        }

    def episode_log_lines(self) -> list[bytes]:
        """The episode log as JSONL lines (bytes, no newline)."""
        if not self.record_log:
            raise InvalidInputError(
                "The episode log was not recorded (engine config record_log=False)."
            )
        buf, hashes = self._log_buf, self._log_hashes
        out = []
        start = 0
        for i, end in enumerate(self._log_ends):
            h = hashes[64 * i : 64 * i + 64]
            out.append(b'{"hash":"' + h + b'","record":' + buf[start:end] + b"}")
            start = end
        return [bytes(line) for line in out]

    def write_episode_log(self, path: str | Path) -> Path:
        """Write the episode log atomically as JSONL."""
        from labtrust_gym.fileio import atomic_write_bytes

        lines = self.episode_log_lines()
        return atomic_write_bytes(path, b"".join(ln + b"\n" for ln in lines))

    def audit_chain(self) -> bool:
        """Recompute the in-memory chain; on a mismatch freeze the log. Returns True if intact."""
        try:
            res = verify_chain(self.episode_log_lines())
            ok = res["head_hash"] == self._head and res["length"] == self._length
        except ChainIntegrityError:
            ok = False
        if not ok:
            self.chain_frozen = True
        return ok

    def corrupt_log_line_for_test(self, index: int) -> None:
        """Flip one byte of an in-memory log line (golden scenarios / security tests only)."""
        pos = self._log_ends[index] - 70  # inside the record, within prev_hash
        self._log_buf[pos] = ord("x") if self._log_buf[pos] != ord("x") else ord("y")

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    # ------------------------------------------------------------------ queries & snapshots
    def query(self, expr: str) -> Any:
        from labtrust_gym.engine.queries import run_query

        return run_query(self, expr)

    def work_counts(self) -> tuple[int, ...]:
        """The lab's work queues as counts (``queries.WORK_COUNT_FIELDS`` order; fast view)."""
        from labtrust_gym.engine.queries import work_counts

        return work_counts(self)

    def snapshot(self) -> dict[str, Any]:
        """Every piece of simulation state (for tests: a BLOCKED step must leave it equal)."""
        return {
            "now_s": self.now_s,
            "agents": {k: v.as_dict() for k, v in self.agents.items()},
            "devices": {k: v.as_dict() for k, v in self.devices.items()},
            "specimens": {k: v.as_dict() for k, v in self.specimens.items()},
            "results": {k: v.as_dict() for k, v in self.results.items()},
            "tokens": {k: v.as_dict() for k, v in self.tokens.items()},
            "consignments": {k: v.as_dict() for k, v in self.consignments.items()},
            "doors_open": dict(self.doors_open),
            "door_opened_by": dict(self.door_opened_by),
            "door_overdue_reported": sorted(self.door_overdue_reported),
            "queue_seq": {k: v._qseq for k, v in self.devices.items()},
            "timeline_seq": self._tl_seq,
            "restricted_unauthorized": sorted(self.restricted_unauthorized),
            "frozen_zones": sorted(self.frozen_zones),
            "zone_occupancy": list(self.zone_occupancy),
            "edge_traffic": {k: list(v) for k, v in sorted(self.edge_traffic.items())},
            "edge_instant": self.edge_instant,
            "killed": self.killed,
            "chain": self.chain_head(),
            "log_len": len(self._log_ends),
            "chain_frozen": self.chain_frozen,
            "released": list(self.released),
            "stage_counts": dict(self.stage_counts),
            "timeline": list(self.timeline),
            "views": {
                n: getattr(self, n).tolist()
                for n in (
                    "agent_zone",
                    "agent_throttled_until",
                    "device_queue_len",
                    "device_busy",
                    "device_busy_until",
                    "device_fault",
                    "device_qc_fail",
                    "device_reagent",
                    "zone_frozen",
                    "door_open",
                    "work_by_device_type",
                )
            },
            "counters": [
                self.n_released,
                self.n_critical_pending,
                self.n_results_awaiting_release,
                self._token_seq,
                self._consignment_seq,
            ],
            "ready": {t: sorted(d) for t, d in self._ready_by_type.items()},
            "by_status": {k: sorted(v) for k, v in self.by_status.items()},
            "results_by_status": {k: sorted(v) for k, v in self.results_by_status.items()},
            "rng": self.rng.getstate(),
            "fault_rng": self.fault_rng.getstate(),
            "service_rng": self.service_rng.getstate(),
        }

    # ------------------------------------------------------------------ helpers for handlers
    def drop_critical_pending(self, result_id: str) -> None:
        """A critical result no longer awaits acknowledgement (acked or invalidated)."""
        if self.crit_pending.pop(result_id, None) is not None:
            self.n_critical_pending -= 1
            self.crit_due = None

    def set_status(self, s: SpecimenRec, new: str) -> None:
        sc = self.stage_counts
        sc[s.status] -= 1
        sc[new] += 1
        bs = self.by_status
        del bs[s.status][s.specimen_id]
        bs[new][s.specimen_id] = s
        s.status = new

    def add_specimen(self, s: SpecimenRec) -> None:
        s._seq = len(self.specimens)
        self.specimens[s.specimen_id] = s
        self.stage_counts[s.status] += 1
        self.by_status[s.status][s.specimen_id] = s

    def add_result(self, r: ResultRec) -> None:
        r._seq = len(self.results)
        self.results[r.result_id] = r
        self.results_by_status[r.status][r.result_id] = r

    def set_result_status(self, r: ResultRec, new: str) -> None:
        rs = self.results_by_status
        del rs[r.status][r.result_id]
        rs[new][r.result_id] = r
        r.status = new

    def mark_ready(self, s: SpecimenRec) -> None:
        t = s.route[s.step]
        self._ready_by_type[t][s.specimen_id] = s
        self.work_by_device_type[self.device_type_index[t]] += 1

    def unmark_ready(self, s: SpecimenRec, device_type: str) -> None:
        del self._ready_by_type[device_type][s.specimen_id]
        self.work_by_device_type[self.device_type_index[device_type]] -= 1

    def ready_specimens(self, device_type: str) -> list[str]:
        """Specimens ready to queue on ``device_type`` (accepted/staged, next step of that type),
        in service order: STAT > URGENT > ROUTINE, then arrival time, then id."""
        ready = self._ready_by_type.get(device_type)
        if ready is None:
            raise InvalidInputError(
                f"Unknown device type {device_type!r}; known: {self.device_type_ids}."
            )
        if not ready:
            return []
        rank = PRIORITY_RANK
        return [
            s.specimen_id
            for s in sorted(
                ready.values(), key=lambda s: (rank[s.priority], s.arrival_t_s, s.specimen_id)
            )
        ]

    def push_timeline(self, t: float, kind: str, payload: Any) -> None:
        self._tl_seq += 1
        heapq.heappush(self.timeline, (t, self._tl_seq, kind, payload))


def create_engine(
    workflow_spec: Any = None, config: dict[str, Any] | None = None
) -> HospitalLabEngine:
    """The ``hospital_lab`` domain factory."""
    return HospitalLabEngine(workflow_spec, config)
