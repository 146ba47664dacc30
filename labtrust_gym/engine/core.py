"""``HospitalLabEngine``: reset, the step pipeline, the hash chain and the fast views.

The step pipeline validates everything before any handler mutates state, so a BLOCKED step
changes nothing. Policy is compiled once (cached per policy root); per reset the engine builds
records, numpy views and the per-action invariant index, then each step is a handful of dict
lookups, the action handler, the in-scope invariants and one SHA-256.
"""

from __future__ import annotations

import heapq
import hmac
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import labtrust_gym.engine.actions_lab as actions_lab
import labtrust_gym.engine.actions_trust as actions_trust
import labtrust_gym.engine.clock as clock
import labtrust_gym.engine.state as state
from labtrust_gym.engine.auditlog import AuditLog
from labtrust_gym.engine.hashchain import dumps_with_option, verify_chain
from labtrust_gym.engine.initial_state import validate_initial_state
from labtrust_gym.engine.invariants_runtime import (
    CompiledInvariant,
    compile_invariants,
    run_invariants,
)
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
from labtrust_gym.engine.validate import check_args, event_bytes, parse_event, refusal_summary
from labtrust_gym.errors import ChainIntegrityError, InvalidInputError, PolicyError

Handler = Callable[..., Any]
HANDLERS: dict[str, Handler] = {**actions_lab.HANDLERS, **actions_trust.HANDLERS}
#: Each handler's pure precondition part (see :meth:`HospitalLabEngine.check`).
CHECKS: dict[str, Handler] = {**actions_lab.CHECKS, **actions_trust.CHECKS}
_dumps, _SORT = dumps_with_option()
#: used when engine config ``secret`` is not set: runs stay reproducible, but anyone who knows the
#: seed can then derive token ids and session keys (set a secret of your own outside benchmarks)
DEFAULT_SECRET = b"labtrust-gym/engine-secret/v0.1"


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
        secret = cfg.get("secret")
        self._secret: bytes = (
            secret.encode("utf-8") if isinstance(secret, str) else bytes(secret or DEFAULT_SECRET)
        )
        self.audit: AuditLog | None = None
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
        self._seed = int(rng_seed)
        self.rng = random.Random(rng_seed)
        self.fault_rng = random.Random(rng_seed * 7919 + 17)
        self.now_s = float(st["start_t_s"])
        self.lab_site_id: str = st["lab_site_id"]
        self.strict = bool(st["strict_signatures"])
        lim = pol.engine
        self.limits = lim
        self._max_lead = float(lim["max_event_lead_s"])
        self._max_depth = int(lim["max_event_depth"])
        self._max_refusal = int(lim["max_refusal_record_bytes"])
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
            for override in ("queue_max", "service_time_s"):  # per-device settings
                if override in d:
                    spec = {**spec, override: d[override]}
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

        from labtrust_gym.engine.auth import Authenticator
        from labtrust_gym.engine.signing import KeyRing

        self.keyring = KeyRing([*pol.keys, *st["keys"]])
        sig = lim["signatures"]
        self.auth = Authenticator(
            self.keyring, st["signature_mode"], sig["session_ttl_s"], self._secret, self._seed
        )

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
        self.chain_frozen = False
        if self.audit is not None:
            self.audit.close()
        self.audit = AuditLog(self.record_log, self._log_path, self._log_fsync)
        self.stats: dict[str, Any] = {
            "blocked": 0,
            "blocked_by_reason": {},
            "violations_by_invariant": {},
            "random_faults_skipped": 0,
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
        """BLOCKED without a chain record: the chain is frozen (nothing more is recorded)."""
        self._count_blocked(code)
        return self._blocked_result(ev, code, self.chain_head())

    def _count_blocked(self, code: str) -> None:
        st = self.stats
        st["blocked"] += 1
        br = st["blocked_by_reason"]
        br[code] = br.get(code, 0) + 1

    @staticmethod
    def _blocked_result(ev: Any, code: str, head: dict[str, Any]) -> dict[str, Any]:
        return {
            "event_id": ev.get("event_id") if type(ev) is dict else None,
            "status": "BLOCKED",
            "emits": [],
            "violations": [],
            "blocked_reason_code": code,
            "token_consumed": [],
            "hashchain": head,
        }

    def _refuse(
        self, ev: Any, code: str, data: bytes | None, parsed: bool = True
    ) -> dict[str, Any]:
        """BLOCKED: count it and chain a refusal record — the event verbatim when it passed the
        first stage (``parsed``; ``data`` None = plain, not serialised yet) and the record stays
        within ``max_refusal_record_bytes``, else its digest and clean fields (docs/engine.md)."""
        self._count_blocked(code)
        audit = self.audit
        assert audit is not None
        outcome = {"blocked_reason_code": code, "seq": audit.length + 1, "t_s": self.now_s}
        rec = None
        if parsed:
            if data is None:  # plain: the whole record in one serialisation
                rec = _dumps(
                    {"outcome": outcome, "prev_hash": audit.head, "refused": {"event": ev}},
                    option=_SORT,
                )
            else:
                rec = (
                    b'{"outcome":'
                    + _dumps(outcome, option=_SORT)
                    + b',"prev_hash":"'
                    + audit.head_b
                    + b'","refused":{"event":'
                    + data
                    + b"}}"
                )
            if len(rec) > self._max_refusal:
                rec = None
                if data is None:
                    data = event_bytes(ev)
        if rec is None:
            summary = refusal_summary(ev, data if parsed else None)
            rec = _dumps(
                {"outcome": outcome, "prev_hash": audit.head, "refused": summary}, option=_SORT
            )
        h = audit.append(rec)
        return self._blocked_result(
            ev, code, {"head_hash": h, "length": audit.length, "last_event_hash": h}
        )

    def _accepted_noop(self, eid: str | None) -> dict[str, Any]:
        """NOOP passes the gate and is answered ACCEPTED without touching the chain."""
        self.n_accepted += 1
        audit = self.audit
        h = audit.head  # type: ignore[union-attr]
        n = audit.length  # type: ignore[union-attr]
        return {
            "event_id": eid,
            "status": "ACCEPTED",
            "emits": [],
            "violations": [],
            "blocked_reason_code": None,
            "token_consumed": [],
            "hashchain": {"head_hash": h, "length": n, "last_event_hash": h if n else None},
        }

    def step(self, ev: dict[str, Any]) -> dict[str, Any]:
        """Validate and apply one event; never raises for bad input (see docs/engine.md).

        The pipeline: parse (every value, serialised once) → time bounds → gate
        (:func:`rules.gate`, judged at the event's time) → argument types → clock (only now, and
        undone if the handler refuses) → the handler (its pure check, then the mutation) →
        invariants → chain append. Every stage before the mutation either passes the event on or
        answers BLOCKED with its reason code and a refusal record: a BLOCKED event changes no
        simulation state and does not move time.
        """
        if self.chain_frozen or not self._ready:
            if not self._ready:
                raise InvalidInputError("HospitalLabEngine.step() called before reset().")
            return self._blocked(ev, "CHAIN.BROKEN")
        parsed = parse_event(ev, self._max_depth)
        if parsed.__class__ is str:
            return self._refuse(ev, parsed, None, False)
        t, agent_id, at, args, eid, rc, data = parsed
        now = self.now_s
        if t != now:
            if t < now:
                return self._refuse(ev, "TIME.NON_MONOTONIC", data)
            if t - now > self._max_lead:
                return self._refuse(ev, "TIME.TOO_FAR_AHEAD", data)
        plan = self._plan.get(at)
        if plan is None:
            return self._refuse(ev, "EVENT.UNKNOWN_ACTION", data)
        agent = self.agents.get(agent_id)
        if agent is None:
            return self._refuse(ev, "EVENT.UNKNOWN_AGENT", data)
        code = gate(self, agent, at, ev, t)
        if self.strict and at != "NOOP":  # authenticated, even if a later gate stage refused
            self.auth.commit(ev)
        if code is not None:
            return self._refuse(ev, code, data)
        if at == "NOOP":
            if t != now:
                clock.advance(self, float(t))
            return self._accepted_noop(eid)
        code = check_args(args, plan, rc)
        if code is not None:
            return self._refuse(ev, code, data)
        saved = None
        if t != now:  # every check that clock effects cannot change has passed: time moves
            tl = self.timeline
            if tl and tl[0][0] <= t:
                saved = self._rollback_point()
            clock.advance(self, float(t))
        self.ctx_agent = agent
        self.ctx_prev_zone = agent.zone_id
        out = plan[2](self, agent, args, ev)
        if out.__class__ is str:
            if t != now:
                self._roll_back(saved, now)
            return self._refuse(ev, out, data)
        emits, consumed = out
        invs = plan[3]
        violations = run_invariants(self, invs, ev, agent, emits, consumed, t) if invs else []
        return self._append(ev, data, eid, emits, consumed, violations, self.now_s)

    def _rollback_point(self) -> dict[str, Any]:
        return state.rollback_point(self)

    def _roll_back(self, saved: dict[str, Any] | None, now: float) -> None:
        state.roll_back(self, saved, now)

    def token_id(self, n: int) -> str:
        """The id of the ``n``-th token this episode mints: 128 bits from the engine secret and
        the seed — deterministic per seed and secret, not enumerable like a counter."""
        msg = b"token|%d|%d" % (self._seed, n)
        return "TOK-" + hmac.digest(self._secret, msg, "sha256")[:16].hex()

    def check(self, ev: dict[str, Any], *, verify_signature: bool = True) -> str | None:
        """Would ``ev`` be accepted now? The reason code it would be BLOCKED with, else None.

        A dry run of :meth:`step`'s stages up to the handler's check: nothing is mutated, nothing
        is recorded and the clock does not move (the gate judges the event at its own time, the
        handler's check at the current state; an earlier event is ``TIME.NON_MONOTONIC``);
        invariants, which judge what an accepted event did, are not run. Coordination methods
        and language-model agents use it to test an action before proposing it.
        ``verify_signature=False`` skips the signature check of strict labs (for a caller that
        signs what it sends, like the env).
        """
        if not self._ready:
            raise InvalidInputError("HospitalLabEngine.check() called before reset().")
        if self.chain_frozen:
            return "CHAIN.BROKEN"
        parsed = parse_event(ev, self._max_depth)
        if parsed.__class__ is str:
            return parsed
        t, agent_id, at, args, _eid, rc, _data = parsed
        if t < self.now_s:
            return "TIME.NON_MONOTONIC"
        if t - self.now_s > self._max_lead:
            return "TIME.TOO_FAR_AHEAD"
        plan = self._plan.get(at)
        if plan is None:
            return "EVENT.UNKNOWN_ACTION"
        agent = self.agents.get(agent_id)
        if agent is None:
            return "EVENT.UNKNOWN_AGENT"
        code = gate(self, agent, at, ev if verify_signature else None, t)
        if code is not None or at == "NOOP":
            return code
        code = check_args(args, plan, rc)
        if code is not None:
            return code
        out = CHECKS[at](self, agent, args, ev)
        return out if out.__class__ is str else None

    def _append(
        self,
        ev: dict[str, Any],
        data: bytes | None,
        eid: str | None,
        emits: list[str],
        consumed: list[str],
        violations: list[dict[str, Any]],
        now: float,
    ) -> dict[str, Any]:
        """Hash the accepted event's record onto the chain, log it and answer ACCEPTED."""
        audit = self.audit
        length = audit.length + 1  # type: ignore[union-attr]
        outcome = {
            "emits": emits,
            "seq": length,
            "t_s": now,
            "token_consumed": consumed,
            "violations": violations,
        }
        if data is None:  # the plain shape: the whole record in one serialisation
            rec = _dumps(
                {"event": ev, "outcome": outcome, "prev_hash": audit.head},  # type: ignore[union-attr]
                option=_SORT,
            )
        else:
            rec = (
                b'{"event":'
                + data
                + b',"outcome":'
                + _dumps(outcome, option=_SORT)
                + b',"prev_hash":"'
                + audit.head_b  # type: ignore[union-attr]
                + b'"}'
            )
        h = audit.append(rec)  # type: ignore[union-attr]
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

    def step_batch(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Same as ``[self.step(e) for e in events]``."""
        step = self.step
        return [step(e) for e in events]

    # ------------------------------------------------------------------ chain & log
    def chain_head(self) -> dict[str, Any]:
        audit = self.audit
        assert audit is not None
        h = audit.head
        return {
            "head_hash": h,
            "length": audit.length,
            "last_event_hash": h if audit.length else None,
        }

    def episode_log_lines(self) -> list[bytes]:
        """The episode log as JSONL lines (bytes, no newline)."""
        if not self.record_log:
            raise InvalidInputError(
                "The episode log was not recorded (engine config record_log=False)."
            )
        assert self.audit is not None
        return self.audit.lines()

    def write_episode_log(self, path: str | Path) -> Path:
        """Write the episode log atomically as JSONL."""
        from labtrust_gym.fileio import atomic_write_bytes

        lines = self.episode_log_lines()
        return atomic_write_bytes(path, b"".join(ln + b"\n" for ln in lines))

    def audit_chain(self) -> bool:
        """Recompute the in-memory chain; on a mismatch freeze the log. Returns True if intact."""
        try:
            res = verify_chain(self.episode_log_lines())
            head = self.chain_head()
            ok = res["head_hash"] == head["head_hash"] and res["length"] == head["length"]
        except ChainIntegrityError:
            ok = False
        if not ok:
            self.chain_frozen = True
        return ok

    def close_sessions(self) -> dict[str, Any] | None:
        """End every authentication session and disclose this epoch's engine session key in a
        chain record, so that ``verify-log`` can re-check every MAC of the epoch (call it at the
        end of an episode of a session-mode strict lab; a no-op returning None otherwise).
        Returns the disclosure."""
        if not self._ready:
            raise InvalidInputError("HospitalLabEngine.close_sessions() called before reset().")
        if not self.strict or self.auth.mode != "session" or self.chain_frozen:
            return None
        disclosed = self.auth.close_all()
        audit = self.audit
        assert audit is not None
        rec = (
            b'{"outcome":'
            + _dumps({"seq": audit.length + 1, "t_s": self.now_s}, option=_SORT)
            + b',"prev_hash":"'
            + audit.head_b
            + b'","sessions_closed":'
            + _dumps(disclosed, option=_SORT)
            + b"}"
        )
        audit.append(rec)
        return disclosed

    def append_decision(self, decision: dict[str, Any]) -> str | None:
        """Chain a ``decision`` record (shield verdicts, LLM calls: engine/decisions.py) at the
        current time; returns its hash (None once the chain is frozen: nothing more is recorded)."""
        from labtrust_gym.engine.decisions import decision_record

        if not self._ready or self.audit is None:
            raise InvalidInputError("HospitalLabEngine.append_decision() called before reset().")
        if self.chain_frozen:
            return None
        audit = self.audit
        return audit.append(decision_record(decision, audit.length + 1, self.now_s, audit.head_b))

    def corrupt_log_line_for_test(self, index: int) -> None:
        """Flip one byte of an in-memory log line (golden scenarios / security tests only)."""
        assert self.audit is not None
        self.audit.corrupt_for_test(index)

    def close(self) -> None:
        if self.audit is not None:
            self.audit.close()

    def domain_env(self, options: dict[str, Any] | None = None) -> Any:
        """The domain's env side for ``LabTrustParallelEnv`` (docs/domains.md)."""
        from labtrust_gym.engine.domain_env.hospital import HospitalDomainEnv

        return HospitalDomainEnv(self, options or {})

    # ------------------------------------------------------------------ queries & snapshots
    def query(self, expr: str) -> Any:
        from labtrust_gym.engine.queries import run_query

        return run_query(self, expr)

    def work_counts(self) -> tuple[int, ...]:
        """The lab's work queues as counts (``queries.WORK_COUNT_FIELDS`` order; fast view)."""
        from labtrust_gym.engine.queries import work_counts

        return work_counts(self)

    def audit_snapshot(self) -> dict[str, Any]:
        """The audit state beside the simulation: chain head, whether the log is frozen, and
        the authentication state (sequence numbers, sessions). A BLOCKED step changes it (its
        refusal record; an authenticated event's sequence number) but not :meth:`snapshot`."""
        return {
            "chain": self.chain_head(),
            "chain_frozen": self.chain_frozen,
            "auth": self.auth.state(),
        }

    def snapshot(self) -> dict[str, Any]:
        """Every piece of simulation state, time included (for tests: a BLOCKED step must leave
        it equal). The audit chain and authentication state are :meth:`audit_snapshot`."""
        return state.snapshot(self)

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
