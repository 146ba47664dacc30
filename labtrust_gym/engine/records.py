"""Mutable records the engine keeps per agent, device, specimen, result, token and consignment.

Plain ``__slots__`` classes: attribute access on the hot path is as cheap as Python allows, and
``as_dict`` gives the JSON-friendly view used by queries and state snapshots.
"""

from __future__ import annotations

from typing import Any

from labtrust_gym.engine.policy import RolePolicy

PRIORITY_RANK = {"STAT": 0, "URGENT": 1, "ROUTINE": 2}


class _Record:
    __slots__: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.__slots__:
            if name.startswith("_"):
                continue
            value = getattr(self, name)
            if isinstance(value, set | frozenset):
                value = sorted(value)
            elif isinstance(value, list):
                value = list(value)
            elif isinstance(value, dict):
                value = dict(value)
            out[name] = value
        return out


class AgentRec(_Record):
    __slots__ = (
        "_policy",
        "agent_id",
        "authorized_zones",
        "idx",
        "role",
        "throttled_until",
        "zone_id",
    )

    def __init__(
        self, agent_id: str, idx: int, role: str | None, policy: RolePolicy | None, zone_id: str
    ) -> None:
        self.agent_id = agent_id
        self.idx = idx
        self.role = role
        self._policy = policy
        self.zone_id = zone_id
        self.throttled_until = float("-inf")
        self.authorized_zones: set[str] = set()


class DeviceRec(_Record):
    __slots__ = (
        "_qseq",
        "_spec",
        "busy_until",
        "device_id",
        "device_type",
        "fault",
        "fault_until",
        "idx",
        "maintenance",
        "qc_state",
        "queue",
        "reagent",
        "run_id",
        "running",
        "zone_id",
    )

    def __init__(
        self,
        device_id: str,
        idx: int,
        device_type: str,
        zone_id: str,
        spec: dict[str, Any],
        reagent: int | None,
        qc_state: str,
    ) -> None:
        self.device_id = device_id
        self.idx = idx
        self.device_type = device_type
        self.zone_id = zone_id
        self._spec = spec
        self.queue: list[tuple[int, float, int, str]] = []  # heap of (rank, queued_t, seq, sid)
        self.running: list[str] = []
        self.busy_until: float | None = None
        self.run_id = 0
        self.fault = False
        self.fault_until: float | None = None
        self.maintenance = False
        self.qc_state = qc_state
        self.reagent = reagent
        self._qseq = 0


class SpecimenRec(_Record):
    __slots__ = (
        "_seq",
        "arrival_t_s",
        "collected_t_s",
        "container",
        "device_id",
        "excursion",
        "fill_ratio",
        "force_critical",
        "handled_by",
        "hold_reason",
        "label_patient_id",
        "leak",
        "panel",
        "patient_id",
        "priority",
        "reruns",
        "result_id",
        "route",
        "site_id",
        "specimen_id",
        "status",
        "step",
    )

    def __init__(
        self, a: dict[str, Any], route: tuple[str, ...], site_id: str, container: str
    ) -> None:
        self.specimen_id: str = a["specimen_id"]
        self.priority: str = a["priority"]
        self.panel: str = a["panel"]
        self.route = route
        self.step = 0
        self.status = "arrived"
        self.arrival_t_s = float(a["t_s"])
        self.collected_t_s = float(a.get("collected_t_s", a["t_s"]))
        self.site_id = site_id
        self.patient_id: str = a["patient_id"]
        self.label_patient_id: str = a.get("label_patient_id", a["patient_id"])
        self.leak = bool(a.get("leak", False))
        self.fill_ratio = float(a.get("fill_ratio", 1.0))
        self.force_critical = bool(a.get("force_critical", False))
        self.excursion = False
        self.container = container
        self.result_id: str | None = None
        self.device_id: str | None = None
        self.hold_reason: str | None = None
        self.handled_by: list[str] = []  # agent of each accepted step that moved it along
        self.reruns = 0
        self._seq = 0  # arrival order (set by the engine)


class ResultRec(_Record):
    __slots__ = (
        "_seq",
        "ack_t_s",
        "acked",
        "critical",
        "critical_analytes",
        "device_id",
        "generated_t_s",
        "overdue_reported",
        "readback",
        "release_t_s",
        "result_id",
        "specimen_id",
        "status",
        "tier",
        "tier_t_s",
        "values",
    )

    def __init__(
        self,
        result_id: str,
        specimen_id: str,
        device_id: str,
        values: dict[str, float],
        critical_analytes: list[str],
        readback: str,
        t: float,
    ) -> None:
        self.result_id = result_id
        self.specimen_id = specimen_id
        self.device_id = device_id
        self.values = values
        self.critical = bool(critical_analytes)
        self.critical_analytes = critical_analytes
        self.readback = readback
        self.status = "generated"
        self.generated_t_s = t
        self.tier = 0
        self.tier_t_s: float | None = None
        self.acked = False
        self.ack_t_s: float | None = None
        self.release_t_s: float | None = None
        self.overdue_reported: set[int] = set()
        self._seq = 0  # generation order (set by the engine)


class TokenRec(_Record):
    __slots__ = (
        "approvals",
        "expires_t_s",
        "holder_agent_id",
        "minted_by",
        "scope",
        "status",
        "token_id",
        "token_type",
        "uses",
    )

    def __init__(
        self,
        token_id: str,
        token_type: str,
        scope: dict[str, Any],
        holder: str | None,
        minted_by: str | None,
    ) -> None:
        self.token_id = token_id
        self.token_type = token_type
        self.scope = scope
        self.holder_agent_id = holder
        self.minted_by = minted_by
        self.approvals: list[str] = []
        self.status = "pending"
        self.expires_t_s: float | None = None
        self.uses = 0


class ConsignmentRec(_Record):
    __slots__ = (
        "arrive_t_s",
        "consignment_id",
        "dispatch_t_s",
        "excursion",
        "route_id",
        "signed_by",
        "specimen_ids",
        "status",
    )

    def __init__(self, consignment_id: str, route_id: str, specimen_ids: list[str]) -> None:
        self.consignment_id = consignment_id
        self.route_id = route_id
        self.specimen_ids = specimen_ids
        self.status = "created"
        self.signed_by: str | None = None
        self.dispatch_t_s: float | None = None
        self.arrive_t_s: float | None = None
        self.excursion = False
