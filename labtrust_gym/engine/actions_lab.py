"""Handlers for the specimen workflow: accessioning, acceptance, device queues and runs, QC,
results, critical-result notification and release.

A handler is ``(engine, agent, args, event) -> reason_code | (emits, token_consumed)``. It calls
its pure ``check_<action>(engine, agent, args, event)`` first (the reason code, or what the
mutation needs) and mutates only when that passes. Checks are composed of the rules in
:mod:`labtrust_gym.engine.rules` and of the agent-independent target rules here
(:func:`queue_target`, :func:`start_run_state`, :func:`qc_target`, :func:`restock_target`), which
the environment also evaluates to build action masks.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING, Any

from labtrust_gym.engine.actions_trust import check_token, consume
from labtrust_gym.engine.clock import RUN_DONE, enqueue
from labtrust_gym.engine.records import AgentRec, DeviceRec, ResultRec, SpecimenRec, TokenRec
from labtrust_gym.engine.rules import device_access

if TYPE_CHECKING:
    from labtrust_gym.engine.core import HospitalLabEngine

Out = str | tuple[list[str], list[str]]


def inspect_specimen(eng: HospitalLabEngine, s: SpecimenRec) -> dict[str, Any]:
    """What reception sees when it handles the tube (role-visible, docs/envs.md): the label
    against the order, a leak, the container and its fill against the panel's minimum, and the
    transport's temperature record."""
    return {
        "specimen_id": s.specimen_id,
        "order_patient_id": s.patient_id,
        "label_patient_id": s.label_patient_id,
        "leak": s.leak,
        "container": s.container,
        "fill_ratio": s.fill_ratio,
        "min_fill_ratio": eng.policy.panels[s.panel].get("min_fill_ratio"),
        "temperature_excursion": s.excursion,
    }


def acceptance_finding(facts: dict[str, Any]) -> str | None:
    """The acceptance rules over an inspection (:func:`inspect_specimen`), in rule order: the
    reason code of the first rule the specimen fails, or None."""
    if facts["label_patient_id"] != facts["order_patient_id"]:
        return "SPEC.ID_MISMATCH"
    if facts["leak"]:
        return "SPEC.LEAK"
    if facts["temperature_excursion"]:
        return "SPEC.TEMP_EXCURSION"
    min_fill = facts["min_fill_ratio"]
    if min_fill is not None and facts["fill_ratio"] < min_fill:
        return "SPEC.CITRATE_UNDERFILL"
    return None


def acceptance_failure(eng: HospitalLabEngine, s: SpecimenRec) -> str | None:
    """The reason code an acceptance rule fails with, in rule order, or None."""
    return acceptance_finding(inspect_specimen(eng, s))


def heard_read_back(r: ResultRec) -> str | None:
    """What the agent who phoned a critical result heard the recipient read back (None before
    the first notification): the recipient repeats the critical values it was given."""
    return r.readback if r.tier >= 1 else None


def _specimen(eng: HospitalLabEngine, args: dict[str, Any]) -> SpecimenRec | str:
    s = eng.specimens.get(args["specimen_id"])
    if s is None:
        return "SPEC.UNKNOWN"
    return s


def check_create_accession(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any] | None
) -> str | SpecimenRec:
    s = _specimen(eng, args)
    if isinstance(s, str):
        return s
    if s.site_id != eng.lab_site_id:
        return "SPEC.WRONG_SITE"
    if s.status != "arrived":
        return "SPEC.WRONG_STATUS"
    return s


def create_accession(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    s = check_create_accession(eng, agent, args, ev)
    if isinstance(s, str):
        return s
    eng.set_status(s, "accessioned")
    s.handled_by.append(agent.agent_id)
    return ["SPECIMEN_ACCESSIONED"], []


def check_accept_specimen(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any] | None
) -> str | SpecimenRec:
    s = _specimen(eng, args)
    if isinstance(s, str):
        return s
    sp: SpecimenRec = s
    if sp.status != "accessioned":
        return "SPEC.WRONG_STATUS"
    fail = acceptance_failure(eng, sp)
    if fail is not None:
        return fail
    return sp


def accept_specimen(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    sp = check_accept_specimen(eng, agent, args, ev)
    if isinstance(sp, str):
        return sp
    eng.set_status(sp, "accepted")
    eng.mark_ready(sp)
    sp.handled_by.append(agent.agent_id)
    return ["SPECIMEN_ACCEPTED"], []


def _check_hold_or_reject(
    eng: HospitalLabEngine,
    args: dict[str, Any],
    ev: dict[str, Any] | None,
    from_status: tuple[str, ...],
) -> str | tuple[SpecimenRec, str]:
    s = _specimen(eng, args)
    if isinstance(s, str):
        return s
    sp: SpecimenRec = s
    if sp.status not in from_status:
        return "SPEC.WRONG_STATUS"
    expected = sp.hold_reason if sp.status == "held" else acceptance_failure(eng, sp)
    if expected is None or (ev or {}).get("reason_code") != expected:
        return "SPEC.REASON_MISMATCH"
    return sp, expected


def check_hold_specimen(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any] | None
) -> str | tuple[SpecimenRec, str]:
    return _check_hold_or_reject(eng, args, ev, ("accessioned",))


