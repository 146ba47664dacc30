"""The scripted baseline: role-based agents that run the lab competently, through the catalog.

One :class:`ScriptedLabController` drives every agent it is given. Every action it takes is a
catalog entry (an index of ``env.action_catalog``), chosen among the entries the agent's mask
allows, so the baseline goes through the same masks, resolution and engine checks as any RL
policy, coordination method or language-model agent. What it reads is what its role may see
(docs/envs.md "Role-visible information"): its mask, what an entry would target
(``env.resolve``: which specimen, with which inspection finding), the lab's boards (device
states, queues, ready work per device type, the floor plan's routes) and its own memory of when
a result became available. It never reads an answer key: the acceptance reason comes from the
inspection of the tube in hand, the critical read-back from what the recipient said on the phone
(both resolved by the catalog from role-visible facts).

* reception: receive arrived consignments, accept (or hold/reject problem specimens, by the
  inspection finding), accession;
* operators (ops, runner): queue ready specimens on their devices, start runs (batch devices wait
  at most 60 s to fill unless a STAT is at the head), restock reagent, walk between the device
  zones they own; one runner doubles as courier when remote sites send specimens (dispatch +
  custody signature); ops mint a STABILITY_OVERRIDE for a queued specimen past its limit;
* qc: rerun QC on failed analyzers, approve pending override tokens, handle critical results,
  release results;
* supervisor: critical results first (notify, acknowledge the read-back heard), approvals, then
  release.

The env resolves contention (two agents choosing ``ACCEPT_SPECIMEN@next`` get two specimens);
the controller still spreads its agents (one START per device, ready work counted per type) so
they do not waste steps on contended choices.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from labtrust_gym.baselines.coordination.toolkit.layout import QUEUE_ENTRIES, LabLayout

PRIORITY_RANK = {"STAT": 0, "URGENT": 1, "ROUTINE": 2}
OPERATOR_ROLES = ("ops", "runner")
RECEPTION_ZONES = ("Z_RECEPTION", "Z_ACCESSIONING")
#: Acceptance findings that reject the specimen (the others hold it for follow-up).
REJECT_CODES = frozenset({"SPEC.ID_MISMATCH", "SPEC.LEAK"})
RESTOCK_BELOW = 5
#: Longest a batch device (centrifuge) waits for its batch to fill before starting anyway.
BATCH_WAIT_S = 60.0

NOOP: dict[str, Any] = {"action_index": 0, "action_type": "NOOP"}


def _act(action_type: str, args: Mapping[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """An explicit engine event (threat scripts use these; the baseline uses catalog entries)."""
    from labtrust_gym.envs.action_contract import explicit_event

    return explicit_event(action_type, args, **extra)


class ScriptedLabController:
    """Drives a set of agents (default: all) of a ``LabTrustParallelEnv`` with role scripts."""

    baseline_id = "scripted_v1"

    def __init__(
        self, agent_ids: Iterable[str] | None = None, *, release_review_s: float = 0.0
    ) -> None:
        self.only = set(agent_ids) if agent_ids is not None else None
        # Technical validation: a non-critical result is released only after it has been
        # available for this long (qc_cascade uses it, so a QC failure can catch results).
        self.release_review_s = release_review_s
        self.env: Any = None
        self.engine: Any = None

    # ---- episode setup ---------------------------------------------------------------------
    def reset(
        self,
        env: Any,
        seed: int,
        policy_root: Path | str | None = None,
        initial_state: Mapping[str, Any] | None = None,
    ) -> None:
        """Drive ``env``'s agents this episode (the lab's boards read from the env)."""
        self.env = env
        self.engine = env.engine
        self.attach(LabLayout.from_env(env), EnvBoard(env, initial_state), seed, policy_root)

    def attach(
        self, layout: Any, board: LabBoard, seed: int, policy_root: Path | str | None = None
    ) -> None:
        """Drive the agents of ``layout`` (a coordination ``LabLayout``) reading the lab through
        ``board``: the env's boards for the baseline, a coordination view for the ``scripted``
        coordination method."""
        self.board = board
        self.seed = seed
        cat = layout.catalog
        self.catalog = cat
        names = set(cat.names())

        def col(name: str) -> int | None:
            return cat.index(name) if name in names else None

        self.zone_ids = list(layout.zone_ids)
        self.zone_index = dict(layout.zone_index)
        self.device_ids = list(layout.device_ids)
        self.device_type_ids = list(layout.device_type_ids)
        self._dtype = list(layout.device_type)
        self._dev_cols = [
            {
                kind: col(f"{kind}@{d}")
                for kind in ("QUEUE_RUN", "START_RUN", "RUN_QC", "RESTOCK_REAGENT")
            }
            for d in self.device_ids
        ]
        self._move = list(layout.move)
        self._open = dict(layout.open_door)
        self._edge_door = dict(layout.edge_door)
        self.q = {key: col(f"{key}@next") for key in QUEUE_ENTRIES}
        self.q["MINT_STABILITY"] = col("MINT_TOKEN@STABILITY_OVERRIDE")
        self._dispatch = list(layout.dispatch)
        self.result_seen: dict[str, float] = {}
        self._queue_since: dict[int, float] = {}
        self.role_of = dict(zip(layout.agent_ids, layout.agent_role, strict=True))
        controlled = [a for a in layout.agent_ids if self.only is None or a in self.only]
        self.controlled = controlled
        self.capacity, self.queue_max = _device_limits(policy_root)
        self.devices_by_zone: dict[int, list[int]] = {}
        for di, zi in enumerate(layout.device_zone):
            self.devices_by_zone.setdefault(int(zi), []).append(di)
        self._device_zone = list(layout.device_zone)
        self._assign_operators(controlled)
        self._operator_rows = [layout.agent_row[a] for a in self.operators]
        handlers = {
            "reception": self._reception,
            "ops": self._operator,
            "runner": self._operator,
            "qc": self._qc,
            "supervisor": self._supervisor,
        }
        # (agent, row in the lab's agent order, role script); roles without a script idle.
        self._dispatch_roles = [
            (aid, layout.agent_row[aid], handlers[str(self.role_of[aid])])
            for aid in controlled
            if self.role_of.get(aid) in handlers
        ]

    def _assign_operators(self, controlled: list[str]) -> None:
        operators = [a for a in controlled if self.role_of.get(a) in OPERATOR_ROLES]
        # Device zones in layout order; consecutive zones are neighbours in the floor plan, so
        # contiguous chunks keep each operator's walk short.
        zones = sorted(self.devices_by_zone)
        self.home: dict[str, list[int]] = {}
        self.operators: list[str] = []
        self._dist: dict[tuple[int, int], int] = {}
        self._zone_order: dict[tuple[int, int], list[int]] = {}
        if not operators or not zones:
            self.courier = None
            return
        self.operators = operators
        if len(operators) >= len(zones):
            # Enough operators: each stays with the devices of one zone.
            for i, aid in enumerate(operators):
                self.home[aid] = [zones[i % len(zones)]]
        else:
            # Fewer operators than device zones: all share every zone and go where work is,
            # nearest first; an operator already in a zone (or heading there) owns its work.
            for aid in operators:
                self.home[aid] = list(zones)
        runners = [a for a in operators if self.role_of[a] == "runner"]
        self.courier = runners[-1] if runners else operators[-1]

    # ---- stepping --------------------------------------------------------------------------
    def act(
        self, obs: Mapping[str, Any] | None, infos: Mapping[str, Any] | None, t: int
    ) -> dict[str, Any]:
        """One catalog index per controlled agent (agents with nothing to do are left out)."""
        board = self.board
        actions: dict[str, Any] = {}
        zones = board.zones()
        self._claims: set[str] = set()
        self._op_zones = {zones[row] for row in self._operator_rows}
        self._now = board.now()
        self._snapshot_devices()
        self._track_queues()
        mask = board.mask
        for aid, row, handler in self._dispatch_roles:
            action = handler(aid, zones[row], mask(aid, row))
            if action is not None:
                actions[aid] = action
        return actions

    # ---- helpers ---------------------------------------------------------------------------
    def _move_toward(self, zone: int, target: int, ok: bytes) -> int | None:
        """The entry that walks one hop towards ``target``: the move, else opening the door in
        the way (None when neither is possible now)."""
        if zone == target:
            return None
        nxt = self.board.next_hop(zone, target)
        if nxt < 0:
            return None
        move = self._move[nxt]
        if move is not None and ok[move]:
            return move
        door = self._edge_door.get((zone, nxt))
        opener = self._open.get(door) if door is not None else None
        if opener is not None and ok[opener]:
            return opener
        return None

    def _distance(self, a: int, b: int) -> int:
        """Hops from zone ``a`` to zone ``b`` along the engine's shortest paths."""
        key = (a, b)
        d = self._dist.get(key)
        if d is None:
            next_hop = self.board.next_hop
            d, cur = 0, a
            while cur != b and d <= len(self.zone_ids):
                nxt = next_hop(cur, b)
                if nxt < 0:
                    d = 10**6
                    break
                cur, d = nxt, d + 1
            self._dist[key] = d
        return d

    def _valid(self, ok: bytes, key: str) -> int | None:
        e = self.q.get(key)
        return e if e is not None and ok[e] else None

    # ---- reception -------------------------------------------------------------------------
    def _reception(self, aid: str, zone: int, ok: bytes) -> int | None:
        e = self._valid(ok, "RECEIVE_TRANSPORT")
        if e is not None:
            return e
        if self.zone_ids[zone] not in RECEPTION_ZONES:
            target = self.zone_index.get(RECEPTION_ZONES[0])
            return self._move_toward(zone, target, ok) if target is not None else None
        e = self._valid(ok, "ACCEPT_SPECIMEN")
        if e is not None:
            return e
        hold = self._valid(ok, "HOLD_SPECIMEN")
        if hold is not None:
            # the inspection finding of the tube in hand decides: reject or hold
            preview = self.board.resolve(aid, hold)
            reject = self._valid(ok, "REJECT_SPECIMEN")
            if preview is not None and preview.get("reason_code") in REJECT_CODES and reject:
                return reject
            return hold
        return self._valid(ok, "CREATE_ACCESSION")

    # ---- operators -------------------------------------------------------------------------
    def _operator(self, aid: str, zone: int, ok: bytes) -> int | None:
        if aid == self.courier:
            action = self._courier(ok)
            if action is not None:
                return action
        homes = self.home.get(aid, [])
        if zone in self._pending_zones and zone in homes:
            for di in self.devices_by_zone[zone]:
                action = self._device_action(aid, di, ok)
                if action is not None:
                    return action
        shared = len(homes) > 1
        for hz in self._zones_by_distance(zone, homes):
            if hz not in self._pending_zones:
                continue
            if shared and ("goto:" + str(hz) in self._claims or hz in self._op_zones):
                continue
            move = self._move_toward(zone, hz, ok)
            if move is not None:
                self._claims.add("goto:" + str(hz))
                return move
        if self.role_of.get(aid) == "ops":
            mint = self._valid(ok, "MINT_STABILITY")
            if mint is not None and "mint" not in self._claims:
                self._claims.add("mint")
                return mint
            return self._release_or_critical(aid, ok)
        return None

    def _zones_by_distance(self, zone: int, homes: list[int]) -> list[int]:
        key = (zone, id(homes))
        order = self._zone_order.get(key)
        if order is None:
            order = [z for _, z in sorted((self._distance(zone, z), z) for z in homes if z != zone)]
            self._zone_order[key] = order
        return order

    def _snapshot_devices(self) -> None:
        """Per-step plain-Python copies of the lab's device boards, best device per type, and
        the zones where some operator action is possible."""
        self._fault, self._qlen, self._busy, self._qcbad, self._reagent = self.board.devices()
        work = self.board.ready()
        self._ready_left = {t: work[i] for i, t in enumerate(self.device_type_ids)}
        best: dict[str, tuple[int, int]] = {}
        for di, dtype in enumerate(self._dtype):
            if (
                self._fault[di]
                or self._qcbad[di]
                or self._qlen[di] >= self.queue_max.get(dtype, 1 << 30)
            ):
                continue
            key = (self._qlen[di] + self._busy[di], di)
            if dtype not in best or key < best[dtype]:
                best[dtype] = key
        self._best = {t: k[1] for t, k in best.items()}
        self._added: dict[int, int] = {}
        # A zone has operator work if one of its devices can start, can take a ready specimen
        # (it is the best device of its type) or needs reagent.
        pending: set[int] = set()
        for zi, devs in self.devices_by_zone.items():
            for di in devs:
                if self._fault[di]:
                    continue
                dtype = self._dtype[di]
                if (
                    (self._ready_left.get(dtype) and self._best.get(dtype) == di)
                    or (not self._busy[di] and not self._qcbad[di] and self._qlen[di] > 0)
                    or 0 <= self._reagent[di] < RESTOCK_BELOW
                ):
                    pending.add(zi)
                    break
        self._pending_zones = pending

    def _device_action(self, aid: str, di: int, ok: bytes) -> int | None:
        if self._fault[di]:
            return None
        cols = self._dev_cols[di]
        dev = self.device_ids[di]
        dtype = self._dtype[di]
        qlen = self._qlen[di]
        restock = cols["RESTOCK_REAGENT"]
        if (
            restock is not None
            and ok[restock]
            and 0 <= self._reagent[di] < RESTOCK_BELOW
            and "restock:" + dev not in self._claims
        ):
            self._claims.add("restock:" + dev)
            return restock
        queue = cols["QUEUE_RUN"]
        room = qlen + self._added.get(di, 0) < self.queue_max.get(dtype, 1 << 30)
        can_queue = (
            queue is not None
            and ok[queue]
            and room
            and self._best.get(dtype) == di
            and self._ready_left.get(dtype, 0) > 0
        )
        start = cols["START_RUN"]
        can_start = start is not None and ok[start] and "start:" + dev not in self._claims
        # Capacity-1 analyzers: keep the device busy first. Batch devices: fill the batch first.
        start_now = can_start and (
            self.capacity.get(dtype, 1) == 1
            or qlen >= self.capacity.get(dtype, 1)
            or self._batch_waited(di)
            or (not can_queue and not self._upstream())
            or self._stat_waiting(di)
        )
        if start_now:
            self._claims.add("start:" + dev)
            return start
        if can_queue:
            self._ready_left[dtype] -= 1
            self._added[di] = self._added.get(di, 0) + 1
            return queue
        return None

    def _batch_waited(self, di: int) -> bool:
        """A batch device starts a partial batch once its queue head waited ``BATCH_WAIT_S``."""
        since = self._queue_since.get(di)
        return since is not None and self._now - since >= BATCH_WAIT_S

    def _stat_waiting(self, di: int) -> bool:
        """A STAT specimen at the head of a batch device's queue does not wait for the batch."""
        return self.board.stat_at_head(self.device_ids[di])

    def _upstream(self) -> bool:
        """Specimens still before acceptance (they may join a batch soon)."""
        return self.board.upstream()

    def _track_queues(self) -> None:
        now = self._now
        busy = self._busy
        for di, qlen in enumerate(self._qlen):
            if qlen and not busy[di]:
                self._queue_since.setdefault(di, now)
            else:
                self._queue_since.pop(di, None)

    def _courier(self, ok: bytes) -> int | None:
        e = self._valid(ok, "CHAIN_OF_CUSTODY_SIGN")
        if e is not None and "sign" not in self._claims:
            self._claims.add("sign")
            return e
        for e in self._dispatch:
            if ok[e] and f"dispatch:{e}" not in self._claims:
                self._claims.add(f"dispatch:{e}")
                return e
        return None

    # ---- qc / supervisor -------------------------------------------------------------------
    def _qc(self, aid: str, zone: int, ok: bytes) -> int | None:
        for di in range(len(self.device_ids)):
            if self._qcbad[di] and not self._busy[di]:
                dev = self.device_ids[di]
                if "qc:" + dev in self._claims:
                    continue
                rerun = self._dev_cols[di]["RUN_QC"]
                if rerun is not None and ok[rerun]:
                    self._claims.add("qc:" + dev)
                    return rerun
                move = self._move_toward(zone, self._device_zone[di], ok)
                if move is not None:
                    self._claims.add("qc:" + dev)
                    return move
        return self._approve(ok) or self._release_or_critical(aid, ok)

    def _supervisor(self, aid: str, zone: int, ok: bytes) -> int | None:
        return self._release_or_critical(aid, ok) or self._approve(ok)

    def _approve(self, ok: bytes) -> int | None:
        return self._valid(ok, "APPROVE_TOKEN")

    def _release_or_critical(self, aid: str, ok: bytes) -> int | None:
        for key in ("NOTIFY_CRITICAL", "ACK_CRITICAL"):
            e = self._valid(ok, key)
            if e is not None:
                return e
        release = self._valid(ok, "RELEASE_RESULT")
        if release is None:
            return None
        review = self.release_review_s
        if review > 0.0:  # technical validation: only results available for `review` seconds
            preview = self.board.resolve(aid, release)
            rid = preview["args"]["result_id"] if preview else None
            if rid is None:
                return None
            now = self._now
            if now - self.result_seen.setdefault(rid, now) < review:
                return None
        return release


