"""The domain protocol: what a domain provides so that the PettingZoo env, the benchmark runner
and the metrics can run it (docs/domains.md).

A domain is registered as ``factory(workflow_spec, config) -> LabTrustEnvAdapter`` (the seed's
contract, :mod:`labtrust_gym.domain.adapter`: ``reset``, ``step``, ``query``, ``step_batch``).
To be run by :class:`~labtrust_gym.envs.LabTrustParallelEnv` the adapter also offers::

    adapter.domain_env(options) -> DomainEnv

the domain's **env side**: its agents and roles, its action catalog and masks, how an entry
resolves to an event, its observations and their spaces, which step results count as releases
and progress, and what the episode metrics are computed from. The env, the runner and the
metrics call nothing else of a domain, so nothing in them is one domain's shape.

A :class:`DomainEnv` works on all agents at once (one call per step, not per agent): the
hospital_lab domain implements it with its vectorised tables
(:mod:`labtrust_gym.engine.domain_env`), and :class:`labtrust_gym.domain.simple.SimpleDomainEnv`
implements it from a few per-agent methods in plain Python for a small domain.

This module imports nothing heavy (numpy and gymnasium appear in annotations only).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from labtrust_gym.domain.actions import ActionCatalog

if TYPE_CHECKING:
    import numpy as np
    from gymnasium import spaces

#: Observation kinds a domain builds spaces for: named fields, or one flat float32 vector.
OBS_KINDS = ("dict", "box")
#: Observation modes of the env: ``dict``/``flat`` carry the action mask beside the observation
#: (``{"observation": ..., "action_mask": ...}``), ``box`` is the flat vector alone.
OBS_MODES = ("dict", "flat", "box")


class StepOutcome:
    """The events of one env step, in the order they were applied: per event the agent's row,
    its action type, args, catalog entry name (None: an explicit ``action_type``) and step
    result; and the rows that chose a valid entry an earlier agent took (``contended``: no
    event was sent), with the reason code the domain's rules gave for each (``contended_codes``;
    None when the entry simply had no target left)."""

    __slots__ = ("args", "contended", "contended_codes", "entries", "results", "rows", "types")

    def __init__(self) -> None:
        self.args: list[dict[str, Any]] = []
        self.rows: list[int] = []
        self.types: list[str] = []
        self.entries: list[str | None] = []
        self.results: list[dict[str, Any]] = []
        self.contended: list[int] = []
        self.contended_codes: list[str | None] = []

    def add(
        self, row: int, action_type: str, args: dict[str, Any], entry: str | None, result: Any
    ) -> None:
        self.rows.append(row)
        self.types.append(action_type)
        self.args.append(args)
        self.entries.append(entry)
        self.results.append(result)


@dataclass(frozen=True)
class RewardSignals:
    """Which step results the env's rewards and counters read (docs/envs.md "Rewards").

    :ivar release_emits: emits that count one released item each (``throughput_reward``), when
        :meth:`DomainEnv.attribution` gives no credit trails.
    :ivar progress_actions: action types whose accepted events earn ``schedule_reward``.
    """

    release_emits: frozenset[str] = field(default_factory=frozenset)
    progress_actions: frozenset[str] = field(default_factory=frozenset)


@runtime_checkable
class ScriptedPolicy(Protocol):
    """A domain's scripted baseline: what ``run-benchmark`` drives the agents with by default.

    Built per episode by the domain's ``scripted_baseline`` factory, ``factory(agent_ids, task)``
    (the agents it drives and the task); then ``reset`` once and ``act`` every step."""

    def reset(
        self,
        env: Any,
        seed: int,
        policy_root: Any = None,
        initial_state: Mapping[str, Any] | None = None,
    ) -> None: ...

    def act(
        self, obs: Mapping[str, Any] | None, infos: Mapping[str, Any] | None, t: int
    ) -> dict[str, Any]:
        """``{agent_id: action}`` for the agents it drives (an absent agent does NOOP)."""
        ...


@runtime_checkable
class DomainEnv(Protocol):
    """A domain's env side, built once per env by ``adapter.domain_env(options)``.

    ``options``: ``domain_id``, ``sign_events`` (bool) and ``signing_keys`` (``{agent_id:
    key}``). Attributes are valid after the first :meth:`reset` and fixed for the env's life
    (the env's spaces are built from them); every later reset must produce the same agents and
    catalog. Rows are indices into :attr:`agent_ids`.
    """

    # ---- layout ---------------------------------------------------------------------------
    #: The agents, in row order (the env's ``possible_agents``).
    agent_ids: Sequence[str]
    #: Each agent's role (None: no role), in row order.
    agent_roles: Sequence[str | None]
    #: The action catalog; entry 0 is NOOP (``labtrust_gym.domain.actions``).
    catalog: ActionCatalog
    #: What the rewards count as a release and as progress.
    reward_signals: RewardSignals
    #: Places and resources, when the domain has them (else empty): what a coordination method
    #: may use for placement and load in any domain (``env.get_zone_ids()`` …).
    zone_ids: Sequence[str]
    device_ids: Sequence[str]
    #: Space of :meth:`state`.
    state_space: spaces.Space[Any]
    #: The scripted baseline: ``factory(agent_ids, task) -> ScriptedPolicy`` or its
    #: ``"module:attr"`` path (resolved by the runner, like an entry point).
    scripted_baseline: str | Callable[..., Any]
    #: Threat scripts of security tasks, ``factory(env, task, seed) -> {agent_id: agent}`` or a
    #: ``"module:attr"`` path; None: the domain has none.
    threat_agents: str | Callable[..., Any] | None
    #: True when :meth:`reset` re-initialises everything, so the runner may reuse the env for
    #: the next episode of a run (tested for hospital_lab; False is always safe).
    reusable: bool

    # ---- episodes -------------------------------------------------------------------------
    def scale_config(self, value: Any) -> Any:
        """A scale preset (name, inline dict or config) as an object with ``horizon_steps``,
        ``dt_s`` and ``timing_mode``; ``ConfigError`` if the domain has no scale presets."""
        ...

    def initial_state(self, seed: int, scale: Any = None) -> Mapping[str, Any]:
        """The domain's default lab for ``seed`` (or one generated from ``scale``)."""
        ...

    def reset(self, initial_state: Mapping[str, Any], seed: int) -> list[Any]:
        """Reset the adapter to ``initial_state`` (seeded) and rebuild the per-episode tables;
        return the clock effects of the start. ``InvalidInputError`` when the lab's agents or
        catalog differ from the first episode's."""
        ...

    @property
    def now_s(self) -> float:
        """The domain's simulated clock."""
        ...

    # ---- observations and masks -----------------------------------------------------------
    def observation_space(self, kind: str) -> spaces.Space[Any]:
        """The observation of one agent as named fields (``"dict"``: a ``Dict`` of ``Box``) or
        one flat float32 vector (``"box"``: the fields concatenated in order). Every agent has
        the same space."""
        ...

    def observe(self, mode: str, time_fraction: float) -> dict[str, Any]:
        """Every agent's observation in the env's mode (:data:`OBS_MODES`); ``dict``/``flat``:
        ``{"observation": ..., "action_mask": mask}``, ``box``: the vector
        (:func:`assemble_observations` does this from per-agent parts)."""
        ...

    def masks(self) -> list[np.ndarray]:
        """Every agent's action mask (int8, one flag per catalog entry; read-only), row order.
        A flag is 1 exactly when the adapter would accept the entry's event now."""
        ...

    def mask(self, row: int) -> np.ndarray:
        """One agent's action mask."""
        ...

    def state(self, time_fraction: float) -> np.ndarray:
        """The centralised state (an element of :attr:`state_space`)."""
        ...

    # ---- acting ---------------------------------------------------------------------------
    def apply(
        self, actions: np.ndarray, custom: Mapping[int, Mapping[str, Any]] | None, t: float
    ) -> StepOutcome:
        """Turn one step's actions into events and step the adapter with them, in row order,
        at time ``t``. ``actions[row]`` is the agent's catalog index; ``custom[row]`` its action
        dict when it gave one (an ``entry`` name, an explicit ``action_type``, extras). A valid
        entry resolves to its first candidate the adapter accepts *now*; if an earlier agent
        took the last one the row is ``contended`` and sends nothing; a masked-out entry is
        sent anyway and the adapter answers BLOCKED. An index outside the catalog is an
        ``InvalidInputError``."""
        ...

    def advance(self, t: float, outcome: StepOutcome) -> list[Any]:
        """Advance the clock to ``t`` after the step's events; refresh observations and masks;
        return the clock effects (arrivals, completions, …) the advance produced."""
        ...

    def resolve(self, row: int, entry: int) -> dict[str, Any] | None:
        """The event ``entry`` would send for this agent now, or None (nothing applied)."""
        ...

    def attribution(self) -> tuple[list[int | None] | None, list[list[int]] | None]:
        """``(responsible, credits)`` of the step just taken: per VIOLATION in the step's
        results the row responsible (None: nobody in particular), and per released item the
        rows that share its ``throughput_reward``. ``(None, None)``: the acting agent is
        responsible and the releasing agent is paid (counted by ``release_emits``)."""
        ...

    def info_columns(self) -> Mapping[str, Sequence[Any]]:
        """Extra per-agent info values, key -> one value per row (hospital_lab: ``zone_id``)."""
        ...

    def lab_info(self) -> Mapping[str, Any]:
        """Extra keys of the step's shared ``infos[agent]["lab"]`` dict."""
        ...

    def render_lines(self) -> list[str]:
        """Lines of the text rendering, between the env's header and its counters."""
        ...

    def set_signing_keys(self, keys: Mapping[str, Any]) -> None:
        """Sign these agents' events from now on; ``ConfigError`` if the domain does not sign."""
        ...

    def device_queue_lengths(self) -> dict[str, int]:
        """Work waiting per device id (empty without devices)."""
        ...

    # ---- episode metrics ------------------------------------------------------------------
    def metrics_sample(self) -> None:
        """Sample what the episode metrics need after an env step (the runner calls it)."""
        ...

    def metrics_inputs(self, dt_s: float) -> dict[str, Any]:
        """The metrics context of the finished episode (``dt_s``: simulated seconds per env
        step), keys of ``labtrust_gym.benchmarks.metrics.CONTEXT_KEYS``: at least ``t_end_s``
        and ``specimens`` — one record per work item (hospital_lab: specimens; another domain:
        its orders, samples, …) with ``specimen_id``, ``priority``, ``arrival_s``,
        ``released_s`` (None: not released) and, unreleased, its ``status``. Throughput and
        turnaround are computed from these records."""
        ...


#: Every member of :class:`DomainEnv`, for :func:`check_domain_env`'s message.
DOMAIN_ENV_MEMBERS: tuple[str, ...] = (
    "agent_ids",
    "agent_roles",
    "catalog",
    "reward_signals",
    "zone_ids",
    "device_ids",
    "state_space",
    "scripted_baseline",
    "threat_agents",
    "reusable",
    "scale_config",
    "initial_state",
    "reset",
    "now_s",
    "observation_space",
    "observe",
    "masks",
    "mask",
    "state",
    "apply",
    "advance",
    "resolve",
    "attribution",
    "info_columns",
    "lab_info",
    "render_lines",
    "set_signing_keys",
    "device_queue_lengths",
    "metrics_sample",
    "metrics_inputs",
)

#: Members that exist only after the first reset (checked after it).
_AFTER_RESET = frozenset(
    {"agent_ids", "agent_roles", "catalog", "zone_ids", "device_ids", "state_space", "now_s"}
)


def domain_env_of(adapter: Any, domain_id: str, options: Mapping[str, Any]) -> Any:
    """``adapter.domain_env(options)``, checked; ``ConfigError`` naming what is missing."""
    from labtrust_gym.errors import ConfigError

    make = getattr(adapter, "domain_env", None)
    if not callable(make):
        raise ConfigError(
            f"Domain {domain_id!r}: its adapter {type(adapter).__name__} has no "
            "domain_env(options) method, so LabTrustParallelEnv cannot drive it. Return a "
            "DomainEnv from it (subclass labtrust_gym.domain.simple.SimpleDomainEnv; see "
            "docs/domains.md), or drive the adapter with your own BenchmarkEnv."
        )
    dom = make(dict(options))
    check_domain_env(dom, domain_id, after_reset=False)
    return dom


def check_domain_env(dom: Any, domain_id: str, *, after_reset: bool) -> None:
    """``ConfigError`` listing the :class:`DomainEnv` members ``dom`` lacks."""
    missing = [
        m
        for m in DOMAIN_ENV_MEMBERS
        if (after_reset or m not in _AFTER_RESET) and not hasattr(dom, m)
    ]
    if missing:
        from labtrust_gym.errors import ConfigError

        raise ConfigError(
            f"Domain {domain_id!r}: {type(dom).__name__} lacks the DomainEnv member(s) "
            f"{', '.join(missing)} (docs/domains.md); subclassing "
            "labtrust_gym.domain.simple.SimpleDomainEnv provides defaults for most of them."
        )
    if after_reset:
        catalog = dom.catalog
        if not isinstance(catalog, ActionCatalog) or not len(catalog) or (
            catalog[0].action_type != "NOOP"
        ):
            from labtrust_gym.errors import ConfigError

            raise ConfigError(
                f"Domain {domain_id!r}: its catalog must be an ActionCatalog whose entry 0 is "
                "NOOP (labtrust_gym.domain.actions)."
            )


def resolve_ref(value: Any, what: str) -> Any:
    """``value`` itself, or the object a ``"module:attr"`` path names (imported now)."""
    if not isinstance(value, str):
        return value
    module_name, _, attr = value.partition(":")
    from labtrust_gym.errors import PluginError

    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise PluginError(f"{what} {value!r} cannot be imported: {exc}.") from None
    return obj


def assemble_observations(
    mode: str, agents: Sequence[str], parts: Sequence[Any], masks: Sequence[Any]
) -> dict[str, Any]:
    """Observations in the env's ``mode`` from each agent's observation (``parts``: named
    fields for ``dict``, flat vectors for ``flat``/``box``) and mask."""
    if mode == "box":
        return dict(zip(agents, parts, strict=True))
    return {
        a: {"observation": p, "action_mask": m}
        for a, p, m in zip(agents, parts, masks, strict=True)
    }


__all__ = [
    "DOMAIN_ENV_MEMBERS",
    "OBS_KINDS",
    "OBS_MODES",
    "DomainEnv",
    "RewardSignals",
    "ScriptedPolicy",
    "StepOutcome",
    "assemble_observations",
    "check_domain_env",
    "domain_env_of",
    "resolve_ref",
]