def check_reject_specimen(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any] | None
) -> str | tuple[SpecimenRec, str]:
    return _check_hold_or_reject(eng, args, ev, ("accessioned", "held"))


def _hold_or_reject(eng: HospitalLabEngine, ok: Any, new: str, emit: str) -> Out:
    if isinstance(ok, str):
        return ok
    sp, expected = ok
    sp.hold_reason = expected
    eng.set_status(sp, new)
    return [emit], []


def hold_specimen(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    return _hold_or_reject(eng, check_hold_specimen(eng, agent, args, ev), "held", "SPECIMEN_HELD")


def reject_specimen(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    ok = check_reject_specimen(eng, agent, args, ev)
    return _hold_or_reject(eng, ok, "rejected", "SPECIMEN_REJECTED")


def _device(eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any]) -> DeviceRec | str:
    dev = eng.devices.get(args["device_id"])
    if dev is None:
        return "DEVICE.UNKNOWN"
    return device_access(agent, dev) or dev


def queue_target(eng: HospitalLabEngine, dev: DeviceRec, specimen_id: str) -> str | SpecimenRec:
    """QUEUE_RUN's rules about the device and specimen (agent-independent): the specimen is
    ready for this device type and the device's queue has room."""
    s = eng.specimens.get(specimen_id)
    if s is None:
        return "SPEC.UNKNOWN"
    if s.status != "accepted" and s.status != "staged":
        return "SPEC.WRONG_STATUS"
    if s.route[s.step] != dev.device_type:
        return "DEVICE.WRONG_TYPE"
    if len(dev.queue) >= dev._spec["queue_max"]:
        return "DEVICE.QUEUE_FULL"
    return s


def check_queue_run(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any] | None
) -> str | tuple[DeviceRec, SpecimenRec]:
    d = _device(eng, agent, args)
    if isinstance(d, str):
        return d
    s = queue_target(eng, d, args["specimen_id"])
    if isinstance(s, str):
        return s
    return d, s


def queue_run(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    ok = check_queue_run(eng, agent, args, ev)
    if isinstance(ok, str):
        return ok
    dev, s = ok
    s.device_id = dev.device_id
    enqueue(eng, dev, s.specimen_id)
    eng.unmark_ready(s, dev.device_type)
    s.handled_by.append(agent.agent_id)
    return ["SPECIMEN_QUEUED"], []


def past_stability(eng: HospitalLabEngine, s: SpecimenRec) -> bool:
    """The specimen is older than its panel's stability limit (a run needs an override)."""
    limit = eng.policy.stability.get(s.panel)
    return limit is not None and eng.now_s - s.collected_t_s > limit


def start_run_state(
    eng: HospitalLabEngine, dev: DeviceRec, agent: AgentRec, ev: dict[str, Any] | None
) -> str | tuple[list[tuple[Any, ...]], list[TokenRec]]:
    """START_RUN's rules about the device (idle, healthy, QC passed, queue, reagent) and the
    batch's stability window; else ``(batch, stability override tokens used)``. ``agent`` and
    ``ev`` matter only for override tokens (holder, ``token_refs``)."""
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
    specs = eng.specimens
    overrides: list[TokenRec] = []
    for entry in batch:
        s = specs[entry[3]]
        if past_stability(eng, s):
            tok = check_token(
                eng, agent, ev or {}, "STABILITY_OVERRIDE", s.specimen_id, "STABILITY.EXPIRED"
            )
            if isinstance(tok, str):
                return tok
            overrides.append(tok)
    return batch, overrides


def check_start_run(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any] | None
) -> str | tuple[DeviceRec, list[tuple[Any, ...]], list[TokenRec]]:
    d = _device(eng, agent, args)
    if isinstance(d, str):
        return d
    ok = start_run_state(eng, d, agent, ev)
    if isinstance(ok, str):
        return ok
    return d, ok[0], ok[1]


def start_run(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    ok = check_start_run(eng, agent, args, ev)
    if isinstance(ok, str):
        return ok
    dev, batch, overrides = ok
    now = eng.now_s
    specs = eng.specimens
    # ---- mutate
    started = []
    aid = agent.agent_id
    for _ in batch:
        sid = heapq.heappop(dev.queue)[3]
        s = specs[sid]
        eng.set_status(s, "running")
        s.handled_by.append(aid)
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
        consume(tok)
        consumed.append(tok.token_id)
        eng.ctx_overrides.add(tok.scope["specimen_id"])
    if consumed:
        return ["RUN_STARTED", "TOKEN_CONSUMED"], consumed
    return ["RUN_STARTED"], []


def qc_target(dev: DeviceRec) -> str | None:
    """RUN_QC's rule about the device: its type is QC-gated."""
    return None if dev._spec["qc_gated"] else "DEVICE.NOT_QC_GATED"


def check_run_qc(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any] | None
) -> str | DeviceRec:
    d = _device(eng, agent, args)
    if isinstance(d, str):
        return d
    return qc_target(d) or d


