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
    """The lab's work lists for one step, read once from the engine and shared by all agents."""

    def __init__(
        self,
        engine: Any,
        lab_site: str | None,
        static: dict[str, dict[str, Any]],
        multi_site: bool = False,
    ) -> None:
        self.engine = engine
        q = engine.query
        self.static = static
        self.to_accession: list[str] = []
        self.remote_waiting: dict[str, list[str]] = {}
        for sid in q("specimens(arrived)"):
            site = q(f"specimen({sid})").get("site") if multi_site else lab_site
            if site is None or site == lab_site:
                self.to_accession.append(sid)
            else:
                self.remote_waiting.setdefault(site, []).append(sid)
        self.to_accept: list[str] = list(q("specimens(accessioned)"))
        ready: dict[str, list[str]] = {}
        for status in ("accepted", "staged"):
            for sid in q(f"specimens({status})"):
                dtype = q(f"next_device_type({sid})")
                if dtype is not None:
                    ready.setdefault(dtype, []).append(sid)
        self.ready = {t: self._sorted(ids) for t, ids in ready.items()}
        self.to_accession = self._sorted(self.to_accession)
        self.to_accept = self._sorted(self.to_accept)
        self.generated: list[str] = list(q("results(generated)"))

    def _info(self, sid: str) -> dict[str, Any]:
        info = self.static.get(sid)
        if info is None:
            spec = self.engine.query(f"specimen({sid})")
            info = {
                "rank": PRIORITY_RANK.get(spec.get("priority"), 2),
                "arrival": spec.get("arrival_t_s", 0.0),
            }
            self.static[sid] = info
        return info

    def _sorted(self, ids: Iterable[str]) -> list[str]:
        return sorted(ids, key=lambda s: (self._info(s)["rank"], self._info(s)["arrival"], s))


