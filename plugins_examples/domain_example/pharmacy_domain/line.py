"""``PharmacyLine``: a pharmacy compounding line, the adapter of the ``pharmacy`` domain.

Orders arrive; a pharmacist verifies each against the formulary's dose limit (or rejects it);
a technician compounds it on a laminar-flow hood; a *second* pharmacist checks the product and
releases it. Trust rules, checked before anything changes (a refused event changes nothing):

* role-based access: pharmacists verify, reject and check; technicians compound;
* two-person check: the pharmacist who verified an order may not check it
  (``PHARM.SAME_PHARMACIST``);
* a dose above the formulary limit cannot be verified (``PHARM.DOSE_LIMIT``), only rejected.

Invariant, evaluated after every accepted event: ``INV-PHARM-BUD`` — a compounded product must
be checked within its beyond-use time; an overdue one is reported once (``PHARM.BEYOND_USE``).
Every accepted event (NOOP aside) is appended to a SHA-256 hash chain.

It implements the seed's adapter contract — ``reset``, ``step``, ``step_batch``, ``query`` —
plus ``check`` (a dry run of ``step``: the masks use it), ``advance_to`` (the clock) and
``domain_env`` (its env side, :class:`pharmacy_domain.env.PharmacyEnv`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from labtrust_gym.errors import InvalidInputError

PRIORITY_RANK = {"STAT": 0, "ROUTINE": 1}
ROLE_ACTIONS = {
    "pharmacist": {"TICK", "VERIFY_ORDER", "REJECT_ORDER", "FINAL_CHECK"},
    "technician": {"TICK", "START_COMPOUNDING"},
}
GENESIS = "0" * 64
STATE_KEYS = ("agents", "hoods", "max_dose_mg", "beyond_use_s", "orders")


@dataclass
class Order:
    order_id: str
    arrival_s: float
    priority: str
    drug: str
    dose_mg: float
    status: str = "pending"  # -> arrived -> verified -> compounding -> compounded -> released
    verified_by: str | None = None
    compounded_by: str | None = None
    compounded_s: float | None = None
    released_s: float | None = None
    overdue_reported: bool = False

    def service_key(self) -> tuple[int, float, str]:
        return PRIORITY_RANK.get(self.priority, 9), self.arrival_s, self.order_id


@dataclass
class Hood:
    hood_id: str
    compound_s: float
    order_id: str | None = None
    busy_until: float = 0.0


@dataclass
class _Chain:
    head: str = GENESIS
    length: int = 0
    last: str | None = None
    log: list[str] = field(default_factory=list)

    def append(self, event: dict[str, Any]) -> None:
        record = json.dumps({"event": event, "prev_hash": self.head}, sort_keys=True)
        self.last = hashlib.sha256(record.encode()).hexdigest()
        self.head, self.length = self.last, self.length + 1
        self.log.append(record)

    def state(self) -> dict[str, Any]:
        return {"head_hash": self.head, "length": self.length, "last_event_hash": self.last}


class PharmacyLine:
    """The simulation and its trust rules (see the module docstring)."""

    def __init__(self, workflow_spec: Any = None, config: Any = None) -> None:
        self.now_s = 0.0

    # ------------------------------------------------------------------ the adapter contract
    def reset(
        self, initial_state: dict[str, Any] | None, *, deterministic: bool = True, rng_seed: int = 0
    ) -> dict[str, Any]:
        if initial_state is None:
            from pharmacy_domain.lab import build_line

            initial_state = build_line(rng_seed)
        st = initial_state
        missing = [k for k in STATE_KEYS if k not in st]
        if missing:
            raise InvalidInputError(
                f"Not a pharmacy line: the initial state lacks {', '.join(missing)} (is the "
                "task a pharmacy task? build one with pharmacy_domain.lab.build_line)."
            )
        self.now_s = float(st.get("start_t_s", 0))
        self.roles = {a["agent_id"]: a["role"] for a in st["agents"]}
        self.agent_ids = [a["agent_id"] for a in st["agents"]]
        self.hoods = {h["hood_id"]: Hood(h["hood_id"], float(h["compound_s"])) for h in st["hoods"]}
        self.max_dose = {str(k): float(v) for k, v in st["max_dose_mg"].items()}
        self.beyond_use_s = float(st["beyond_use_s"])
        self.orders = {
            o["order_id"]: Order(o["order_id"], float(o["t_s"]), o["priority"], o["drug"],
                                 float(o["dose_mg"]))
            for o in st["orders"]
        }
        self._pending = sorted(self.orders.values(), key=lambda o: (o.arrival_s, o.order_id))
        self.released: list[dict[str, Any]] = []
        self.chain = _Chain()
        self._emits: list[dict[str, Any]] = []
        self.advance_to(self.now_s)
        return self.chain.state()

    def step(self, event: dict[str, Any]) -> dict[str, Any]:
        reason = self.check(event)
        if reason is not None:
            return self._result(event, "BLOCKED", [], reason, [])
        at = event["action_type"]
        if at == "NOOP":
            return self._result(event, "ACCEPTED", [], None, [])
        t = float(event["t_s"])
        if t > self.now_s:
            self.advance_to(t)
        emits = getattr(self, "_do_" + at.lower())(event)
        self.chain.append(event)
        return self._result(event, "ACCEPTED", emits, None, self._invariants())

    def step_batch(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [self.step(e) for e in events]

    def query(self, expr: str) -> Any:
        name, _, arg = expr.partition("(")
        arg = arg.rstrip(")")
        if name == "order" and arg in self.orders:
            return dict(vars(self.orders[arg]))
        if name == "orders":
            return [o.order_id for o in self.orders.values() if arg in ("all", o.status)]
        if name == "released_orders":
            return [dict(r) for r in self.released]
        if name == "hood" and arg in self.hoods:
            return dict(vars(self.hoods[arg]))
        raise InvalidInputError(
            f"Unknown pharmacy query {expr!r}; known: order(ID), orders(STATUS|all), "
            "released_orders, hood(ID)."
        )

    # ------------------------------------------------------------------ rules (dry run)
    def check(self, event: dict[str, Any]) -> str | None:
        """Why ``event`` would be BLOCKED now (a reason code), or None: it would be accepted."""
        agent, at = event.get("agent_id"), event.get("action_type")
        t = event.get("t_s")
        if not isinstance(t, int | float) or not isinstance(at, str):
            return "EVENT.BAD_ARGS"
        if t < self.now_s:
            return "TIME.NON_MONOTONIC"
        if at == "NOOP":
            return None
        role = self.roles.get(str(agent))
        if role is None:
            return "RBAC.UNKNOWN_AGENT"
        if at not in ROLE_ACTIONS.get(role, ()):
            return "RBAC.ACTION_DENIED"
        if at == "TICK":
            return None
        args = event.get("args") or {}
        if not isinstance(args, dict):
            return "EVENT.BAD_ARGS"
        order = self.orders.get(str(args.get("order_id")))
        if order is None:
            return "EVENT.BAD_ARGS"
        return getattr(self, "_rule_" + at.lower())(str(agent), order, args, event)

    def _rule_verify_order(self, agent: str, o: Order, args: Any, ev: Any) -> str | None:
        if o.status != "arrived":
            return "PHARM.WRONG_STATUS"
        return "PHARM.DOSE_LIMIT" if self._over_limit(o) else None

    def _rule_reject_order(self, agent: str, o: Order, args: Any, ev: Any) -> str | None:
        if o.status != "arrived":
            return "PHARM.WRONG_STATUS"
        return None if self._over_limit(o) else "PHARM.NO_FINDING"

    def _rule_start_compounding(self, agent: str, o: Order, args: Any, ev: Any) -> str | None:
        hood = self.hoods.get(str(args.get("hood_id")))
        if hood is None:
            return "EVENT.BAD_ARGS"
        if hood.order_id is not None:
            return "PHARM.HOOD_BUSY"
        return None if o.status == "verified" else "PHARM.WRONG_STATUS"

    def _rule_final_check(self, agent: str, o: Order, args: Any, ev: Any) -> str | None:
        if o.status != "compounded":
            return "PHARM.WRONG_STATUS"
        return "PHARM.SAME_PHARMACIST" if o.verified_by == agent else None

    def _over_limit(self, o: Order) -> bool:
        return o.dose_mg > self.max_dose.get(o.drug, 0.0)

    # ------------------------------------------------------------------ effects
    def _do_tick(self, ev: dict[str, Any]) -> list[str]:
        return []

    def _do_verify_order(self, ev: dict[str, Any]) -> list[str]:
        o = self.orders[ev["args"]["order_id"]]
        o.status, o.verified_by = "verified", ev["agent_id"]
        return ["ORDER_VERIFIED"]

    def _do_reject_order(self, ev: dict[str, Any]) -> list[str]:
        self.orders[ev["args"]["order_id"]].status = "rejected"
        return ["ORDER_REJECTED"]

    def _do_start_compounding(self, ev: dict[str, Any]) -> list[str]:
        o, hood = self.orders[ev["args"]["order_id"]], self.hoods[ev["args"]["hood_id"]]
        o.status, o.compounded_by = "compounding", ev["agent_id"]
        hood.order_id, hood.busy_until = o.order_id, self.now_s + hood.compound_s
        return ["COMPOUNDING_STARTED"]

    def _do_final_check(self, ev: dict[str, Any]) -> list[str]:
        o = self.orders[ev["args"]["order_id"]]
        o.status, o.released_s = "released", self.now_s
        self.released.append(
            {
                "order_id": o.order_id,
                "priority": o.priority,
                "arrival_s": o.arrival_s,
                "released_s": o.released_s,
                "handled_by": [o.verified_by, o.compounded_by, ev["agent_id"]],
            }
        )
        return ["ORDER_RELEASED"]

    def _invariants(self) -> list[dict[str, Any]]:
        out = []
        for o in self.orders.values():
            if (
                o.status == "compounded"
                and not o.overdue_reported
                and self.now_s - float(o.compounded_s or 0.0) > self.beyond_use_s
            ):
                o.overdue_reported = True
                out.append(
                    {"invariant_id": "INV-PHARM-BUD", "status": "VIOLATION",
                     "reason_code": "PHARM.BEYOND_USE"}
                )
        return out

    # ------------------------------------------------------------------ the clock
    def advance_to(self, t: float) -> list[dict[str, Any]]:
        """Arrivals and finished compounding up to ``t``; returns the clock effects so far."""
        while self._pending and self._pending[0].arrival_s <= t:
            o = self._pending.pop(0)
            o.status = "arrived"
            self._emits.append({"t_s": o.arrival_s, "emit": "ORDER_ARRIVED", "id": o.order_id})
        for hood in self.hoods.values():
            if hood.order_id is not None and hood.busy_until <= t:
                o = self.orders[hood.order_id]
                o.status, o.compounded_s = "compounded", hood.busy_until
                hood.order_id = None
                self._emits.append(
                    {"t_s": hood.busy_until, "emit": "ORDER_COMPOUNDED", "id": o.order_id}
                )
        self.now_s = max(self.now_s, float(t))
        emits, self._emits = self._emits, []
        return emits

    def in_status(self, status: str) -> list[Order]:
        """Orders of ``status`` in service order (STAT first, then arrival, then id)."""
        return sorted((o for o in self.orders.values() if o.status == status),
                      key=Order.service_key)

    def domain_env(self, options: dict[str, Any]) -> Any:
        from pharmacy_domain.env import PharmacyEnv

        return PharmacyEnv(self, options)

    def _result(
        self, ev: dict[str, Any], status: str, emits: list[str], reason: str | None,
        violations: list[dict[str, Any]],
    ) -> dict[str, Any]:
        return {
            "event_id": ev.get("event_id"),
            "status": status,
            "emits": emits,
            "violations": violations,
            "blocked_reason_code": reason,
            "token_consumed": [],
            "hashchain": self.chain.state(),
        }


def pharmacy_factory(workflow_spec: Any = None, config: Any = None) -> PharmacyLine:
    """The ``pharmacy`` domain's factory: ``factory(workflow_spec, config) -> adapter``."""
    return PharmacyLine(workflow_spec, config)
