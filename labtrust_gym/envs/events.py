"""Turn one step's actions into engine events (the action contract made concrete).

Bare indices get their arguments from the vectorised tables of :class:`LabViews`:

* MOVE → a passable neighbour the role may enter, drawn with the env's seeded RNG;
* QUEUE_RUN → the shortest-queue device in the agent's zone whose type has ready work, and the
  head of that type's ready list (each specimen is handed to at most one agent per step);
* OPEN_DOOR → the first closed door touching the agent's zone;
* START_RUN → the idle, healthy device in the agent's zone with the longest queue.

When nothing fits (the index was not in the mask), the event still goes to the engine with the
closest real target (or without the argument), so the agent receives a BLOCKED result with the
engine's reason code — never a phantom accepted no-op.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from labtrust_gym.envs.action_contract import (
    ACTION_MOVE,
    ACTION_NAMES,
    ACTION_OPEN_DOOR,
    ACTION_QUEUE_RUN,
    ACTION_START_RUN,
    ACTION_TICK,
)
from labtrust_gym.envs.views import LabViews

_EXTRA_KEYS = ("reason_code", "token_refs", "key_id", "signature")
_BARE_ARG = {
    "MOVE": "to_zone",
    "OPEN_DOOR": "door_id",
    "QUEUE_RUN": "device_id",
    "START_RUN": "device_id",
}


class EventBuilder:
    """Builds the event list of a step; holds the RNG used for bare MOVE targets."""

    def __init__(self, engine: Any, views: LabViews) -> None:
        self.engine = engine
        self.views = views
        self.rng = np.random.default_rng(0)
        z = views.z
        # Fallback targets (not necessarily valid) so a masked-out bare action reaches the engine.
        self.zone_any_device = np.full(z, -1, dtype=np.intp)
        for dev in range(views.d - 1, -1, -1):
            self.zone_any_device[views.device_zone[dev]] = dev
        self.zone_any_door = (
            np.where(views.zone_door.any(axis=1), views.zone_door.argmax(axis=1), -1)
            if views.zone_door.size
            else np.full(z, -1, dtype=np.intp)
        )
        self._ready: dict[str, deque[str]] = {}
        self._has_ready_view = hasattr(engine, "ready_specimens")

    def reset(self, rng: np.random.Generator) -> None:
        self.rng = rng

    # ------------------------------------------------------------------ per step
    def build(
        self, idx: np.ndarray, custom: Mapping[int, Mapping[str, Any]] | None, t: float | int
    ) -> tuple[list[dict[str, Any]], list[int], list[str]]:
        """Events (in agent order), the agent row of each event and its action type."""
        v = self.views
        az = self.engine.agent_zone
        roles = v.agent_role_row
        ids = v.agent_ids
        self._ready.clear()

        acting = idx != 0
        if custom:
            for r, given in custom.items():
                atype = given.get("action_type")
                acting[r] = atype != "NOOP" if atype else bool(idx[r])
        rows = np.flatnonzero(acting)
        if rows.size == 0:
            return [], [], []
        kinds = idx[rows]

        move_to: dict[int, str] = {}
        m_rows = rows[kinds == ACTION_MOVE]
        if m_rows.size:
            move_to = dict(zip(m_rows.tolist(), v.move_targets(m_rows, az, self.rng), strict=True))
        door_at: dict[int, Any] = {}
        d_rows = rows[kinds == ACTION_OPEN_DOOR]
        if d_rows.size:
            doors = v.closed_door_at[az[d_rows]]
            doors = np.where(doors >= 0, doors, self.zone_any_door[az[d_rows]])
            door_at = dict(zip(d_rows.tolist(), doors.tolist(), strict=True))
        start_at: dict[int, int] = {}
        s_rows = rows[kinds == ACTION_START_RUN]
        if s_rows.size:
            devs = v.start_dev[roles[s_rows], az[s_rows]]
            devs = np.where(devs >= 0, devs, self.zone_any_device[az[s_rows]])
            start_at = dict(zip(s_rows.tolist(), devs.tolist(), strict=True))
        queue_at: dict[int, int] = {}
        q_rows = rows[kinds == ACTION_QUEUE_RUN]
        if q_rows.size:
            devs = v.queue_dev[roles[q_rows], az[q_rows]]
            devs = np.where(devs >= 0, devs, self.zone_any_device[az[q_rows]])
            queue_at = dict(zip(q_rows.tolist(), devs.tolist(), strict=True))

        names = ACTION_NAMES
        dev_ids = v.device_ids
        door_ids = v.door_ids
        events: list[dict[str, Any]] = []
        types: list[str] = []
        append = events.append
        for r, k in zip(rows.tolist(), kinds.tolist(), strict=True):
            act = custom.get(r) if custom else None
            if act is not None and act.get("action_type"):
                ev = self._custom_event(r, k, act, t, move_to, door_at, start_at, queue_at)
                append(ev)
                types.append(ev["action_type"])
                continue
            if k == ACTION_TICK:
                args: dict[str, Any] = {}
            elif k == ACTION_MOVE:
                args = {"to_zone": move_to[r]}
            elif k == ACTION_OPEN_DOOR:
                door = door_at[r]
                args = {"door_id": door_ids[door]} if door >= 0 else {}
            elif k == ACTION_START_RUN:
                dev = start_at[r]
                args = {"device_id": dev_ids[dev]} if dev >= 0 else {}
            else:  # ACTION_QUEUE_RUN
                args = self._queue_args(queue_at[r])
            ev = {"t_s": t, "agent_id": ids[r], "action_type": names[k], "args": args}
            if act is not None:
                _copy_extras(act, ev)
                if act.get("args"):
                    ev["args"] = {**args, **act["args"]}
            append(ev)
            types.append(names[k])
        return events, rows.tolist(), types

    # ------------------------------------------------------------------ helpers
    def _queue_args(self, dev: int) -> dict[str, Any]:
        if dev < 0:
            return {}
        device_id = self.views.device_ids[dev]
        dtype = self.views.device_type_ids[self.views.device_type[dev]]
        spec = self._next_ready(dtype)
        if spec is None:
            return {"device_id": device_id}
        return {"device_id": device_id, "specimen_id": spec}

    def _next_ready(self, dtype: str) -> str | None:
        ready = self._ready.get(dtype)
        if ready is None:
            ready = deque(self._ready_list(dtype))
            self._ready[dtype] = ready
        return ready.popleft() if ready else None

    def _ready_list(self, dtype: str) -> list[str]:
        eng = self.engine
        if self._has_ready_view:
            return list(eng.ready_specimens(dtype))
        work = eng.work_by_device_type[self.views.device_type_ids.index(dtype)]
        if work <= 0:
            return []
        # Fallback through public queries: O(backlog), only when a bare QUEUE_RUN needs it.
        out: list[tuple[int, float, str]] = []
        rank = {"STAT": 0, "URGENT": 1, "ROUTINE": 2}
        for status in ("accepted", "staged"):
            for sid in eng.query(f"specimens({status})"):
                if eng.query(f"next_device_type({sid})") == dtype:
                    info = eng.query(f"specimen({sid})")
                    out.append((rank.get(info.get("priority"), 3), info.get("arrival_t_s", 0), sid))
        out.sort()
        return [sid for _, _, sid in out]

    def _custom_event(
        self,
        r: int,
        k: int,
        act: Mapping[str, Any],
        t: float | int,
        move_to: Mapping[int, str],
        door_at: Mapping[int, Any],
        start_at: Mapping[int, int],
        queue_at: Mapping[int, int],
    ) -> dict[str, Any]:
        """An explicit ``action_type`` event; missing bare-action args are filled as for a bare
        index of the same name."""
        v = self.views
        atype = str(act["action_type"])
        args = dict(act.get("args") or {})
        needed = _BARE_ARG.get(atype)
        if needed is not None and needed not in args:
            row = np.array([r])
            az = self.engine.agent_zone
            if atype == "MOVE":
                args["to_zone"] = move_to.get(r) or v.move_targets(row, az, self.rng)[0]
            elif atype == "OPEN_DOOR":
                door = int(v.closed_door_at[az[r]])
                door = door if door >= 0 else int(self.zone_any_door[az[r]])
                if door >= 0:
                    args["door_id"] = v.door_ids[door]
            elif atype == "START_RUN":
                dev = int(v.start_dev[v.agent_role_row[r], az[r]])
                dev = dev if dev >= 0 else int(self.zone_any_device[az[r]])
                if dev >= 0:
                    args["device_id"] = v.device_ids[dev]
            else:  # QUEUE_RUN
                dev = int(v.queue_dev[v.agent_role_row[r], az[r]])
                dev = dev if dev >= 0 else int(self.zone_any_device[az[r]])
                filled = self._queue_args(dev)
                filled.update(args)
                args = filled
        ev: dict[str, Any] = {
            "t_s": t,
            "agent_id": v.agent_ids[r],
            "action_type": atype,
            "args": args,
        }
        _copy_extras(act, ev)
        return ev


def _copy_extras(act: Mapping[str, Any], ev: dict[str, Any]) -> None:
    for key in _EXTRA_KEYS:
        value = act.get(key)
        if value is not None:
            ev[key] = list(value) if key == "token_refs" else value


class EventSigner:
    """Signs events on behalf of agents of a generated lab (strict_signatures).

    Keys are the generator's deterministic ones (``K_<agent_id>`` derived from
    :data:`labtrust_gym.envs.scale.SCALE_KEY_SECRET`); private keys are derived lazily, once per
    agent. Events that already carry a ``signature`` are left alone (an agent may sign itself,
    or forge on purpose in a security task).
    """

    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self._private: dict[str, Any] = {}

    def sign(self, events: list[dict[str, Any]]) -> None:
        from labtrust_gym.engine.signing import derive_keypair, sign_event

        for ev in events:
            if "signature" in ev:
                continue
            agent = ev["agent_id"]
            key = self._private.get(agent)
            if key is None:
                key = derive_keypair(agent, secret=self.secret)[0]
                self._private[agent] = key
            ev["key_id"] = f"K_{agent}"
            ev["signature"] = sign_event(ev, key)

    @classmethod
    def for_state(cls, state: Mapping[str, Any]) -> EventSigner | None:
        """A signer when ``state`` is a strict-signature lab made by the scale generator."""
        if not state.get("strict_signatures") or not state.get("keys") or not state.get("agents"):
            return None
        from labtrust_gym.engine.signing import derive_keypair
        from labtrust_gym.envs.scale import SCALE_KEY_SECRET

        first = state["agents"][0]["agent_id"]
        for key in state["keys"]:
            if (
                key.get("agent_id") == first
                and key.get("key_id") == f"K_{first}"
                and key.get("public_key_b64") == derive_keypair(first, secret=SCALE_KEY_SECRET)[1]
            ):
                return cls(SCALE_KEY_SECRET)
        return None