def run_qc(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    dev = check_run_qc(eng, agent, args, ev)
    if isinstance(dev, str):
        return dev
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


def restock_target(dev: DeviceRec) -> str | None:
    """RESTOCK_REAGENT's rule about the device: its type uses reagent."""
    return None if dev._spec["reagent_stock"] is not None else "DEVICE.NO_REAGENT_USED"


def check_restock_reagent(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any] | None
) -> str | DeviceRec:
    d = _device(eng, agent, args)
    if isinstance(d, str):
        return d
    return restock_target(d) or d


def restock_reagent(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    dev = check_restock_reagent(eng, agent, args, ev)
    if isinstance(dev, str):
        return dev
    stock = dev._spec["reagent_stock"]
    dev.reagent = stock
    eng.device_reagent[dev.idx] = stock
    return ["REAGENT_RESTOCKED"], []


def check_release_result(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any] | None
) -> str | tuple[ResultRec, TokenRec | None]:
    r = eng.results.get(args["result_id"])
    if r is None:
        return "RESULT.UNKNOWN"
    if r.status != "generated" and r.status != "qc_hold":
        return "RESULT.WRONG_STATUS"
    if r.critical and not r.acked:
        return "CRIT.NOT_ACKNOWLEDGED"
    if r.status == "qc_hold":
        tok = check_token(
            eng, agent, ev or {}, "RELEASE_OVERRIDE", r.result_id, "QC.RESULT_ON_HOLD"
        )
        if isinstance(tok, str):
            return tok
        return r, tok
    return r, None


def release_result(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    ok = check_release_result(eng, agent, args, ev)
    if isinstance(ok, str):
        return ok
    r, tok = ok
    # ---- mutate
    if r.status == "generated":
        eng.n_results_awaiting_release -= 1
    eng.set_result_status(r, "released")
    r.release_t_s = eng.now_s
    s = eng.specimens[r.specimen_id]
    s.handled_by.append(agent.agent_id)
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
            "handled_by": list(s.handled_by),  # the credit trail (docs/envs.md, rewards)
        }
    )
    if tok is not None:
        consume(tok)
        return ["RESULT_RELEASED", "TOKEN_CONSUMED"], [tok.token_id]
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


def check_notify_critical(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any] | None
) -> str | ResultRec:
    r = _critical(eng, args)
    if isinstance(r, str):
        return r
    tier = args["tier"]
    tiers = eng.policy.tiers
    if tier != r.tier + 1 or tier > len(tiers):
        return "CRIT.TIER_OUT_OF_ORDER"
    if r.tier >= 1 and eng.now_s < r.tier_t_s + tiers[r.tier - 1]["deadline_s"]:
        return "CRIT.ESCALATION_TOO_EARLY"
    return r


def notify_critical(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    r = check_notify_critical(eng, agent, args, ev)
    if isinstance(r, str):
        return r
    r.tier = args["tier"]
    r.tier_t_s = eng.now_s
    eng.crit_due = None
    return ["CRITICAL_NOTIFIED"], []


def check_ack_critical(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any] | None
) -> str | ResultRec:
    r = _critical(eng, args)
    if isinstance(r, str):
        return r
    if r.tier == 0:
        return "CRIT.NOT_NOTIFIED"
    if args["read_back"] != r.readback:
        return "CRIT.READBACK_MISMATCH"
    return r


def ack_critical(
    eng: HospitalLabEngine, agent: AgentRec, args: dict[str, Any], ev: dict[str, Any]
) -> Out:
    r = check_ack_critical(eng, agent, args, ev)
    if isinstance(r, str):
        return r
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

#: The pure precondition part of every handler above (see ``actions_trust.CHECKS``).
CHECKS = {
    "CREATE_ACCESSION": check_create_accession,
    "ACCEPT_SPECIMEN": check_accept_specimen,
    "HOLD_SPECIMEN": check_hold_specimen,
    "REJECT_SPECIMEN": check_reject_specimen,
    "QUEUE_RUN": check_queue_run,
    "START_RUN": check_start_run,
    "RUN_QC": check_run_qc,
    "RESTOCK_REAGENT": check_restock_reagent,
    "RELEASE_RESULT": check_release_result,
    "NOTIFY_CRITICAL": check_notify_critical,
    "ACK_CRITICAL": check_ack_critical,
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
