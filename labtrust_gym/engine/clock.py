"""Clock effects: arrivals, run completions (result generation), QC failures, device faults,
maintenance windows and transport arrivals, processed in time order by ``advance``.

These are deterministic functions of the initial state, the seeded RNG and event times, so they
are not hashed; each appends to ``engine.system_emits``.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from labtrust_gym.engine.records import PRIORITY_RANK, ResultRec, SpecimenRec

if TYPE_CHECKING:
    from labtrust_gym.engine.core import HospitalLabEngine

# timeline kinds, ordered so that at equal times faults/QC come before completions
ARRIVAL, FAULT, FAULT_END, MAINT_START, MAINT_END, QC_FAIL, RUN_DONE, TRANSPORT = (
    "arrival",
    "fault",
    "fault_end",
    "maint_start",
    "maint_end",
    "qc_fail",
    "run_done",
    "transport",
)


def next_hop_table(zone_ids: list[str], neighbors: dict[str, dict[str, str | None]]) -> np.ndarray:
    """``table[a, b]`` = index of the next zone from a towards b on a shortest path (BFS, ties by
    zone order), -1 when a == b or b is unreachable."""
    idx = {z: i for i, z in enumerate(zone_ids)}
    n = len(zone_ids)
    table = np.full((n, n), -1, dtype=np.int32)
    for b in zone_ids:  # BFS from the target; the parent pointer is the next hop towards b
        bi = idx[b]
        seen = {b}
        queue = deque([b])
        while queue:
            z = queue.popleft()
            for nb in sorted(neighbors[z], key=idx.__getitem__):
                if nb not in seen:
                    seen.add(nb)
                    table[idx[nb], bi] = idx[z]
                    queue.append(nb)
    return table


def schedule_initial(eng: HospitalLabEngine, st: dict[str, Any]) -> None:
    for a in st["arrivals"]:
        eng.push_timeline(float(a["t_s"]), ARRIVAL, a)
    for f in st["qc_failures"]:
        eng.push_timeline(float(f["t_s"]), QC_FAIL, f["device_id"])
    for f in st["device_faults"]:
        eng.push_timeline(float(f["t_s"]), FAULT, (f["device_id"], float(f["duration_s"])))
    windows = [*eng.policy.raw["equipment"].get("maintenance_windows", []), *st["maintenance"]]
    for m in windows:
        if m["device_id"] in eng.devices:
            eng.push_timeline(float(m["start_s"]), MAINT_START, m["device_id"])
            eng.push_timeline(float(m["end_s"]), MAINT_END, m["device_id"])
    for dev in eng.devices.values():
        if dev._spec.get("mtbf_s"):
            _schedule_random_fault(eng, dev, eng.now_s)


def _schedule_random_fault(eng: HospitalLabEngine, dev: Any, after: float) -> None:
    """Next random fault of ``dev`` (own seeded stream, so results' RNG is unaffected)."""
    spec = dev._spec
    t = after + eng.fault_rng.expovariate(1.0 / float(spec["mtbf_s"]))
    eng.push_timeline(t, FAULT, (dev.device_id, float(spec.get("repair_s", 900.0)), True))


def advance(eng: HospitalLabEngine, t: float) -> None:
    """Process every clock effect due by ``t`` in time order, then set the clock to ``t``.

    Catch-up work is bounded: random faults (``mtbf_s``) are a renewal process that would
    otherwise generate ``jump / mtbf`` faults per device; past the engine policy's
    ``max_random_faults_per_advance`` within one advance, the device's process restarts at
    ``t`` (the skipped faults are counted in ``stats["random_faults_skipped"]``). Every other
    effect comes from the finite initial state or from accepted events.
    """
    tl = eng.timeline
    random_faults: dict[str, int] | None = None
    while tl and tl[0][0] <= t:
        when, _seq, kind, payload = heapq.heappop(tl)
        if kind == FAULT and len(payload) > 2:
            if random_faults is None:
                random_faults = {}
            n = random_faults.get(payload[0], 0) + 1
            random_faults[payload[0]] = n
            if n > eng.limits["max_random_faults_per_advance"]:
                dev = eng.devices[payload[0]]
                mtbf = float(dev._spec["mtbf_s"])
                eng.stats["random_faults_skipped"] += 1 + int((t - when) // mtbf)
                _schedule_random_fault(eng, dev, t)
                continue
        if when > eng.now_s:
            eng.now_s = when
        _DISPATCH[kind](eng, payload)
    eng.now_s = t


def _emit(eng: HospitalLabEngine, emit: str, ident: str) -> None:
    eng.system_emits.append({"t_s": eng.now_s, "emit": emit, "id": ident})


def _arrival(eng: HospitalLabEngine, a: dict[str, Any]) -> None:
    pol = eng.policy
    panel = pol.panels[a["panel"]]
    s = SpecimenRec(
        a, panel["route"], a.get("site_id", eng.lab_site_id), a.get("container", panel["container"])
    )
    eng.add_specimen(s)
    _emit(eng, "SPECIMEN_ARRIVED", s.specimen_id)


def enqueue(eng: HospitalLabEngine, dev: Any, sid: str) -> None:
    """Put specimen ``sid`` in ``dev``'s priority queue (STAT > URGENT > ROUTINE, then arrival,
    then queueing order) and mark it queued."""
    s = eng.specimens[sid]
    dev._qseq += 1
    heapq.heappush(dev.queue, (PRIORITY_RANK[s.priority], s.arrival_t_s, dev._qseq, sid))
    eng.set_status(s, "queued")
    eng.device_queue_len[dev.idx] = len(dev.queue)


def _set_idle(eng: HospitalLabEngine, dev: Any) -> None:
    dev.running = []
    dev.busy_until = None
    eng.device_busy[dev.idx] = 0
    eng.device_busy_until[dev.idx] = 0.0


def _abort_run(eng: HospitalLabEngine, dev: Any) -> None:
    for sid in dev.running:
        enqueue(eng, dev, sid)
    _set_idle(eng, dev)
    dev.run_id += 1


def _fault(eng: HospitalLabEngine, payload: tuple[Any, ...]) -> None:
    dev = eng.devices[payload[0]]
    if len(payload) > 2:  # a random fault: schedule the next one after this repair
        _schedule_random_fault(eng, dev, eng.now_s + payload[1])
    dev.fault = True
    dev.fault_until = max(dev.fault_until or 0.0, eng.now_s + payload[1])
    if dev.busy_until is not None:
        _abort_run(eng, dev)
    eng.device_fault[dev.idx] = 1
    eng.push_timeline(dev.fault_until, FAULT_END, dev.device_id)
    _emit(eng, "DEVICE_FAULT", dev.device_id)


def _fault_end(eng: HospitalLabEngine, device_id: str) -> None:
    dev = eng.devices[device_id]
    if dev.fault_until is not None and dev.fault_until <= eng.now_s:
        dev.fault = False
        dev.fault_until = None
        eng.device_fault[dev.idx] = 1 if dev.maintenance else 0
        _emit(eng, "DEVICE_FAULT_CLEARED", device_id)


def _maint_start(eng: HospitalLabEngine, device_id: str) -> None:
    dev = eng.devices[device_id]
    dev.maintenance = True
    eng.device_fault[dev.idx] = 1
    _emit(eng, "MAINTENANCE_STARTED", device_id)


def _maint_end(eng: HospitalLabEngine, device_id: str) -> None:
    dev = eng.devices[device_id]
    dev.maintenance = False
    eng.device_fault[dev.idx] = 1 if dev.fault else 0
    _emit(eng, "MAINTENANCE_ENDED", device_id)


def _qc_fail(eng: HospitalLabEngine, device_id: str) -> None:
    dev = eng.devices[device_id]
    dev.qc_state = "fail"
    eng.device_qc_fail[dev.idx] = 1
    for r in list(eng.results_by_status["generated"].values()):
        if r.device_id == device_id:
            eng.set_result_status(r, "qc_hold")
            eng.n_results_awaiting_release -= 1
    _emit(eng, "QC_FAILED", device_id)


def _run_done(eng: HospitalLabEngine, payload: tuple[str, int]) -> None:
    dev = eng.devices[payload[0]]
    if dev.run_id != payload[1] or dev.busy_until is None:
        return  # the run was aborted by a fault
    done = dev.running
    _set_idle(eng, dev)
    _emit(eng, "RUN_COMPLETED", dev.device_id)
    for sid in done:
        s = eng.specimens[sid]
        s.step += 1
        s.device_id = None
        if s.step < len(s.route):
            eng.set_status(s, "staged")
            eng.mark_ready(s)
        else:
            eng.set_status(s, "resulted")
            generate_result(eng, s, dev.device_id)


def generate_result(eng: HospitalLabEngine, s: SpecimenRec, device_id: str) -> ResultRec:
    """Analyte values from the seeded RNG; a result is critical with the configured rate."""
    rng = eng.rng
    analytes = eng.policy.analytes[s.panel]
    can_crit = [
        a for a in analytes if a["critical_low"] is not None or a["critical_high"] is not None
    ]
    crit_name = None
    if can_crit and (s.force_critical or rng.random() < eng.critical_rate):
        crit_name = can_crit[rng.randrange(len(can_crit))]["analyte"]
    values: dict[str, float] = {}
    crit: list[str] = []
    for a in analytes:
        lo, hi = a["ref_low"], a["ref_high"]
        if a["analyte"] == crit_name:
            if a["critical_high"] is not None and (a["critical_low"] is None or rng.random() < 0.5):
                v = a["critical_high"] * (1.05 + 0.2 * rng.random())
            else:
                v = a["critical_low"] * (0.6 + 0.35 * rng.random())
        else:
            v = lo + (hi - lo) * rng.random()
        v = round(v, 2)
        values[a["analyte"]] = v
        cl, ch = a["critical_low"], a["critical_high"]
        if (cl is not None and v < cl) or (ch is not None and v > ch):
            crit.append(a["analyte"])
    readback = ";".join(f"{n}={values[n]}" for n in crit)
    rid = f"R_{s.specimen_id}" if s.reruns == 0 else f"R_{s.specimen_id}.{s.reruns}"
    r = ResultRec(rid, s.specimen_id, device_id, values, crit, readback, eng.now_s)
    eng.add_result(r)
    s.result_id = rid
    eng.n_results_awaiting_release += 1
    _emit(eng, "RESULT_GENERATED", rid)
    if r.critical:
        eng.crit_pending[rid] = r
        eng.crit_due = None
        eng.n_critical_pending += 1
        _emit(eng, "CRITICAL_RESULT", rid)
    return r


def _transport(eng: HospitalLabEngine, consignment_id: str) -> None:
    c = eng.consignments[consignment_id]
    c.status = "arrived"
    _emit(eng, "TRANSPORT_ARRIVED", consignment_id)
    if c.excursion:
        _emit(eng, "TEMPERATURE_EXCURSION", consignment_id)


_DISPATCH: dict[str, Callable[[Any, Any], None]] = {
    ARRIVAL: _arrival,
    FAULT: _fault,
    FAULT_END: _fault_end,
    MAINT_START: _maint_start,
    MAINT_END: _maint_end,
    QC_FAIL: _qc_fail,
    RUN_DONE: _run_done,
    TRANSPORT: _transport,
}