class LabBoard(Protocol):
    """What the role scripts read of the lab each step (besides the static layout)."""

    def zones(self) -> list[int]:
        """Every agent's zone index (layout agent order)."""

    def mask(self, agent_id: str, row: int) -> bytes:
        """The agent's action mask as bytes (``mask[entry] == 1``: allowed now)."""

    def devices(self) -> tuple[list[int], list[int], list[int], list[int], list[int]]:
        """Per device: faulted, queue length, busy, QC failed, reagent left (-1: none used)."""

    def ready(self) -> list[int]:
        """Specimens ready to queue per device type (sorted type order)."""

    def now(self) -> float:
        """The lab clock (simulated seconds)."""

    def next_hop(self, zone: int, target: int) -> int:
        """The next zone from ``zone`` towards ``target`` (-1: none)."""

    def resolve(self, agent_id: str, entry: int) -> dict[str, Any] | None:
        """What ``entry`` would send for the agent now (None when unknown or nothing)."""

    def stat_at_head(self, device_id: str) -> bool:
        """Whether a STAT specimen heads the device's queue (False when unknown)."""

    def upstream(self) -> bool:
        """Whether specimens are still before acceptance (they may join a batch soon)."""


class EnvBoard:
    """The baseline's board: the env's masks and previews and the engine's fast views."""

    def __init__(self, env: Any, initial_state: Mapping[str, Any] | None) -> None:
        self.env = env
        self.engine = env.engine
        self._hop = self.engine.next_hop_table
        # Service-order keys known from the arrival schedule (labels; no engine query).
        self.static: dict[str, tuple[int, float, str]] = {
            a["specimen_id"]: (
                PRIORITY_RANK.get(a.get("priority"), 2),
                float(a["t_s"]),
                a["specimen_id"],
            )
            for a in (initial_state or {}).get("arrivals") or ()
        }

    def zones(self) -> list[int]:
        zones: list[int] = self.engine.agent_zone.tolist()
        return zones

    def mask(self, agent_id: str, row: int) -> bytes:
        flags: bytes = self.env.action_mask(agent_id).tobytes()
        return flags

    def devices(self) -> tuple[list[int], list[int], list[int], list[int], list[int]]:
        eng = self.engine
        return (
            eng.device_fault.tolist(),
            eng.device_queue_len.tolist(),
            eng.device_busy.tolist(),
            eng.device_qc_fail.tolist(),
            eng.device_reagent.tolist(),
        )

    def ready(self) -> list[int]:
        work: list[int] = self.engine.work_by_device_type.tolist()
        return work

    def now(self) -> float:
        return float(self.engine.now_s)

    def next_hop(self, zone: int, target: int) -> int:
        return int(self._hop[zone, target])

    def resolve(self, agent_id: str, entry: int) -> dict[str, Any] | None:
        preview: dict[str, Any] | None = self.env.resolve(agent_id, entry)
        return preview

    def stat_at_head(self, device_id: str) -> bool:
        head = self.engine.query(f"queue_head({device_id})")
        return head is not None and self._rank(head)[0] == 0

    def _rank(self, sid: str) -> tuple[int, float, str]:
        """Service-order key of a specimen (its label: priority, arrival)."""
        key = self.static.get(sid)
        if key is None:
            spec = self.engine.query(f"specimen({sid})")
            key = (PRIORITY_RANK.get(spec.get("priority"), 2), spec.get("arrival_t_s", 0.0), sid)
            self.static[sid] = key
        return key

    def upstream(self) -> bool:
        counts = self.engine.stage_counts
        return bool(counts.get("arrived") or counts.get("accessioned") or counts.get("accepted"))


