"""The engine's simulation state as data: the snapshot tests compare, and the rollback point
that undoes a clock advance when the event that needed it is refused (docs/engine.md, "How time
advances")."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from labtrust_gym.engine.core import HospitalLabEngine

#: engine attributes that are not simulation state, or that clock effects never change: not
#: copied into a rollback point
_NOT_ROLLED_BACK = frozenset(
    (
        "workflow_spec",
        "config",
        "policy_root",
        "record_log",
        "report_passing",
        "_overlays",
        "_log_path",
        "_log_fsync",
        "_ready",
        "chain_frozen",
        "policy",
        "initial_state",
        "deterministic",
        "strict",
        "timing_simulated",
        "critical_rate",
        "zone_ids",
        "zone_index",
        "door_ids",
        "door_index",
        "zone_restricted",
        "zone_adjacency",
        "next_hop_table",
        "role_ids",
        "agent_ids",
        "agent_index",
        "agent_role",
        "device_type_ids",
        "device_type_index",
        "device_ids",
        "device_index",
        "device_zone",
        "device_type",
        "keyring",
        "auth",
        "invariants",
        "_inv_by_action",
        "_plan",
        "audit",
        "stats",
        "violation_log",
        "ctx_agent",
        "ctx_prev_zone",
        "ctx_consumed",
        "ctx_started",
        "ctx_overrides",
        "lab_site_id",
        "_secret",
        "_seed",
        "limits",
    )
)


def rollback_point(eng: HospitalLabEngine) -> dict[str, Any]:
    """A deep copy of the state clock effects can change (taken only when an event ahead of
    the clock has effects due before it; policy-owned objects are shared, not copied)."""
    memo: dict[int, Any] = {id(eng.policy): eng.policy}
    for rp in eng.policy.roles.values():
        memo[id(rp)] = rp
    for dev in eng.devices.values():
        memo[id(dev._spec)] = dev._spec
    d = eng.__dict__
    return copy.deepcopy({k: v for k, v in d.items() if k not in _NOT_ROLLED_BACK}, memo)


def roll_back(eng: HospitalLabEngine, saved: dict[str, Any] | None, now: float) -> None:
    """Undo a clock advance (the event was refused). Containers are restored in place so
    views the env holds on them stay valid."""
    if saved is None:  # nothing was due: only the clock moved
        eng.now_s = now
        return
    d = eng.__dict__
    for k, v in saved.items():
        cur = d.get(k)
        if isinstance(cur, np.ndarray):
            cur[...] = v
        elif type(cur) is dict:
            cur.clear()
            cur.update(v)
        elif type(cur) is list:
            cur[:] = v
        elif type(cur) is set:
            cur.clear()
            cur.update(v)
        else:
            d[k] = v


def snapshot(eng: HospitalLabEngine) -> dict[str, Any]:
    """Every piece of simulation state, time and pending clock emits included (a BLOCKED step
    must leave it equal). The audit chain and authentication state are not in it (see
    ``HospitalLabEngine.audit_snapshot``)."""
    return {
        "now_s": eng.now_s,
        "agents": {k: v.as_dict() for k, v in eng.agents.items()},
        "devices": {k: v.as_dict() for k, v in eng.devices.items()},
        "specimens": {k: v.as_dict() for k, v in eng.specimens.items()},
        "results": {k: v.as_dict() for k, v in eng.results.items()},
        "tokens": {k: v.as_dict() for k, v in eng.tokens.items()},
        "consignments": {k: v.as_dict() for k, v in eng.consignments.items()},
        "doors_open": dict(eng.doors_open),
        "door_opened_by": dict(eng.door_opened_by),
        "zone_occupancy": list(eng.zone_occupancy),
        "edge_traffic": {k: list(v) for k, v in sorted(eng.edge_traffic.items())},
        "edge_instant": eng.edge_instant,
        "door_overdue_reported": sorted(eng.door_overdue_reported),
        "queue_seq": {k: v._qseq for k, v in eng.devices.items()},
        "timeline_seq": eng._tl_seq,
        "restricted_unauthorized": sorted(eng.restricted_unauthorized),
        "frozen_zones": sorted(eng.frozen_zones),
        "killed": eng.killed,
        "released": list(eng.released),
        "stage_counts": dict(eng.stage_counts),
        "timeline": list(eng.timeline),
        "system_emits": list(eng.system_emits),
        "views": {
            n: getattr(eng, n).tolist()
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
            eng.n_released,
            eng.n_critical_pending,
            eng.n_results_awaiting_release,
            eng._token_seq,
            eng._consignment_seq,
        ],
        "ready": {t: sorted(d) for t, d in eng._ready_by_type.items()},
        "by_status": {k: sorted(v) for k, v in eng.by_status.items()},
        "results_by_status": {k: sorted(v) for k, v in eng.results_by_status.items()},
        "rng": eng.rng.getstate(),
        "fault_rng": eng.fault_rng.getstate(),
        "service_rng": eng.service_rng.getstate(),
    }