class ScriptedLabController:
    """Drives a set of agents (default: all) of a ``LabTrustParallelEnv`` with role scripts."""

    baseline_id = "scripted_v1"

    def __init__(self, agent_ids: Iterable[str] | None = None) -> None:
        self.only = set(agent_ids) if agent_ids is not None else None
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
        self.static: dict[str, dict[str, Any]] = {}
        self.consignments: list[str] = []
        self.n_consignments = 0
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
        self.capacity = _device_capacities(policy_root)
        self.devices_by_zone: dict[int, list[int]] = {}
        for di, zi in enumerate(eng.device_zone):
            self.devices_by_zone.setdefault(int(zi), []).append(di)
        self._assign_operators(controlled)
        self.routes = _routes_to(self.lab_site, policy_root)

    def _assign_operators(self, controlled: list[str]) -> None:
        operators = [a for a in controlled if self.role_of.get(a) in OPERATOR_ROLES]
        # Device zones in layout order; consecutive zones are neighbours in the floor plan, so
        # contiguous chunks keep each operator's walk short.
        zones = sorted(self.devices_by_zone)
        self.home: dict[str, list[int]] = {}
        if not operators or not zones:
            return
        if len(operators) >= len(zones):
            for i, aid in enumerate(operators):
                self.home[aid] = [zones[i % len(zones)]]
        else:
            n = len(operators)
            for i, aid in enumerate(operators):
                lo = i * len(zones) // n
                hi = (i + 1) * len(zones) // n
                self.home[aid] = zones[lo:hi]
        runners = [a for a in operators if self.role_of[a] == "runner"]
        self.courier = runners[-1] if runners else (operators[-1] if operators else None)

    # ---- stepping --------------------------------------------------------------------------
    def act(
        self, obs: Mapping[str, Any] | None, infos: Mapping[str, Any] | None, t: int
    ) -> dict[str, Any]:
        eng = self.engine
        view = WorkView(eng, self.lab_site, self.static, self.multi_site)
        claims = _Claims()
        actions: dict[str, Any] = {}
        agent_zone = eng.agent_zone
        agent_index = eng.agent_index
        # Critical results and QC first: they gate releases.
        for aid in self.controlled:
            role = self.role_of.get(aid)
            zone = int(agent_zone[agent_index[aid]])
            if role == "reception":
                action = self._reception(aid, zone, view, claims)
            elif role in OPERATOR_ROLES:
                action = self._operator(aid, zone, view, claims)
            elif role == "qc":
                action = self._qc(aid, zone, view, claims)
            elif role == "supervisor":
                action = self._supervisor(aid, zone, view, claims)
            else:
                action = None
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
                info = view.static[sid]
                key = (info["rank"], stage, info["arrival"], sid)
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
        homes = self.home.get(aid, ())
        pending_zone: int | None = None
        for hz in ([zone] if zone in homes else []) + [z for z in homes if z != zone]:
            for di in self.devices_by_zone.get(hz, ()):
                action = self._device_action(aid, di, view, claims, dry_run=hz != zone)
                if action is None:
                    continue
                if hz == zone:
                    return action
                if pending_zone is None:
                    pending_zone = hz
        if pending_zone is not None:
            return self._move_toward(zone, pending_zone)
        if self.role_of.get(aid) == "ops":
            return self._release_or_critical(view, claims)
        return None

    def _device_action(
        self, aid: str, di: int, view: WorkView, claims: _Claims, *, dry_run: bool
    ) -> dict[str, Any] | None:
        eng = self.engine
        dev = self.device_ids[di]
        if eng.device_fault[di]:
            return None
        dtype = self.device_type_ids[int(eng.device_type[di])]
        qlen = int(eng.device_queue_len[di])
        busy = bool(eng.device_busy[di])
        qc_bad = bool(eng.device_qc_fail[di])
        cap = self.capacity.get(dtype, 1)
        reagent = int(eng.device_reagent[di])
        low = 0 <= reagent < RESTOCK_BELOW and self.role_of.get(aid) == "ops"
        if low and (dry_run or claims.take("restock:" + dev)):
            return _act("RESTOCK_REAGENT", {"device_id": dev})
        candidates = [s for s in view.ready.get(dtype, ()) if s not in claims.items]
        can_start = not busy and not qc_bad and qlen > 0 and reagent != 0
        queue_target = None
        if candidates and not qc_bad and self._best_device(dtype) == di:
            queue_target = candidates[0]
        # Capacity-1 analyzers: keep the device busy first. Batch devices: fill the batch first.
        start_now = can_start and (cap == 1 or qlen >= cap or queue_target is None)
        if start_now and (dry_run or claims.take("start:" + dev)):
            return _act("START_RUN", {"device_id": dev})
        if queue_target is not None:
            if dry_run:
                return _act("QUEUE_RUN", {"device_id": dev, "specimen_id": queue_target})
            claims.take(queue_target)
            return _act("QUEUE_RUN", {"device_id": dev, "specimen_id": queue_target})
        return None

    def _best_device(self, dtype: str) -> int | None:
        """The healthy device of ``dtype`` with the least work (queue + busy), lowest index."""
        eng = self.engine
        best: tuple[int, int] | None = None
        for di, t in enumerate(eng.device_type):
            if (
                self.device_type_ids[int(t)] != dtype
                or eng.device_fault[di]
                or eng.device_qc_fail[di]
            ):
                continue
            key = (int(eng.device_queue_len[di]) + int(eng.device_busy[di]), di)
            if best is None or key < best:
                best = key
        return best[1] if best is not None else None

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
        for rid in view.generated:
            if rid in claims.items:
                continue
            res = eng.query(f"result({rid})")
            if res.get("critical") and not res.get("acked"):
                claims.take(rid)
                if not res.get("tier"):
                    return _act("NOTIFY_CRITICAL", {"result_id": rid, "tier": 1})
                return _act("ACK_CRITICAL", {"result_id": rid, "read_back": res.get("readback")})
            claims.take(rid)
            return _act("RELEASE_RESULT", {"result_id": rid})
        return None


_CAPACITY_CACHE: dict[str, dict[str, int]] = {}
_ROUTE_CACHE: dict[tuple[str, str | None], dict[str, str]] = {}


def _device_capacities(policy_root: Path | str | None) -> dict[str, int]:
    from labtrust_gym.config import get_repo_root, policy_path
    from labtrust_gym.fileio import load_yaml

    path = policy_path(
        policy_root if policy_root is not None else get_repo_root(),
        "equipment",
        "equipment.v0.1.yaml",
    )
    key = str(path)
    if key not in _CAPACITY_CACHE:
        doc = load_yaml(path) or {}
        _CAPACITY_CACHE[key] = {
            d["device_type"]: int(d.get("capacity") or 1) for d in doc.get("device_types") or ()
        }
    return _CAPACITY_CACHE[key]


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
