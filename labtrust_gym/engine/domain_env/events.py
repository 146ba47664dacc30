"""Turning one step's actions into engine events, and applying them (the action contract made
concrete).

Agents act in agent order, at the same instant. For each acting agent:

* a dict with an explicit ``action_type`` is sent as given (missing arguments of the four bare
  action types are filled as for the bare index);
* a catalog entry (an index, or ``{"entry": name}``) that the agent's published mask allows is
  resolved to the first of its candidate events the engine accepts *now* — after the events of
  the agents before it this step. Two agents choosing ``ACCEPT_SPECIMEN@next`` get two different
  specimens; when nothing is left (the only target was taken, a door was just closed, a device
  just started) the agent sends no event and its info says ``contended: True`` — no penalty;
* a masked-out entry is sent anyway, with its closest real target, and the engine answers
  BLOCKED with its reason code (never a phantom no-op);
* bare indices 2..5 choose among the agent's valid entries of their kind (docs/envs.md).

Before an event the engine check is skipped while nothing that can invalidate a mask happened
this step (only NOOP, TICK and plain moves so far); afterwards each candidate is confirmed with
:meth:`engine.check` (same rules as :meth:`engine.step`, nothing mutated), so a masked-in action
is never BLOCKED.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import numpy as np

from labtrust_gym.domain.actions import (
    ACTION_MOVE,
    ACTION_NOOP,
    ACTION_OPEN_DOOR,
    ACTION_QUEUE_RUN,
    ACTION_START_RUN,
    ActionCatalog,
    copy_action_extras,
    entry_of,
    merge_action_extras,
)
from labtrust_gym.domain.protocol import StepOutcome
from labtrust_gym.engine.domain_env.catalog import CHECKS, Entry, touched_by
from labtrust_gym.engine.domain_env.masks import MaskTables
from labtrust_gym.engine.rules import gate
from labtrust_gym.errors import InvalidInputError

_BARE_ARG = {
    "MOVE": "to_zone",
    "OPEN_DOOR": "door_id",
    "QUEUE_RUN": "device_id",
    "START_RUN": "device_id",
}


class EventBuilder:
    """Resolves and applies a step's actions; holds the RNG used for bare MOVE targets."""

    def __init__(
        self,
        engine: Any,
        catalog: ActionCatalog,
        models: list[Entry],
        masks: MaskTables,
        views: Any,
    ) -> None:
        self.engine = engine
        self.catalog = catalog
        self.models = models
        self.masks = masks
        self.views = views
        self.k = len(models)
        self.rng = np.random.default_rng(0)
        self._pick = random.Random(0).randrange
        self._signer: Any = None
        self._why: str | None = None  # why the last resolution found no valid candidate
        # device index -> catalog columns of its QUEUE_RUN / START_RUN entries
        self._dev_cols = {
            at: {
                m.target: e
                for e, m in enumerate(models)
                if m.kind == "device" and m.action_type == at
            }
            for at in ("QUEUE_RUN", "START_RUN")
        }

        self._kind_cols = {b: cols.tolist() for b, cols in masks.kind_cols.items()}
        self._dev_of = {
            e: engine.device_index[m.target] for e, m in enumerate(models) if m.kind == "device"
        }

    def reset(self, rng: np.random.Generator, signer: Any) -> None:
        self.rng = rng
        # bare MOVE draws: Python's generator, seeded from the episode's (cheaper per draw)
        self._pick = random.Random(int(rng.integers(2**63))).randrange
        self._signer = signer

    def set_signer(self, signer: Any) -> None:
        self._signer = signer

    # ------------------------------------------------------------------ per step
    def run(
        self,
        idx: np.ndarray,
        custom: Mapping[int, Mapping[str, Any]] | None,
        t: float | int,
    ) -> StepOutcome:
        """Build and apply the events of one step (agent order); see the module docstring."""
        eng = self.engine
        out = StepOutcome()
        k = self.k
        if idx.size and (int(idx.max()) >= k or int(idx.min()) < 0):
            bad = int(idx[(idx < 0) | (idx >= k)][0])
            raise InvalidInputError(
                f"Action index {bad} is out of range; this lab's catalog has {k} entries "
                f"(0..{k - 1}; env.action_catalog names them)."
            )
        acting = np.flatnonzero(idx != ACTION_NOOP).tolist()
        if custom:
            acting = sorted(set(acting) | set(custom))
        if not acting:
            return out
        choice = idx.tolist()
        v = self.views
        ids = v.agent_ids
        keys = v.keys_list
        rows = self.masks.rows
        own = self.masks.overrides
        models = self.models
        agents = eng.agents
        signer = self._signer
        everything = False  # an event this step changed the gate's inputs: re-check fully
        touched: set[str] = set()  # what events this step changed (catalog.touched_by)
        step = eng.step
        for r in acting:
            act = custom.get(r) if custom else None
            entry_name: str | None = None
            if act is not None and act.get("action_type"):
                if act["action_type"] == "NOOP":
                    continue
                ev = self._explicit(r, act, t)
            else:
                e = choice[r] if act is None else self._entry_of(act, choice[r])
                if e == ACTION_NOOP:
                    continue
                agent = agents[ids[r]]
                mask = own.get(r) if own else None
                if mask is None:
                    mask = rows[keys[r]]
                model = models[e]
                if (  # the common case, inlined: a valid single-target entry nothing touched
                    not everything
                    and model.kind in _SINGLE_TARGET
                    and mask[e]
                    and (not touched or model.deps.isdisjoint(touched))
                ):
                    first = model.first_event(eng, agent)
                    if first is None:  # cannot happen while the mask holds; never send junk
                        out.contended.append(r)
                        out.contended_codes.append(None)
                        continue
                    ev = first
                else:
                    resolved = self._resolve(agent, e, mask, everything, touched)
                    if resolved is None:  # masked in, but taken by an earlier agent this step
                        out.contended.append(r)
                        out.contended_codes.append(self._why)
                        continue
                    e, ev = resolved
                    model = models[e]
                entry_name = model.name
                ev["t_s"] = t  # the models' event dicts are fresh: complete them in place
                ev["agent_id"] = ids[r]
                if act is not None:
                    merge_action_extras(act, ev)
            if signer is not None:
                signer.sign([ev], self.engine)
            res = step(ev)
            at = ev["action_type"]
            if not everything and (  # a plain TICK changes nothing others depend on (a move
                # changes occupancy and a doorway's traffic: later moves are re-checked)
                at != "TICK" or len(res["emits"]) > 1 or res["token_consumed"]
            ):
                what = touched_by(at, ev["args"], res)
                if what is None:
                    everything = True
                elif what:
                    touched.update(what)
            out.rows.append(r)
            out.args.append(ev["args"])
            out.types.append(at)
            out.entries.append(entry_name)
            out.results.append(res)
        return out

    # ------------------------------------------------------------------ resolution
    def preview(self, agent: Any, e: int) -> dict[str, Any] | None:
        """What entry ``e`` would send for ``agent`` now (None: nothing valid); no side effect."""
        model = self.models[e]
        if model.action_type == "NOOP":
            return None
        if e in _BARE_CHOICE:  # a bare MOVE's draw is not made here: the first valid zone
            mask = self.masks.row(agent.idx, self.views.keys_list[agent.idx])
            for c in self._bare_choices(agent, e, mask, draw=False):
                ev = self._first_valid(agent, self.models[c], True, set())
                if ev is not None:
                    return ev
            return None
        return self._first_valid(agent, model, True, set())

    def _entry_of(self, act: Mapping[str, Any], index: int) -> int:
        """The catalog entry an action dict chooses: its ``entry`` name, else its index; a bare
        index 2..5 whose ``args`` name the target (``{"action_index": 3, "args": {"to_zone":
        "Z_SORTING"}}``) is that target's entry (``MOVE@Z_SORTING``)."""
        if act.get("entry") is not None:
            return entry_of(self.catalog, act, index)
        at = _BARE_CHOICE.get(index)
        args = act.get("args")
        if at is not None and args:
            target = args.get(_BARE_ARG[at])
            if isinstance(target, str) and f"{at}@{target}" in self.catalog:
                return self.catalog.index(f"{at}@{target}")
        return index

    def _resolve(
        self, agent: Any, e: int, mask: np.ndarray, everything: bool, touched: set[str]
    ) -> tuple[int, dict[str, Any]] | None:
        """``(entry, event fields)`` for the agent's choice ``e``; None when it was valid but is
        contended now."""
        eng = self.engine
        if e in _BARE_CHOICE:
            choices = self._bare_choices(agent, e, mask)
            if not choices:
                return e, self._bare_fallback(agent, e)
        elif mask[e]:
            choices = [e]
        else:
            return e, self.models[e].fallback(eng, agent)
        for c in choices:
            ev = self._first_valid(agent, self.models[c], everything, touched)
            if ev is not None:
                return c, ev
        return None

    def _first_valid(
        self, agent: Any, model: Entry, everything: bool, touched: set[str]
    ) -> dict[str, Any] | None:
        """The first of the entry's candidate events the engine accepts now, for this agent.

        While nothing the entry depends on changed since the mask was computed, a single-target
        entry's event is valid as the mask said; otherwise each candidate is confirmed with the
        engine's rules: the action's check, and the gate too when the gate's inputs changed
        (the stages of ``engine.check`` beyond parsing and argument types, which the catalog's
        events satisfy by construction).
        """
        eng = self.engine
        at = model.action_type
        if everything:
            code = gate(eng, agent, at, None, eng.now_s)
            if code is not None:
                self._why = code
                return None
        elif model.kind in _SINGLE and (not touched or model.deps.isdisjoint(touched)):
            return model.first_event(eng, agent)  # one candidate, valid as the mask said
        check_fn = CHECKS.get(at)
        self._why = None  # no candidate left at all
        for ev in model.events(eng, agent):
            if check_fn is None:
                return ev
            out = check_fn(eng, agent, ev["args"], ev)
            if not isinstance(out, str):
                return ev
            self._why = out
        return None

    def _bare_choices(
        self, agent: Any, e: int, mask: np.ndarray, draw: bool = True
    ) -> list[int]:
        """The agent's valid entries of bare index ``e``'s kind, in the order they are tried."""
        flags = mask.tobytes()
        valid = [c for c in self._kind_cols[e] if flags[c]]
        if not valid or e == ACTION_OPEN_DOOR:
            return valid
        if e == ACTION_MOVE:
            return [valid[self._pick(len(valid))]] if draw else valid
        qlen = self.engine.device_queue_len
        dev_of = self._dev_of
        sign = 1 if e == ACTION_QUEUE_RUN else -1  # shortest queue first / longest first
        return sorted(valid, key=lambda c: sign * int(qlen[dev_of[c]]))

    def _bare_fallback(self, agent: Any, e: int) -> dict[str, Any]:
        """A masked-out bare index: the closest real target, so the engine says why not."""
        v = self.views
        zone = self.engine.agent_zone[agent.idx]
        at = _BARE_CHOICE[e]
        if e == ACTION_MOVE:
            nbrs = np.flatnonzero(v.adjacency[zone])
            if nbrs.size:
                to = v.zone_ids[int(nbrs[self._pick(nbrs.size)])]
                return {"action_type": at, "args": {"to_zone": to}}
            return {"action_type": at, "args": {}}
        if e == ACTION_OPEN_DOOR:
            doors = np.flatnonzero(v.zone_door[zone])
            args = {"door_id": v.door_ids[int(doors[0])]} if doors.size else {}
            return {"action_type": at, "args": args}
        devs = np.flatnonzero(v.device_zone == zone)
        if not devs.size:
            return {"action_type": at, "args": {}}
        col = self._dev_cols[at][v.device_ids[int(devs[0])]]
        return self.models[col].fallback(self.engine, agent)

    # ------------------------------------------------------------------ explicit events
    def _explicit(self, r: int, act: Mapping[str, Any], t: float | int) -> dict[str, Any]:
        """An explicit ``action_type`` event; missing bare-action args are filled as for a bare
        index of the same name."""
        atype = str(act["action_type"])
        args = dict(act.get("args") or {})
        needed = _BARE_ARG.get(atype)
        agent = self.engine.agents[self.views.agent_ids[r]]
        if atype == "QUEUE_RUN" and "device_id" in args and "specimen_id" not in args:
            col = self._dev_cols["QUEUE_RUN"].get(args["device_id"])
            if col is not None:
                args = {**self.models[col].fallback(self.engine, agent)["args"], **args}
        elif needed is not None and needed not in args:
            bare = {
                "MOVE": ACTION_MOVE,
                "OPEN_DOOR": ACTION_OPEN_DOOR,
                "QUEUE_RUN": ACTION_QUEUE_RUN,
                "START_RUN": ACTION_START_RUN,
            }[atype]
            mask = self.masks.row(r, self.views.keys_list[r])
            choices = self._bare_choices(agent, bare, mask)
            filled = (
                self._first_valid(agent, self.models[choices[0]], True, set()) if choices else None
            ) or self._bare_fallback(agent, bare)
            args = {**filled.get("args", {}), **args}
        ev: dict[str, Any] = {
            "t_s": t,
            "agent_id": self.views.agent_ids[r],
            "action_type": atype,
            "args": args,
        }
        copy_action_extras(act, ev)
        return ev


