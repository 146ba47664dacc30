"""Building the engine ``initial_state`` of a task episode (a pure function of task and seed).

The standard lab (agents, devices, zones) comes from the engine's ``default_initial_state()``;
this module adds what a task exercises: the specimen arrival stream, STAT bursts, problem
specimens that must be held, scheduled QC failures, remote-site arrivals, extra agents (the
adversary, the insider), pre-issued tokens and signing keys. Tasks with a ``scale_config`` get a
generated lab from ``labtrust_gym.envs.scale.generate_initial_state`` instead.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labtrust_gym.engine.initial_state import weighted_pick
from labtrust_gym.errors import InvalidInputError, did_you_mean

if TYPE_CHECKING:
    from .tasks import BenchmarkTask

DEFAULT_DT_S = 10.0

#: Panel mix of the routine stream (panel, weight).
PANEL_MIX: tuple[tuple[str, float], ...] = (
    ("CHEM", 0.4),
    ("CBC", 0.35),
    ("COAG", 0.15),
    ("LIPID", 0.1),
)

#: Keys a caller may pass as ``calibration`` (they override the task's lab options).
CALIBRATION_KEYS = frozenset(
    {
        "arrival_rate_per_min",
        "stat_fraction",
        "urgent_fraction",
        "dt_s",
        "strict_signatures",
        "arrival_window_frac",
        "problem_fraction",
    }
)

_LAB_DEFAULTS: dict[str, Any] = {
    "arrival_rate_per_min": 2.0,
    "stat_fraction": 0.0,
    "urgent_fraction": 0.1,
    # Arrivals stop after this fraction of the episode so that late specimens can still finish.
    "arrival_window_frac": 0.6,
    "problem_fraction": 0.0,
    "initial_backlog": 0,
    "stat_burst": None,
    "qc_failures": (),
    "extra_devices": (),
    "extra_agents": (),
    "remote_arrivals": None,
    "tokens": (),
    "keys": (),
    "strict_signatures": False,
    "critical_rate": None,
    "stale_specimens": None,
}


def _priority(rng: random.Random, stat_fraction: float, urgent_fraction: float) -> str:
    x = rng.random()
    if x < stat_fraction:
        return "STAT"
    if x < stat_fraction + urgent_fraction:
        return "URGENT"
    return "ROUTINE"


def poisson_arrival_times(
    rng: random.Random, rate_per_min: float, start_s: float, end_s: float
) -> list[int]:
    """Arrival times (whole seconds) of a Poisson stream of ``rate_per_min`` in [start, end)."""
    times: list[int] = []
    if rate_per_min <= 0:
        return times
    t = start_s
    rate_per_s = rate_per_min / 60.0
    while True:
        t += rng.expovariate(rate_per_s)
        if t >= end_s:
            return times
        times.append(int(t))


class _SpecimenFactory:
    def __init__(self, rng: random.Random, site_id: str | None) -> None:
        self.rng = rng
        self.site_id = site_id
        self.count = 0

    def make(
        self,
        t_s: int,
        priority: str,
        *,
        panel: str | None = None,
        site_id: str | None = None,
        prefix: str = "S",
        problem: str | None = None,
    ) -> dict[str, Any]:
        self.count += 1
        sid = f"{prefix}{self.count:04d}"
        chosen_panel = panel or weighted_pick(self.rng, PANEL_MIX)
        spec: dict[str, Any] = {
            "specimen_id": sid,
            "t_s": int(t_s),
            "priority": priority,
            "panel": chosen_panel,
            "patient_id": f"P{self.count:04d}",
        }
        site = site_id or self.site_id
        if site is not None:
            spec["site_id"] = site
        if problem == "leak":
            spec["leak"] = True
        elif problem == "id_mismatch":
            spec["label_patient_id"] = f"P{self.count:04d}X"
        elif problem == "underfill":
            spec["panel"] = "COAG"
            spec["fill_ratio"] = 0.7
        return spec


def lab_options_for(task: BenchmarkTask, calibration: Mapping[str, Any] | None) -> dict[str, Any]:
    opts = dict(_LAB_DEFAULTS)
    opts.update(task.lab_options())
    if calibration:
        unknown = set(calibration) - CALIBRATION_KEYS
        if unknown:
            bad = sorted(unknown)[0]
            raise InvalidInputError(
                f"Unknown calibration key {bad!r} for task {task.name!r}; allowed: "
                f"{', '.join(sorted(CALIBRATION_KEYS))}.{did_you_mean(bad, CALIBRATION_KEYS)}"
            )
        opts.update(calibration)
    return opts


def task_dt_s(task: BenchmarkTask, calibration: Mapping[str, Any] | None = None) -> float:
    if calibration and "dt_s" in calibration:
        return float(calibration["dt_s"])
    return float(getattr(task, "dt_s", None) or DEFAULT_DT_S)


def build_lab(
    task: BenchmarkTask,
    seed: int,
    *,
    calibration: Mapping[str, Any] | None = None,
    policy_root: Path | str | None = None,
    scale: Any = None,
) -> dict[str, Any]:
    """The initial_state of ``task``'s episode ``seed`` (``scale``: a ``ScaleConfig`` to generate
    instead of the task's ``scale_config`` preset as it is)."""
    opts = lab_options_for(task, calibration)
    if scale is not None or task.scale_config is not None:
        from labtrust_gym.engine.scale import generate_initial_state, load_scale_config

        cfg = scale if scale is not None else load_scale_config(task.scale_config or "")
        generated = generate_initial_state(cfg, seed, policy_root=policy_root)
        return _apply_scale_extras(generated, opts, task, seed)

    from labtrust_gym.engine import default_initial_state

    # A fresh dict per call (docs/engine.md); its own arrival schedule is replaced below.
    state: dict[str, Any] = default_initial_state(n_specimens=0)
    site = state.get("lab_site_id")
    dt_s = task_dt_s(task, calibration)
    horizon_s = task.max_steps * dt_s
    rng = task.rng(seed, "arrivals")
    factory = _SpecimenFactory(rng, site)
    arrivals: list[dict[str, Any]] = []

    for _ in range(int(opts["initial_backlog"])):
        arrivals.append(
            factory.make(0, _priority(rng, opts["stat_fraction"], opts["urgent_fraction"]))
        )
    window_end = horizon_s * float(opts["arrival_window_frac"])
    for t in poisson_arrival_times(rng, float(opts["arrival_rate_per_min"]), 0.0, window_end):
        problem = None
        if opts["problem_fraction"] and rng.random() < float(opts["problem_fraction"]):
            problem = rng.choice(("leak", "id_mismatch", "underfill"))
        arrivals.append(
            factory.make(
                t, _priority(rng, opts["stat_fraction"], opts["urgent_fraction"]), problem=problem
            )
        )
    burst = opts["stat_burst"]
    if burst:
        # STAT specimens inserted into an already loaded lab, at seeded times in the window.
        lo, hi = burst["window_frac"]
        for _ in range(int(burst["count"])):
            t_burst = rng.uniform(lo * horizon_s, hi * horizon_s)
            arrivals.append(factory.make(int(t_burst), "STAT", panel=burst.get("panel")))
    remote = opts["remote_arrivals"]
    if remote:
        for _ in range(int(remote["count"])):
            t_remote = rng.uniform(0.0, float(remote["window_frac"]) * horizon_s)
            priority = (
                "STAT" if rng.random() < float(remote.get("stat_fraction", 1.0)) else "URGENT"
            )
            arrivals.append(
                factory.make(
                    int(t_remote),
                    priority,
                    site_id=remote["site_id"],
                    prefix="R",
                    panel=remote.get("panel"),
                )
            )
    stale = opts["stale_specimens"]
    if stale:
        # chemistry specimens collected long before they arrive: past their stability limit by
        # the time they are run, so each run needs a two-person STABILITY_OVERRIDE
        routine = [a for a in arrivals if a.get("site_id", site) == site and a["t_s"] > 0]
        for a in rng.sample(routine, min(int(stale["count"]), len(routine))):
            a["panel"] = "CHEM"
            a["collected_t_s"] = a["t_s"] - int(stale["age_s"])
    arrivals.sort(key=lambda a: (a["t_s"], a["specimen_id"]))
    state["arrivals"] = arrivals

    if opts["extra_devices"]:
        base = state.get("devices")
        if not base:
            from labtrust_gym.engine.policy import load_policy

            base = [dict(d) for d in load_policy(policy_root).default_devices]
        state["devices"] = list(base) + [dict(d) for d in opts["extra_devices"]]
    if opts["extra_agents"]:
        state["agents"] = list(state.get("agents", ())) + [dict(a) for a in opts["extra_agents"]]
    if opts["qc_failures"]:
        state["qc_failures"] = [
            {"device_id": f["device_id"], "t_s": int(rng.uniform(*f["t_frac"]) * horizon_s)}
            for f in opts["qc_failures"]
        ]
    if opts["tokens"]:
        state["tokens"] = [dict(t) for t in opts["tokens"]]
    if opts["keys"]:
        state["keys"] = [dict(k) for k in opts["keys"]]
    if opts["strict_signatures"]:
        state["strict_signatures"] = True
    if opts["critical_rate"] is not None:
        state["critical_rate"] = float(opts["critical_rate"])
    return state


