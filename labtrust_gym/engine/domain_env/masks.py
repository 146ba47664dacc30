"""Action masks over the full catalog, from the engine's own rules, for all agents at once.

An entry is valid for an agent iff the engine would accept the event it resolves to
(:func:`labtrust_gym.engine.domain_env.catalog.valid_for`). Evaluating that per agent and entry
would cost N·K engine checks a step, so the mask is assembled from the parts of the same rules,
each evaluated over the smallest domain it depends on:

* ``G[r, z, t]`` — the engine's gate (:func:`labtrust_gym.engine.rules.gate`) for a probe agent of
  role row ``r`` in zone ``z`` and action type ``t``; recomputed when frozen zones or the kill
  switch change;
* ``A[r, z, e]`` — the entry's role/zone rules (device access, door access, static move rules),
  once per env;
* ``P[z, e]`` — rules that depend on the agent's zone and the lab's state (a move's door,
  frozen target and space: the target zone full), recomputed when doors, frozen zones or the
  set of full zones change;
* ``S[r, e]`` — the entry's state rules (device, work queue, tokens), every step; per role only
  for entries whose check reads the role (token minting and approval).

``table[k] = G & A & P & S`` for the (role, zone) key ``k = r·Z + z`` (the same keys as the
observation tables). The few identity-dependent cases are recomputed per agent with
:func:`valid_for`: throttled agents, agents the env cannot sign for (strict labs: NOOP only),
token approvals (the minter and earlier approvers may not approve) and holders of tokens bound
to them. tests/envs/test_masks.py checks the assembled masks against :func:`valid_for`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labtrust_gym.domain.actions import (
    ACTION_MOVE,
    ACTION_NOOP,
    ACTION_OPEN_DOOR,
    ACTION_QUEUE_RUN,
    ACTION_START_RUN,
    ActionCatalog,
)
from labtrust_gym.engine.domain_env.catalog import Entry, MoveEntry, valid_for
from labtrust_gym.engine.rules import gate, probe

#: bare index -> (action type of the entries it chooses among, kind)
BARE_KINDS = {
    ACTION_QUEUE_RUN: ("QUEUE_RUN", "device"),
    ACTION_MOVE: ("MOVE", "zone"),
    ACTION_OPEN_DOOR: ("OPEN_DOOR", "door"),
    ACTION_START_RUN: ("START_RUN", "device"),
}


class MaskTables:
    """The mask rows of the (role, zone) keys in use and the per-agent corrections.

    Every part is computed lazily for the keys, zones and entries that need it, and cached for
    as long as its inputs do not change (gate: frozen zones and kill switch; access: never;
    passable: doors and frozen zones; state: the lab, or time for timed entries).
    """

    def __init__(self, eng: Any, catalog: ActionCatalog, models: list[Entry]) -> None:
        self.catalog = catalog
        self.models = models
        self.k = len(models)
        self.policy = eng.policy
        self.role_ids: list[str] = list(eng.role_ids)
        self.zone_ids: list[str] = list(eng.zone_ids)
        r1, z = len(self.role_ids) + 1, len(self.zone_ids)
        self.r1, self.z = r1, z
        self.types = sorted({m.action_type for m in models})
        col = {t: i for i, t in enumerate(self.types)}
        self.type_col = np.array([col[m.action_type] for m in models], dtype=np.intp)
        pol = eng.policy
        self.role_policies = [pol.roles.get(r) for r in self.role_ids] + [None]
        roles: list[str | None] = [*self.role_ids, None]
        self.role_probe = [
            probe(r, rp, self.zone_ids[0]) for r, rp in zip(roles, self.role_policies, strict=True)
        ]
        self._roles = roles
        self.access_cols = [e for e, m in enumerate(models) if type(m).access is not Entry.access]
        nkeys = r1 * z
        self._access = np.ones((nkeys, self.k), dtype=bool)
        self._access_done = np.zeros(nkeys, dtype=bool)
        # move entries of each zone's neighbours (the only moves a zone's rules can allow)
        zone_index = {zid: i for i, zid in enumerate(self.zone_ids)}
        move_of = {m.target: e for e, m in enumerate(models) if isinstance(m, MoveEntry)}
        self.neighbour_moves = [
            [
                (move_of[nb], nb)
                for nb in sorted(pol.neighbors[zid], key=zone_index.__getitem__)
                if nb in move_of
            ]
            for zid in self.zone_ids
        ]
        self.by_role = [e for e, m in enumerate(models) if m.by_role]
        self.static_cols = [e for e, m in enumerate(models) if m.static_state]
        self.bare_cols = [e for e, m in enumerate(models) if m.kind == "bare"]
        self.timed = np.array([m.timed for m in models], dtype=bool)
        self.identity = [e for e, m in enumerate(models) if m.identity]
        self.token_entries: dict[str, list[int]] = {}
        for e, m in enumerate(models):
            if m.token_type is not None:
                self.token_entries.setdefault(m.token_type, []).append(e)
        self.kind_cols = {
            bare: np.array(
                [e for e, m in enumerate(models) if m.action_type == at and m.kind == kind],
                dtype=np.intp,
            )
            for bare, (at, kind) in BARE_KINDS.items()
        }
        kind_mat = np.zeros((self.k, len(BARE_KINDS)), dtype=np.int16)
        for j, cols in enumerate(self.kind_cols.values()):
            kind_mat[cols, j] = 1
        self._kind_mat = kind_mat
        self._bare_idx = np.array(list(self.kind_cols), dtype=np.intp)
        self.unsignable: list[int] = []
        # gate rows per (role, zone) key, one table per (frozen zones, kill switch) state
        self._gate_cache: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
        self._gates = np.zeros((nkeys, len(self.types)), dtype=bool)
        self._gates_done = np.zeros(nkeys, dtype=bool)
        self._gate_key: bytes | None = None
        self._pass_key: bytes | None = None
        self._passable = np.ones((z, self.k), dtype=bool)
        self._passable_done = np.zeros(z, dtype=bool)
        self.state = np.ones((r1, self.k), dtype=bool)
        self._known = np.zeros(self.k, dtype=bool)  # entries whose state is up to date
        self.rows: dict[int, np.ndarray] = {}
        self.overrides: dict[int, np.ndarray] = {}
        self._keys_sig = b""
        self._timed_in_use: list[int] = []
        self._noop_only = np.zeros(self.k, dtype=np.int8)
        self._noop_only[ACTION_NOOP] = 1
        self._noop_only.setflags(write=False)

    # ------------------------------------------------------------------ per episode / step
    def reset(self, eng: Any) -> None:
        """A new episode: every lab-dependent part is recomputed at the next refresh."""
        self._gate_key = self._pass_key = None
        self.rows = {}
        self._known[:] = False
        first = self.role_probe[0]
        for e in self.static_cols:
            self.state[:, e] = self.models[e].state(eng, first)
        self._known[self.static_cols] = True
        self._known[self.bare_cols] = True

    def refresh(self, eng: Any, keys: np.ndarray, changed: bool = True) -> None:
        """Recompute the mask rows of the keys in use for the engine's current state.

        ``changed=False`` says no accepted event and no clock effect changed the lab since the
        last refresh: only the entries whose state can change with time alone are recomputed.
        """
        now = eng.now_s
        gk = eng.zone_frozen.tobytes() + (b"K" if eng.killed else b"-")
        if gk != self._gate_key:
            self._gate_key = gk
            cached = self._gate_cache.get(gk)
            if cached is None:
                nkeys = self.r1 * self.z
                cached = self._gate_cache[gk] = (
                    np.zeros((nkeys, len(self.types)), dtype=bool),
                    np.zeros(nkeys, dtype=bool),
                )
            self._gates, self._gates_done = cached
        # occupancy enters through the set of full zones only; a doorway's traffic belongs to the
        # instant of the events just applied, never to the instant masks are published for
        occupancy = getattr(eng, "zone_occupancy", None)  # domains without space: None
        full = (
            bytes(o >= c for o, c in zip(occupancy, eng.zone_capacity, strict=True))
            if occupancy is not None
            else b""
        )
        pk = eng.door_open.tobytes() + gk + full
        kb = keys.tobytes()
        if not changed and pk == self._pass_key and kb == self._keys_sig and self.rows:
            # only time passed and nobody moved: the rows stand unless a time-dependent entry
            # in use changed (a stability limit or an escalation deadline passed, a token expired)
            timed = self._timed_in_use
            before = self.state[:, timed].copy()
            if timed:
                self._states(eng, timed)
            if np.array_equal(before, self.state[:, timed]):
                self.overrides = self._agent_rows(eng, keys, now)
                return
        self._keys_sig = kb
        if pk != self._pass_key:
            self._pass_key = pk
            self._passable_done[:] = False
        if changed:
            self._known[:] = False
            self._known[self.static_cols] = True
            self._known[self.bare_cols] = True
        else:
            self._known &= ~self.timed
        used_l = sorted(set(keys.tolist()))
        used = np.array(used_l, dtype=np.intp)
        zones = used % self.z
        self._fill(eng, used_l, now)
        pre = self._gates[used][:, self.type_col]
        pre &= self._access[used]
        pre &= self._passable[zones]
        in_use = pre.any(axis=0)
        self._timed_in_use = np.flatnonzero(in_use & self.timed).tolist()
        need = in_use & ~self._known
        if need.any():
            self._states(eng, np.flatnonzero(need).tolist())
        ok = pre & self.state[used // self.z]
        ok[:, ACTION_NOOP] = True
        ok[:, self._bare_idx] = (ok.view(np.int8) @ self._kind_mat) > 0
        table = ok.view(np.int8)
        table.setflags(write=False)
        self.rows = dict(zip(used_l, table, strict=True))
        self.overrides = self._agent_rows(eng, keys, now)

    def _fill(self, eng: Any, used: list[int], now: float) -> None:
        """Evaluate the rules of keys and zones seen for the first time since their inputs
        changed (gate rows, access rows, passable rows). Plain Python over the few keys in use:
        numpy calls on arrays this small cost more than they save."""
        done = self._gates_done
        for key in used:
            if done[key]:
                continue
            ri, zi = divmod(key, self.z)
            p = probe(self._roles[ri], self.role_policies[ri], self.zone_ids[zi])
            self._gates[key] = [gate(eng, p, at, None, now) is None for at in self.types]
            done[key] = True
        done = self._access_done
        models, pol = self.models, self.policy
        for key in used:
            if done[key]:
                continue
            ri, zi = divmod(key, self.z)
            p = probe(self._roles[ri], self.role_policies[ri], self.zone_ids[zi])
            row = self._access[key]
            for e in self.access_cols:
                row[e] = models[e].access(pol, p)
            done[key] = True
        done = self._passable_done
        for zi in {key % self.z for key in used}:
            if done[zi]:
                continue
            row = self._passable[zi]
            zid = self.zone_ids[zi]
            for e, _nb in self.neighbour_moves[zi]:
                row[e] = models[e].passable(eng, zid)
            done[zi] = True

    def _states(self, eng: Any, entries: list[int]) -> None:
        s = self.state
        models = self.models
        first = self.role_probe[0]
        shared: list[int] = []
        values: list[bool] = []
        for e in entries:
            m = models[e]
            if m.by_role:
                s[:, e] = m.state_by_role(eng, self.role_probe)
            else:
                shared.append(e)
                values.append(m.state(eng, first))
        if shared:
            s[:, shared] = values
        self._known[entries] = True

    def _agent_rows(self, eng: Any, keys: np.ndarray, now: float) -> dict[int, np.ndarray]:
        """Rows of agents whose mask differs from their key's row (see the module docstring)."""
        out: dict[int, np.ndarray] = {}
        rows = self.rows
        ids = eng.agent_ids
        agents = eng.agents
        for row in self.unsignable:
            out[row] = self._noop_only
        throttled = np.flatnonzero(eng.agent_throttled_until > now)
        for row in throttled.tolist():
            if row in out:
                continue
            rec = agents[ids[row]]
            g = np.array([gate(eng, rec, at, None, now) is None for at in self.types])
            mask = rows[int(keys[row])] & g[self.type_col]
            mask[ACTION_NOOP] = 1
            out[row] = self._readonly(self._rebare(mask))
        cols = self._identity_cols(eng, keys)
        for row, entries in cols.items():
            if row in out:
                continue
            rec = agents[ids[row]]
            mask = rows[int(keys[row])].copy()
            for e in entries:
                mask[e] = valid_for(eng, rec, self.models[e])
            out[row] = self._readonly(self._rebare(mask))
        return out

    def _identity_cols(self, eng: Any, keys: np.ndarray) -> dict[int, list[int]]:
        """Agent rows -> entries to evaluate for that agent alone."""
        need: dict[int, list[int]] = {}
        if not eng.tokens:
            return need
        if self.identity and any(t.status == "pending" for t in eng.tokens.values()):
            rows = self.rows
            for e in self.identity:  # the probe's answer is an upper bound: check each agent
                for row, key in enumerate(keys.tolist()):
                    if rows[key][e]:
                        need.setdefault(row, []).append(e)
        idx = eng.agent_index
        for tok in eng.tokens.values():
            holder = tok.holder_agent_id
            if holder is None or tok.status not in ("active", "pending"):
                continue
            for e in self.token_entries.get(tok.token_type, ()):  # bound tokens: their holder
                need.setdefault(idx[holder], []).append(e)
        return need

    @staticmethod
    def _readonly(mask: np.ndarray) -> np.ndarray:
        mask.setflags(write=False)
        return mask

    def _rebare(self, mask: np.ndarray) -> np.ndarray:
        mask[self._bare_idx] = (mask @ self._kind_mat) > 0
        return mask

    # ------------------------------------------------------------------ per agent
    def row(self, agent_row: int, key: int) -> np.ndarray:
        """The mask of one agent (its key's shared row unless corrected)."""
        own = self.overrides.get(agent_row)
        return own if own is not None else self.rows[key]