_LIMITS_CACHE: dict[str, tuple[dict[str, int], dict[str, int]]] = {}


def scripted_baseline(agent_ids: Iterable[str], task: Any) -> ScriptedLabController:
    """hospital_lab's scripted baseline for ``task``, driving ``agent_ids`` (the hospital
    domain's ``DomainEnv.scripted_baseline`` names this factory)."""
    review = float(getattr(task, "release_review_s", 0.0) or 0.0)
    return ScriptedLabController(agent_ids, release_review_s=review)


def _device_limits(policy_root: Path | str | None) -> tuple[dict[str, int], dict[str, int]]:
    """Batch capacity and maximum queue length per device type (policy/equipment)."""
    from labtrust_gym.config import get_repo_root, policy_path
    from labtrust_gym.fileio import load_yaml

    root = policy_root if policy_root is not None else get_repo_root()
    path = policy_path(root, "equipment", "equipment.v0.1.yaml")
    key = str(path)
    if key not in _LIMITS_CACHE:
        doc = load_yaml(path) or {}
        types = doc.get("device_types") or ()
        _LIMITS_CACHE[key] = (
            {d["device_type"]: int(d.get("capacity") or 1) for d in types},
            {d["device_type"]: int(d.get("queue_max") or 1 << 30) for d in types},
        )
    return _LIMITS_CACHE[key]


__all__ = ["PRIORITY_RANK", "EnvBoard", "LabBoard", "ScriptedLabController", "scripted_baseline"]
