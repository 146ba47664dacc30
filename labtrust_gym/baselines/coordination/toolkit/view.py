"""The coordination view: what a method observes each step, built from ``obs``/``infos`` only.

:meth:`CoordinationView.update` reads, in one O(N) pass over the agents plus O(devices + work) for
the lab: every agent's zone (``infos[a]["zone_id"]``) and action mask (``obs[a] ["action_mask"]``;
masks are shared per (role, zone), so each distinct mask is turned into bytes once), the zone
occupancy (counted from the zones), last step's contention and the lab's boards: ready work per
device type (``obs[...]["observation"]["work"]``), the work-list counts (``["lab"]``,
:data:`WORK_FIELDS`) and the device boards (``infos[a]["lab"]``: queue lengths, busy, down,
QC-failed). It also keeps, from these counts alone, how long the oldest item of each work list has
waited (:class:`AgeTracker`) — what earliest-deadline rules need — and since when each idle device
has had a queue (batch waiting).

Nothing here touches the env or the engine: a method using the view sees what an RL policy sees.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from labtrust_gym.baselines.coordination.toolkit.layout import LabLayout
from labtrust_gym.engine.queries import WORK_COUNT_FIELDS

#: Names of the lab's work-list counts in an observation's ``lab`` block, in order.
WORK_FIELDS: tuple[str, ...] = WORK_COUNT_FIELDS


class AgeTracker:
    """Arrival times of the items of a list known only by its count (FIFO): a count that grows by
    k at time t adds k items that arrived at t; a count that shrinks drops the oldest items."""

    __slots__ = ("_chunks", "count")

    def __init__(self) -> None:
        self._chunks: deque[list[float]] = deque()  # [arrival t_s, items]
        self.count = 0

    def update(self, count: int, t_s: float) -> None:
        diff = count - self.count
        if diff > 0:
            self._chunks.append([t_s, float(diff)])
        elif diff < 0:
            left = -diff
            chunks = self._chunks
            while left and chunks:
                head = chunks[0]
                if head[1] <= left:
                    left -= int(head[1])
                    chunks.popleft()
                else:
                    head[1] -= left
                    left = 0
        self.count = count

    def oldest(self) -> float | None:
        """Arrival time of the oldest item still in the list (None when empty)."""
        return self._chunks[0][0] if self._chunks else None


class CoordinationView:
    """Per-step observation of the whole lab for one method (see the module docstring).

    Per agent row (``layout.agent_ids`` order): ``zone[row]``, ``ok[row]`` (mask bytes: ``ok[row]
    [entry]`` is 1 when the entry is allowed now). Per zone: ``occupancy``.
    Per device: ``queue_len``, ``busy``, ``down``, ``qc_failed``, ``reagent`` (-1: uses none),
    ``waiting_since`` (t_s since
    which an idle device has had a queue, or None). Lab: ``ready[device_type]``, ``counts[name]``
    and an :class:`AgeTracker` per work list in ``ages`` (``"ready:<type>"`` and the
    :data:`WORK_FIELDS` names). ``contended`` maps agents whose last choice was contended to the
    engine's reason code.
    """

    def __init__(self, layout: LabLayout) -> None:
        self.layout = layout
        self.rows = layout.driven_rows()
        n = len(layout.agent_ids)
        nd = len(layout.device_ids)
        self.t = -1
        self.t_s = 0.0
        self.zone: list[int] = list(layout.agent_start)
        self.ok: list[bytes] = [b""] * n
        self.occupancy: list[int] = [0] * len(layout.zone_ids)
        self.contended: Mapping[str, str | None] = {}
        self.queue_len = [0] * nd
        self.busy = [0] * nd
        self.down = [0] * nd
        self.qc_failed = [0] * nd
        self.reagent = [-1] * nd
        self.waiting_since: list[float | None] = [None] * nd
        self.ready: dict[str, int] = dict.fromkeys(layout.device_type_ids, 0)
        self.counts: dict[str, int] = dict.fromkeys(WORK_FIELDS, 0)
        self.ages: dict[str, AgeTracker] = {
            **{"ready:" + t: AgeTracker() for t in layout.device_type_ids},
            **{f: AgeTracker() for f in WORK_FIELDS},
        }

    def update(self, obs: Mapping[str, Any], infos: Mapping[str, Any], t: int) -> None:
        """Read step ``t``'s observations and infos (the runner's dict observations)."""
        lay = self.layout
        ids = lay.agent_ids
        zi = lay.zone_index
        zone = self.zone
        ok = self.ok
        occupancy = [0] * len(lay.zone_ids)
        as_bytes: dict[int, bytes] = {}
        info: Any = None
        for row, aid in enumerate(ids):
            info = infos.get(aid)
            if info is not None:
                z = zone[row] = zi[info["zone_id"]]
            else:
                z = zone[row]
            occupancy[z] += 1
            ob = obs.get(aid)
            if ob is None:
                ok[row] = b""
                continue
            # dict/flat observations carry the mask; box observations leave it in the info
            mask = ob["action_mask"] if type(ob) is dict else (info or {})["action_mask"]
            key = id(mask)
            flags = as_bytes.get(key)
            if flags is None:
                flags = as_bytes[key] = mask.tobytes()
            ok[row] = flags
        self.occupancy = occupancy
        self.t = t
        lab = info.get("lab") if info is not None else None  # one dict shared by every agent
        if lab is not None:
            self._read_lab(lab)
        first = next((obs[a] for a in ids if a in obs), None)
        if type(first) is dict and type(first.get("observation")) is dict:
            self._read_work(first["observation"])

    def _read_lab(self, lab: Mapping[str, Any]) -> None:
        self.t_s = float(lab.get("t_s", self.t_s))
        self.contended = lab.get("contended") or {}
        q = lab.get("device_queue_lengths")
        if q is not None:
            self.queue_len = list(q)
        for name in ("busy", "down", "qc_failed", "reagent"):
            board = lab.get("device_" + name)
            if board is not None:
                setattr(self, name, list(board))
        now = self.t_s
        since = self.waiting_since
        for d, qlen in enumerate(self.queue_len):
            if qlen and not self.busy[d]:
                if since[d] is None:
                    since[d] = now
            else:
                since[d] = None

    def _read_work(self, ob: Mapping[str, Any]) -> None:
        now = self.t_s
        ages = self.ages
        work = ob.get("work")
        if work is not None:
            for t, value in zip(self.layout.device_type_ids, work.tolist(), strict=True):
                n = int(value)
                self.ready[t] = n
                ages["ready:" + t].update(n, now)
        counts = ob.get("lab")
        if counts is not None:
            for name, value in zip(WORK_FIELDS, counts.tolist(), strict=True):
                n = int(value)
                self.counts[name] = n
                ages[name].update(n, now)

    # ---- questions ---------------------------------------------------------------------------
    def can(self, row: int, entry: int | None) -> bool:
        """Whether agent ``row``'s mask allows catalog entry ``entry`` now."""
        if entry is None:
            return False
        flags = self.ok[row]
        return entry < len(flags) and flags[entry] == 1

    def free_cells(self, zone: int) -> int:
        """Cells of ``zone`` not occupied at the start of this step."""
        return self.layout.capacity[zone] - self.occupancy[zone]


__all__ = ["WORK_FIELDS", "AgeTracker", "CoordinationView"]
