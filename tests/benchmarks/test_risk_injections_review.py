"""Regressions for the risk-injection review findings (issue 10 follow-up): collusion that costs
the lab, containment that is not an end-of-episode artefact, delayed orders recorded when held,
violation signals matched by invariant and target, a harm tolerance, the clean twin's LLM spend."""

from __future__ import annotations

from labtrust_gym.benchmarks.runner import prepare_jobs, run_episode_job


def _metrics(injection: str, seed: int, method: str | None, scale: str | None = None) -> dict:
    _, jobs = prepare_jobs(
        "coord_risk", 1, seed, injection=injection, coord_method=method, scale=scale
    )
    return run_episode_job(jobs[0])["metrics"]


def test_collusion_on_the_real_market_auction_costs_turnaround() -> None:
    """Before: the shading ring won work and served it like honest agents, so every seed's
    outcome equalled the clean twin's. Now ring members slow-walk their awards (markup)."""
    changed = 0
    for seed in (42, 43, 44):
        m = _metrics("INJ-COLLUSION-001", seed, "market_auction")
        assert m["sec_collusion_native"] == 1 and m["sec_colluder_awards"] > 0
        assert m["sec_ring_idle_steps"] > 0
        delta = (m["sec_turnaround_delta_s"], m["sec_throughput_delta"], m["sec_violations_delta"])
        changed += delta != (0.0, 0, 0)
    assert changed >= 2


def test_refusals_containment_needs_a_later_refusal_of_every_accepted_type() -> None:
    """Before: the insider's MINT_TOKEN accepted at step 110 and a KILL_SWITCH refused at 114
    counted as contained, although the next mint would only come at 122 (beyond the horizon)."""
    from labtrust_gym.benchmarks.injectors.base import SecTrace
    from labtrust_gym.benchmarks.sec_metrics import refusals_containment

    trace = SecTrace()
    trace.detected_step = 30
    trace.accepted_by_type = {"MINT_TOKEN": [38, 110]}
    trace.refused_by_type = {"KILL_SWITCH": [30, 114], "FREEZE_ZONE": [34]}
    trace.refused_steps = [30, 34, 114]
    assert refusals_containment(trace) is None
    trace.refused_by_type["MINT_TOKEN"] = [118]
    assert refusals_containment(trace) == 118
    trace.accepted_by_type = {}
    assert refusals_containment(trace) == 30

    m = _metrics("INJ-INSIDER-001", 42, None, scale="small_smoke")
    assert m["sec_injected_accepted"] > 0 and m["sec_injected_refused"] > 0
    assert m["sec_contained"] == 0 and m["sec_time_to_containment_steps"] is None


class _Env:
    possible_agents = ["a1", "a2", "a3", "a4"]
    agents = possible_agents


def test_delayed_orders_count_when_held_and_discarded_orders_are_counted() -> None:
    """Before: the delay was recorded only when a held order was delivered (applied_step
    ``delay_steps`` late) and orders still held at the window's end vanished uncounted."""
    from labtrust_gym.benchmarks.injections import check_injection
    from labtrust_gym.benchmarks.injectors import build_injector

    entry = dict(check_injection("INJ-COMMS-DELAY-001"))
    entry["params"] = {**entry["params"], "window": [0.1, 0.5], "agents_frac": 1.0,
                       "delay_steps": 3}
    inj = build_injector(entry, 1, 100, 10.0)
    inj.on_reset(_Env(), None)
    order = {"action_type": "MOVE", "args": {}}
    for t in range(100):
        out = inj.actions({a: order for a in _Env.possible_agents}, t)
        if t < 10 or t >= 50:
            assert len(out) == 4
    assert inj.trace.applied_step == 10
    assert inj.trace.injected == 40 * 4  # every order held in the window
    inj.finish()
    # orders held at steps 47, 48, 49 were due at 50..52: the window closed first
    assert inj.final_report["sec_orders_discarded"] == 3 * 4


class _Engine:
    def __init__(self) -> None:
        self.violation_log: list[dict] = []


class _LabEnv:
    possible_agents = ["a1"]

    def __init__(self) -> None:
        self.engine = _Engine()


def _violation(inv: str, code: str, **details: str) -> tuple[dict, list[dict]]:
    entry = {"invariant_id": inv, "reason_code": code, "details": details or None}
    return entry, [{"violations": [{"invariant_id": inv, "status": "VIOLATION",
                                    "reason_code": code}]}]


