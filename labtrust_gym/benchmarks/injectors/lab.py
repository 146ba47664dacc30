"""Injections into the lab's physical state: an analyzer fault, QC drift, a mis-parameterised
device (edits of the initial state, scheduled by the seed) and a door jammed open (an edit of
the running lab each step of the window, like any physical fault: not an agent's event)."""

from __future__ import annotations

from typing import Any

from .base import Injector


class _DeviceInjector(Injector):
    def _devices(self, state: dict[str, Any]) -> list[str]:
        dtype = self.params.get("device_type")
        return sorted(
            d["device_id"] for d in state.get("devices") or () if d.get("device_type") == dtype
        )

    def _window_t_s(self) -> tuple[float, float]:
        return self.start_step * self.dt_s, self.end_step * self.dt_s


class DeviceFault(_DeviceInjector):
    """A seeded device of ``device_type`` faults from the window's start to its end."""

    mechanism = "device_fault"
    kind = "state"

    def edit_state(self, state: dict[str, Any]) -> dict[str, Any]:
        devices = self._devices(state)
        if not devices:
            return state
        device_id = self.rng.choice(devices)
        start, end = self._window_t_s()
        out = dict(state)
        out["device_faults"] = [
            *(state.get("device_faults") or ()),
            {"device_id": device_id, "t_s": start, "duration_s": max(1.0, end - start)},
        ]
        self.targets = {device_id}
        self.applied(self.step_of(start))
        return out


class QCDrift(_DeviceInjector):
    """``count`` drifts of seeded devices of ``device_type`` starting at seeded times in the
    window. A drift goes unnoticed for ``undetected_s``: the analyzer keeps producing (wrong)
    results, which agents may release; then its QC check fails (the engine's QC failure: its
    unreleased results are held, runs stop until QC is re-run)."""

    mechanism = "qc_drift"
    kind = "state"

    def edit_state(self, state: dict[str, Any]) -> dict[str, Any]:
        devices = self._devices(state)
        if not devices:
            return state
        start, end = self._window_t_s()
        undetected = float(self.params.get("undetected_s", 300.0))
        self.drifts: list[tuple[str, float, float]] = []
        for _ in range(max(1, int(self.params.get("count", 1)))):
            device_id = self.rng.choice(devices)
            t_s = float(int(self.rng.uniform(start, end)))
            self.drifts.append((device_id, t_s, t_s + undetected))
            self.targets.add(device_id)
        self.drifts.sort(key=lambda d: (d[1], d[0]))
        failures = [{"device_id": d, "t_s": caught} for d, _t, caught in self.drifts]
        out = dict(state)
        out["qc_failures"] = [*(state.get("qc_failures") or ()), *failures]
        self.applied(self.step_of(self.drifts[0][1]), len(self.drifts))
        return out

    def report(self) -> dict[str, Any]:
        """Results the drifting analyzers produced while their drift went unnoticed, and how
        many of them were released (a wrong result reached the ward)."""
        drifts = getattr(self, "drifts", [])
        produced = released = 0
        for r in self.env.engine.results.values():
            t = r.generated_t_s
            if any(r.device_id == d and t0 <= t < t1 for d, t0, t1 in drifts):
                produced += 1
                released += r.status == "released"
        return {"sec_results_drifted": produced, "sec_results_drifted_released": released}


class DeviceMisparam(_DeviceInjector):
    """A seeded device of ``device_type`` runs ``service_time_factor`` x its nominal service
    time (a per-device ``service_time_s`` in the initial state)."""

    mechanism = "device_misparam"
    kind = "state"

    def edit_state(self, state: dict[str, Any]) -> dict[str, Any]:
        devices = self._devices(state)
        if not devices:
            return state
        from labtrust_gym.engine.policy import load_policy

        device_id = self.rng.choice(devices)
        factor = float(self.params.get("service_time_factor", 3.0))
        out = dict(state)
        edited = []
        for d in state.get("devices") or ():
            if d["device_id"] == device_id:
                nominal = float(
                    load_policy(self.policy_root).device_types[d["device_type"]]["service_time_s"]
                )
                d = {**d, "service_time_s": round(nominal * factor, 3)}
            edited.append(d)
        out["devices"] = edited
        self.targets = {device_id}
        self.applied(0)
        return out


class DoorStuck(Injector):
    """Door ``door_id`` is held open from the window's start to its end, whatever agents do."""

    mechanism = "door_stuck"
    kind = "state"

    def on_reset(self, env: Any, method: Any) -> None:
        super().on_reset(env, method)
        door = str(self.params.get("door_id", "D_AIRLOCK_OUTER"))
        eng = env.engine
        self.door = door if door in getattr(eng, "door_index", {}) else None
        self.targets = {self.door} if self.door else set()

    def before_step(self, t: int) -> None:
        from labtrust_gym.engine.actions_trust import jam_door_open

        door = self.door
        if door is not None and self.in_window(t) and jam_door_open(self.env.engine, door):
            self.applied(t)  # the jam: a closed door is open again at once
