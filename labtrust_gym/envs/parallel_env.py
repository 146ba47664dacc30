"""``LabTrustParallelEnv``: any registered domain as a PettingZoo Parallel environment.

The env drives a domain through its env side (``adapter.domain_env(options)``, the domain
protocol :class:`labtrust_gym.domain.protocol.DomainEnv`, docs/domains.md). One env step = every
live agent's action turned into at most one domain event (NOOP issues none), the events applied
in agent order at the current simulated time (catalog entries resolved against the lab as the
earlier agents left it), the clock advanced by ``dt_s`` (arrivals, completions, faults happen),
then observations, action masks, rewards and infos built for all agents at once — each a call
of the domain for all agents, so a domain keeps its hot path vectorised.

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

from labtrust_gym.domain.actions import (
    ACTION_INDEX_BY_NAME,
    ActionCatalog,
    action_index_of,
    validate_action_dict,
)
from labtrust_gym.domain.protocol import OBS_MODES, StepOutcome, check_domain_env, domain_env_of
from labtrust_gym.envs import render as _render
from labtrust_gym.envs.rewards import RewardAccumulator, RewardConfig
from labtrust_gym.envs.spaces import observation_space
from labtrust_gym.errors import ConfigError, InvalidInputError

DEFAULT_MAX_STEPS = 100
DEFAULT_DT_S = 10.0
TIMING_MODES = ("explicit", "simulated")
RENDER_MODES = ("ansi", "human")


class LabTrustParallelEnv(ParallelEnv):
    """PettingZoo Parallel env over any registered domain (default ``hospital_lab``)."""

    metadata = {
        "name": "labtrust_hospital_lab_v0",
        "render_modes": list(RENDER_MODES),
        "is_parallelizable": True,
        "render_fps": 4,
    }

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
        self._defer_gc = bool(defer_gc)
        self.obs_mode = obs_mode
        self.render_mode = render_mode
        self._box = obs_mode == "box"
        self._initial_state = dict(initial_state) if initial_state is not None else None

        from labtrust_gym.domain.registry import get_domain_adapter_factory

        self.domain_id = domain_id
        self.metadata = {**self.metadata, "name": f"labtrust_{domain_id}_v0"}
        #: The domain adapter (``LabTrustEnvAdapter``), for privileged scripted agents.
        self.engine: Any = get_domain_adapter_factory(domain_id)(
            None, _with_profile_overlays(engine_config)
        )
        #: The domain's env side (``DomainEnv``): catalog, masks, observations, metrics inputs.
        self.domain: Any = domain_env_of(
            self.engine,
            domain_id,
            {
                "domain_id": domain_id,
                "sign_events": bool(sign_events),
                "signing_keys": dict(signing_keys or {}),
            },
        )
        dom = self.domain
        self._scale = dom.scale_config(scale_config) if scale_config is not None else None
        task_scale = None
        if task is not None and getattr(task, "scale_config", None) is not None:
            task_scale = dom.scale_config(task.scale_config)
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

        # Build the lab once (seed 0) to learn agents and the spaces; fixed for the env's life.
        dom.reset(self._resolve_initial_state(0, None), 0)
        check_domain_env(dom, domain_id, after_reset=True)
        self._rewards = RewardAccumulator(self._reward_cfg, self.reward_mode, dom.reward_signals)
        self._t0 = float(dom.now_s)
        self.possible_agents: list[str] = list(dom.agent_ids)
        self.agents: list[str] = []
        self._row = {a: i for i, a in enumerate(self.possible_agents)}
        k = len(self.action_catalog)
        self._obs_space = observation_space(dom, obs_mode, k)
        self._obs_spaces = dict.fromkeys(self.possible_agents, self._obs_space)
        space = spaces.Discrete(k)
        self._act_spaces = dict.fromkeys(self.possible_agents, space)
        self.observation_spaces = self._obs_spaces
        self.action_spaces = self._act_spaces
        self.state_space = dom.state_space
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
        dom = self.domain
        # the domain receives the timing mode with the lab (hospital_lab: run-duration spread)
        system_emits = dom.reset({**state, "timing_mode": self._timing}, self._seed)
        if list(dom.agent_ids) != self.possible_agents:
            raise InvalidInputError(
                "The episode's initial_state has other agents than the env was built with; the "
                "spaces are fixed for the env's life. Build a new env for a different lab."
            )
        self._t0 = float(dom.now_s)
        self._steps = 0
        self._rewards.reset()
        self.agents = list(self.possible_agents)
        common = self._common([], system_emits)
        obs = self.domain.observe(self.obs_mode, 0.0)
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
        dom = self.domain
        idx, custom = self._parse_actions(actions, action_infos)
        out = dom.apply(idx, custom, self._time_of(self._steps))
        responsible, credits = dom.attribution()
        rewards = self._rewards.compute(
            len(agents), out.rows, out.types, out.results, responsible=responsible, credits=credits
        )
        self._steps += 1
        system_emits = dom.advance(self._time_of(self._steps), out)
        common = self._common(out.results, system_emits)
        if out.contended:
            ids = self.possible_agents
            common["contended"] = {
                ids[r]: code for r, code in zip(out.contended, out.contended_codes, strict=True)
            }
        obs = dom.observe(self.obs_mode, self._time_fraction())
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
        """Centralised state (float32) for centralised critics; the domain defines it
        (hospital_lab: docs/envs.md "Other API"); ``env.state_space`` is its space."""
        state: np.ndarray = self.domain.state(self._time_fraction())
        return state

    def close(self) -> None:
        """End the episode and release the domain's resources (e.g. a streamed log file)."""
        self.agents = []
        close = getattr(self.engine, "close", None)
        if close is not None:
            close()

    # ------------------------------------------------------------------ BenchmarkEnv extras
    def get_device_ids(self) -> list[str]:
        return list(self.domain.device_ids)

    def get_zone_ids(self) -> list[str]:
        return list(self.domain.zone_ids)

    def get_dt_s(self) -> float:
        return self._dt

    def get_timing_summary(self) -> dict[str, Any]:
        return {
            "timing_mode": self._timing,
            "dt_s": self._dt,
            "steps": self._steps,
            "max_steps": self.max_steps,
            "start_t_s": self._t0,
            "sim_time_s": float(self.domain.now_s) - self._t0,
        }

    def get_device_queue_lengths(self) -> dict[str, int]:
        queues: dict[str, int] = self.domain.device_queue_lengths()
        return queues

    def set_signing_keys(self, keys: Mapping[str, Any]) -> None:
        """Sign events of these agents from now on: ``{agent_id: private_key}`` or
        ``{agent_id: (key_id, private_key)}`` (Ed25519 keys from
        ``labtrust_gym.engine.signing.derive_keypair``). Replaces earlier explicit keys; a
        domain that does not sign events refuses keys with ``ConfigError``."""
        self.domain.set_signing_keys(keys)

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
        catalog: ActionCatalog = self.domain.catalog
        return catalog

    def action_mask(self, agent: str) -> np.ndarray:
        """The agent's current action mask (int8, one flag per catalog entry; read-only)."""
        mask: np.ndarray = self.domain.mask(self._row[agent])
        return mask

    def resolve(self, agent: str, entry: int | str) -> dict[str, Any] | None:
        """The event catalog entry ``entry`` (index or name) would send for ``agent`` now —
        ``{"action_type", "args", ...}`` — or None when the domain would accept none of its
        candidates. Nothing is applied: agents and coordination methods use it to see what an
        entry targets (which specimen, which result) before choosing it."""
        catalog = self.action_catalog
        e = catalog.index(entry) if isinstance(entry, str) else int(entry)
        if not 0 <= e < len(catalog):
            raise InvalidInputError(
                f"Catalog index {entry!r} is out of range (0..{len(catalog) - 1})."
            )
        if agent not in self._row:
            raise InvalidInputError(_unknown_agent(agent, self.possible_agents))
        resolved: dict[str, Any] | None = self.domain.resolve(self._row[agent], e)
        return resolved

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
            state = self.domain.initial_state(seed, self._scale)
            return state
        if self.task is not None:
            state = self.task.get_initial_state(seed)
            return state
        state = self.domain.initial_state(seed, None)
        return state

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
        common = {
            "step": self._steps,
            "t_s": float(self.domain.now_s),
            "step_results": results,
            "system_emits": system_emits,
            "contended": {},
        }
        common.update(self.domain.lab_info())
        return common

    def _infos(self, out: StepOutcome, common: dict[str, Any]) -> dict[str, Any]:
        n = len(self.possible_agents)
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
        agents = self.possible_agents
        columns = self.domain.info_columns()
        if len(columns) == 1:  # the usual extra (hospital_lab: the zone), in the same pass
            [(key, column)] = columns.items()
            infos = {
                a: {
                    "step_result": res,
                    "action_type": ty,
                    "entry": en,
                    "contended": c,
                    "lab": common,
                    key: v,
                }
                for a, res, ty, en, c, v in zip(
                    agents, res_by_row, type_by_row, entry_by_row, contended, column, strict=True
                )
            }
        else:
            infos = {
                a: {
                    "step_result": res,
                    "action_type": ty,
                    "entry": en,
                    "contended": c,
                    "lab": common,
                }
                for a, res, ty, en, c in zip(
                    agents, res_by_row, type_by_row, entry_by_row, contended, strict=True
                )
            }
            for key, column in columns.items():
                for info, value in zip(infos.values(), column, strict=True):
                    info[key] = value
        if self._box:  # the mask is not in a Box observation: it rides in the info
            for info, m in zip(infos.values(), self.domain.masks(), strict=True):
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
