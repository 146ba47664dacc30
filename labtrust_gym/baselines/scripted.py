"""The scripted baseline: role-based agents that run the lab competently.

One :class:`ScriptedLabController` drives every agent it is given. Each step it reads the
engine's work lists once (specimens waiting for accessioning, acceptance and each device type,
results awaiting release, critical results, consignments) through ``env.engine`` — the privileged
view docs/envs.md offers scripted agents — and gives every agent one action of its role:

* reception: receive arrived consignments, accept (or hold/reject problem specimens), accession;
* operators (ops, runner): queue ready specimens on their devices, start runs, restock reagent,
  walk between the device zones they own; one runner doubles as courier when remote sites send
  specimens (dispatch + chain-of-custody signature);
* qc: rerun QC on failed analyzers, handle critical results, release results;
* supervisor: critical results first (notify, acknowledge with read-back), then release.

Claims (``_Claims``) stop two agents acting on the same specimen, result or device in one step,
so the same code drives the six-agent default lab and generated labs of hundreds of agents.
STAT work always goes first (STAT > URGENT > ROUTINE, then arrival).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

PRIORITY_RANK = {"STAT": 0, "URGENT": 1, "ROUTINE": 2}
OPERATOR_ROLES = ("ops", "runner")
RECEPTION_ZONES = ("Z_RECEPTION", "Z_ACCESSIONING")
RECEIVE_ZONES = ("Z_INGRESS", "Z_RECEPTION")
REJECT_CODES = frozenset({"SPEC.ID_MISMATCH", "SPEC.LEAK"})
RESTOCK_BELOW = 5
#: Longest a batch device (centrifuge) waits for its batch to fill before starting anyway.
BATCH_WAIT_S = 60.0

NOOP: dict[str, Any] = {"action_index": 0, "action_type": "NOOP"}


def _act(action_type: str, args: Mapping[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    from labtrust_gym.envs.action_contract import ACTION_INDEX_BY_NAME, ACTION_TICK

    action: dict[str, Any] = {
        "action_index": ACTION_INDEX_BY_NAME.get(action_type, ACTION_TICK),
        "action_type": action_type,
        "args": dict(args or {}),
    }
    action.update(extra)
    return action


class _Claims:
    """Things already acted on by some agent in the current step."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: set[str] = set()

    def take(self, key: str) -> bool:
        if key in self.items:
            return False
        self.items.add(key)
        return True


