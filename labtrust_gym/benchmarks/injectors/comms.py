"""Injections between the coordinator and the agents: lost, delayed and starved orders, and a
poisoned view of the lab board.

"The coordinator" is whoever produced the joint action: the coordination method, or the
scripted baseline; threat agents are not on this channel (their actions are added after).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import Injector


def is_noop(action: Any) -> bool:
    """Whether an action carries nothing (index 0 / a NOOP dict): losing it changes nothing."""
    if isinstance(action, Mapping):
        atype = action.get("action_type")
        if atype is not None:
            return bool(atype == "NOOP")
        return action.get("entry") is None and int(action.get("action_index") or 0) == 0
    try:
        return int(action) == 0
    except (TypeError, ValueError):
        return False


class MessageDrop(Injector):
    """Each order is lost with probability ``drop_rate`` inside the window (the agent idles)."""

    mechanism = "msg_drop"
    kind = "message"

    def actions(self, joint: dict[str, Any], t: int) -> dict[str, Any]:
        if not self.in_window(t):
            return joint
        rate = float(self.params.get("drop_rate", 0.2))
        rnd = self.rng.random
        out: dict[str, Any] = {}
        lost = 0
        for aid in sorted(joint):
            action = joint[aid]
            if rnd() < rate and not is_noop(action):
                lost += 1
                continue
            out[aid] = action
        if lost:
            self.applied(t, lost)
        return out


class MessageDelay(Injector):
    """Orders to a seeded share of the agents arrive ``delay_steps`` late; the agent idles
    meanwhile and then executes the stale order (an injected event: the engine may refuse it).

    A held order is a perturbation from the step it is held (``sec_applied_step``,
    ``sec_injected_events``); orders still held when the window (or the episode) ends are never
    delivered and are counted as ``sec_orders_discarded``."""

    mechanism = "msg_delay"
    kind = "message"

    def on_reset(self, env: Any, method: Any) -> None:
        super().on_reset(env, method)
        agents = sorted(env.possible_agents)
        k = max(1, round(float(self.params.get("agents_frac", 0.5)) * len(agents)))
        self.delayed = set(self.rng.sample(agents, min(k, len(agents))))
        self.queue: dict[int, dict[str, Any]] = {}
        self.discarded = 0

    def _discard(self) -> None:
        self.discarded += sum(len(held) for held in self.queue.values())
        self.queue.clear()

    def actions(self, joint: dict[str, Any], t: int) -> dict[str, Any]:
        if not self.in_window(t):
            self._discard()
            return joint
        delay = max(1, int(self.params.get("delay_steps", 3)))
        due = self.queue.pop(t, {})
        held: dict[str, Any] = {}
        out: dict[str, Any] = {}
        for aid in sorted(joint):
            action = joint[aid]
            if aid in self.delayed:
                if not is_noop(action):
                    held[aid] = action
            else:
                out[aid] = action
        if held:
            self.queue[t + delay] = held
            self.applied(t, len(held))
        for aid in sorted(due):
            if aid in joint:  # still a live agent
                out[aid] = due[aid]
                self.watch_event(aid, due[aid])
            else:
                self.discarded += 1
        return out

    def finish(self) -> None:
        self._discard()
        super().finish()

    def report(self) -> dict[str, Any]:
        return {"sec_orders_discarded": self.discarded}


class PlannerDenialOfService(Injector):
    """The planner's compute budget is exhausted: a method with ``compute_budget`` gets
    ``params.compute_budget`` units per step in the window, and on a seeded ``starve_rate`` of
    the window's steps the planner misses its deadline (no orders reach the agents)."""

    mechanism = "planner_dos"
    kind = "method"

    def on_reset(self, env: Any, method: Any) -> None:
        super().on_reset(env, method)
        self._saved_budget: Any = None
        self._throttled = False

    def before_step(self, t: int) -> None:
        method = self.method
        if method is None or not hasattr(method, "compute_budget"):
            return
        if self.in_window(t) and not self._throttled:
            self._saved_budget = method.compute_budget
            method.compute_budget = int(self.params.get("compute_budget", 1))
            self._throttled = True
        elif not self.in_window(t) and self._throttled:
            method.compute_budget = self._saved_budget
            self._throttled = False

    def actions(self, joint: dict[str, Any], t: int) -> dict[str, Any]:
        if not self.in_window(t):
            return joint
        if self.rng.random() >= float(self.params.get("starve_rate", 0.6)):
            if self._throttled:
                self.applied(t, 0)  # the throttled budget is itself the attack
            return joint
        lost = sum(1 for a in joint.values() if not is_noop(a))
        self.applied(t, lost)
        return {}


class ObservationPoison(Injector):
    """Poisoned agents see devices of ``device_type`` down with full queues and no ready work of
    that type. The poisoned set is a seeded ``agents_frac`` of the agents plus the first and the
    last agent (whose observation and info a whole-lab view reads: toolkit ``CoordinationView``)."""

    mechanism = "obs_poison"
    kind = "observation"

    def on_reset(self, env: Any, method: Any) -> None:
        super().on_reset(env, method)
        eng = env.engine
        dtype = str(self.params.get("device_type", "CHEM_ANALYZER"))
        self.dev_rows = [
            i for i, d in enumerate(eng.device_ids) if eng.devices[d].device_type == dtype
        ]
        self.targets = {eng.device_ids[i] for i in self.dev_rows}
        types = list(eng.device_type_ids)
        self.type_row = types.index(dtype) if dtype in types else None
        agents = list(env.possible_agents)
        k = round(float(self.params.get("agents_frac", 0.5)) * len(agents))
        chosen = set(self.rng.sample(sorted(agents), min(k, len(agents))))
        self.poisoned = chosen | {agents[0], agents[-1]} if agents else chosen

    def observe(
        self, obs: Mapping[str, Any], infos: Mapping[str, Any], t: int
    ) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
        if not self.in_window(t) or not self.dev_rows:
            return obs, infos
        lab = next((i.get("lab") for i in infos.values() if isinstance(i, Mapping)), None)
        fake_lab = self._poison_lab(lab) if lab is not None else None
        new_obs = dict(obs)
        new_infos = dict(infos)
        for aid in self.poisoned:
            info = infos.get(aid)
            if fake_lab is not None and isinstance(info, Mapping):
                new_infos[aid] = {**info, "lab": fake_lab}
            ob = obs.get(aid)
            if self.type_row is not None and isinstance(ob, Mapping):
                inner = ob.get("observation")
                if isinstance(inner, Mapping) and inner.get("work") is not None:
                    work = inner["work"].copy()
                    work[self.type_row] = 0
                    new_obs[aid] = {**ob, "observation": {**inner, "work": work}}
        self.applied(t, len(self.poisoned))
        return new_obs, new_infos

    def _poison_lab(self, lab: Mapping[str, Any]) -> dict[str, Any]:
        fake = dict(lab)
        down = list(lab.get("device_down") or ())
        qlen = list(lab.get("device_queue_lengths") or ())
        for i in self.dev_rows:
            if i < len(down):
                down[i] = 1
            if i < len(qlen):
                qlen[i] = max(int(qlen[i]), 64)
        fake["device_down"] = down
        fake["device_queue_lengths"] = qlen
        return fake