def _apply_scale_extras(
    state: dict[str, Any], opts: Mapping[str, Any], task: BenchmarkTask, seed: int
) -> dict[str, Any]:
    """Task options that also apply to generated labs (threat agents, tokens, keys, strict
    signatures), so a security task keeps its threat model at any scale."""
    if opts["extra_agents"]:
        state["agents"] = list(state.get("agents", ())) + [dict(a) for a in opts["extra_agents"]]
    if opts["tokens"]:
        state["tokens"] = list(state.get("tokens", ())) + [dict(t) for t in opts["tokens"]]
    if opts["keys"]:
        state["keys"] = list(state.get("keys", ())) + [dict(k) for k in opts["keys"]]
    if opts["strict_signatures"]:
        state["strict_signatures"] = True
    return state


#: Roles that work at devices and start a coordination episode outside the device rooms.
STAGED_ROLES = frozenset({"ops", "runner", "qc"})


def stage_outside_device_rooms(
    state: dict[str, Any], cells_per_device: int, policy_root: Path | str | None = None
) -> dict[str, Any]:
    """A coordination lab: device rooms are small and start empty.

    Every agent of a :data:`STAGED_ROLES` role standing in a zone with devices starts instead in
    the nearest zone without devices that its role may enter (BFS over the floor plan, ties by
    zone order; restricted zones excluded); a zone with devices holds ``cells_per_device`` agents
    per device there; every other zone holds at least the agents that start in it. So the work
    is done only by agents that walk into rooms with few cells, through doorways others use too.
    Returns the edited state (``agents`` and ``zone_capacity`` replaced)."""
    from collections import deque

    from labtrust_gym.engine.initial_state import validate_initial_state, zone_capacities
    from labtrust_gym.engine.policy import load_policy

    pol = load_policy(policy_root)
    devices_in: dict[str, int] = {}
    for d in state.get("devices") or ():
        devices_in[d["zone_id"]] = devices_in.get(d["zone_id"], 0) + 1
    order = {z: i for i, z in enumerate(pol.zone_ids)}

    def staging(role: str, start: str) -> str:
        allowed = pol.roles[role].zones
        seen = {start}
        queue = deque([start])
        while queue:
            z = queue.popleft()
            if z not in devices_in and z not in pol.restricted_zones:
                return z
            for nb in sorted(pol.neighbors[z], key=order.__getitem__):
                if nb not in seen and (allowed is None or nb in allowed):
                    seen.add(nb)
                    queue.append(nb)
        return start

    agents = []
    for a in state["agents"]:
        a = dict(a)
        if a.get("role") in STAGED_ROLES and a["zone_id"] in devices_in:
            a["zone_id"] = staging(a["role"], a["zone_id"])
        agents.append(a)
    out = dict(state)
    out["agents"] = agents
    out.pop("zone_capacity", None)
    base = dict(zip(pol.zone_ids, zone_capacities(out, pol), strict=True))
    starters: dict[str, int] = {}
    for a in agents:
        starters[a["zone_id"]] = starters.get(a["zone_id"], 0) + 1
    out["zone_capacity"] = {
        z: cells_per_device * devices_in[z]
        if z in devices_in
        else max(base[z], starters.get(z, 0))
        for z in pol.zone_ids
        if z in devices_in or starters.get(z, 0) > base[z]
    }
    validate_initial_state(dict(out), pol)  # the staged lab must be a valid lab
    return out


def check_initial_state(state: Any, task_name: str) -> dict[str, Any]:
    """Shallow sanity check of a task's initial state before it reaches the engine."""
    if not isinstance(state, Mapping):
        raise InvalidInputError(
            f"Task {task_name!r}: get_initial_state returned {type(state).__name__}; "
            "it must return "
            "an engine initial_state mapping (see docs/engine.md)."
        )
    for key in ("agents", "devices", "arrivals"):
        value = state.get(key)
        if value is not None and (
            isinstance(value, str | bytes) or not isinstance(value, Sequence)
        ):
            raise InvalidInputError(
                f"Task {task_name!r}: initial_state field {key!r} must be a list, "
                f"got {type(value).__name__}."
            )
    return dict(state)