class WorkView:
    """The lab's work lists for one step, read once from the engine and shared by all agents.

    The engine's live counters (``stage_counts``, ``work_by_device_type``,
    ``n_results_awaiting_release``) let empty lists be skipped without a query.
    """

    def __init__(
        self,
        engine: Any,
        lab_site: str | None,
        static: dict[str, tuple[int, float, str]],
        multi_site: bool = False,
        device_type_ids: list[str] | None = None,
    ) -> None:
        self.engine = engine
        q = engine.query
        self.static = static
        counts = engine.stage_counts
        self.to_accession: list[str] = []
        self.remote_waiting: dict[str, list[str]] = {}
        if counts.get("arrived"):
            for sid in q("specimens(arrived)"):
                site = q(f"specimen({sid})").get("site_id") if multi_site else lab_site
                if site is None or site == lab_site:
                    self.to_accession.append(sid)
                else:
                    self.remote_waiting.setdefault(site, []).append(sid)
            self.to_accession = self._sorted(self.to_accession)
        self.to_accept: list[str] = (
            self._sorted(q("specimens(accessioned)")) if counts.get("accessioned") else []
        )
        self.ready: dict[str, list[str]] = {}
        types = device_type_ids or list(engine.device_type_ids)
        work = engine.work_by_device_type.tolist()
        if any(work):
            ready_fn = getattr(engine, "ready_specimens", None)
            if ready_fn is not None:
                for ti, dtype in enumerate(types):
                    if work[ti] > 0:
                        self.ready[dtype] = list(ready_fn(dtype))
            else:
                ready: dict[str, list[str]] = {}
                for status in ("accepted", "staged"):
                    if not counts.get(status):
                        continue
                    for sid in q(f"specimens({status})"):
                        dtype = q(f"next_device_type({sid})")
                        if dtype is not None:
                            ready.setdefault(dtype, []).append(sid)
                self.ready = {t: self._sorted(ids) for t, ids in ready.items()}
        self.generated: list[str] = (
            list(q("results(generated)")) if engine.n_results_awaiting_release else []
        )

    def rank(self, sid: str) -> tuple[int, float, str]:
        """Service-order key of a specimen: (priority rank, arrival time, id)."""
        key = self.static.get(sid)
        if key is None:
            spec = self.engine.query(f"specimen({sid})")
            key = (PRIORITY_RANK.get(spec.get("priority"), 2), spec.get("arrival_t_s", 0.0), sid)
            self.static[sid] = key
        return key

    def _sorted(self, ids: Iterable[str]) -> list[str]:
        return sorted(ids, key=self.rank)


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
        self.env = env
        eng = env.engine
        self.engine = eng
        self.seed = seed
        # Service-order keys known from the arrival schedule (no engine query needed).
        self.static: dict[str, tuple[int, float, str]] = {
            a["specimen_id"]: (
                PRIORITY_RANK.get(a.get("priority"), 2),
                float(a["t_s"]),
                a["specimen_id"],
            )
            for a in (initial_state or {}).get("arrivals") or ()
        }
        self.consignments: list[str] = []
        self.n_consignments = 0
        self.result_seen: dict[str, float] = {}
        self._queue_since: dict[int, float] = {}
        state = initial_state or {}
        self.lab_site = state.get("lab_site_id") or getattr(eng, "lab_site_id", None)
        if self.lab_site is None:
            from labtrust_gym.engine.policy import load_policy

            self.lab_site = load_policy(policy_root).lab_site_id
        self.multi_site = any(
            a.get("site_id") not in (None, self.lab_site) for a in state.get("arrivals") or ()
        )
        roles = list(eng.role_ids)
        self.role_of = {
            aid: (roles[int(r)] if int(r) >= 0 else None)
            for aid, r in zip(eng.agent_ids, eng.agent_role, strict=True)
        }
        controlled = [a for a in eng.agent_ids if self.only is None or a in self.only]
        self.controlled = controlled
        self.zone_ids = list(eng.zone_ids)
        self.zone_index = dict(eng.zone_index)
        self.device_ids = list(eng.device_ids)
        self.device_type_ids = list(eng.device_type_ids)
        self.capacity, self.queue_max = _device_limits(policy_root)
        self._dtype = [self.device_type_ids[int(t)] for t in eng.device_type]
        self.devices_by_zone: dict[int, list[int]] = {}
        for di, zi in enumerate(eng.device_zone):
            self.devices_by_zone.setdefault(int(zi), []).append(di)
        self._assign_operators(controlled)
        handlers = {
            "reception": self._reception,
            "ops": self._operator,
            "runner": self._operator,
            "qc": self._qc,
            "supervisor": self._supervisor,
        }
        # (agent, row in the engine's agent arrays, role script); roles without a script idle.
        self._dispatch = [
            (aid, eng.agent_index[aid], handlers[str(self.role_of[aid])])
            for aid in controlled
            if self.role_of.get(aid) in handlers
        ]
        self.routes = _routes_to(self.lab_site, policy_root)

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
        self.courier = runners[-1] if runners else (operators[-1] if operators else None)

    # ---- stepping --------------------------------------------------------------------------
    def act(
        self, obs: Mapping[str, Any] | None, infos: Mapping[str, Any] | None, t: int
    ) -> dict[str, Any]:
        eng = self.engine
        view = WorkView(eng, self.lab_site, self.static, self.multi_site, self.device_type_ids)
        claims = _Claims()
        actions: dict[str, Any] = {}
        zones = eng.agent_zone.tolist()
        agent_index = eng.agent_index
        self._op_zones = {zones[agent_index[a]] for a in self.operators}
        self._snapshot_devices(view)
        self._track_queues()
        self._critical = (
            set(eng.query("critical_pending")) if getattr(eng, "n_critical_pending", 1) else set()
        )
        for aid, row, handler in self._dispatch:
            action = handler(aid, zones[row], view, claims)
            if action is not None:
                actions[aid] = action
        return actions

    # ---- helpers ---------------------------------------------------------------------------
    def _move_toward(self, zone: int, target: int) -> dict[str, Any] | None:
        if zone == target:
            return None
        nxt = int(self.engine.next_hop_table[zone, target])
        if nxt < 0:
            return None
        return _act("MOVE", {"to_zone": self.zone_ids[nxt]})

    def _distance(self, a: int, b: int) -> int:
        """Hops from zone ``a`` to zone ``b`` along the engine's shortest paths."""
        key = (a, b)
        d = self._dist.get(key)
        if d is None:
            table = self.engine.next_hop_table
            d, cur = 0, a
            while cur != b and d <= len(self.zone_ids):
                nxt = int(table[cur, b])
                if nxt < 0:
                    d = 10**6
                    break
                cur, d = nxt, d + 1
            self._dist[key] = d
        return d

    def _zone_of(self, name: str) -> int | None:
        return self.zone_index.get(name)

    # ---- reception -------------------------------------------------------------------------
    def _reception(
        self, aid: str, zone: int, view: WorkView, claims: _Claims
    ) -> dict[str, Any] | None:
        eng = self.engine
        here = self.zone_ids[zone]
        if here in RECEIVE_ZONES:
            for cid in self.consignments:
                if eng.query(f"consignment_state({cid})") == "arrived" and claims.take(cid):
                    return _act("RECEIVE_TRANSPORT", {"consignment_id": cid})
        if here not in RECEPTION_ZONES:
            target = self._zone_of(RECEPTION_ZONES[0])
            return self._move_toward(zone, target) if target is not None else None
        # Merge both queues by priority; at equal priority, finish acceptance first.
        best: tuple[Any, ...] | None = None
        for stage, ids in ((0, view.to_accept), (1, view.to_accession)):
            for sid in ids:
                if sid in claims.items:
                    continue
                rank, arrival, _ = view.rank(sid)
                key = (rank, stage, arrival, sid)
                if best is None or key < best:
                    best = key
                break  # lists are sorted; the first unclaimed one is the best of its stage
        if best is None:
            return None
        sid = best[3]
        claims.take(sid)
        if best[1] == 1:
            return _act("CREATE_ACCESSION", {"specimen_id": sid})
        problem = eng.query(f"acceptance_check({sid})")
        if problem is None:
            return _act("ACCEPT_SPECIMEN", {"specimen_id": sid})
        verb = "REJECT_SPECIMEN" if problem in REJECT_CODES else "HOLD_SPECIMEN"
        return _act(verb, {"specimen_id": sid}, reason_code=problem)

    # ---- operators -------------------------------------------------------------------------
    def _operator(
        self, aid: str, zone: int, view: WorkView, claims: _Claims
    ) -> dict[str, Any] | None:
        if aid == self.courier:
            action = self._courier(view, claims)
            if action is not None:
                return action
        homes = self.home.get(aid, [])
        if zone in self._pending_zones and zone in homes:
            for di in self.devices_by_zone[zone]:
                action = self._device_action(aid, di, view, claims, dry_run=False)
                if action is not None:
                    return action
        shared = len(homes) > 1
        for hz in self._zones_by_distance(zone, homes):
            if hz not in self._pending_zones:
                continue
            if shared and ("goto:" + str(hz) in claims.items or hz in self._op_zones):
                continue
            claims.take("goto:" + str(hz))
            return self._move_toward(zone, hz)
        if self.role_of.get(aid) == "ops":
            return self._release_or_critical(view, claims)
        return None

    def _zones_by_distance(self, zone: int, homes: list[int]) -> list[int]:
        key = (zone, id(homes))
        order = self._zone_order.get(key)
        if order is None:
            order = [z for _, z in sorted((self._distance(zone, z), z) for z in homes if z != zone)]
            self._zone_order[key] = order
        return order

    def _snapshot_devices(self, view: WorkView) -> None:
        """Per-step plain-Python copies of the device views, best device per type, and the
        zones where some operator action is possible."""
        eng = self.engine
        self._fault = eng.device_fault.tolist()
        self._qlen = eng.device_queue_len.tolist()
        self._busy = eng.device_busy.tolist()
        self._qcbad = eng.device_qc_fail.tolist()
        self._reagent = eng.device_reagent.tolist()
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
        ready = view.ready
        for zi, devs in self.devices_by_zone.items():
            for di in devs:
                if self._fault[di]:
                    continue
                dtype = self._dtype[di]
                if (
                    (ready.get(dtype) and self._best.get(dtype) == di)
                    or (not self._busy[di] and not self._qcbad[di] and self._qlen[di] > 0)
                    or 0 <= self._reagent[di] < RESTOCK_BELOW
                ):
                    pending.add(zi)
                    break
        self._pending_zones = pending

    def _device_action(
        self, aid: str, di: int, view: WorkView, claims: _Claims, *, dry_run: bool
    ) -> dict[str, Any] | None:
        if self._fault[di]:
            return None
        dev = self.device_ids[di]
        dtype = self._dtype[di]
        qlen = self._qlen[di]
        qc_bad = self._qcbad[di]
        reagent = self._reagent[di]
        low = 0 <= reagent < RESTOCK_BELOW and (not aid or self.role_of.get(aid) == "ops")
        if low and (dry_run or claims.take("restock:" + dev)):
            return _act("RESTOCK_REAGENT", {"device_id": dev})
        queue_target = None
        room = qlen + self._added.get(di, 0) < self.queue_max.get(dtype, 1 << 30)
        if room and not qc_bad and self._best.get(dtype) == di:
            for sid in view.ready.get(dtype, ()):
                if sid not in claims.items:
                    queue_target = sid
                    break
        can_start = not self._busy[di] and not qc_bad and qlen > 0 and reagent != 0
        # Capacity-1 analyzers: keep the device busy first. Batch devices: fill the batch first.
        start_now = can_start and (
            self.capacity.get(dtype, 1) == 1
            or qlen >= self.capacity.get(dtype, 1)
            or self._batch_waited(di)
            or (queue_target is None and not self._upstream())
            or self._stat_waiting(di, view)
        )
        if start_now and (dry_run or claims.take("start:" + dev)):
            return _act("START_RUN", {"device_id": dev})
        if queue_target is not None:
            if not dry_run:
                claims.take(queue_target)
                self._added[di] = self._added.get(di, 0) + 1
            return _act("QUEUE_RUN", {"device_id": dev, "specimen_id": queue_target})
        return None

    def _batch_waited(self, di: int) -> bool:
        """A batch device starts a partial batch once its queue head waited ``BATCH_WAIT_S``."""
        since = self._queue_since.get(di)
        return since is not None and float(self.engine.now_s) - since >= BATCH_WAIT_S

    def _stat_waiting(self, di: int, view: WorkView) -> bool:
        """A STAT specimen at the head of a batch device's queue does not wait for the batch."""
        head = self.engine.query(f"queue_head({self.device_ids[di]})")
        return head is not None and view.rank(head)[0] == 0

    def _upstream(self) -> bool:
        """Specimens still before acceptance (they may join a batch soon)."""
        counts = self.engine.stage_counts
        return bool(counts.get("arrived") or counts.get("accessioned") or counts.get("accepted"))

    def _track_queues(self) -> None:
        now = float(self.engine.now_s)
        busy = self._busy
        for di, qlen in enumerate(self._qlen):
            if qlen and not busy[di]:
                self._queue_since.setdefault(di, now)
            else:
                self._queue_since.pop(di, None)

    def _courier(self, view: WorkView, claims: _Claims) -> dict[str, Any] | None:
        eng = self.engine
        for cid in self.consignments:
            if eng.query(f"consignment_state({cid})") == "created" and claims.take(cid):
                return _act("CHAIN_OF_CUSTODY_SIGN", {"consignment_id": cid})
        for site in sorted(view.remote_waiting):
            route = self.routes.get(site)
            ids = [s for s in view.remote_waiting[site] if s not in claims.items]
            if route is None or not ids:
                continue
            self.n_consignments += 1
            cid = f"CONS_{self.n_consignments:03d}"
            for sid in ids:
                claims.take(sid)
            self.consignments.append(cid)
            return _act(
                "DISPATCH_TRANSPORT",
                {"route_id": route, "specimen_ids": ids, "consignment_id": cid},
            )
        return None

    # ---- qc / supervisor -------------------------------------------------------------------
    def _qc(self, aid: str, zone: int, view: WorkView, claims: _Claims) -> dict[str, Any] | None:
        eng = self.engine
        for di in range(len(self.device_ids)):
            if eng.device_qc_fail[di] and not eng.device_busy[di]:
                dev = self.device_ids[di]
                if "qc:" + dev in claims.items:
                    continue
                target = int(eng.device_zone[di])
                if target == zone:
                    claims.take("qc:" + dev)
                    return _act("RUN_QC", {"device_id": dev})
                move = self._move_toward(zone, target)
                if move is not None:
                    claims.take("qc:" + dev)
                    return move
        return self._release_or_critical(view, claims)

    def _supervisor(
        self, aid: str, zone: int, view: WorkView, claims: _Claims
    ) -> dict[str, Any] | None:
        return self._release_or_critical(view, claims)

    def _release_or_critical(self, view: WorkView, claims: _Claims) -> dict[str, Any] | None:
        eng = self.engine
        review = self.release_review_s
        now = float(eng.now_s)
        for rid in view.generated:
            if rid in claims.items:
                continue
            if rid in self._critical:
                res = eng.query(f"result({rid})")
                claims.take(rid)
                if not res.get("tier"):
                    return _act("NOTIFY_CRITICAL", {"result_id": rid, "tier": 1})
                return _act("ACK_CRITICAL", {"result_id": rid, "read_back": res.get("readback")})
            if review > 0.0:
                seen = self.result_seen.setdefault(rid, now)
                if now - seen < review:
                    continue
            claims.take(rid)
            return _act("RELEASE_RESULT", {"result_id": rid})
        return None


_LIMITS_CACHE: dict[str, tuple[dict[str, int], dict[str, int]]] = {}
_ROUTE_CACHE: dict[tuple[str, str | None], dict[str, str]] = {}


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


def _routes_to(lab_site: str | None, policy_root: Path | str | None) -> dict[str, str]:
    """``{origin_site: route_id}`` for routes ending at the lab site."""
    from labtrust_gym.config import get_repo_root, policy_path
    from labtrust_gym.fileio import load_yaml

    path = policy_path(
        policy_root if policy_root is not None else get_repo_root(), "sites", "sites.v0.1.yaml"
    )
    key = (str(path), lab_site)
    if key not in _ROUTE_CACHE:
        doc = load_yaml(path) or {}
        site = lab_site or doc.get("lab_site_id")
        _ROUTE_CACHE[key] = {
            r["from_site"]: r["route_id"]
            for r in doc.get("routes") or ()
            if r.get("to_site") == site
        }
    return _ROUTE_CACHE[key]


__all__ = ["PRIORITY_RANK", "ScriptedLabController", "WorkView"]
