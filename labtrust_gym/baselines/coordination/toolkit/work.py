"""The lab's work list, from the coordination view, and claim sets.

:class:`WorkModel` (built once per layout) turns a :class:`CoordinationView` into the step's
:class:`WorkItem` list in O(devices + work lists): per device a *start* item (an idle device with a
queue), *queue* items (the ready specimens of its type shared over the devices of that type:
analyzers topped up to a working depth, shortest queue first; batch devices filled one batch at a
time, fullest idle device first), a *qc* item (a QC-failed analyzer to rerun);
per work list an item at the zones where it can be done (accession, acceptance, receiving
consignments: reception's zones) or anywhere (release, critical notify/acknowledge, custody
signature, dispatch, token approval). An item names its catalog entry, the roles that may do it,
how many agents may take it this step (``slots``), since when its oldest unit waited and an
estimated deadline (``since + SLA - nominal service time still ahead``).

:class:`ClaimSet` hands out an item's slots: ``take(key)`` succeeds ``slots`` times, so two agents
never take the same unit of work in one step.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from labtrust_gym.baselines.coordination.toolkit.layout import THREAT_ROLES, LabLayout
from labtrust_gym.baselines.coordination.toolkit.view import CoordinationView


@attrs.define(slots=True)
class WorkItem:
    """One unit (or several identical units) of work this step."""

    key: str  # claim key: "start:<device>", "queue:<device>", "qc:<device>", "q:<ACTION>", …
    kind: str  # "start", "queue", "qc", "reception", "result", "critical", "transport", "token"
    entry: int  # catalog index that does it (alternatives in ``alt``, tried in order)
    zones: tuple[int, ...]  # zones where it can be done; () = anywhere
    roles: frozenset[str]  # roles that may do it
    slots: int  # agents that may take it this step
    since_s: float  # arrival of its oldest unit (now when unknown)
    deadline_s: float  # estimated: since + SLA - service time still ahead
    alt: tuple[int, ...] = ()
    device: int = -1
    full: bool = True  # start items: the batch is full (or the device runs one at a time)


class ClaimSet:
    """Slots of the step's work items; ``take`` succeeds at most ``slots`` times per key."""

    __slots__ = ("_left",)

    def __init__(self, items: Iterable[WorkItem] = ()) -> None:
        self._left: dict[str, int] = {it.key: it.slots for it in items}

    def offer(self, key: str, slots: int) -> None:
        self._left[key] = self._left.get(key, 0) + slots

    def take(self, key: str) -> bool:
        left = self._left.get(key, 0)
        if left <= 0:
            return False
        self._left[key] = left - 1
        return True

    def left(self, key: str) -> int:
        return self._left.get(key, 0)


#: (work-list count, entry, alternatives, kind, action type whose action_zones apply or None)
_LISTS: tuple[tuple[str, str, tuple[str, ...], str, str | None], ...] = (
    ("to_accession", "CREATE_ACCESSION", (), "reception", "CREATE_ACCESSION"),
    ("to_accept", "ACCEPT_SPECIMEN", ("HOLD_SPECIMEN",), "reception", "ACCEPT_SPECIMEN"),
    ("consignments_to_receive", "RECEIVE_TRANSPORT", (), "reception", "RECEIVE_TRANSPORT"),
    ("releasable", "RELEASE_RESULT", (), "result", None),
    ("critical_to_notify", "NOTIFY_CRITICAL", (), "critical", None),
    ("critical_to_ack", "ACK_CRITICAL", (), "critical", None),
    ("consignments_to_sign", "CHAIN_OF_CUSTODY_SIGN", (), "transport", None),
    ("pending_tokens", "APPROVE_TOKEN", (), "token", None),
)


