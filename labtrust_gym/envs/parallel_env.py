"""``LabTrustParallelEnv``: the hospital lab as a PettingZoo Parallel environment.

One env step = every live agent's action turned into at most one engine event (NOOP issues
none), the events applied in agent order at the current simulated time (catalog entries resolved
against the lab as the earlier agents left it, :mod:`labtrust_gym.envs.events`), the clock
advanced by ``dt_s`` (arrivals, run completions, faults happen), then observations, action masks
(:mod:`labtrust_gym.envs.masks`), rewards and infos built for all agents at once.

The contract (constructor, the action catalog, observation layout, rewards, infos) is
documented in docs/envs.md; keep both in step.
"""

from __future__ import annotations

import gc
from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from labtrust_gym.envs import render as _render
from labtrust_gym.envs.action_contract import (
    ACTION_INDEX_BY_NAME,
    ActionCatalog,
    action_index_of,
    validate_action_dict,
)
from labtrust_gym.envs.catalog import Entry, bind, build_catalog, mutates_lab
from labtrust_gym.envs.events import EventBuilder, EventSigner, StepOutcome
from labtrust_gym.envs.masks import MaskTables
from labtrust_gym.envs.rewards import RewardAccumulator, RewardConfig
from labtrust_gym.envs.spaces import (
    box_observation_space,
    dict_observation_space,
    flat_observation_space,
    state_dim,
    state_space,
)
from labtrust_gym.envs.views import LabViews
from labtrust_gym.errors import ConfigError, InvalidInputError

DEFAULT_MAX_STEPS = 100
DEFAULT_DT_S = 10.0
OBS_MODES = ("dict", "flat", "box")
TIMING_MODES = ("explicit", "simulated")
RENDER_MODES = ("ansi", "human")


