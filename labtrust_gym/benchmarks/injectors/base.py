"""The injector interface: the only way a risk injection touches an episode.

The episode loop (``labtrust_gym.benchmarks.episode``) calls, in order:

* :meth:`Injector.edit_state` once, on the initial state, before the env is reset;
* :meth:`Injector.on_reset` once, with the env and the coordination method (or ``None``);
* every step ``t``: :meth:`Injector.before_step` (physical state edits mid-episode),
  :meth:`Injector.observe` (what the agents / the method see), :meth:`Injector.actions` (the
  joint action the coordinator sends, before the env gets it) and :meth:`Injector.after_step`
  (what the engine answered: the injector's trace);
* :meth:`Injector.finish` once at the end (its :meth:`Injector.report`).

Every injector draws from ``random.Random(f"{injection_id}:{seed}")`` only, so an injected
episode is as reproducible as a clean one. Its :class:`SecTrace` records when it first acted,
how many events it injected and how the engine answered them, and when the injection's
detection and containment signals (policy data, ``risk_injections.v0.2.yaml``) first fired.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any, ClassVar

DEFAULT_WINDOW = (0.25, 1.0)


class SecTrace:
    """What happened after the injection was first applied (steps are env steps)."""

    __slots__ = (
        "accepted",
        "accepted_by_type",
        "applied_step",
        "contained_step",
        "detected_step",
        "injected",
        "last_accepted_step",
        "refused",
        "refused_by_type",
        "refused_steps",
    )

    def __init__(self) -> None:
        self.applied_step: int | None = None
        self.injected = 0  # perturbations: events forged/replayed/dropped/delayed/edited
        self.accepted = 0  # injected events the engine accepted
        self.refused = 0  # injected events the engine refused
        self.refused_steps: list[int] = []
        self.last_accepted_step: int | None = None
        #: action type of an injected event -> steps the engine accepted / refused one
        self.accepted_by_type: dict[str, list[int]] = {}
        self.refused_by_type: dict[str, list[int]] = {}
        self.detected_step: int | None = None
        self.contained_step: int | None = None


class Injector:
    """Base class: every hook is a no-op; subclasses override the ones their kind needs."""

    #: The ``mechanism`` value of the policy file this class implements, and its kind.
    mechanism: ClassVar[str] = ""
    kind: ClassVar[str] = ""

    def __init__(
        self, entry: Mapping[str, Any], seed: int, horizon_steps: int, dt_s: float
    ) -> None:
        self.entry = entry
        self.injection_id = str(entry["injection_id"])
        self.params: dict[str, Any] = dict(entry.get("params") or {})
        self.rng = random.Random(f"{self.injection_id}:{seed}")
        self.horizon_steps = int(horizon_steps)
        self.dt_s = float(dt_s)
        lo, hi = self.params.get("window", DEFAULT_WINDOW)
        self.start_step = int(float(lo) * self.horizon_steps)
        self.end_step = max(self.start_step + 1, int(float(hi) * self.horizon_steps))
        self.trace = SecTrace()
        #: ids (devices, agents, doors) the injection is about: emits about them detect it
        self.targets: set[str] = set()
        #: (agent, action type) whose event this step was injected (checked in after_step)
        self._pending: list[tuple[str, str]] = []
        self.env: Any = None
        self.method: Any = None
        self.policy_root: str | None = None  # set by build_injector
        self.final_report: dict[str, Any] = {}
        self._violations_seen = 0  # entries of the engine's violation log already read

    # ---- helpers -----------------------------------------------------------------------------
    def in_window(self, t: int) -> bool:
        return self.start_step <= t < self.end_step

    def applied(self, t: int, n: int = 1) -> None:
        """Record ``n`` perturbations at step ``t``."""
        if self.trace.applied_step is None:
            self.trace.applied_step = t
        self.trace.injected += n

    def inject_event(self, t: int, agent_id: str, action: Any = None) -> None:
        """Record that ``agent_id``'s event this step (``action``) is an injected one (engine
        answer checked after the step, per action type)."""
        self.applied(t)
        self.watch_event(agent_id, action)

    def watch_event(self, agent_id: str, action: Any = None) -> None:
        """Check the engine's answer to ``agent_id``'s (already counted) injected event this
        step after the step."""
        self._pending.append((agent_id, action_type_of(action)))

    def step_of(self, t_s: float) -> int:
        """The step during which the clock reaches ``t_s`` (step t advances it to (t+1)*dt)."""
        if self.dt_s <= 0:
            return 0
        return max(0, math.ceil(t_s / self.dt_s) - 1)

    # ---- hooks -------------------------------------------------------------------------------
    def edit_state(self, state: dict[str, Any]) -> dict[str, Any]:
        """The initial state, edited (before the env is reset)."""
        return state

    def on_reset(self, env: Any, method: Any) -> None:
        """The env (after reset) and the coordination method (``None``: the scripted baseline)."""
        self.env = env
        self.method = method
        log = getattr(getattr(env, "engine", None), "violation_log", None)
        self._violations_seen = len(log) if isinstance(log, list) else 0
        #: the engine's violation-log entries of the current step (None: no such log)
        self._step_violations: list[Mapping[str, Any]] | None = None

    def before_step(self, t: int) -> None:
        """Edit the lab's physical state before step ``t`` (a jammed door)."""

    def observe(
        self, obs: Mapping[str, Any], infos: Mapping[str, Any], t: int
    ) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
        """What the deciders see at step ``t`` (never mutate the env's own dicts: copy)."""
        return obs, infos

    def actions(self, joint: dict[str, Any], t: int) -> dict[str, Any]:
        """The joint action as it reaches the env at step ``t`` (a missing agent idles)."""
        return joint

    def after_step(
        self, infos: Mapping[str, Any], step_results: list[Mapping[str, Any]], t: int
    ) -> None:
        """Read the engine's answers to step ``t``: the trace and the detection signals."""
        trace = self.trace
        for aid, atype in self._pending:
            result = (infos.get(aid) or {}).get("step_result")
            status = result.get("status") if isinstance(result, Mapping) else None
            if status == "BLOCKED":
                trace.refused += 1
                trace.refused_steps.append(t)
                trace.refused_by_type.setdefault(atype, []).append(t)
                code = str(result.get("blocked_reason_code") or "")  # type: ignore[union-attr]
                if trace.detected_step is None and self._refusal_detects(code):
                    trace.detected_step = t
            elif status == "ACCEPTED":
                trace.accepted += 1
                trace.last_accepted_step = t
                trace.accepted_by_type.setdefault(atype, []).append(t)
        self._pending = []
        # this step's violations, read every step: one from before the injection acted is
        # never taken for its detection, and every signal sees the same slice
        log = getattr(getattr(self.env, "engine", None), "violation_log", None)
        if isinstance(log, list):
            self._step_violations = log[self._violations_seen:]
            self._violations_seen = len(log)
        if trace.applied_step is None:
            return
        if trace.detected_step is None and self._signal_fires(infos, step_results):
            trace.detected_step = t
        if trace.detected_step is not None and trace.contained_step is None:
            signal = self.entry["containment"]["signal"]
            if (
                signal == "emit"
                and self._emitted(infos, self.entry["containment"].get("emits") or ())
            ) or (signal == "recovered" and self._recovered(infos)):
                trace.contained_step = t

    def finish(self) -> None:
        """Called once when the injected episode ends (the engine still holds its final state):
        computes :meth:`report`."""
        self.final_report = self.report()

    def report(self) -> dict[str, Any]:
        """Extra ``sec_*`` counters of this injector (e.g. what a colluding auction reports,
        drifted results released)."""
        return {}

    # ---- detection ---------------------------------------------------------------------------
    def _signals(self) -> list[Mapping[str, Any]]:
        return list(self.entry["detection"].get("signals") or ())

    def _refusal_detects(self, code: str) -> bool:
        for sig in self._signals():
            prefixes = sig.get("refusal")
            if prefixes is not None and (not prefixes or code.startswith(tuple(prefixes))):
                return True
        return False

    def _signal_fires(
        self, infos: Mapping[str, Any], step_results: list[Mapping[str, Any]]
    ) -> bool:
        for sig in self._signals():
            if "emit" in sig and self._emitted(infos, sig["emit"]):
                return True
            if sig.get("violation") and self._violated(sig["violation"], step_results):
                return True
        return False

    def _violated(self, ids: Any, step_results: list[Mapping[str, Any]]) -> bool:
        """A violation this step of one of ``ids`` (invariant ids or reason codes) that is about
        the injection's target: a violation whose details name a door/device/zone/... id
        (``*_id`` other than agents) must name one of :attr:`targets`. Read from the engine's
        violation log (it holds the details); without one, from the step results (ids only)."""
        wanted = {str(i) for i in ids}
        new = self._step_violations
        if new is None:
            return any(
                v.get("status") == "VIOLATION"
                and (v.get("invariant_id") in wanted or v.get("reason_code") in wanted)
                for r in step_results
                for v in r.get("violations") or ()
            )
        for v in new:
            if v.get("invariant_id") not in wanted and v.get("reason_code") not in wanted:
                continue
            details = v.get("details")
            named = {
                str(x)
                for k, x in (details.items() if isinstance(details, Mapping) else ())
                if k.endswith("_id") and "agent" not in k and isinstance(x, str)
            }
            if not self.targets or not named or named & self.targets:
                return True
        return False

    def _recovered(self, infos: Mapping[str, Any]) -> bool:
        """Every target device is up on the lab board (neither faulted nor QC-failed)."""
        lab = _lab_info(infos)
        down = lab.get("device_down") if lab is not None else None
        if down is None or not self.targets:
            return False
        ids = self.env.engine.device_ids
        return all(not down[i] for i, d in enumerate(ids) if d in self.targets)

    def _emitted(self, infos: Mapping[str, Any], types: Any) -> bool:
        lab = _lab_info(infos)
        if lab is None:
            return False
        wanted = set(types)
        for e in lab.get("system_emits") or ():
            if e.get("emit") in wanted and (not self.targets or e.get("id") in self.targets):
                return True
        return False


def _lab_info(infos: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for info in infos.values():
        lab = info.get("lab") if isinstance(info, Mapping) else None
        if lab is not None:
            return lab  # one dict shared by every agent
    return None


def action_type_of(action: Any) -> str:
    """The action type of an injected action (dict ``action_type``, else its index)."""
    if isinstance(action, Mapping):
        atype = action.get("action_type")
        if atype is not None:
            return str(atype)
        return f"#{int(action.get('action_index') or 0)}"
    if isinstance(action, int):
        return f"#{action}"
    return "?"


def event(action_type: str, args: Mapping[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """An explicit engine event as an action dict (the env fills time, signs if it may)."""
    from labtrust_gym.envs.action_contract import explicit_event

    return explicit_event(action_type, args, **extra)


def agents_with_role(env: Any, roles: tuple[str, ...] | list[str]) -> list[str]:
    """Lab agents of ``env`` whose role is one of ``roles`` (env order)."""
    wanted = set(roles)
    return [
        a for a, r in zip(env.possible_agents, env.domain.agent_roles, strict=True) if r in wanted
    ]
