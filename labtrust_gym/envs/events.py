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
    NUM_ACTIONS,
)
from labtrust_gym.envs.views import LabViews
from labtrust_gym.errors import InvalidInputError

_EXTRA_KEYS = ("reason_code", "token_refs", "key_id", "signature")
_NO_ARGS: dict[str, Any] = {}
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
        self._device_row = {d: i for i, d in enumerate(views.device_ids)}

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
        explicit: set[int] = set()
        if custom:
            for r, given in custom.items():
                atype = given.get("action_type")
                if atype:
                    acting[r] = atype != "NOOP"
                    if atype != "NOOP":
                        explicit.add(r)
        rows = np.flatnonzero(acting)
        if rows.size == 0:
            return [], [], []
        kinds = idx[rows]
        rows_l: list[int] = rows.tolist()
        kinds_l: list[int] = kinds.tolist()
        # TICK (and rows replaced below) share one empty args dict: events are handed to the
        # engine only, which never mutates them, and this saves a dict per TICK.
        args_l: list[Any] = [_NO_ARGS] * len(rows_l)
        if explicit:  # explicit action types are built one by one below, not vectorised
            bare = [p for p, r in enumerate(rows_l) if r not in explicit]
            if not bare:
                return self._explicit_only(rows_l, custom or {}, t)
            kinds = kinds.copy()
            kinds[[p for p, r in enumerate(rows_l) if r in explicit]] = 0
        # Validate the range, then positions of each kind from one stable sort.
        if int(kinds.min()) < 0 or int(kinds.max()) >= NUM_ACTIONS:
            bad = int(kinds[(kinds < 0) | (kinds >= NUM_ACTIONS)][0])
            raise InvalidInputError(
                f"Action index {bad} is out of range; use 0..{NUM_ACTIONS - 1} "
                f"({', '.join(ACTION_NAMES)})."
            )
        counts = np.bincount(kinds, minlength=NUM_ACTIONS).tolist()
        order = np.argsort(kinds, kind="stable")
        ends = np.cumsum(counts).tolist()

        def positions(kind: int) -> np.ndarray:
            return order[ends[kind - 1] : ends[kind]]

        if counts[ACTION_MOVE]:
            pos = positions(ACTION_MOVE)
            targets = v.move_targets(rows[pos], self.rng)
            for p, zt in zip(pos.tolist(), targets, strict=True):
                args_l[p] = {"to_zone": zt}
        if counts[ACTION_OPEN_DOOR]:
            pos = positions(ACTION_OPEN_DOOR)
            zs = az[rows[pos]]
            doors = v.closed_door_at[zs]
            doors = np.where(doors >= 0, doors, self.zone_any_door[zs])
            door_ids = v.door_ids
            for p, door in zip(pos.tolist(), doors.tolist(), strict=True):
                args_l[p] = {"door_id": door_ids[door]} if door >= 0 else {}
        if counts[ACTION_START_RUN]:
            pos = positions(ACTION_START_RUN)
            sr = rows[pos]
            devs = v.start_dev[roles[sr], az[sr]]
            devs = np.where(devs >= 0, devs, self.zone_any_device[az[sr]])
            dev_ids = v.device_ids
            for p, dev in zip(pos.tolist(), devs.tolist(), strict=True):
                args_l[p] = {"device_id": dev_ids[dev]} if dev >= 0 else {}
        if counts[ACTION_QUEUE_RUN]:
            pos = positions(ACTION_QUEUE_RUN)
            qr = rows[pos]
            devs = v.queue_dev[roles[qr], az[qr]]
            devs = np.where(devs >= 0, devs, self.zone_any_device[az[qr]])
            for p, dev in zip(pos.tolist(), devs.tolist(), strict=True):
                args_l[p] = self._queue_args(dev)

        names = ACTION_NAMES
        types = [names[k] for k in kinds_l]
        events = [
            {"t_s": t, "agent_id": ids[r], "action_type": nm, "args": a}
            for r, nm, a in zip(rows_l, types, args_l, strict=True)
        ]
        if custom:
            where = {r: i for i, r in enumerate(rows_l)}
            for r, act in custom.items():
                found = where.get(r)
                if found is None:
                    continue
                p = found
                if act.get("action_type"):
                    ev = self._custom_event(r, act, t)
                    events[p] = ev
                    types[p] = ev["action_type"]
                else:  # a bare index given as a dict: extras and extra args ride along
                    ev = events[p]
                    _copy_extras(act, ev)
                    extra = act.get("args")
                    if extra:
                        base = ev["args"]
                        if (
                            types[p] == "QUEUE_RUN"
                            and "device_id" in extra
                            and extra["device_id"] != base.get("device_id")
                        ):  # another device than the bare target: a specimen of its type
                            base = self._queue_args_for(extra["device_id"])
                        ev["args"] = {**base, **extra}
        return events, rows_l, types

    # ------------------------------------------------------------------ helpers
    def _explicit_only(
        self, rows_l: list[int], custom: Mapping[int, Mapping[str, Any]], t: float | int
    ) -> tuple[list[dict[str, Any]], list[int], list[str]]:
        events = [self._custom_event(r, custom[r], t) for r in rows_l]
        return events, rows_l, [ev["action_type"] for ev in events]

    def _queue_args_for(self, device_id: Any) -> dict[str, Any]:
        """Bare QUEUE_RUN args for a device the agent named (unknown: the engine refuses it)."""
        row = self._device_row.get(device_id, -1) if isinstance(device_id, str) else -1
        return self._queue_args(row)

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
        if not self._has_ready_view:  # a domain without the view: the engine names what is missing
            return []
        return list(self.engine.ready_specimens(dtype))

    def _custom_event(self, r: int, act: Mapping[str, Any], t: float | int) -> dict[str, Any]:
        """An explicit ``action_type`` event; missing bare-action args are filled as for a bare
        index of the same name."""
        v = self.views
        atype = str(act["action_type"])
        args = dict(act.get("args") or {})
        needed = _BARE_ARG.get(atype)
        if atype == "QUEUE_RUN" and "device_id" in args and "specimen_id" not in args:
            args = {**self._queue_args_for(args["device_id"]), **args}
        elif needed is not None and needed not in args:
            row = np.array([r])
            az = self.engine.agent_zone
            if atype == "MOVE":
                args["to_zone"] = v.move_targets(row, self.rng)[0]
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
    """Signs events on behalf of agents (strict-signature labs).

    Two key sources: explicit keys (``{agent_id: private_key}`` or ``{agent_id: (key_id,
    private_key)}``; the key id defaults to ``K_<agent_id>``) and, for labs made by the scale
    generator, the generator's deterministic keys (``K_<agent_id>`` derived from
    :data:`labtrust_gym.envs.scale.SCALE_KEY_SECRET`, derived lazily once per agent). Events that
    already carry a ``signature`` or ``mac`` are left alone (an agent may sign itself, or forge
    on purpose in a security task); agents without a key send unauthenticated events (the
    engine refuses them with ``SIG.MISSING``).

    Every authenticated event gets the agent's next sequence number (``seq``, above the last
    one the engine accepted from it), so the engine can refuse replays. When the lab's
    signature mode is ``session`` (docs/engine.md), the agent's first event — and the first
    after its session expired or was closed — is an Ed25519-signed handshake carrying a fresh
    X25519 key; later events carry an HMAC-SHA256 under the session key.
    """

    def __init__(self, secret: bytes | None = None, keys: Mapping[str, Any] | None = None) -> None:
        self.secret = secret
        self._keys: dict[str, tuple[str, Any]] = {}
        for agent, value in (keys or {}).items():
            if isinstance(value, tuple):
                self._keys[agent] = (str(value[0]), value[1])
            else:
                self._keys[agent] = (f"K_{agent}", value)
        self._seq: dict[str, int] = {}
        self._sessions: dict[str, tuple[str, Any]] = {}  # agent -> (session_id, HmacSha256)

    def sign(self, events: list[dict[str, Any]], engine: Any = None) -> None:
        """Authenticate ``events`` in place (``engine``: the engine they are for; its
        authentication state gives the sequence numbers and whether sessions are used)."""
        import orjson

        from labtrust_gym.engine.signing import (
            HmacSha256,
            derive_keypair,
            open_session,
            private_bytes,
            sign_event,
        )

        dumps, sort = orjson.dumps, orjson.OPT_SORT_KEYS

        auth: Any = getattr(engine, "auth", None)
        sessions_on = auth is not None and auth.mode == "session"
        last_seq = auth.last_seq if auth is not None else {}
        own_seq = self._seq
        for ev in events:
            if "signature" in ev or "mac" in ev:
                continue
            agent = ev["agent_id"]
            entry = self._keys.get(agent)
            if entry is None:
                if self.secret is None:
                    continue
                entry = (f"K_{agent}", derive_keypair(agent, secret=self.secret)[0])
                self._keys[agent] = entry
            seq = max(own_seq.get(agent, 0), last_seq.get(agent, 0)) + 1
            own_seq[agent] = seq
            if not sessions_on:
                ev["key_id"] = entry[0]
                ev["seq"] = seq
                ev["signature"] = sign_event(ev, entry[1])
                continue
            mine = self._sessions.get(agent)
            open_ = auth.sessions.get(agent)
            if (
                mine is not None
                and open_ is not None
                and open_.session_id == mine[0]
                and ev["t_s"] <= open_.expires_t_s
            ):
                ev["session_id"] = mine[0]  # as signing.mac_sign, inlined: once per event
                ev["seq"] = seq
                ev["mac"] = mine[1].hexdigest(dumps(ev, option=sort))
                continue
            eph_seed = b"|".join((b"session", private_bytes(entry[1]), agent.encode(), b"%d" % seq))
            sid, key = open_session(
                ev, entry[0], seq, entry[1], eph_seed, auth.session_public_key_b64
            )
            self._sessions[agent] = (sid, HmacSha256(key))

    @staticmethod
    def generated_lab_secret(state: Mapping[str, Any]) -> bytes | None:
        """The generator's secret when ``state`` is a strict-signature lab it made, else None."""
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
                return SCALE_KEY_SECRET
        return None