class LabTrustParallelEnv(ParallelEnv):
    """PettingZoo Parallel env over a ``hospital_lab`` (or any registered) domain adapter."""

    metadata = {
        "name": "labtrust_hospital_lab_v0",
        "render_modes": list(RENDER_MODES),
        "is_parallelizable": True,
        "render_fps": 4,
    }

    _views: LabViews
    _events: EventBuilder
    _masks: MaskTables
    _signer: EventSigner | None
    _catalog: ActionCatalog | None = None
    _models: list[Entry]
    _static_sig: tuple[Any, ...] | None = None
    _layout: tuple[tuple[str, ...], ...] = ()
    _seen_violations = 0
    _seen_releases = 0
    _dt: float
    _timing: str
    _t0: float

    def __init__(
        self,
        task: Any = None,
        *,
        initial_state: Mapping[str, Any] | None = None,
        scale_config: Any = None,
        obs_mode: str = "dict",
        render_mode: str | None = None,
        max_steps: int | None = None,
        dt_s: float | None = None,
        timing_mode: str | None = None,
        reward_config: Mapping[str, Any] | None = None,
        reward_mode: str | None = None,
        domain_id: str = "hospital_lab",
        engine_config: Mapping[str, Any] | None = None,
        sign_events: bool = True,
        signing_keys: Mapping[str, Any] | None = None,
        defer_gc: bool = True,
    ) -> None:
        if obs_mode not in OBS_MODES:
            raise ConfigError(f"obs_mode must be one of {', '.join(OBS_MODES)}, got {obs_mode!r}.")
        if render_mode is not None and render_mode not in RENDER_MODES:
            raise ConfigError(
                f"render_mode must be None or one of {', '.join(RENDER_MODES)}, "
                f"got {render_mode!r}."
            )
        self.task = task
        self._auto_sign = bool(sign_events)
        self._defer_gc = bool(defer_gc)
        self._signing_keys: dict[str, Any] = dict(signing_keys or {})
        self.obs_mode = obs_mode
        self.render_mode = render_mode
        self._flat = obs_mode == "flat"
        self._box = obs_mode == "box"
        self._initial_state = dict(initial_state) if initial_state is not None else None
        self._scale = None
        if scale_config is not None:
            from labtrust_gym.envs.scale import load_scale_config

            self._scale = load_scale_config(scale_config)
        task_scale = None
        if task is not None and getattr(task, "scale_config", None) is not None:
            from labtrust_gym.envs.scale import load_scale_config

            task_scale = load_scale_config(task.scale_config)
        any_scale = self._scale or task_scale

        self.max_steps = _first(
            max_steps,
            getattr(task, "max_steps", None),
            any_scale.horizon_steps if any_scale is not None else None,
            DEFAULT_MAX_STEPS,
        )
        if isinstance(self.max_steps, bool) or not isinstance(self.max_steps, int):
            raise ConfigError(f"max_steps must be a positive integer, got {self.max_steps!r}.")
        if self.max_steps < 1:
            raise ConfigError(f"max_steps must be a positive integer, got {self.max_steps!r}.")
        self._dt_default = float(
            _first(
                dt_s,
                getattr(task, "dt_s", None),
                any_scale.dt_s if any_scale is not None else None,
                DEFAULT_DT_S,
            )
        )
        self._timing_ctor = timing_mode
        self._timing_default = str(
            _first(
                timing_mode,
                getattr(task, "timing_mode", None),
                any_scale.timing_mode if any_scale is not None else None,
                "explicit",
            )
        )
        _check_timing(self._timing_default, self._dt_default)
        self._dt, self._timing = self._dt_default, self._timing_default
        if reward_config is None and task is not None:
            reward_config = getattr(task, "reward_config", None)
        self._reward_cfg = RewardConfig.from_mapping(reward_config)
        self.reward_mode = str(
            _first(reward_mode, getattr(task, "reward_mode", None), "individual")
        )
        self._rewards = RewardAccumulator(self._reward_cfg, self.reward_mode)

        from labtrust_gym.domain.registry import get_domain_adapter_factory

        self.domain_id = domain_id
        self.engine: Any = get_domain_adapter_factory(domain_id)(
            None, _with_profile_overlays(engine_config)
        )

        # Build the lab once (seed 0) to learn agents and the spaces; fixed for the env's life.
        self._reset_engine(self._resolve_initial_state(0, None), 0)
        self.possible_agents: list[str] = list(self._views.agent_ids)
        self.agents: list[str] = []
        self._row = {a: i for i, a in enumerate(self.possible_agents)}
        v = self._views
        k = len(self.action_catalog)
        self._obs_space: spaces.Space[Any] = (
            flat_observation_space(v, k)
            if self._flat
            else box_observation_space(v)
            if self._box
            else dict_observation_space(v, k)
        )
        self._obs_spaces = dict.fromkeys(self.possible_agents, self._obs_space)
        space = spaces.Discrete(len(self.action_catalog))
        self._act_spaces = dict.fromkeys(self.possible_agents, space)
        self.observation_spaces = self._obs_spaces
        self.action_spaces = self._act_spaces
        self.state_space = state_space(v)
        self._seed: int | None = None
        self._steps = 0

    # ------------------------------------------------------------------ PettingZoo API
    def observation_space(self, agent: str) -> spaces.Space[Any]:
        return self._obs_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space[Any]:
        return self._act_spaces[agent]

    def reset(
        self, seed: int | None = None, options: Mapping[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start an episode. ``options`` may carry ``initial_state``, ``timing_mode``, ``dt_s``.

        Without a seed the next episode uses the previous seed + 1 (0 for the first), so a
        sequence of resets is reproducible.
        """
        if seed is None:
            seed = 0 if self._seed is None else self._seed + 1
        self._seed = int(seed)
        opts = dict(options or {})
        self._dt = float(_first(opts.get("dt_s"), self._dt_default))
        state = self._resolve_initial_state(self._seed, opts)
        # precedence: reset option > constructor > the lab's own setting > task > scale > explicit
        self._timing = str(
            _first(
                opts.get("timing_mode"),
                self._timing_ctor,
                state.get("timing_mode") if isinstance(state, Mapping) else None,
                self._timing_default,
            )
        )
        _check_timing(self._timing, self._dt)
        self.agents = []  # a reset that fails leaves an env that refuses step() until reset
        # the domain receives the timing mode with the lab (hospital_lab: run-duration spread)
        self._reset_engine({**state, "timing_mode": self._timing}, self._seed)
        self._steps = 0
        self._rewards.reset()
        self._seen_violations = len(getattr(self.engine, "violation_log", ()))
        self._seen_releases = len(getattr(self.engine, "released", ()))
        self.agents = list(self.possible_agents)
        self._events.reset(np.random.default_rng([self._seed, 0x5EED]), self._signer)
        self._masks.reset(self.engine)
        system_emits = self.engine.drain_system_emits()
        self._refresh(True)
        common = self._common([], system_emits)
        obs = self._observe()
        infos = self._infos(StepOutcome(), common)
        return obs, infos

    def step(
        self,
        actions: Mapping[str, Any],
        action_infos: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> tuple[dict[str, Any], dict[str, float], dict[str, bool], dict[str, bool], dict[str, Any]]:
        """Apply one joint action (see docs/envs.md); ``action_infos`` merge into the actions.

        With ``defer_gc`` (default) Python's cyclic garbage collector is paused for the duration
        of the step and restored afterwards: a step allocates O(N) short-lived, acyclic dicts
        (events, results, observations, infos) and collecting them mid-step costs 15-30% of the
        step at N >= 200 while freeing nothing that reference counting does not free anyway.
        """
        if self._defer_gc and gc.isenabled():
            gc.disable()
            try:
                return self._step(actions, action_infos)
            finally:
                gc.enable()
        return self._step(actions, action_infos)

    def _step(
        self,
        actions: Mapping[str, Any],
        action_infos: Mapping[str, Mapping[str, Any]] | None,
    ) -> tuple[dict[str, Any], dict[str, float], dict[str, bool], dict[str, bool], dict[str, Any]]:
        agents = self.agents
        if not agents:
            raise InvalidInputError(
                "step() called with no live agents: the episode is over; call reset() first."
            )
        eng = self.engine
        idx, custom = self._parse_actions(actions, action_infos)
        t = self._time_of(self._steps)
        out = self._events.run(idx, custom, t)
        responsible, credits = self._attribution()
        rewards = self._rewards.compute(
            len(agents), out.rows, out.types, out.results, responsible=responsible, credits=credits
        )
        self._steps += 1
        eng.advance_to(self._time_of(self._steps))
        system_emits = eng.drain_system_emits()
        changed = bool(system_emits) or any(
            mutates_lab(at, ev_args, res)
            for at, ev_args, res in zip(out.types, out.args, out.results, strict=True)
        )
        self._refresh(changed)
        common = self._common(out.results, system_emits)
        if out.contended:
            ids = self._views.agent_ids
            common["contended"] = {
                ids[r]: code for r, code in zip(out.contended, out.contended_codes, strict=True)
            }
        obs = self._observe()
        infos = self._infos(out, common)
        rew = dict(zip(agents, rewards.tolist(), strict=True))
        terms = dict.fromkeys(agents, False)
        done = self._steps >= self.max_steps
        truncs = dict.fromkeys(agents, done)
        if done:
            self.agents = []
        if self.render_mode == "human":
            self.render()
        return obs, rew, terms, truncs, infos

    def render(self, *args: Any, **kwargs: Any) -> str | None:
        """The text view of the lab (``render_mode`` "ansi" returns it, "human" prints it).
        Extra arguments (RLlib passes some) are accepted and ignored."""
        if self.render_mode is None:
            import gymnasium

            gymnasium.logger.warn("render() called without a render_mode; pass render_mode='ansi'.")
            return None
        text = _render.render_text(self)
        if self.render_mode == "ansi":
            return text
        print(text)
        return None

    def state(self) -> np.ndarray:
        """Centralised state (float32): agent zone index per agent (N), agents per zone (Z),
        device queue length, busy and down flags (3·D), ready work per device type (T), and
        the fraction of the episode elapsed (1)."""
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
        out[-1] = self._time_fraction()
        return out

    def close(self) -> None:
        """End the episode and release the engine's resources (e.g. a streamed log file)."""
        self.agents = []
        close = getattr(self.engine, "close", None)
        if close is not None:
            close()

    # ------------------------------------------------------------------ BenchmarkEnv extras
    def get_device_ids(self) -> list[str]:
        return list(self._views.device_ids)

    def get_zone_ids(self) -> list[str]:
        return list(self._views.zone_ids)

    def get_dt_s(self) -> float:
        return self._dt

    def get_timing_summary(self) -> dict[str, Any]:
        return {
            "timing_mode": self._timing,
            "dt_s": self._dt,
            "steps": self._steps,
            "max_steps": self.max_steps,
            "start_t_s": self._t0,
            "sim_time_s": float(self.engine.now_s) - self._t0,
        }

    def get_device_queue_lengths(self) -> dict[str, int]:
        return dict(zip(self._views.device_ids, self.engine.device_queue_len.tolist(), strict=True))

    def set_signing_keys(self, keys: Mapping[str, Any]) -> None:
        """Sign events of these agents from now on: ``{agent_id: private_key}`` or
        ``{agent_id: (key_id, private_key)}`` (Ed25519 keys from
        ``labtrust_gym.engine.signing.derive_keypair``). Replaces earlier explicit keys."""
        self._signing_keys = dict(keys)
        state_secret = self._signer.secret if self._signer is not None else None
        self._signer = (
            EventSigner(state_secret, self._signing_keys) if keys or state_secret else None
        )
        self._events.set_signer(self._signer)
        if self.agents:  # the published masks change with who can sign
            self._masks.unsignable = sorted(self._unsignable())
            self._masks.refresh(self.engine, self._views.keys, False)

    def get_reward_counters(self) -> dict[str, int]:
        """Episode totals the rewards were computed from (released, scheduled, blocked, …)."""
        r = self._rewards
        return {
            "released": r.released,
            "scheduled": r.scheduled,
            "blocked": r.blocked,
            "violations": r.violations,
        }

    @property
    def action_catalog(self) -> ActionCatalog:
        """The lab's action catalog: index -> entry (name, action_type, target, args)."""
        assert self._catalog is not None
        return self._catalog

    def action_mask(self, agent: str) -> np.ndarray:
        """The agent's current action mask (int8, one flag per catalog entry; read-only)."""
        r = self._row[agent]
        return self._masks.row(r, self._views.keys_list[r])

    def resolve(self, agent: str, entry: int | str) -> dict[str, Any] | None:
        """The event catalog entry ``entry`` (index or name) would send for ``agent`` now —
        ``{"action_type", "args", ...}`` — or None when the engine would accept none of its
        candidates. Nothing is applied: agents and coordination methods use it to see what an
        entry targets (which specimen, which result) before choosing it."""
        e = self.action_catalog.index(entry) if isinstance(entry, str) else int(entry)
        if not 0 <= e < len(self._models):
            raise InvalidInputError(
                f"Catalog index {entry!r} is out of range (0..{len(self._models) - 1})."
            )
        return self._events.preview(self.engine.agents[agent], e)

    @property
    def num_steps(self) -> int:
        return self._steps

    @property
    def seed_value(self) -> int | None:
        return self._seed

    # ------------------------------------------------------------------ internals
    def _resolve_initial_state(
        self, seed: int, options: Mapping[str, Any] | None
    ) -> Mapping[str, Any]:
        if options and options.get("initial_state") is not None:
            state: Mapping[str, Any] = options["initial_state"]
            return state
        if self._initial_state is not None:
            return self._initial_state
        if self._scale is not None:
            from labtrust_gym.envs.scale import generate_initial_state

            return generate_initial_state(self._scale, seed)
        if self.task is not None:
            state = self.task.get_initial_state(seed)
            return state
        from labtrust_gym.engine.initial_state import default_initial_state

        state = default_initial_state(seed)
        return state

    def _reset_engine(self, initial_state: Mapping[str, Any], seed: int) -> None:
        eng = self.engine
        eng.reset(dict(initial_state), deterministic=True, rng_seed=seed)
        secret = EventSigner.generated_lab_secret(initial_state) if self._auto_sign else None
        self._signer = (
            EventSigner(secret, self._signing_keys) if secret or self._signing_keys else None
        )
        policy = getattr(eng, "policy", None)
        if policy is None:
            from labtrust_gym.engine.policy import load_policy

            policy = load_policy()
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
        self._t0 = float(eng.now_s)
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
        else:
            bind(self._models, eng)
        if sig != self._static_sig:
            self._static_sig = sig
            self._masks = MaskTables(eng, self._catalog, self._models)
        self._events = EventBuilder(eng, self._catalog, self._models, self._masks, self._views)
        self._strict = bool(getattr(eng, "strict", False))
        self._masks.unsignable = sorted(self._unsignable())

    def _attribution(self) -> tuple[list[int | None] | None, list[list[int]] | None]:
        """Who is responsible for each violation and who shares each release of the step, from
        the engine's violation log and credit trail (docs/envs.md "Rewards"); ``None`` for a
        domain without them (the acting agent is responsible, the releaser is paid)."""
        eng = self.engine
        row = self._row
        responsible = credits = None
        log = getattr(eng, "violation_log", None)
        if log is not None:
            new = log[self._seen_violations :]
            self._seen_violations = len(log)
            responsible = [
                row.get(v.get("responsible_agent_id", v.get("agent_id"))) for v in new
            ]
        released = getattr(eng, "released", None)
        if released is not None and (not released or "handled_by" in released[-1]):
            new_rel = released[self._seen_releases :]
            self._seen_releases = len(released)
            credits = [[row[a] for a in r["handled_by"] if a in row] for r in new_rel]
        return responsible, credits

    def _unsignable(self) -> set[int]:
        """Rows of agents whose events the engine would refuse for want of a usable key."""
        eng = self.engine
        if not getattr(eng, "strict", False):
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
        self._views.refresh(eng, changed)
        if self._strict:
            self._masks.unsignable = sorted(self._unsignable())
        self._masks.refresh(eng, self._views.keys, changed)

    def _time_of(self, steps: int) -> float | int:
        t = self._t0 + steps * self._dt
        return int(t) if float(t).is_integer() else t

    def _time_fraction(self) -> float:
        return min(self._steps / self.max_steps, 1.0)

    def _parse_actions(
        self, actions: Mapping[str, Any], action_infos: Mapping[str, Mapping[str, Any]] | None
    ) -> tuple[np.ndarray, dict[int, Mapping[str, Any]] | None]:
        agents = self.agents
        n = len(agents)
        if not action_infos and len(actions) == n:
            try:  # fast path: every live agent gave a bare integer index
                values = list(map(actions.__getitem__, agents))
            except KeyError:
                values = None
            if values is not None and _all_integer_types(set(map(type, values))):
                return np.array(values, dtype=np.int64), None
        row = self._row
        live = set(agents) if n != len(self.possible_agents) else row
        vals: list[int] = [0] * n
        custom: dict[int, Mapping[str, Any]] = {}
        int_types = _INTEGER_TYPES
        for agent, act in actions.items():
            if agent not in live:
                raise InvalidInputError(_unknown_agent(agent, agents))
            r = row[agent]
            if type(act) in int_types:
                vals[r] = act  # range is checked where events are built
            elif isinstance(act, Mapping):
                validate_action_dict(act, agent_id=agent)
                vals[r] = max(action_index_of(act), 0)  # an entry name is resolved later
                custom[r] = act
            else:
                vals[r] = action_index_of(act)
        for agent, info in (action_infos or {}).items():
            if not info:
                continue
            if agent not in live:
                raise InvalidInputError(_unknown_agent(agent, agents))
            validate_action_dict(info, agent_id=agent)
            r = row[agent]
            base = custom.get(r) or {"action_index": int(vals[r])}
            merged = {**base, **info}
            if "action_index" in info or "action_type" in info or "entry" in info:
                vals[r] = max(action_index_of(merged if "action_index" in info else info), 0)
            custom[r] = merged
        idx = np.array(vals, dtype=np.int64)
        return idx, custom or None

    def _common(self, results: list[Any], system_emits: list[Any]) -> dict[str, Any]:
        eng = self.engine
        return {
            "step": self._steps,
            "t_s": float(eng.now_s),
            "step_results": results,
            "system_emits": system_emits,
            "device_queue_lengths": eng.device_queue_len.tolist(),
            "device_busy": eng.device_busy.tolist(),
            "device_down": (eng.device_fault | eng.device_qc_fail).tolist(),
            "device_qc_failed": eng.device_qc_fail.tolist(),
            "device_reagent": eng.device_reagent.tolist(),
            "contended": {},
        }

    def _agent_masks(self) -> list[np.ndarray]:
        """Every agent's current mask (shared per (role, zone) key unless corrected)."""
        rows = self._masks.rows
        masks = [rows[k] for k in self._views.keys_list]
        for r, m in self._masks.overrides.items():
            masks[r] = m
        return masks

    def _observe(self) -> dict[str, Any]:
        """Observations of all agents (see views.py and docs/envs.md)."""
        v = self._views
        agents = self.possible_agents
        tf = self._time_fraction()
        if self._box:
            return dict(zip(agents, v.flat_rows(tf), strict=True))
        masks = self._agent_masks()
        if self._flat:
            return {
                a: {"observation": ob, "action_mask": m}
                for a, ob, m in zip(agents, v.flat_rows(tf), masks, strict=True)
            }
        return v.observe_dict(agents, masks, tf)

    def _infos(self, out: StepOutcome, common: dict[str, Any]) -> dict[str, Any]:
        n = self._views.n
        res_by_row: list[Any] = [None] * n
        type_by_row: list[str] = ["NOOP"] * n
        entry_by_row: list[str | None] = ["NOOP"] * n
        for r, ty, en, res in zip(out.rows, out.types, out.entries, out.results, strict=True):
            res_by_row[r] = res
            type_by_row[r] = ty
            entry_by_row[r] = en
        contended = [False] * n
        for r in out.contended:
            contended[r] = True
        zones = self._views.zone_ids_arr[self.engine.agent_zone].tolist()
        infos = {
            a: {
                "step_result": res,
                "action_type": ty,
                "entry": en,
                "contended": c,
                "zone_id": zn,
                "lab": common,
            }
            for a, res, ty, en, c, zn in zip(
                self.possible_agents,
                res_by_row,
                type_by_row,
                entry_by_row,
                contended,
                zones,
                strict=True,
            )
        }
        if self._box:  # the mask is not in a Box observation: it rides in the info
            for info, m in zip(infos.values(), self._agent_masks(), strict=True):
                info["action_mask"] = m
        return infos


_INTEGER_TYPES: set[type] = {int, np.int64, np.int32}


def _all_integer_types(types: set[type]) -> bool:
    """True when every type is an integer type (bool excluded), caching the verdicts."""
    if types <= _INTEGER_TYPES:
        return True
    for t in types - _INTEGER_TYPES:
        if t is bool or not issubclass(t, (int, np.integer)):
            return False
        _INTEGER_TYPES.add(t)
    return True


def _first(*values: Any) -> Any:
    """The first value that is not None (0 and "" are real values, not "missing")."""
    for value in values:
        if value is not None:
            return value
    return None


def _check_timing(timing_mode: str, dt_s: float) -> None:
    if timing_mode not in TIMING_MODES:
        raise ConfigError(
            f"timing_mode must be one of {', '.join(TIMING_MODES)}, got {timing_mode!r}."
        )
    if not dt_s > 0:
        raise ConfigError(f"dt_s must be a positive number of seconds, got {dt_s!r}.")


def _unknown_agent(agent: Any, agents: list[str]) -> str:
    from labtrust_gym.errors import did_you_mean

    return (
        f"Action given for unknown or finished agent {agent!r}; live agents are "
        f"{', '.join(agents[:8])}{' …' if len(agents) > 8 else ''}."
        f"{did_you_mean(str(agent), agents)}"
    )


__all__ = ["ACTION_INDEX_BY_NAME", "LabTrustParallelEnv"]


def _with_profile_overlays(engine_config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The engine config, plus the active lab profile's invariant registry overlay if it sets one.

    ``invariant_registry_path`` in a lab profile names an invariant registry merged after the
    built-in one (see docs/extension_guide.md); an explicit ``invariant_overlays`` wins.
    """
    from labtrust_gym.config import get_active_profile

    cfg = dict(engine_config or {})
    profile = get_active_profile()
    if profile.invariant_registry_path and "invariant_overlays" not in cfg:
        cfg["invariant_overlays"] = [str(profile.resolve_path("invariant_registry_path"))]
    return cfg


_LAYOUT_PARTS = ("agents", "zones", "devices", "roles", "device types")


def _layout(v: Any) -> tuple[tuple[str, ...], ...]:
    """The ids the observation, action and state spaces are sized by."""
    return (tuple(v.agent_ids), tuple(v.zone_ids), tuple(v.device_ids), tuple(v.role_ids),
            tuple(v.device_type_ids))