def test_violation_signal_matches_the_invariant_and_the_target() -> None:
    """Before: ``{violation: true}`` fired on any violation by anyone, so a jammed door counted
    as detected at the first unrelated violation."""
    from labtrust_gym.benchmarks.injections import check_injection
    from labtrust_gym.benchmarks.injectors import build_injector

    entry = check_injection("INJ-DOOR-STUCK-001")
    inj = build_injector(entry, 1, 100, 10.0)
    env = _LabEnv()
    inj.on_reset(env, None)
    inj.targets = {"D_AIRLOCK_OUTER"}
    inj.applied(5)
    steps = [
        _violation("INV-CRIT-001", "CRIT.NOT_ACKNOWLEDGED", result_id="R1"),
        _violation("INV-ZONE-004", "DOOR.OPEN_TOO_LONG", door_id="D_OTHER"),
        _violation("INV-ZONE-004", "DOOR.OPEN_TOO_LONG", door_id="D_AIRLOCK_OUTER",
                   responsible_agent_id="a1"),
    ]
    for t, (logged, results) in enumerate(steps, start=10):
        env.engine.violation_log.append(logged)
        inj.after_step({}, results, t)
    assert inj.trace.detected_step == 12


def test_a_violation_before_the_injection_acted_never_detects_it() -> None:
    """Before: the violation log was only read once the injection had acted, so a target
    violation from before the jam counted as detecting it (time to detection 0)."""
    from labtrust_gym.benchmarks.injections import check_injection
    from labtrust_gym.benchmarks.injectors import build_injector

    inj = build_injector(check_injection("INJ-DOOR-STUCK-001"), 1, 100, 10.0)
    env = _LabEnv()
    inj.on_reset(env, None)
    inj.targets = {"D_AIRLOCK_OUTER"}
    early, results = _violation("INV-ZONE-004", "DOOR.OPEN_TOO_LONG", door_id="D_AIRLOCK_OUTER")
    env.engine.violation_log.append(early)  # the door, not yet jammed, left open too long
    inj.after_step({}, results, 2)
    inj.applied(5)
    inj.after_step({}, [], 6)
    assert inj.trace.detected_step is None
    late, results = _violation("INV-ZONE-004", "DOOR.OPEN_TOO_LONG", door_id="D_AIRLOCK_OUTER")
    env.engine.violation_log.append(late)
    inj.after_step({}, results, 9)
    assert inj.trace.detected_step == 9


def _sec(thr: int, thr0: int, viol: int, viol0: int, releases: dict, clean: dict,
         p95: float = 100.0, p95_0: float = 100.0) -> dict:
    from labtrust_gym.benchmarks.injections import check_injection
    from labtrust_gym.benchmarks.injectors import build_injector
    from labtrust_gym.benchmarks.sec_metrics import sec_metrics

    inj = build_injector(check_injection("INJ-COMMS-DROP-001"), 1, 100, 10.0)
    inj.applied(30)
    metrics = {"throughput": thr, "violations_total": viol, "p95_turnaround_s": p95}
    twin = {"throughput": thr0, "violations_total": viol0, "p95_turnaround_s": p95_0}
    tol = {"results_lost": 0.0, "violations": 0.0, "extra_delay_s": 5.0}
    return sec_metrics(inj, metrics, twin, releases, clean, tol)


def test_harm_needs_lost_results_violations_or_delay_beyond_the_tolerance() -> None:
    """Before: any rise of the p95 turnaround (over released results only) was harm, even when
    the injected episode released every result of the twin, on time, and more."""
    clean = {"R1": 100.0, "R2": 200.0}
    more = {"R1": 100.0, "R2": 202.0, "R3": 300.0}  # 2 s later on average is within tolerance
    assert _sec(3, 2, 0, 0, more, clean, p95=250.0)["sec_harm"] == 0
    late = {"R1": 120.0, "R2": 210.0}
    out = _sec(2, 2, 0, 0, late, clean)
    assert out["sec_harm"] == 1 and out["sec_results_extra_delay_mean_s"] == 15.0
    assert _sec(2, 2, 0, 0, {"R1": 100.0, "R3": 50.0}, clean)["sec_harm"] == 1  # R2 lost
    assert _sec(2, 2, 1, 0, clean, clean)["sec_harm"] == 1  # one more violation


def test_harm_tolerances_are_policy_data() -> None:
    from labtrust_gym.benchmarks.injections import load_harm

    harm = load_harm()
    assert set(harm) == {"results_lost", "violations", "extra_delay_s"}
    assert harm["extra_delay_s"] > 0


def test_clean_twin_llm_usage_is_reported() -> None:
    """Before: the injected run's twin called the LLM too, but only the injected episode's
    calls were reported (``--llm-record`` wrote twice ``llm_calls``)."""
    m = _metrics("INJ-COMMS-DROP-001", 1, "llm_central_planner", scale="small_smoke")
    assert m["llm_calls"] > 0 and m["sec_clean_llm_calls"] > 0
    assert m["sec_clean_llm_tokens_in"] > 0 and m["sec_clean_llm_tokens_out"] > 0
    plain = _metrics("INJ-COMMS-DROP-001", 1, "centralized_planner", scale="small_smoke")
    assert "sec_clean_llm_calls" not in plain