class WorkModel:
    """Turns each step's view into the work list (see the module docstring).

    :param sla_s: the turnaround budget deadlines are estimated against (the task's SLA).
    :param depth: queue depth, beyond a device's batch size, that *queue* items top up to.
    """

    def __init__(self, layout: LabLayout, *, sla_s: float = 1200.0, depth: int = 2) -> None:
        self.layout = layout
        self.sla_s = float(sla_s)
        self.depth = int(depth)
        roles = sorted(r for r in set(layout.agent_role) if r is not None and r not in THREAT_ROLES)
        self.roles = roles

        def who(action_type: str, device: int = -1) -> frozenset[str]:
            zone = layout.device_zone[device] if device >= 0 else -1
            return frozenset(
                r
                for r in roles
                if layout.may(r, action_type)
                and (device < 0 or layout.may_operate(r, device))
                and (zone < 0 or _enters(layout, r, zone))
            )

        nd = len(layout.device_ids)
        self.start_roles = [who("START_RUN", d) for d in range(nd)]
        self.queue_roles = [who("QUEUE_RUN", d) for d in range(nd)]
        self.qc_roles = [who("RUN_QC", d) for d in range(nd)]
        self.by_type: dict[str, list[int]] = {}
        for d, t in enumerate(layout.device_type):
            self.by_type.setdefault(t, []).append(d)
        self.lists = []
        for count, action, alts, kind, zoned in _LISTS:
            entry = layout.queue.get(action)
            if entry is None:
                continue
            alt = tuple(e for e in (layout.queue.get(a) for a in alts) if e is not None)
            zones = layout.action_zones.get(zoned, ()) if zoned else ()
            self.lists.append((count, "q:" + action, kind, entry, alt, zones, who(action)))
        self.dispatch_roles = who("DISPATCH_TRANSPORT")
        self.max_remaining = max(layout.remaining_s.values(), default=0.0)

    def items(self, view: CoordinationView) -> list[WorkItem]:
        """The step's work list (devices first, in device order; then the work lists)."""
        lay = self.layout
        now = view.t_s
        sla = self.sla_s
        out: list[WorkItem] = []
        qlen, busy, down, qcf = view.queue_len, view.busy, view.down, view.qc_failed
        for d, zone in enumerate(lay.device_zone):
            if busy[d]:
                continue
            if qcf[d]:
                e = lay.run_qc[d]
                if e is not None and self.qc_roles[d]:
                    out.append(
                        WorkItem(f"qc:{d}", "qc", e, (zone,), self.qc_roles[d], 1, now, now,
                                 device=d)
                    )
                continue
            if down[d] or not qlen[d]:
                continue
            e = lay.start_run[d]
            if e is None:
                continue
            since = view.waiting_since[d]
            since = now if since is None else since
            cap = lay.batch_capacity[d]
            deadline = since + sla - lay.remaining_s.get(lay.device_type[d], 0.0)
            out.append(
                WorkItem(f"start:{d}", "start", e, (zone,), self.start_roles[d], 1, since,
                         deadline, device=d, full=cap == 1 or qlen[d] >= cap)
            )
        for t, devs in self.by_type.items():
            ready = view.ready.get(t, 0)
            if ready:
                self._queue_items(view, t, devs, ready, out)
        counts, ages = view.counts, view.ages
        for count, key, kind, entry, alt, zones, roles in self.lists:
            n = counts.get(count, 0)
            if n <= 0 or not roles:
                continue
            since = ages[count].oldest()
            since = now if since is None else since
            if kind == "critical":
                deadline = since + lay.notify_within_s
            elif kind == "reception":
                deadline = since + sla - self.max_remaining
            else:
                deadline = since
            out.append(WorkItem(key, kind, entry, zones, roles, n, since, deadline, alt))
        if counts.get("remote_waiting", 0) > 0 and self.dispatch_roles:
            since = ages["remote_waiting"].oldest()
            since = now if since is None else since
            for e in lay.dispatch:
                out.append(
                    WorkItem(f"dispatch:{e}", "transport", e, (), self.dispatch_roles, 1, since,
                             since + sla - self.max_remaining)
                )
        return out

    def _queue_items(
        self, view: CoordinationView, t: str, devs: list[int], ready: int, out: list[WorkItem]
    ) -> None:
        """Share ``ready`` specimens of type ``t`` over its working devices. One-at-a-time
        devices (analyzers): least loaded first, each topped up to 1 + ``depth``. Batch devices
        (centrifuge, aliquoter): the idle device with the longest queue first, filled to one
        batch, so batches run full instead of spread thin."""
        lay = self.layout
        qlen, busy, down = view.queue_len, view.busy, view.down
        since = view.ages["ready:" + t].oldest()
        since = view.t_s if since is None else since
        deadline = since + self.sla_s - lay.remaining_s.get(t, 0.0)
        batch = lay.batch_capacity[devs[0]] > 1
        if batch:
            open_devs = sorted((busy[d], -qlen[d], d) for d in devs if not down[d])
        else:
            open_devs = sorted((qlen[d] + busy[d], 0, d) for d in devs if not down[d])
        for _load, _q, d in open_devs:
            if ready <= 0:
                break
            e = lay.queue_run[d]
            cap = lay.batch_capacity[d]
            target = cap if batch else cap + self.depth
            room = min(target - qlen[d] - (0 if batch else busy[d]), lay.queue_max[d] - qlen[d])
            room = min(room, ready)
            if e is None or room <= 0 or not self.queue_roles[d]:
                continue
            out.append(
                WorkItem(f"queue:{d}", "queue", e, (lay.device_zone[d],), self.queue_roles[d],
                         room, since, deadline, device=d)
            )
            ready -= room


def batch_due(view: CoordinationView, layout: LabLayout, item: WorkItem, wait_s: float) -> bool:
    """A *start* item worth doing now: its batch is full (or the device runs one at a time),
    its queue has waited ``wait_s``, or no more specimens of its type are ready to join."""
    return (
        item.full
        or view.t_s - item.since_s >= wait_s
        or not view.ready.get(layout.device_type[item.device], 0)
    )


def _enters(layout: LabLayout, role: str, zone: int) -> bool:
    zones = layout.role_zones.get(role)
    return zones is None or zone in zones


__all__ = ["ClaimSet", "WorkItem", "WorkModel", "batch_due"]
