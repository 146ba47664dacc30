"""Vectorised per-step views of the hospital lab engine: the observations of all agents.

Hot path. Most of an agent's observation depends only on its *(role, zone)* pair and on lab-wide
state, so it is tabulated per key ``k = role_row * Z + zone`` (K = (R+1)·Z keys, about a hundred,
independent of N; the action masks use the same keys, :mod:`.masks`); the part that is the agent's
own (its index) is fixed for the episode and built once. Per step:

* cache keys (bytes of the door array, of the device arrays) and the env's "lab changed" flag
  decide which blocks are recomputed — most steps recompute little;
* the agent keys are one numpy expression over N;
* dict observations hand out read-only rows shared by all agents with the same key; flat and box
  observations are rows of one ``(N, D)`` array built per step with two numpy gathers.

Role row ``R`` is "no role" (``agent_role == -1``).
"""

from __future__ import annotations

from collections.abc import Mapping
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
#: The agent's own block: its index among all agents and among the agents of its role, each
#: scaled to [0, 1].
SELF_FIELDS: tuple[str, ...] = ("agent_index", "index_in_role")

def readonly(arr: np.ndarray) -> np.ndarray:
    """``arr``, made read-only (rows shared between agents must not be written through)."""
    arr.setflags(write=False)
    return arr