_SINGLE = frozenset({"device", "zone", "door", "bare"})
#: kinds whose entry is one event (bare 0..5 choose among entries first, so they are not)
_SINGLE_TARGET = frozenset({"device", "zone", "door"})
_BARE_CHOICE = {
    ACTION_QUEUE_RUN: "QUEUE_RUN",
    ACTION_MOVE: "MOVE",
    ACTION_OPEN_DOOR: "OPEN_DOOR",
    ACTION_START_RUN: "START_RUN",
}


class EventSigner:
    """Signs events on behalf of agents (strict-signature labs).

    Two key sources: explicit keys (``{agent_id: private_key}`` or ``{agent_id: (key_id,
    private_key)}``; the key id defaults to ``K_<agent_id>``) and, for labs made by the scale
    generator, the generator's deterministic keys (``K_<agent_id>`` derived from
    :data:`labtrust_gym.engine.scale.SCALE_KEY_SECRET`, derived lazily once per agent). Events that
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

    def key_id(self, agent: str) -> str | None:
        """The key id the signer signs ``agent``'s events with (None: it cannot sign them)."""
        entry = self._keys.get(agent)
        if entry is not None:
            return entry[0]
        return f"K_{agent}" if self.secret is not None else None

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
        from labtrust_gym.engine.scale import SCALE_KEY_SECRET
        from labtrust_gym.engine.signing import derive_keypair

        first = state["agents"][0]["agent_id"]
        for key in state["keys"]:
            if (
                key.get("agent_id") == first
                and key.get("key_id") == f"K_{first}"
                and key.get("public_key_b64") == derive_keypair(first, secret=SCALE_KEY_SECRET)[1]
            ):
                return SCALE_KEY_SECRET
        return None
