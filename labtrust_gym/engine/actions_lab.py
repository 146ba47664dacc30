"""Handlers for the specimen workflow: accessioning, acceptance, device queues and runs, QC,
results, critical-result notification and release.

A handler is ``(engine, agent, args, event) -> reason_code | (emits, token_consumed)``; all checks
come before the first mutation.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING, Any

from labtrust_gym.engine.actions_trust import check_token, consume
from labtrust_gym.engine.clock import RUN_DONE, enqueue
from labtrust_gym.engine.records import AgentRec, DeviceRec, SpecimenRec

if TYPE_CHECKING:
    from labtrust_gym.engine.core import HospitalLabEngine

Out = str | tuple[list[str], list[str]]


def acceptance_failure(eng: HospitalLabEngine, s: SpecimenRec) -> str | None:
    """The reason code an acceptance rule fails with, in rule order, or None."""
    if s.label_patient_id != s.patient_id:
        return "SPEC.ID_MISMATCH"
    if s.leak:
        return "SPEC.LEAK"
    if s.excursion:
        return "SPEC.TEMP_EXCURSION"
    min_fill = eng.policy.panels[s.panel].get("min_fill_ratio")
    if min_fill is not None and s.fill_ratio < min_fill:
        return "SPEC.CITRATE_UNDERFILL"
    return None


def _specimen(eng: HospitalLabEngine, args: dict[str, Any]) -> SpecimenRec | str:
    s = eng.specimens.get(args["specimen_id"])
    if s is None:
        return "SPEC.UNKNOWN"
    return s


def create_accession(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    s = _specimen(eng, args)
    if s.__class__ is str:
        return s
    if s.site_id != eng.lab_site_id:  # type: ignore[union-attr]
        return "SPEC.WRONG_SITE"
    if s.status != "arrived":  # type: ignore[union-attr]
        return "SPEC.WRONG_STATUS"
    eng.set_status(s, "accessioned")  # type: ignore[arg-type]
    return ["SPECIMEN_ACCESSIONED"], []


def accept_specimen(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    s = _specimen(eng, args)
    if s.__class__ is str:
        return s
    sp: SpecimenRec = s  # type: ignore[assignment]
    if sp.status != "accessioned":
        return "SPEC.WRONG_STATUS"
    fail = acceptance_failure(eng, sp)
    if fail is not None:
        return fail
    eng.set_status(sp, "accepted")
    eng.mark_ready(sp)
    return ["SPECIMEN_ACCEPTED"], []


def _hold_or_reject(
    eng: HospitalLabEngine,
    args: dict[str, Any],
    ev: dict[str, Any],
    new: str,
    emit: str,
    from_status: tuple[str, ...],
) -> Out:
    s = _specimen(eng, args)
    if s.__class__ is str:
        return s
    sp: SpecimenRec = s  # type: ignore[assignment]
    if sp.status not in from_status:
        return "SPEC.WRONG_STATUS"
    expected = sp.hold_reason if sp.status == "held" else acceptance_failure(eng, sp)
    if expected is None or ev["reason_code"] != expected:
        return "SPEC.REASON_MISMATCH"
    sp.hold_reason = expected
    eng.set_status(sp, new)
    return [emit], []


def hold_specimen(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    return _hold_or_reject(eng, args, ev, "held", "SPECIMEN_HELD", ("accessioned",))


def reject_specimen(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    return _hold_or_reject(eng, args, ev, "rejected", "SPECIMEN_REJECTED", ("accessioned", "held"))


def _device(eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any]) -> DeviceRec | str:
    dev = eng.devices.get(args["device_id"])
    if dev is None:
        return "DEVICE.UNKNOWN"
    dts = agent._policy.device_types  # type: ignore[union-attr]
    if dts is not None and dev.device_type not in dts:
        return "RBAC.DEVICE_DENIED"
    if dev.zone_id != agent.zone_id:
        return "ZONE.NOT_COLOCATED"
    return dev


def queue_run(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    d = _device(eng, agent, args)
    if d.__class__ is str:
        return d
    dev: DeviceRec = d  # type: ignore[assignment]
    s = eng.specimens.get(args["specimen_id"])
    if s is None:
        return "SPEC.UNKNOWN"
    if s.status != "accepted" and s.status != "staged":
        return "SPEC.WRONG_STATUS"
    if s.route[s.step] != dev.device_type:
        return "DEVICE.WRONG_TYPE"
    if len(dev.queue) >= dev._spec["queue_max"]:
        return "DEVICE.QUEUE_FULL"
    s.device_id = dev.device_id
    enqueue(eng, dev, s.specimen_id)
    eng.unmark_ready(s, dev.device_type)
    return ["SPECIMEN_QUEUED"], []


def start_run(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    d = _device(eng, agent, args)
    if d.__class__ is str:
        return d
    dev: DeviceRec = d  # type: ignore[assignment]
    if dev.busy_until is not None:
        return "DEVICE.BUSY"
    if dev.fault:
        return "DEVICE.FAULT"
    if dev.maintenance:
        return "DEVICE.MAINTENANCE"
    if dev.qc_state == "fail" and dev._spec["qc_gated"]:
        return "QC.DEVICE_FAILED"
    if not dev.queue:
        return "DEVICE.QUEUE_EMPTY"
    if dev.reagent is not None and dev.reagent <= 0:
        return "DEVICE.REAGENT_OUT"
    cap = dev._spec["capacity"]
    batch = [dev.queue[0]] if cap == 1 else heapq.nsmallest(cap, dev.queue)
    now = eng.now_s
    stability = eng.policy.stability
    specs = eng.specimens
    overrides = []
    for entry in batch:
        s = specs[entry[3]]
        limit = stability.get(s.panel)
        if limit is not None and now - s.collected_t_s > limit:
            tok = check_token(
                eng, agent, ev, "STABILITY_OVERRIDE", s.specimen_id, "STABILITY.EXPIRED"
            )
            if tok.__class__ is str:
                return tok
            overrides.append(tok)
    # ---- mutate
    started = []
    for _ in batch:
        sid = heapq.heappop(dev.queue)[3]
        eng.set_status(specs[sid], "running")
        started.append(sid)
    dev.running = started
    dev.busy_until = now + service_time(eng, dev._spec)
    dev.run_id += 1
    if dev.reagent is not None:
        dev.reagent -= 1
        eng.device_reagent[dev.idx] = dev.reagent
    i = dev.idx
    eng.device_queue_len[i] = len(dev.queue)
    eng.device_busy[i] = 1
    eng.device_busy_until[i] = dev.busy_until
    eng.push_timeline(dev.busy_until, RUN_DONE, (dev.device_id, dev.run_id))
    eng.ctx_started = started
    consumed = []
    for tok in overrides:
        consume(tok)  # type: ignore[arg-type]
        consumed.append(tok.token_id)  # type: ignore[union-attr]
        eng.ctx_overrides.add(tok.scope["specimen_id"])  # type: ignore[union-attr]
    if consumed:
        return ["RUN_STARTED", "TOKEN_CONSUMED"], consumed
    return ["RUN_STARTED"], []


def run_qc(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    d = _device(eng, agent, args)
    if d.__class__ is str:
        return d
    dev: DeviceRec = d  # type: ignore[assignment]
    if not dev._spec["qc_gated"]:
        return "DEVICE.NOT_QC_GATED"
    dev.qc_state = "pass"
    eng.device_qc_fail[dev.idx] = 0
    invalidated = 0
    for r in sorted(eng.results_by_status["qc_hold"].values(), key=lambda r: r._seq):
        if r.device_id == dev.device_id:
            eng.set_result_status(r, "invalidated")
            eng.drop_critical_pending(r.result_id)
            s = eng.specimens[r.specimen_id]
            s.step -= 1
            s.reruns += 1
            s.result_id = None
            eng.set_status(s, "staged")
            eng.mark_ready(s)
            invalidated += 1
    if invalidated:
        return ["QC_PASSED", "RESULTS_INVALIDATED"], []
    return ["QC_PASSED"], []


def restock_reagent(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    d = _device(eng, agent, args)
    if d.__class__ is str:
        return d
    dev: DeviceRec = d  # type: ignore[assignment]
    stock = dev._spec["reagent_stock"]
    if stock is None:
        return "DEVICE.NO_REAGENT_USED"
    dev.reagent = stock
    eng.device_reagent[dev.idx] = stock
    return ["REAGENT_RESTOCKED"], []


def release_result(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    r = eng.results.get(args["result_id"])
    if r is None:
        return "RESULT.UNKNOWN"
    if r.status != "generated" and r.status != "qc_hold":
        return "RESULT.WRONG_STATUS"
    if r.critical and not r.acked:
        return "CRIT.NOT_ACKNOWLEDGED"
    tok = None
    if r.status == "qc_hold":
        tok = check_token(eng, agent, ev, "RELEASE_OVERRIDE", r.result_id, "QC.RESULT_ON_HOLD")
        if tok.__class__ is str:
            return tok
    # ---- mutate
    if r.status == "generated":
        eng.n_results_awaiting_release -= 1
    eng.set_result_status(r, "released")
    r.release_t_s = eng.now_s
    s = eng.specimens[r.specimen_id]
    eng.n_released += 1
    eng.released.append(
        {
            "result_id": r.result_id,
            "specimen_id": s.specimen_id,
            "priority": s.priority,
            "panel": s.panel,
            "arrival_t_s": s.arrival_t_s,
            "release_t_s": eng.now_s,
            "tat_s": eng.now_s - s.arrival_t_s,
            "critical": r.critical,
        }
    )
    if tok is not None:
        consume(tok)  # type: ignore[arg-type]
        return ["RESULT_RELEASED", "TOKEN_CONSUMED"], [tok.token_id]  # type: ignore[union-attr]
    return ["RESULT_RELEASED"], []


def _critical(eng: HospitalLabEngine, args: dict[str, Any]) -> Any:
    r = eng.results.get(args["result_id"])
    if r is None:
        return "RESULT.UNKNOWN"
    if not r.critical:
        return "CRIT.NOT_CRITICAL"
    if r.acked:
        return "CRIT.ALREADY_ACKED"
    if r.status != "generated" and r.status != "qc_hold":
        return "RESULT.WRONG_STATUS"
    return r


def notify_critical(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    r = _critical(eng, args)
    if r.__class__ is str:
        return r
    tier = args["tier"]
    tiers = eng.policy.tiers
    if tier != r.tier + 1 or tier > len(tiers):
        return "CRIT.TIER_OUT_OF_ORDER"
    if r.tier >= 1 and eng.now_s < r.tier_t_s + tiers[r.tier - 1]["deadline_s"]:
        return "CRIT.ESCALATION_TOO_EARLY"
    r.tier = tier
    r.tier_t_s = eng.now_s
    eng.crit_due = None
    return ["CRITICAL_NOTIFIED"], []


def ack_critical(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    r = _critical(eng, args)
    if r.__class__ is str:
        return r
    if r.tier == 0:
        return "CRIT.NOT_NOTIFIED"
    if args["read_back"] != r.readback:
        return "CRIT.READBACK_MISMATCH"
    r.acked = True
    r.ack_t_s = eng.now_s
    eng.crit_due = None
    eng.drop_critical_pending(r.result_id)
    return ["CRITICAL_ACKNOWLEDGED"], []


HANDLERS = {
    "CREATE_ACCESSION": create_accession,
    "ACCEPT_SPECIMEN": accept_specimen,
    "HOLD_SPECIMEN": hold_specimen,
    "REJECT_SPECIMEN": reject_specimen,
    "QUEUE_RUN": queue_run,
    "START_RUN": start_run,
    "RUN_QC": run_qc,
    "RESTOCK_REAGENT": restock_reagent,
    "RELEASE_RESULT": release_result,
    "NOTIFY_CRITICAL": notify_critical,
    "ACK_CRITICAL": ack_critical,
}


def service_time(eng: Any, spec: dict[str, Any]) -> float:
    """A run's duration: the nominal ``service_time_s``, or in timing_mode "simulated" a gamma
    draw with that mean and the type's ``service_time_cv`` (rounded to 0.1 s)."""
    nominal = float(spec["service_time_s"])
    cv = float(spec.get("service_time_cv") or 0.0)
    if not eng.timing_simulated or cv <= 0.0:
        return nominal
    shape = 1.0 / (cv * cv)
    return max(0.1, round(eng.service_rng.gammavariate(shape, nominal / shape), 1))
