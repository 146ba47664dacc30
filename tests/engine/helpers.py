"""Small helpers shared by the engine tests: a fresh engine and a greedy scripted lab driver."""

from __future__ import annotations

from typing import Any

from labtrust_gym.engine.core import HospitalLabEngine
from labtrust_gym.engine.initial_state import default_initial_state


def make_engine(
    state: dict[str, Any] | None = None, seed: int = 0, **config: Any
) -> HospitalLabEngine:
    eng = HospitalLabEngine(None, config or None)
    eng.reset(state if state is not None else default_initial_state(seed), rng_seed=seed)
    return eng


def ev(eng: HospitalLabEngine, agent: str, action: str, **args: Any) -> dict[str, Any]:
    return {"t_s": eng.now_s, "agent_id": agent, "action_type": action, "args": args}


def drive_default_lab(
    eng: HospitalLabEngine, horizon_s: float = 7200.0, dt: float = 10.0
) -> list[dict]:
    """A greedy omniscient operator (one ops agent teleported per device is not allowed, so the
    driver only acts through co-located agents): reception accessions/accepts, runner_1 runs the
    centrifuge, ops_0 walks between the halls and runs analyzers, supervisor handles criticals and
    releases. Returns every step result."""
    results: list[dict] = []

    def step(agent: str, action: str, **args: Any) -> dict:
        r = eng.step(ev(eng, agent, action, **args))
        results.append(r)
        return r

    t = eng.now_s
    while t <= horizon_s:
        eng.advance_to(t)
        for sid in eng.query("specimens(arrived)"):
            step("reception_0", "CREATE_ACCESSION", specimen_id=sid)
        for sid in eng.query("specimens(accessioned)"):
            if eng.query(f"acceptance_check({sid})") is None:
                step("reception_0", "ACCEPT_SPECIMEN", specimen_id=sid)
        for dtype, agent in (("CENTRIFUGE", "runner_1"),):
            for sid in eng.ready_specimens(dtype):
                step(agent, "QUEUE_RUN", device_id="DEV_CENTRIFUGE_1", specimen_id=sid)
            if not eng.query("device_state(DEV_CENTRIFUGE_1)")["busy"] and eng.query(
                "queue(DEV_CENTRIFUGE_1)"
            ):
                step(agent, "START_RUN", device_id="DEV_CENTRIFUGE_1")
        # aliquoter: runner_0 stands in Z_ALIQUOT after its first move
        if eng.query("agent_zone(runner_0)") != "Z_ALIQUOT":
            step("runner_0", "MOVE", to_zone="Z_ALIQUOT")
        for sid in eng.ready_specimens("ALIQUOTER"):
            step("runner_0", "QUEUE_RUN", device_id="DEV_ALIQUOTER_1", specimen_id=sid)
        if not eng.query("device_state(DEV_ALIQUOTER_1)")["busy"] and eng.query(
            "queue(DEV_ALIQUOTER_1)"
        ):
            step("runner_0", "START_RUN", device_id="DEV_ALIQUOTER_1")
        # ops_0 alternates halls: A (chemistry) and B (haematology, coagulation)
        zone = eng.query("agent_zone(ops_0)")
        here = [d for d in eng.device_ids if eng.query(f"device_state({d})")["zone_id"] == zone]
        for dev in here:
            dtype = eng.query(f"device_state({dev})")["device_type"]
            for sid in eng.ready_specimens(dtype):
                step("ops_0", "QUEUE_RUN", device_id=dev, specimen_id=sid)
            st = eng.query(f"device_state({dev})")
            if not st["busy"] and st["queue_len"]:
                step("ops_0", "START_RUN", device_id=dev)
        other = "Z_ANALYZER_HALL_B" if zone == "Z_ANALYZER_HALL_A" else "Z_ANALYZER_HALL_A"
        step("ops_0", "MOVE", to_zone=other)
        for rid in eng.query("critical_pending"):
            r = eng.query(f"result({rid})")
            if r["tier"] == 0:
                step("supervisor_0", "NOTIFY_CRITICAL", result_id=rid, tier=1)
            step("supervisor_0", "ACK_CRITICAL", result_id=rid, read_back=r["readback"])
        for rid in eng.query("results(generated)"):
            step("supervisor_0", "RELEASE_RESULT", result_id=rid)
        t += dt
    return results


def assert_views_consistent(eng: HospitalLabEngine) -> None:
    """The numpy fast views and indexes agree with the records they summarise."""
    for a in eng.agents.values():
        assert eng.agent_zone[a.idx] == eng.zone_index[a.zone_id]
    for d in eng.devices.values():
        i = d.idx
        assert eng.device_queue_len[i] == len(d.queue)
        assert eng.device_busy[i] == (d.busy_until is not None)
        assert eng.device_fault[i] == (d.fault or d.maintenance)
        assert eng.device_qc_fail[i] == (d.qc_state == "fail")
        assert eng.device_reagent[i] == (-1 if d.reagent is None else d.reagent)
    for status, members in eng.by_status.items():
        assert eng.stage_counts[status] == len(members)
        assert all(s.status == status for s in members.values())
    assert sum(eng.stage_counts.values()) == len(eng.specimens)
    for t, ready in eng._ready_by_type.items():
        assert eng.work_by_device_type[eng.device_type_index[t]] == len(ready)
        for s in ready.values():
            assert s.status in ("accepted", "staged") and s.route[s.step] == t
    for status, members in eng.results_by_status.items():
        assert all(r.status == status for r in members.values())
    assert set(eng.frozen_zones) == {eng.zone_ids[i] for i in eng.zone_frozen.nonzero()[0]}
    assert set(eng.doors_open) == {eng.door_ids[i] for i in eng.door_open.nonzero()[0]}
