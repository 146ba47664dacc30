"""Vectorised per-step views of the engine: the observation tables.

Hot path. An agent's observation depends only on its *(role, zone)* pair and on lab-wide state,
so everything is tabulated per key ``k = role_row * Z + zone`` (K = (R+1)·Z keys, about a
hundred, independent of N) and each agent just picks its row (the action masks use the same
keys, :mod:`labtrust_gym.envs.masks`). Per step:

* two cache keys (bytes of the door/frozen arrays, bytes of the device arrays) decide whether the
  graph tables and the device tables must be recomputed — most steps recompute nothing;
* the agent keys are one numpy expression over N;
* table rows handed to agents are read-only views shared by all agents with the same key, so no
  per-agent array is created.

Role row ``R`` is "no role" (``agent_role == -1``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

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

        self.agent_role_row = np.where(eng.agent_role < 0, r, eng.agent_role).astype(np.intp)

        self.adjacency = np.asarray(eng.zone_adjacency, dtype=bool)
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
        self._closed_count = np.zeros(z, dtype=np.float32)
        self._per_dev = np.zeros((3, d), dtype=np.float32)
        self._work = np.zeros(t, dtype=np.float32)
        self.here = readonly(np.zeros((z, N_HERE), dtype=np.float32))
        self.here_rows: list[np.ndarray] = list(self.here)
        self.queue_by_type = readonly(np.zeros(t, dtype=np.float32))
        self.work_by_type = readonly(np.zeros(t, dtype=np.float32))
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
        changed = False
        kg = door_open.tobytes()
        if kg != self._key_graph:
            self._key_graph = kg
            closed = self.zone_door & ~door_open.astype(bool)[None, :]
            self._closed_count = closed.sum(axis=1).astype(np.float32)
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
            down = (fault | qcf).astype(bool)
            self._per_dev = np.stack([~(busy.astype(bool) | down), qlen, busy]).astype(
                np.float32
            )  # (3, D)
            self._work = work.astype(np.float32)
            changed = True
        if changed:
            self._combine()
        keys = self.agent_role_row * self.z
        keys += eng.agent_zone
        self.keys = keys
        self.keys_list = keys.tolist()

    def _combine(self) -> None:
        """Observation blocks from the current door and device tables."""
        here = self._here_static.copy()
        here[:, 1:4] = self._zone_dev_f @ self._per_dev.T
        here[:, 4] = self._closed_count
        self.here = readonly(here)
        self.here_rows = list(here)
        self.queue_by_type = readonly(self._type_dev_f @ self._per_dev[1])
        self.work_by_type = readonly(self._work)
        self._flat_dirty = True
        self._obs_parts = None

    # ---------------------------------------------------------------------------------------
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