class LabViews:
    """Static tables of one lab (built at reset) and the per-step observation blocks."""

    def __init__(self, engine: Any, policy: Any) -> None:
        eng = engine
        self.agent_ids: list[str] = list(eng.agent_ids)
        self.zone_ids: list[str] = list(eng.zone_ids)
        self.device_ids: list[str] = list(eng.device_ids)
        self.door_ids: list[str] = list(eng.door_ids)
        self.role_ids: list[str] = list(eng.role_ids)
        self.device_type_ids: list[str] = list(eng.device_type_ids)
        n, z, d = len(self.agent_ids), len(self.zone_ids), len(self.device_ids)
        r, t, nd = len(self.role_ids), len(self.device_type_ids), len(self.door_ids)
        self.n, self.z, self.d, self.r, self.t, self.nd = n, z, d, r, t, nd
        self.nl = len(eng.work_counts())
        self.k = (r + 1) * z
        zone_index = {zid: i for i, zid in enumerate(self.zone_ids)}
        door_index = {did: i for i, did in enumerate(self.door_ids)}

        self.agent_role_row = np.where(eng.agent_role < 0, r, eng.agent_role).astype(np.intp)
        self.adjacency = np.asarray(eng.zone_adjacency, dtype=bool)
        self.zone_restricted = np.asarray(eng.zone_restricted, dtype=bool)
        zone_door = np.zeros((z, nd), dtype=bool)
        for did, info in policy.doors.items():
            for zid in info.get("zones", ()):
                if zid in zone_index and did in door_index:
                    zone_door[zone_index[zid], door_index[did]] = True
        self.zone_door = zone_door
        self.device_zone = np.asarray(eng.device_zone, dtype=np.intp)
        self.device_type = np.asarray(eng.device_type, dtype=np.intp)
        zone_has_device = np.zeros((z, d), dtype=bool)
        zone_has_device[self.device_zone, np.arange(d)] = True
        self._zone_dev_f = zone_has_device.astype(np.float32)  # (Z, D)
        self._type_dev_f = np.zeros((t, d), dtype=np.float32)  # (T, D)
        self._type_dev_f[self.device_type, np.arange(d)] = 1.0
        self.zone_ids_arr = np.array(self.zone_ids, dtype=object)

        # Static, read-only rows: per role and zone one-hots, the zone's doors, the agent's own.
        role_oh = np.zeros((r + 1, r), dtype=np.int8)
        role_oh[np.arange(r), np.arange(r)] = 1
        self.role_rows: list[np.ndarray] = list(readonly(role_oh))
        self.zone_rows: list[np.ndarray] = list(readonly(np.eye(z, dtype=np.int8)))
        own = np.zeros((n, len(SELF_FIELDS)), dtype=np.float32)
        own[:, 0] = np.arange(n) / max(n - 1, 1)
        for role in range(r + 1):
            members = np.flatnonzero(self.agent_role_row == role)
            own[members, 1] = np.arange(members.size) / max(members.size - 1, 1)
        self.self_table = readonly(own)
        self.self_rows: list[np.ndarray] = list(self.self_table)
        # layout of a flat observation (the dict fields, concatenated in this order)
        sizes = {
            "role": r,
            "zone": z,
            "self": len(SELF_FIELDS),
            "here": N_HERE,
            "doors": 2 * nd,
            "queues": t,
            "work": t,
            "lab": self.nl,
            "time": 1,
        }
        self.slices: dict[str, slice] = {}
        o = 0
        for name, size in sizes.items():
            self.slices[name] = slice(o, o + size)
            o += size
        self.flat_dim = o
        base = np.zeros((r + 1, z, o), dtype=np.float32)
        base[:, :, self.slices["role"]] = role_oh[:, None, :]
        base[:, :, self.slices["zone"]] = np.eye(z, dtype=np.float32)[None, :, :]
        self._flat_base = base.reshape(self.k, o)

        self._key_doors: bytes | None = None
        self._key_devices: bytes | None = None
        # Filled by refresh():
        self.keys = np.zeros(n, dtype=np.intp)
        self.keys_list: list[int] = []
        self._closed_count = np.zeros(z, dtype=np.float32)
        self._per_dev = np.zeros((3, d), dtype=np.float32)
        self._work = np.zeros(t, dtype=np.float32)
        self.here = readonly(np.zeros((z, N_HERE), dtype=np.float32))
        self.here_rows: list[np.ndarray] = list(self.here)
        self.door_rows: list[np.ndarray] = []
        self.queue_by_type = readonly(np.zeros(t, dtype=np.float32))
        self.work_by_type = readonly(np.zeros(t, dtype=np.float32))
        self.lab_counts = readonly(np.zeros(self.nl, dtype=np.float32))
        here_static = np.zeros((z, N_HERE), dtype=np.float32)
        here_static[:, 0] = self._zone_dev_f.sum(axis=1)
        here_static[:, 5] = self.zone_restricted
        self._here_static = here_static
        self._flat_dirty = True
        self._parts: dict[int, tuple[np.ndarray, ...]] | None = None

    # ---------------------------------------------------------------------------------------
    def refresh(self, eng: Any, changed: bool = True) -> None:
        """Bring the blocks up to date with the engine (cheap when nothing changed).

        ``changed`` says an accepted event or a clock effect may have changed the lab's work
        queues since the last refresh (the lab counts are recomputed only then)."""
        door_open = eng.door_open
        redo = False
        kg = door_open.tobytes()
        if kg != self._key_doors:
            self._key_doors = kg
            is_open = door_open.astype(bool)
            self._closed_count = (self.zone_door & ~is_open[None, :]).sum(axis=1).astype(np.float32)
            doors = np.concatenate(
                [self.zone_door, np.broadcast_to(is_open, self.zone_door.shape)], axis=1
            ).astype(np.int8)
            self.door_rows = list(readonly(doors))
            self._parts = None
            redo = True
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
            redo = True
        if changed:
            counts = np.asarray(eng.work_counts(), dtype=np.float32)
            if not np.array_equal(counts, self.lab_counts):
                self.lab_counts = readonly(counts)
                self._flat_dirty = True
        if redo:
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
        self._parts = None

    # ---------------------------------------------------------------------------------------
    def observe_dict(
        self, agents: list[str], masks: list[np.ndarray], time_fraction: float
    ) -> dict[str, Any]:
        """Dict observations of all agents (shared read-only rows; see docs/envs.md)."""
        parts = self._parts
        if parts is None:  # (role, zone, here, doors) rows per key, for the keys in use
            z, roles, zones, here, doors = (
                self.z,
                self.role_rows,
                self.zone_rows,
                self.here_rows,
                self.door_rows,
            )
            parts = self._parts = {
                k: (roles[k // z], zones[k % z], here[k % z], doors[k % z])
                for k in set(self.keys_list)
            }
        elif not parts.keys() >= set(self.keys_list):
            self._parts = None
            return self.observe_dict(agents, masks, time_fraction)
        queues, work, lab = self.queue_by_type, self.work_by_type, self.lab_counts
        time_arr = readonly(np.array([time_fraction], dtype=np.float32))
        own = self.self_rows
        out = {}
        for i, (a, k, m) in enumerate(zip(agents, self.keys_list, masks, strict=True)):
            ro, zo, he, do = parts[k]
            out[a] = {
                "observation": {
                    "role": ro,
                    "zone": zo,
                    "self": own[i],
                    "here": he,
                    "doors": do,
                    "queues": queues,
                    "work": work,
                    "lab": lab,
                    "time": time_arr,
                },
                "action_mask": m,
            }
        return out

    def flat_rows(self, time_fraction: float) -> list[np.ndarray]:
        """Flat observation of every agent (read-only rows of one fresh ``(N, D)`` array)."""
        if self._flat_dirty:
            base = self._flat_base.reshape(self.r + 1, self.z, self.flat_dim)
            sl = self.slices
            base[:, :, sl["here"]] = self.here[None, :, :]
            base[:, :, sl["doors"]] = np.asarray(self.door_rows, dtype=np.float32)[None, :, :]
            base[:, :, sl["queues"]] = self.queue_by_type
            base[:, :, sl["work"]] = self.work_by_type
            base[:, :, sl["lab"]] = self.lab_counts
            self._flat_dirty = False
        table = self._flat_base.take(self.keys, axis=0)
        table[:, self.slices["self"]] = self.self_table
        table[:, -1] = time_fraction
        return list(readonly(table))

    def unflatten(self, flat: np.ndarray) -> Mapping[str, np.ndarray]:
        """The named fields of a flat observation (views into it)."""
        return {name: flat[sl] for name, sl in self.slices.items()}
