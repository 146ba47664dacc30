"""``HospitalDomainEnv``: the hospital_lab domain's env side (the domain protocol,
:class:`labtrust_gym.domain.protocol.DomainEnv`, over :class:`HospitalLabEngine`).

Everything here is hospital_lab's and vectorised: observations are tabulated per (role, zone)
key (:mod:`.views`), the action catalog is derived from the lab (:mod:`.catalog`), masks are
assembled from the engine's own rule parts over their smallest domains (:mod:`.masks`), and a
step's actions are resolved against the lab as the earlier agents left it (:mod:`.events`).
``LabTrustParallelEnv`` calls it once per step for all agents; nothing here loops over agents in
Python where numpy can do it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces

from labtrust_gym.domain.actions import ActionCatalog
from labtrust_gym.domain.protocol import RewardSignals, StepOutcome
from labtrust_gym.engine.domain_env.catalog import Entry, bind, build_catalog, mutates_lab
from labtrust_gym.engine.domain_env.events import EventBuilder, EventSigner
from labtrust_gym.engine.domain_env.masks import MaskTables
from labtrust_gym.engine.domain_env.spaces import (
    box_observation_space,
    dict_observation_space,
    state_dim,
    state_space,
)
from labtrust_gym.engine.domain_env.views import LabViews
from labtrust_gym.errors import InvalidInputError

_MAX_DEVICE_LINES = 24
_LAYOUT_PARTS = ("agents", "zones", "devices", "roles", "device types")


class HospitalDomainEnv:
    """The hospital lab seen by agents: catalog, masks, observations, resolution, metrics."""

    #: Results are paid by their credit trail (``attribution``); the emit is the fallback.
    reward_signals = RewardSignals(
        release_emits=frozenset({"RESULT_RELEASED", "RELEASE_RESULT"}),
        progress_actions=frozenset({"QUEUE_RUN", "START_RUN"}),
    )
    #: Resolved by the runner (the baselines sit above the engine).
    scripted_baseline = "labtrust_gym.baselines.scripted:scripted_baseline"
    threat_agents = "labtrust_gym.baselines.security:threat_agents"
    #: ``HospitalLabEngine.reset`` re-initialises everything (tests/benchmarks check it).
    reusable = True

    _catalog: ActionCatalog | None = None
    _static_sig: tuple[Any, ...] | None = None
    _masks: MaskTables | None = None

    def __init__(self, engine: Any, options: Mapping[str, Any]) -> None:
        self.engine = engine
        self.domain_id = str(options.get("domain_id", "hospital_lab"))
        self._auto_sign = bool(options.get("sign_events", True))
        self._signing_keys: dict[str, Any] = dict(options.get("signing_keys") or {})
        self._signer: EventSigner | None = None
        self._models: list[Entry] = []
        self._layout: tuple[tuple[str, ...], ...] = ()
        self._spaces: dict[str, spaces.Space[Any]] = {}
        self._seen_violations = 0
        self._seen_releases = 0
        self._strict = False
        self._busy_steps = np.zeros(0, dtype=np.int64)
        self._queue_totals: list[int] = []

    # ------------------------------------------------------------------ layout
    @property
    def catalog(self) -> ActionCatalog:
        assert self._catalog is not None, "reset() first"
        return self._catalog

    @property
    def agent_ids(self) -> list[str]:
        return self._views.agent_ids

    @property
    def zone_ids(self) -> list[str]:
        return self._views.zone_ids

    @property
    def device_ids(self) -> list[str]:
        return self._views.device_ids

    @property
    def now_s(self) -> float:
        return float(self.engine.now_s)

    @property
    def views(self) -> LabViews:
        """The observation tables (``views.unflatten(flat)`` names a flat observation's fields)."""
        return self._views

    # ------------------------------------------------------------------ episodes
    def scale_config(self, value: Any) -> Any:
        from labtrust_gym.engine.scale import load_scale_config

        return load_scale_config(value)

    def initial_state(self, seed: int, scale: Any = None) -> Mapping[str, Any]:
        if scale is not None:
            from labtrust_gym.engine.scale import generate_initial_state

            return generate_initial_state(scale, seed)
        from labtrust_gym.engine.initial_state import default_initial_state

        state: Mapping[str, Any] = default_initial_state(seed)
        return state

    def reset(self, initial_state: Mapping[str, Any], seed: int) -> list[Any]:
        eng = self.engine
        eng.reset(dict(initial_state), deterministic=True, rng_seed=seed)
        secret = EventSigner.generated_lab_secret(initial_state) if self._auto_sign else None
        self._signer = (
            EventSigner(secret, self._signing_keys) if secret or self._signing_keys else None
        )
        policy = eng.policy
        views = LabViews(eng, policy)
        layout = _layout(views)
        if self._catalog is not None and layout != self._layout:
            what = [name for name, a, b in zip(_LAYOUT_PARTS, layout, self._layout, strict=True)
                    if a != b]
            raise InvalidInputError(
                f"The episode's initial_state has different {', '.join(what)} than the env was "
                "built with; the spaces are fixed for the env's life, so agents, zones, devices "
                "and roles must not depend on the seed. Build a new env for a different lab."
            )
        self._views = views
        # The catalog is the lab's, fixed for the env's life; the static mask tables are kept
        # while the lab's layout (devices, their zones, agents' roles, policy) stays the same.
        sig = (
            id(policy),
            tuple(eng.device_ids),
            tuple(eng.device_zone.tolist()),
            tuple(eng.device_type.tolist()),
            tuple(eng.agent_role.tolist()),
        )
        if self._catalog is None:
            self._layout = layout  # what the spaces are built from; every episode must match
            self._catalog, self._models = build_catalog(eng)
            self.state_space = state_space(views)
        else:
            bind(self._models, eng)
        if sig != self._static_sig or self._masks is None:
            self._static_sig = sig
            self._masks = MaskTables(eng, self._catalog, self._models)
        masks = self._masks
        self._events = EventBuilder(eng, self._catalog, self._models, masks, views)
        self._strict = bool(eng.strict)
        masks.unsignable = sorted(self._unsignable())
        roles = views.role_ids
        self.agent_roles = [roles[r] if r >= 0 else None for r in eng.agent_role.tolist()]
        self._seen_violations = len(eng.violation_log)
        self._seen_releases = len(eng.released)
        self._events.reset(np.random.default_rng([seed, 0x5EED]), self._signer)
        masks.reset(eng)
        emits: list[Any] = eng.drain_system_emits()
        self._refresh(True)
        self._busy_steps = np.zeros(len(views.device_ids), dtype=np.int64)
        self._queue_totals = []
        return emits

    # ------------------------------------------------------------------ observations, masks
    def observation_space(self, kind: str) -> spaces.Space[Any]:
        space = self._spaces.get(kind)
        if space is None:
            v = self._views
            space = self._spaces[kind] = (
                box_observation_space(v) if kind == "box" else dict_observation_space(v)
            )
        return space

    def observe(self, mode: str, time_fraction: float) -> dict[str, Any]:
        """Observations of all agents (see views.py and docs/envs.md)."""
        v = self._views
        agents = v.agent_ids
        if mode == "box":
            return dict(zip(agents, v.flat_rows(time_fraction), strict=True))
        masks = self.masks()
        if mode == "flat":
            return {
                a: {"observation": ob, "action_mask": m}
                for a, ob, m in zip(agents, v.flat_rows(time_fraction), masks, strict=True)
            }
        return v.observe_dict(agents, masks, time_fraction)

    def masks(self) -> list[np.ndarray]:
        """Every agent's current mask (shared per (role, zone) key unless corrected)."""
        tables = self._masks
        assert tables is not None
        rows = tables.rows
        masks = [rows[k] for k in self._views.keys_list]
        for r, m in tables.overrides.items():
            masks[r] = m
        return masks

    def mask(self, row: int) -> np.ndarray:
        """One agent's mask (``MaskTables.row``, inlined: scripted agents ask once per agent
        per step)."""
        tables = self._masks
        assert tables is not None
        own = tables.overrides.get(row)
        return own if own is not None else tables.rows[self._views.keys_list[row]]

    def state(self, time_fraction: float) -> np.ndarray:
        """Agent zone index per agent (N), agents per zone (Z), device queue length, busy and
        down flags (3·D), ready work per device type (T), the episode fraction elapsed (1)."""
        v, eng = self._views, self.engine
        out = np.empty(state_dim(v), dtype=np.float32)
        az = eng.agent_zone
        o = 0
        out[o : o + v.n] = az
        o += v.n
        out[o : o + v.z] = np.bincount(az, minlength=v.z)
        o += v.z
        out[o : o + v.d] = eng.device_queue_len
        out[o + v.d : o + 2 * v.d] = eng.device_busy
        out[o + 2 * v.d : o + 3 * v.d] = eng.device_fault | eng.device_qc_fail
        o += 3 * v.d
        out[o : o + v.t] = v.work_by_type
        out[-1] = time_fraction
        return out

    # ------------------------------------------------------------------ acting
    def apply(
        self, actions: np.ndarray, custom: Mapping[int, Mapping[str, Any]] | None, t: float
    ) -> StepOutcome:
        return self._events.run(actions, custom, t)

    def advance(self, t: float, outcome: StepOutcome) -> list[Any]:
        eng = self.engine
        eng.advance_to(t)
        emits: list[Any] = eng.drain_system_emits()
        changed = bool(emits) or any(
            mutates_lab(at, ev_args, res)
            for at, ev_args, res in zip(outcome.types, outcome.args, outcome.results, strict=True)
        )
        self._refresh(changed)
        return emits

    def resolve(self, row: int, entry: int) -> dict[str, Any] | None:
        return self._events.preview(self.engine.agents[self._views.agent_ids[row]], entry)

    def attribution(self) -> tuple[list[int | None] | None, list[list[int]] | None]:
        """Who is responsible for each violation of the step and who shares each release, from
        the engine's violation log and credit trail (docs/envs.md "Rewards")."""
        eng = self.engine
        row = eng.agent_index
        log = eng.violation_log
        new = log[self._seen_violations :]
        self._seen_violations = len(log)
        responsible = [row.get(v.get("responsible_agent_id", v.get("agent_id"))) for v in new]
        released = eng.released
        new_rel = released[self._seen_releases :]
        self._seen_releases = len(released)
        credits = [[row[a] for a in r["handled_by"] if a in row] for r in new_rel]
        return responsible, credits

    def info_columns(self) -> dict[str, list[Any]]:
        return {"zone_id": self._views.zone_ids_arr[self.engine.agent_zone].tolist()}

    def lab_info(self) -> dict[str, Any]:
        """The lab's device boards (what coordination methods read from infos; docs/envs.md)."""
        eng = self.engine
        return {
            "device_queue_lengths": eng.device_queue_len.tolist(),
            "device_busy": eng.device_busy.tolist(),
            "device_down": (eng.device_fault | eng.device_qc_fail).tolist(),
            "device_qc_failed": eng.device_qc_fail.tolist(),
            "device_reagent": eng.device_reagent.tolist(),
        }

    def device_queue_lengths(self) -> dict[str, int]:
        return dict(zip(self._views.device_ids, self.engine.device_queue_len.tolist(), strict=True))

    def render_lines(self) -> list[str]:
        """Agents per zone, then one line per device (state, queue length, a bar)."""
        v, eng = self._views, self.engine
        per_zone = np.bincount(eng.agent_zone, minlength=v.z)
        occupied = [
            f"{zid}:{int(c)}" for zid, c in zip(v.zone_ids, per_zone.tolist(), strict=True) if c
        ]
        lines = ["zones  " + "  ".join(occupied) if occupied else "zones  (empty)"]
        qlen = eng.device_queue_len.tolist()
        busy = eng.device_busy.tolist()
        down = (eng.device_fault | eng.device_qc_fail).tolist()
        for i, did in enumerate(v.device_ids[:_MAX_DEVICE_LINES]):
            state = "DOWN" if down[i] else ("busy" if busy[i] else "idle")
            bar = "#" * min(int(qlen[i]), 40)
            lines.append(f"  {did:<24} {state:<4} q={int(qlen[i]):<3} {bar}")
        if v.d > _MAX_DEVICE_LINES:
            lines.append(f"  … {v.d - _MAX_DEVICE_LINES} more devices")
        return lines

    def set_signing_keys(self, keys: Mapping[str, Any]) -> None:
        """Sign events of these agents from now on: ``{agent_id: private_key}`` or
        ``{agent_id: (key_id, private_key)}``. Replaces earlier explicit keys."""
        self._signing_keys = dict(keys)
        state_secret = self._signer.secret if self._signer is not None else None
        self._signer = (
            EventSigner(state_secret, self._signing_keys) if keys or state_secret else None
        )
        self._events.set_signer(self._signer)
        masks = self._masks
        if masks is not None:  # the published masks change with who can sign
            masks.unsignable = sorted(self._unsignable())
            masks.refresh(self.engine, self._views.keys, False)

    # ------------------------------------------------------------------ episode metrics
    def metrics_sample(self) -> None:
        eng = self.engine
        self._busy_steps += eng.device_busy
        self._queue_totals.append(int(eng.device_queue_len.sum()))

    def metrics_inputs(self, dt_s: float) -> dict[str, Any]:
        from labtrust_gym.engine.domain_env.episode_metrics import metrics_context

        busy = self._busy_steps
        device_busy_s = {d: float(busy[i]) * dt_s for i, d in enumerate(self._views.device_ids)}
        return metrics_context(self.engine, device_busy_s, self._queue_totals)

    # ------------------------------------------------------------------ internals
    def _unsignable(self) -> set[int]:
        """Rows of agents whose events the engine would refuse for want of a usable key."""
        eng = self.engine
        if not eng.strict:
            return set()
        signer = self._signer
        out = set()
        now = eng.now_s
        for row, aid in enumerate(self._views.agent_ids):
            key_id = signer.key_id(aid) if signer is not None else None
            rec = eng.agents[aid]
            if key_id is None or eng.keyring.key_check(key_id, aid, now, rec.role) is not None:
                out.add(row)
        return out

    def _refresh(self, changed: bool) -> None:
        """Observation tables and action masks for the engine's current state (``changed``: an
        accepted event or a clock effect may have changed the lab since the last refresh)."""
        eng = self.engine
        masks = self._masks
        assert masks is not None
        self._views.refresh(eng, changed)
        if self._strict:
            masks.unsignable = sorted(self._unsignable())
        masks.refresh(eng, self._views.keys, changed)


def _layout(v: LabViews) -> tuple[tuple[str, ...], ...]:
    """The ids the observation, action and state spaces are sized by."""
    return (tuple(v.agent_ids), tuple(v.zone_ids), tuple(v.device_ids), tuple(v.role_ids),
            tuple(v.device_type_ids))


__all__ = ["HospitalDomainEnv"]
