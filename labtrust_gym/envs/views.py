"""Vectorised per-step views of the engine: observations, action masks and bare-action targets.

Hot path. An agent's observation and action mask depend only on its *(role, zone)* pair and on
lab-wide state, so everything is tabulated per key ``k = role_row * Z + zone`` (K = (R+1)·Z keys,
about a hundred, independent of N) and each agent just picks its row. Per step:

* two cache keys (bytes of the door/frozen arrays, bytes of the device arrays) decide whether the
  graph tables and the device tables must be recomputed — most steps recompute nothing;
* the agent keys are one numpy expression over N;
* table rows handed to agents are read-only views shared by all agents with the same key, so no
  per-agent array is created.

Role row ``R`` is "no role" (``agent_role == -1``): everything but NOOP is masked.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labtrust_gym.envs.action_contract import (
    ACTION_MOVE,
    ACTION_NAMES,
    ACTION_OPEN_DOOR,
    ACTION_QUEUE_RUN,
    ACTION_START_RUN,
    ACTION_TICK,
    NUM_ACTIONS,
)

#: Per-zone features in the ``here`` block of an observation, in order.
HERE_FIELDS: tuple[str, ...] = (
    "devices",
    "idle_devices",
    "queue_len",
    "busy_devices",
    "closed_doors",
    "restricted",
)
N_HERE = len(HERE_FIELDS)


#: Engine attributes the env reads (docs/engine.md "Fast views"); a domain adapter driven by
#: LabTrustParallelEnv must provide them.
REQUIRED_VIEWS: tuple[str, ...] = (
    "agent_ids",
    "zone_ids",
    "device_ids",
    "door_ids",
    "role_ids",
    "device_type_ids",
    "now_s",
    "agent_zone",
    "agent_role",
    "device_zone",
    "device_type",
    "device_queue_len",
    "device_busy",
    "device_fault",
    "device_qc_fail",
    "zone_frozen",
    "zone_restricted",
    "door_open",
    "zone_adjacency",
    "work_by_device_type",
    "killed",
)


def check_engine_views(engine: Any) -> None:
    """Raise ``ConfigError`` naming the fast views a domain adapter lacks."""
    missing = [name for name in REQUIRED_VIEWS if not hasattr(engine, name)]
    if missing:
        from labtrust_gym.errors import ConfigError

        raise ConfigError(
            f"Domain adapter {type(engine).__name__} lacks the fast views LabTrustParallelEnv "
            f"reads each step: {', '.join(missing)} (see docs/engine.md 'Fast views'). "
            "Implement them, or drive the adapter with your own BenchmarkEnv."
        )


def readonly(arr: np.ndarray) -> np.ndarray:
    """``arr``, made read-only (rows shared between agents must not be written through)."""
    arr.setflags(write=False)
    return arr


class LabViews:
    """Static tables of one lab (built at reset) and their cached per-step combination."""

    def __init__(self, engine: Any, policy: Any) -> None:
        check_engine_views(engine)
        eng = engine
        self.agent_ids: list[str] = list(eng.agent_ids)
        self.zone_ids: list[str] = list(eng.zone_ids)
        self.device_ids: list[str] = list(eng.device_ids)
        self.door_ids: list[str] = list(eng.door_ids)
        self.role_ids: list[str] = list(eng.role_ids)
        self.device_type_ids: list[str] = list(eng.device_type_ids)
        n, z, d = len(self.agent_ids), len(self.zone_ids), len(self.device_ids)
        r, t = len(self.role_ids), len(self.device_type_ids)
        self.n, self.z, self.d, self.r, self.t = n, z, d, r, t
        self.k = (r + 1) * z
        zone_index = {zid: i for i, zid in enumerate(self.zone_ids)}
        door_index = {did: i for i, did in enumerate(self.door_ids)}
        dtype_index = {tid: i for i, tid in enumerate(self.device_type_ids)}

        self.agent_role_row = np.where(eng.agent_role < 0, r, eng.agent_role).astype(np.intp)
        role_act = np.zeros((r + 1, NUM_ACTIONS), dtype=bool)
        role_zone = np.zeros((r + 1, z), dtype=bool)
        role_dtype = np.zeros((r + 1, t), dtype=bool)
        for ri, role in enumerate(self.role_ids):
            rp = policy.roles.get(role)
            if rp is None:
                continue
            role_act[ri] = [name in rp.actions for name in ACTION_NAMES]
            role_zone[ri] = True if rp.zones is None else [zid in rp.zones for zid in self.zone_ids]
            if rp.device_types is None:
                role_dtype[ri, :] = True
            else:
                for dt in rp.device_types:
                    if dt in dtype_index:
                        role_dtype[ri, dtype_index[dt]] = True
        role_act[:, 0] = True  # NOOP issues no event: it can never be refused
        self.role_act = role_act
        self.role_zone = role_zone

        # Zone graph: edge door index (-1 none); restricted zones are never bare-MOVE targets.
        self.adjacency = np.asarray(eng.zone_adjacency, dtype=bool)
        edge_door = np.full((z, z), -1, dtype=np.intp)
        for za, nbrs in policy.neighbors.items():
            for zb, door in nbrs.items():
                if door is not None and za in zone_index and zb in zone_index:
                    edge_door[zone_index[za], zone_index[zb]] = door_index[door]
        self.edge_door = edge_door
        self._has_door = edge_door >= 0
        self.zone_restricted = np.asarray(eng.zone_restricted, dtype=bool)
        zone_door = np.zeros((z, len(self.door_ids)), dtype=bool)
        for did, info in policy.doors.items():
            for zid in info.get("zones", ()):
                if zid in zone_index and did in door_index:
                    zone_door[zone_index[zid], door_index[did]] = True
        self.zone_door = zone_door

        self.device_zone = np.asarray(eng.device_zone, dtype=np.intp)
        self.device_type = np.asarray(eng.device_type, dtype=np.intp)
        self.zone_has_device = np.zeros((z, d), dtype=bool)
        self.zone_has_device[self.device_zone, np.arange(d)] = True
        self._zone_dev_f = self.zone_has_device.astype(np.float32)  # (Z, D)
        self._type_dev_f = np.zeros((t, d), dtype=np.float32)  # (T, D)
        self._type_dev_f[self.device_type, np.arange(d)] = 1.0
        # (R+1, Z, D): role may operate device d and d stands in zone z
        self._role_zone_dev = role_dtype[:, self.device_type][:, None, :] & self.zone_has_device
        self.zone_ids_arr = np.array(self.zone_ids, dtype=object)

        # Shared, read-only per-role and per-zone one-hot rows (dict observations).
        role_oh = np.zeros((r + 1, r), dtype=np.int8)
        role_oh[np.arange(r), np.arange(r)] = 1
        self.role_rows: list[np.ndarray] = list(readonly(role_oh))
        self.zone_rows: list[np.ndarray] = list(readonly(np.eye(z, dtype=np.int8)))
        self.flat_dim = r + z + N_HERE + 2 * t + 1
        flat = np.zeros((r + 1, z, self.flat_dim), dtype=np.float32)
        flat[:, :, :r] = role_oh[:, None, :]
        flat[:, :, r : r + z] = np.eye(z, dtype=np.float32)[None, :, :]
        self._flat_base = flat.reshape(self.k, self.flat_dim)

        self._key_graph: bytes | None = None
        self._key_devices: bytes | None = None
        # Filled by refresh():
        self.keys = np.zeros(n, dtype=np.intp)
        self.keys_list: list[int] = []
        self.move_ok = np.zeros((r + 1, z, z), dtype=bool)
        self.queue_dev = np.full((r + 1, z), -1, dtype=np.intp)
        self.start_dev = np.full((r + 1, z), -1, dtype=np.intp)
        self.closed_door_at = np.full(z, -1, dtype=np.intp)
        self._closed_count = np.zeros(z, dtype=np.float32)
        self._per_dev = np.zeros((3, d), dtype=np.float32)
        self._work = np.zeros(t, dtype=np.float32)
        self.here = readonly(np.zeros((z, N_HERE), dtype=np.float32))
        self.here_rows: list[np.ndarray] = list(self.here)
        self.queue_by_type = readonly(np.zeros(t, dtype=np.float32))
        self.work_by_type = readonly(np.zeros(t, dtype=np.float32))
        self.mask_table = readonly(np.zeros((self.k, NUM_ACTIONS), dtype=np.int8))
        self.mask_rows: list[np.ndarray | None] = [None] * self.k
        self._none_dev = np.full((r + 1, z), -1, dtype=np.intp)
        self._no_dev = np.zeros((r + 1, z), dtype=bool)
        self._has_queue = self._no_dev
        self._has_start = self._no_dev
        self._role_queue = self.role_act[:, None, ACTION_QUEUE_RUN]
        self._role_start = self.role_act[:, None, ACTION_START_RUN]
        live0 = np.ones((r + 1, z), dtype=bool)
        self._live = live0
        self._col_tick = self._col_move = self._col_door = live0 & False
        here_static = np.zeros((z, N_HERE), dtype=np.float32)
        here_static[:, 0] = self._zone_dev_f.sum(axis=1)
        here_static[:, 5] = self.zone_restricted
        self._here_static = here_static
        self._flat_dirty = True
        self._obs_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None

    # ---------------------------------------------------------------------------------------
    def refresh(self, eng: Any) -> None:
        """Bring the tables up to date with the engine (cheap when nothing changed)."""
        door_open = eng.door_open
        frozen = eng.zone_frozen
        killed = bool(eng.killed)
        kg = door_open.tobytes() + frozen.tobytes() + (b"K" if killed else b"-")
        changed = False
        if kg != self._key_graph:
            self._key_graph = kg
            self._graph_tables(door_open.astype(bool), frozen.astype(bool), killed)
            changed = True
        qlen, busy, fault, qcf = (
            eng.device_queue_len,
            eng.device_busy,
            eng.device_fault,
            eng.device_qc_fail,
        )
        work = eng.work_by_device_type
        kd = qlen.tobytes() + busy.tobytes() + fault.tobytes() + qcf.tobytes() + work.tobytes()
        if kd != self._key_devices:
            self._key_devices = kd
            self._device_tables(qlen, busy.astype(bool), (fault | qcf).astype(bool), work)
            changed = True
        if changed:
            self._combine()
        keys = self.agent_role_row * self.z
        keys += eng.agent_zone
        self.keys = keys
        self.keys_list = keys.tolist()

    def _graph_tables(self, door_open: np.ndarray, frozen: np.ndarray, killed: bool) -> None:
        door_ok = np.ones_like(self.adjacency)
        if self._has_door.any():
            door_ok[self._has_door] = door_open[self.edge_door[self._has_door]]
        passable = self.adjacency & door_ok & ~frozen[None, :] & ~self.zone_restricted[None, :]
        self.move_ok = passable[None, :, :] & self.role_zone[:, None, :]  # (R+1, Z, Z)
        cand = self.move_ok.reshape(self.k, self.z).copy()
        stuck = ~cand.any(axis=1)
        cand[stuck] = self.adjacency[np.flatnonzero(stuck) % self.z]
        self._move_cand = cand
        closed = self.zone_door & ~door_open[None, :]
        has_closed = closed.any(axis=1)
        self.closed_door_at = np.where(has_closed, closed.argmax(axis=1), -1)
        self._closed_count = closed.sum(axis=1).astype(np.float32)
        # Mask columns that depend on the graph; "live" = the agent's zone may act at all.
        live = np.broadcast_to(~frozen, (self.r + 1, self.z)) & (not killed)
        self._live = live
        self._col_tick = live & self.role_act[:, None, ACTION_TICK]
        self._col_move = live & self.move_ok.any(axis=2) & self.role_act[:, None, ACTION_MOVE]
        self._col_door = live & has_closed & self.role_act[:, None, ACTION_OPEN_DOOR]

    def _device_tables(
        self, qlen: np.ndarray, busy: np.ndarray, down: np.ndarray, work: np.ndarray
    ) -> None:
        # QUEUE_RUN: healthy device whose type has ready work; prefer the shortest queue.
        queueable = ~down & (work[self.device_type] > 0)
        if queueable.any():
            cand = self._role_zone_dev & queueable
            best = np.where(cand, qlen, np.iinfo(np.int32).max).argmin(axis=2)
            has = np.asarray(cand.any(axis=2))
            self.queue_dev = np.where(has, best, -1)
            self._has_queue = has
        else:
            self.queue_dev = self._none_dev
            self._has_queue = self._no_dev
        # START_RUN: idle, healthy device with a non-empty queue; prefer the longest queue.
        startable = ~(busy | down) & (qlen > 0)
        if startable.any():
            cand = self._role_zone_dev & startable
            best = np.where(cand, qlen, -1).argmax(axis=2)
            has = np.asarray(cand.any(axis=2))
            self.start_dev = np.where(has, best, -1)
            self._has_start = has
        else:
            self.start_dev = self._none_dev
            self._has_start = self._no_dev
        self._per_dev = np.stack([~(busy | down), qlen, busy]).astype(np.float32)  # (3, D)
        self._work = work.astype(np.float32)

    def _combine(self) -> None:
        """Observation blocks and the mask table from the current graph and device tables."""
        here = self._here_static.copy()
        here[:, 1:4] = self._zone_dev_f @ self._per_dev.T
        here[:, 4] = self._closed_count
        self.here = readonly(here)
        self.here_rows = list(here)
        self.queue_by_type = readonly(self._type_dev_f @ self._per_dev[1])
        self.work_by_type = readonly(self._work)

        ok = np.empty((self.r + 1, self.z, NUM_ACTIONS), dtype=np.int8)
        ok[:, :, 0] = 1
        ok[:, :, ACTION_TICK] = self._col_tick
        ok[:, :, ACTION_MOVE] = self._col_move
        ok[:, :, ACTION_OPEN_DOOR] = self._col_door
        ok[:, :, ACTION_QUEUE_RUN] = self._has_queue & self._live & self._role_queue
        ok[:, :, ACTION_START_RUN] = self._has_start & self._live & self._role_start
        table = ok.reshape(self.k, NUM_ACTIONS)
        self.mask_table = readonly(table)
        # Row views shared by agents; for small labs only the keys in use get one (mask_row).
        self.mask_rows = list(table) if self.n >= self.k else [None] * self.k
        self._flat_dirty = True
        self._obs_parts = None

    # ---------------------------------------------------------------------------------------
    def agent_masks(self) -> np.ndarray:
        """(N, 6) int8 action masks of all agents (a gather from the mask table)."""
        return self.mask_table[self.keys]

    def obs_parts(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per key: the (role, zone, here) rows of a dict observation (cached per table)."""
        parts = self._obs_parts
        if parts is None:
            roles, zones, here = self.role_rows, self.zone_rows, self.here_rows
            parts = [
                (roles[ri], zones[zi], here[zi]) for ri in range(self.r + 1) for zi in range(self.z)
            ]
            self._obs_parts = parts
        return parts

    def mask_row(self, key: int) -> np.ndarray:
        """The shared read-only mask row of a (role, zone) key (created on first use)."""
        row = self.mask_rows[key]
        if row is None:
            row = self.mask_rows[key] = self.mask_table[key]
        return row

    def flat_table(self, time_fraction: float) -> np.ndarray:
        """A fresh read-only (K, D) float32 table of flat observations for this step."""
        if self._flat_dirty:
            base = self._flat_base.reshape(self.r + 1, self.z, self.flat_dim)
            o = self.r + self.z
            base[:, :, o : o + N_HERE] = self.here[None, :, :]
            o += N_HERE
            base[:, :, o : o + self.t] = self.queue_by_type
            base[:, :, o + self.t : o + 2 * self.t] = self.work_by_type
            self._flat_dirty = False
        table = self._flat_base.copy()
        table[:, -1] = time_fraction
        return readonly(table)

    def move_targets(self, rows: np.ndarray, rng: np.random.Generator) -> list[str]:
        """A neighbour zone id for each agent row: uniform among passable, allowed neighbours.

        When an agent has none (its MOVE is not in the mask), any adjacent zone is used so the
        engine answers with the real refusal reason instead of a phantom no-op (the candidate
        table ``_move_cand`` already carries that fallback, see ``_graph_tables``).
        """
        scores = rng.random((len(rows), self.z))
        scores *= self._move_cand[self.keys[rows]]
        targets: list[str] = self.zone_ids_arr[scores.argmax(axis=1)].tolist()
        return targets
