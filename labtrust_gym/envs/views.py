"""Vectorised per-step views of the engine: observations, action masks and bare-action targets.

Hot path. Everything here is computed for all agents at once from the engine's numpy views
(docs/engine.md "Fast views"): per-step work is O(N) numpy plus O(zones x devices) tables that
are tiny and independent of N; no per-agent Python except where a dict per agent is the API.

Role-dependent quantities are tabulated per ``(role, zone)`` (roles <= 8, zones ~ 14) and then
gathered for every agent with one fancy-indexing operation.
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


class LabViews:
    """Static tables of one lab (built at reset) and their per-step combination."""

    def __init__(self, engine: Any, policy: Any) -> None:
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
        zone_index = {zid: i for i, zid in enumerate(self.zone_ids)}
        door_index = {did: i for i, did in enumerate(self.door_ids)}
        dtype_index = {tid: i for i, tid in enumerate(self.device_type_ids)}

        # Role row r == R is "no role" (agent_role == -1): everything denied.
        self.agent_role_row = np.where(eng.agent_role < 0, r, eng.agent_role).astype(np.intp)
        role_act = np.zeros((r + 1, NUM_ACTIONS), dtype=bool)
        role_zone = np.zeros((r + 1, z), dtype=bool)
        role_dtype = np.zeros((r + 1, max(t, 1)), dtype=bool)
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
        self.role_dtype = role_dtype[:, :t]

        # Zone graph: edge door index (-1 none); restricted zones are never bare-MOVE targets.
        self.adjacency = np.asarray(eng.zone_adjacency, dtype=bool)
        edge_door = np.full((z, z), -1, dtype=np.intp)
        for za, nbrs in policy.neighbors.items():
            for zb, door in nbrs.items():
                if door is not None and za in zone_index and zb in zone_index:
                    edge_door[zone_index[za], zone_index[zb]] = door_index[door]
        self.edge_door = edge_door
        self.zone_restricted = np.asarray(eng.zone_restricted, dtype=bool)
        zone_door = np.zeros((z, max(len(self.door_ids), 1)), dtype=bool)
        for did, info in policy.doors.items():
            for zid in info.get("zones", ()):
                if zid in zone_index and did in door_index:
                    zone_door[zone_index[zid], door_index[did]] = True
        self.zone_door = zone_door[:, : len(self.door_ids)]

        self.device_zone = np.asarray(eng.device_zone, dtype=np.intp)
        self.device_type = np.asarray(eng.device_type, dtype=np.intp)
        # (Z, D) membership: device d stands in zone z
        self.zone_has_device = np.zeros((z, d), dtype=bool)
        self.zone_has_device[self.device_zone, np.arange(d)] = True
        # (R+1, D): role may operate device d's type
        self.role_device = self.role_dtype[:, self.device_type] if t else np.zeros((r + 1, d), bool)
        self.devices_in_zone = self.zone_has_device.sum(axis=1).astype(np.float32)

        # Static per-agent one-hots (role), shared by reference and read-only.
        role_onehot = np.zeros((n, r), dtype=np.int8)
        has_role = eng.agent_role >= 0
        role_onehot[np.flatnonzero(has_role), eng.agent_role[has_role]] = 1
        role_onehot.setflags(write=False)
        self.role_onehot = role_onehot
        self.agent_arange = np.arange(n)
        self.zone_ids_arr = np.array(self.zone_ids, dtype=object)
        self.device_ids_arr = np.array(self.device_ids, dtype=object)
        self.door_ids_arr = np.array(self.door_ids, dtype=object)

        # Filled by refresh():
        self.mask = np.zeros((n, NUM_ACTIONS), dtype=np.int8)
        self.here = np.zeros((z, N_HERE), dtype=np.float32)
        self.queue_by_type = np.zeros(t, dtype=np.float32)
        self.work_by_type = np.zeros(t, dtype=np.float32)
        self.move_ok = np.zeros((r + 1, z, z), dtype=bool)
        self.queue_dev = np.full((r + 1, z), -1, dtype=np.intp)
        self.start_dev = np.full((r + 1, z), -1, dtype=np.intp)
        self.closed_door_at = np.full(z, -1, dtype=np.intp)

    # ---------------------------------------------------------------------------------------
    def refresh(self, eng: Any) -> None:
        """Recompute the per-step tables and the (N, 6) action mask from the engine's views."""
        z, d = self.z, self.d
        qlen = eng.device_queue_len
        busy = eng.device_busy.astype(bool)
        down = eng.device_fault.astype(bool) | eng.device_qc_fail.astype(bool)
        frozen = eng.zone_frozen.astype(bool)
        door_open = eng.door_open.astype(bool)
        work = np.asarray(eng.work_by_device_type)

        # Passable edges: adjacent, door (if any) open, target not frozen, not restricted.
        door_ok = np.ones((z, z), dtype=bool)
        has_door = self.edge_door >= 0
        if has_door.any():
            door_ok[has_door] = door_open[self.edge_door[has_door]]
        passable = self.adjacency & door_ok & ~frozen[None, :] & ~self.zone_restricted[None, :]
        move_ok = passable[None, :, :] & self.role_zone[:, None, :]  # (R+1, Z, Z)
        self.move_ok = move_ok

        # QUEUE_RUN: a device in the zone whose type has ready work, operable by the role.
        queueable = ~down & (work[self.device_type] > 0) if d else np.zeros(0, bool)
        cand = self.role_device[:, None, :] & self.zone_has_device[None, :, :] & queueable
        big = np.iinfo(np.int32).max
        score = np.where(cand, qlen[None, None, :], big)
        best = score.argmin(axis=2) if d else np.zeros((self.r + 1, z), np.intp)
        self.queue_dev = np.where(cand.any(axis=2), best, -1) if d else best - 1

        # START_RUN: an idle, healthy device with a non-empty queue; prefer the longest queue.
        startable = ~busy & ~down & (qlen > 0)
        cand_s = self.role_device[:, None, :] & self.zone_has_device[None, :, :] & startable
        score_s = np.where(cand_s, qlen[None, None, :], -1)
        best_s = score_s.argmax(axis=2) if d else np.zeros((self.r + 1, z), np.intp)
        self.start_dev = np.where(cand_s.any(axis=2), best_s, -1) if d else best_s - 1

        # OPEN_DOOR: the first closed door touching the zone.
        closed = self.zone_door & ~door_open[None, :]
        self.closed_door_at = np.where(closed.any(axis=1), closed.argmax(axis=1), -1)

        zone_ok = np.zeros((self.r + 1, z, NUM_ACTIONS), dtype=bool)
        zone_ok[:, :, 0] = True
        zone_ok[:, :, ACTION_TICK] = True
        zone_ok[:, :, ACTION_MOVE] = move_ok.any(axis=2)
        zone_ok[:, :, ACTION_OPEN_DOOR] = (self.closed_door_at >= 0)[None, :]
        zone_ok[:, :, ACTION_QUEUE_RUN] = self.queue_dev >= 0
        zone_ok[:, :, ACTION_START_RUN] = self.start_dev >= 0
        zone_ok &= self.role_act[:, None, :]
        zone_ok[:, frozen, 1:] = False  # every event in a frozen zone is refused
        az = eng.agent_zone
        mask = zone_ok[self.agent_role_row, az].astype(np.int8)
        if eng.killed:
            mask[:, 1:] = 0
        self.mask = mask

        # Per-zone observation features and lab-wide per-type counts.
        idle = (~busy & ~down).astype(np.float32)
        here = np.empty((z, N_HERE), dtype=np.float32)
        here[:, 0] = self.devices_in_zone
        if d:
            here[:, 1] = np.bincount(self.device_zone, weights=idle, minlength=z)
            here[:, 2] = np.bincount(self.device_zone, weights=qlen, minlength=z)
            here[:, 3] = np.bincount(self.device_zone, weights=busy, minlength=z)
            self.queue_by_type = np.bincount(
                self.device_type, weights=qlen, minlength=self.t
            ).astype(np.float32)
        else:
            here[:, 1:4] = 0.0
            self.queue_by_type = np.zeros(self.t, dtype=np.float32)
        here[:, 4] = closed.sum(axis=1)
        here[:, 5] = self.zone_restricted
        self.here = here
        self.work_by_type = work.astype(np.float32)

    # ---------------------------------------------------------------------------------------
    def move_targets(self, rows: np.ndarray, az: np.ndarray, rng: np.random.Generator) -> list[str]:
        """A neighbour zone id for each agent row: uniform among passable, allowed neighbours.

        When an agent has none (its MOVE is not in the mask), any adjacent zone is used so the
        engine answers with the real refusal reason instead of a phantom no-op.
        """
        roles = self.agent_role_row[rows]
        zones = az[rows]
        ok = self.move_ok[roles, zones]  # (m, Z)
        fallback = ~ok.any(axis=1)
        if fallback.any():
            ok = ok.copy()
            ok[fallback] = self.adjacency[zones[fallback]]
        scores = rng.random(ok.shape) * ok
        targets = scores.argmax(axis=1)
        return list(self.zone_ids_arr[targets])


def flat_dim(v: LabViews) -> int:
    """Length of the flat observation vector."""
    return v.r + v.z + N_HERE + 2 * v.t + 1
