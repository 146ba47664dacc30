"""``SimpleDomainEnv``: the domain protocol from a few per-agent methods, in plain Python.

A small domain subclasses :class:`SimpleDomainEnv` and says, per agent, what it can do and what
it sees; this class turns that into the batched :class:`~labtrust_gym.domain.protocol.DomainEnv`
the env drives (catalog, masks, resolution with contention, observations in every mode, spaces,
state, reward signals, metrics inputs, a default scripted baseline). It evaluates every entry
for every agent every step — N·K candidate checks — which is what a domain of tens of agents
wants; a large domain implements :class:`DomainEnv` with tables instead (hospital_lab does).

What a subclass implements (docs/domains.md walks through a whole domain)::

    class MyDomainEnv(SimpleDomainEnv):
        reward_signals = RewardSignals(release_emits=frozenset({"ORDER_RELEASED"}))

        def lab_agents(self):            # [(agent_id, role), ...] of the lab just reset
        def entries(self):               # [EntrySpec(...), ...]: the catalog after NOOP, TICK
        def candidates(self, agent_id, entry):   # the events an entry may send, in order
        def observation_fields(self):    # {"name": gymnasium Box, ...}
        def observe_agent(self, agent_id):       # {"name": array, ...}
        def work_items(self):            # records the throughput and turnaround come from

An entry is valid for an agent (mask 1) iff one of its candidate events passes the adapter's dry
run ``adapter.check(event) -> reason | None`` (without a ``check``, iff it has a candidate), so
masks tell the truth as long as ``check`` and ``step`` apply the same rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces

from labtrust_gym.domain.actions import (
    NEXT,
    ActionCatalog,
    CatalogEntry,
    copy_action_extras,
    entry_name,
    entry_of,
    merge_action_extras,
)
from labtrust_gym.domain.protocol import (
    RewardSignals,
    StepOutcome,
    assemble_observations,
)
from labtrust_gym.errors import ConfigError, InvalidInputError

Event = dict[str, Any]


@dataclass(frozen=True)
class EntrySpec:
    """One entry of a simple domain's catalog (``<action_type>@<target>``).

    :ivar action_type: the event type it sends.
    :ivar target: what it acts on (a device id, ``"next"`` for a work queue's next item), or
        None.
    :ivar kind: a grouping of the domain's choosing (``device``, ``queue`` …).
    :ivar args: in words, how the event's arguments are chosen (shown in the catalog).
    """

    action_type: str
    target: str | None = None
    kind: str = "queue"
    args: str = ""


_BASE_ENTRIES = (
    EntrySpec("NOOP", None, "bare", "no event"),
    EntrySpec("TICK", None, "bare", "no arguments (waits one step; logged)"),
)


class SimpleDomainEnv:
    """A :class:`~labtrust_gym.domain.protocol.DomainEnv` built from per-agent methods."""

    reward_signals = RewardSignals()
    #: The default scripted baseline: each agent takes the first valid entry of its role's
    #: priority list (:attr:`baseline_priorities`; catalog order without one).
    scripted_baseline: Any = "labtrust_gym.domain.simple:PriorityPolicy"
    threat_agents: Any = None
    reusable = False

    def __init__(self, adapter: Any, options: Mapping[str, Any] | None = None) -> None:
        opts = dict(options or {})
        self.adapter = adapter
        self.domain_id = str(opts.get("domain_id", type(self).__name__))
        self._t = 0.0
        self._catalog: ActionCatalog | None = None
        self._specs: list[EntrySpec] = []
        self._fields: dict[str, spaces.Box] = {}
        self._spaces: dict[str, spaces.Space[Any]] = {}
        self.agent_ids: list[str] = []
        self.agent_roles: list[str | None] = []
        self._masks: list[np.ndarray] = []
        self.set_signing_keys(opts.get("signing_keys") or {})

    # ------------------------------------------------------------------ to implement
    def lab_agents(self) -> list[tuple[str, str | None]]:
        """``(agent_id, role)`` of every agent of the lab just reset, in row order."""
        raise NotImplementedError

    def entries(self) -> list[EntrySpec]:
        """The domain's catalog entries (NOOP and TICK come first, added by this class)."""
        raise NotImplementedError

    def candidates(self, agent_id: str, entry: CatalogEntry) -> Iterable[Event]:
        """The events ``entry`` may send for ``agent_id`` now (``{"action_type", "args",
        ...}``), in the order they are tried (a work queue: its service order)."""
        raise NotImplementedError

    def observation_fields(self) -> dict[str, spaces.Box]:
        """One ``Box`` per named field of an agent's observation, in order."""
        raise NotImplementedError

    def observe_agent(self, agent_id: str) -> dict[str, np.ndarray]:
        """The agent's observation: one array per field of :meth:`observation_fields`."""
        raise NotImplementedError

    def work_items(self) -> list[dict[str, Any]]:
        """One record per work item for the metrics (docs/domains.md): ``specimen_id`` (the
        item's id), ``priority``, ``arrival_s``, ``released_s`` (None: not released) and, when
        unreleased, ``status``."""
        return []

    # ------------------------------------------------------------------ may override
    @property
    def baseline_priorities(self) -> Mapping[str, Sequence[str]]:
        """Entry names per role, most wanted first, for :class:`PriorityPolicy` (roles not
        listed take the first valid entry in catalog order)."""
        return {}

    @property
    def zone_ids(self) -> Sequence[str]:
        """The domain's places, if it has any."""
        return ()

    @property
    def device_ids(self) -> Sequence[str]:
        """The domain's devices (stations, hoods, …), if it has any."""
        return ()

    def default_initial_state(self, seed: int) -> Mapping[str, Any]:
        """The lab the env builds when it is given no initial state and no task."""
        raise ConfigError(
            f"Domain {self.domain_id!r} has no default lab; give the env an initial_state or a "
            "task whose get_initial_state builds one."
        )

    def clock(self, t: float) -> list[Any]:
        """Advance the domain's clock to ``t``; return the clock effects (default: none)."""
        self._t = float(t)
        return []

    def accepts(self, event: Event) -> bool:
        """Whether the adapter would accept ``event`` now (its dry run ``check``)."""
        check = getattr(self.adapter, "check", None)
        return check is None or check(event) is None

    def attribution(self) -> tuple[list[int | None] | None, list[list[int]] | None]:
        return None, None

    def info_columns(self) -> Mapping[str, Sequence[Any]]:
        return {}

    def lab_info(self) -> Mapping[str, Any]:
        return {}

    def render_lines(self) -> list[str]:
        return []

    def device_queue_lengths(self) -> dict[str, int]:
        return {}

    def set_signing_keys(self, keys: Mapping[str, Any]) -> None:
        if keys:
            raise ConfigError(f"Domain {self.domain_id!r} does not sign events; give no keys.")

    def metrics_sample(self) -> None:
        """Nothing to sample per step by default."""

    def metrics_inputs(self, dt_s: float) -> dict[str, Any]:
        return {"t_end_s": self.now_s, "specimens": self.work_items()}

    # ------------------------------------------------------------------ the protocol
    @property
    def now_s(self) -> float:
        return float(getattr(self.adapter, "now_s", self._t))

    @property
    def catalog(self) -> ActionCatalog:
        if self._catalog is None:
            raise InvalidInputError("The domain has no catalog before its first reset().")
        return self._catalog

    def scale_config(self, value: Any) -> Any:
        raise ConfigError(
            f"Domain {self.domain_id!r} has no scale presets (scale presets generate "
            "hospital_lab labs); give its task or an initial_state instead."
        )

    def initial_state(self, seed: int, scale: Any = None) -> Mapping[str, Any]:
        if scale is not None:
            self.scale_config(scale)
        return self.default_initial_state(seed)

    def reset(self, initial_state: Mapping[str, Any], seed: int) -> list[Any]:
        self.adapter.reset(dict(initial_state), deterministic=True, rng_seed=seed)
        agents = self.lab_agents()
        ids = [a for a, _ in agents]
        specs = [*_BASE_ENTRIES, *self.entries()]
        fields = dict(self.observation_fields())
        if self._catalog is None:
            self._specs = specs
            self._catalog = ActionCatalog(
                [
                    CatalogEntry(i, entry_name(s.action_type, s.target), s.action_type,
                                 s.target, s.kind, s.args)
                    for i, s in enumerate(specs)
                ]
            )
            self._fields = fields
            self.state_space = _tiled(self.observation_space("box"), len(ids))
        elif specs != self._specs or ids != self.agent_ids or fields != self._fields:
            raise InvalidInputError(
                f"Domain {self.domain_id!r}: the episode's lab has other agents, catalog entries "
                "or observation fields than the env was built with; the spaces are fixed for "
                "the env's life. Build a new env for a different lab."
            )
        self.agent_ids = ids
        self.agent_roles = [role for _, role in agents]
        emits = self.clock(self.now_s)
        self._refresh()
        first = self.observe_agent(ids[0]) if ids else {}
        for name, box in fields.items():
            value = first.get(name)
            if value is None or not box.contains(np.asarray(value, dtype=box.dtype)):
                raise ConfigError(
                    f"Domain {self.domain_id!r}: observe_agent({ids[0]!r}) field {name!r} is "
                    f"{value!r}, not in its space {box}."
                )
        return emits

    def observation_space(self, kind: str) -> spaces.Space[Any]:
        space = self._spaces.get(kind)
        if space is None:
            fields = self._fields
            if kind == "dict":
                space = spaces.Dict(dict(fields))
            else:
                low = np.concatenate([np.ravel(b.low).astype(np.float32) for b in fields.values()])
                high = np.concatenate(
                    [np.ravel(b.high).astype(np.float32) for b in fields.values()]
                )
                space = spaces.Box(low, high, low.shape, np.float32)
            self._spaces[kind] = space
        return space

    def observe(self, mode: str, time_fraction: float) -> dict[str, Any]:
        per_agent = [self._fields_of(a) for a in self.agent_ids]
        parts: list[Any] = per_agent if mode == "dict" else [self._flat(p) for p in per_agent]
        return assemble_observations(mode, self.agent_ids, parts, self._masks)

    def masks(self) -> list[np.ndarray]:
        return self._masks

    def mask(self, row: int) -> np.ndarray:
        return self._masks[row]

    def state(self, time_fraction: float) -> np.ndarray:
        """Every agent's flat observation, concatenated in row order."""
        rows = [self._flat(self._fields_of(a)) for a in self.agent_ids]
        return np.concatenate(rows) if rows else np.zeros(0, dtype=np.float32)

    def apply(
        self, actions: np.ndarray, custom: Mapping[int, Mapping[str, Any]] | None, t: float
    ) -> StepOutcome:
        out = StepOutcome()
        catalog = self.catalog
        k = len(catalog)
        acting = [r for r, a in enumerate(actions.tolist()) if a != 0 or (custom and r in custom)]
        for r in acting:
            act = custom.get(r) if custom else None
            aid = self.agent_ids[r]
            name: str | None = None
            if act is not None and act.get("action_type"):
                if act["action_type"] == "NOOP":
                    continue
                ev: Event = {"action_type": str(act["action_type"]),
                             "args": dict(act.get("args") or {})}
                copy_action_extras(act, ev)
            else:
                e = int(actions[r]) if act is None else entry_of(catalog, act, int(actions[r]))
                if not 0 <= e < k:
                    raise InvalidInputError(
                        f"Action index {e} is out of range; this lab's catalog has {k} entries "
                        f"(0..{k - 1}; env.action_catalog names them)."
                    )
                if e == 0:
                    continue
                entry = catalog[e]
                name = entry.name
                if self._masks[r][e]:
                    found = self._first_accepted(aid, entry, t)
                    if found is None:  # an earlier agent took the last target this step
                        out.contended.append(r)
                        out.contended_codes.append(None)
                        continue
                    ev = found
                else:  # sent anyway: the adapter answers BLOCKED with its reason
                    ev = next(iter(self.candidates(aid, entry)), {}) or {
                        "action_type": entry.action_type, "args": {}
                    }
                if act is not None:
                    merge_action_extras(act, ev)
            ev["t_s"] = t
            ev["agent_id"] = aid
            result = self.adapter.step(ev)
            out.add(r, ev["action_type"], ev["args"], name, result)
        return out

    def advance(self, t: float, outcome: StepOutcome) -> list[Any]:
        emits = self.clock(t)
        self._refresh()
        return emits

    def resolve(self, row: int, entry: int) -> dict[str, Any] | None:
        if entry == 0:
            return None
        return self._first_accepted(self.agent_ids[row], self.catalog[entry], self.now_s)

    # ------------------------------------------------------------------ internals
    def _first_accepted(self, agent_id: str, entry: CatalogEntry, t: float) -> Event | None:
        for ev in self.candidates(agent_id, entry):
            if self.accepts({**ev, "t_s": t, "agent_id": agent_id}):
                return dict(ev)
        return None

    def _refresh(self) -> None:
        """Every agent's mask for the adapter's current state."""
        t = self.now_s
        catalog = self.catalog
        masks = []
        for aid in self.agent_ids:
            row = np.zeros(len(catalog), dtype=np.int8)
            row[0] = 1
            for entry in catalog[1:]:
                row[entry.index] = self._first_accepted(aid, entry, t) is not None
            row.setflags(write=False)
            masks.append(row)
        self._masks = masks

    def _fields_of(self, agent_id: str) -> dict[str, np.ndarray]:
        obs = self.observe_agent(agent_id)
        return {name: np.asarray(obs[name], dtype=box.dtype) for name, box in self._fields.items()}

    @staticmethod
    def _flat(fields: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.concatenate([np.ravel(v).astype(np.float32) for v in fields.values()])


def _tiled(box: Any, n: int) -> spaces.Box:
    low = np.tile(box.low, n).astype(np.float32)
    high = np.tile(box.high, n).astype(np.float32)
    return spaces.Box(low, high, low.shape, np.float32)


class PriorityPolicy:
    """A scripted baseline for any domain: each agent takes the first entry of its role's
    priority list (``env.domain.baseline_priorities``; without one, catalog order) that its mask
    allows; an entry with a fixed target (a device, a door) is taken by one agent per step, a
    work queue (``@next``) by as many as want it (the env hands each the next item)."""

    def __init__(self, agent_ids: Iterable[str], task: Any = None) -> None:
        self.agent_ids = list(agent_ids)
        self._order: dict[str, list[int]] = {}
        self.env: Any = None

    def reset(
        self,
        env: Any,
        seed: int,
        policy_root: Any = None,
        initial_state: Mapping[str, Any] | None = None,
    ) -> None:
        self.env = env
        catalog = env.action_catalog
        everything = [e.index for e in catalog if e.action_type not in ("NOOP", "TICK")]
        priorities = getattr(env.domain, "baseline_priorities", {}) or {}
        roles = dict(zip(env.possible_agents, env.domain.agent_roles, strict=True))
        self._order = {}
        for aid in self.agent_ids:
            wanted = priorities.get(roles.get(aid) or "")
            self._order[aid] = (
                [catalog.index(name) for name in wanted] if wanted is not None else everything
            )
        self._fixed = {e.index for e in catalog if e.target not in (None, NEXT)}

    def act(
        self, obs: Mapping[str, Any] | None, infos: Mapping[str, Any] | None, t: int
    ) -> dict[str, Any]:
        taken: set[int] = set()
        actions: dict[str, Any] = {}
        for aid in self.agent_ids:
            mask = self.env.action_mask(aid)
            for e in self._order[aid]:
                if mask[e] and e not in taken:
                    actions[aid] = e
                    if e in self._fixed:
                        taken.add(e)
                    break
        return actions


__all__ = ["EntrySpec", "PriorityPolicy", "SimpleDomainEnv"]
