"""The action contract shared by every domain, its environments, baselines and coordination.

Every agent, every step, chooses an ``action_index`` of its lab's **action catalog** (an
:class:`ActionCatalog` of :class:`CatalogEntry`), built by the domain when the env is built and
fixed for the env's life. In every domain index ``0`` is ``NOOP`` (no event is issued) and, by
convention, index ``1`` is ``TICK`` (the agent waits one step; a logged event), so a method that
knows nothing about a domain can always do nothing. The other entries are the domain's own,
named ``<ACTION_TYPE>@<target>`` (docs/domains.md).

The hospital_lab domain keeps the seed's meanings for indices ``0..5``:

====  ===============  ==================================================================
idx   name             what a bare index does in hospital_lab (no ``action_type`` given)
====  ===============  ==================================================================
0     NOOP             nothing; no engine event is issued
1     TICK             the agent waits/observes one step (engine ``TICK`` event)
2     QUEUE_RUN        queue the next waiting specimen on the device the agent stands at
3     MOVE             move to an adjacent zone (``args.to_zone`` or an env-chosen neighbour)
4     OPEN_DOOR        open the door adjacent to the agent's zone (``args.door_id`` or first)
5     START_RUN        start the head of the queue of the device the agent stands at
====  ===============  ==================================================================

After them its catalog has the parametric entries ``QUEUE_RUN@DEV``, ``MOVE@ZONE``,
``CREATE_ACCESSION@next``, … (docs/envs.md lists them all). Another domain gives indices 2..5
whatever entries its catalog lists there. An action is an index, or a dict naming an entry
(``{"entry": "START_RUN@DEV_CHEM_A1"}``), or a dict carrying any ``action_type`` of the domain
with its ``args`` (plus ``reason_code``, ``token_refs``, ``key_id``, ``signature``) so a scripted
or coordinating agent can still issue any event.

``labtrust_gym.envs.action_contract`` re-exports this module (the path plugins and the seed use).
It must stay free of numpy, gymnasium and the engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, overload

ACTION_NOOP: Final = 0
ACTION_TICK: Final = 1
ACTION_QUEUE_RUN: Final = 2
ACTION_MOVE: Final = 3
ACTION_OPEN_DOOR: Final = 4
ACTION_START_RUN: Final = 5

#: Number of bare indices (the seed's ``0..5``); a lab's catalog has ``len(env.action_catalog)``.
NUM_ACTIONS: Final = 6

#: Engine ``action_type`` issued for each bare index (index → name).
ACTION_NAMES: Final[tuple[str, ...]] = (
    "NOOP",
    "TICK",
    "QUEUE_RUN",
    "MOVE",
    "OPEN_DOOR",
    "START_RUN",
)
ACTION_INDEX_BY_NAME: Final[Mapping[str, int]] = {name: i for i, name in enumerate(ACTION_NAMES)}

#: Keys an action dict / action info may carry. Anything else is rejected (typos must not be
#: silently ignored).
ACTION_INFO_KEYS: Final[frozenset[str]] = frozenset(
    {
        "action_index",
        "action_type",
        "args",
        "entry",
        "reason_code",
        "token_refs",
        "key_id",
        "signature",
        "seq",
        "session_id",
        "session_pub",
        "mac",
    }
)

#: Target of the work-queue entries: the next item of the queue (in service order).
NEXT: Final = "next"


@dataclass(frozen=True)
class CatalogEntry:
    """One action of a lab's catalog.

    :ivar index: the action index (``0..5`` are the bare indices).
    :ivar name: ``ACTION_TYPE@target`` (bare indices: the action type alone).
    :ivar action_type: the engine event type the entry issues.
    :ivar target: what the entry acts on (hospital_lab: a device, zone, door, route or
        token-type id), ``"next"`` for a work queue's next item, ``None`` for bare indices.
    :ivar kind: a grouping the domain defines (hospital_lab: ``bare``, ``device``, ``zone``,
        ``door``, ``queue`` or ``route``).
    :ivar args: how the event's arguments are resolved when the entry is chosen.
    """

    index: int
    name: str
    action_type: str
    target: str | None
    kind: str
    args: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "action_type": self.action_type,
            "target": self.target,
            "kind": self.kind,
            "args": self.args,
        }


class ActionCatalog(Sequence[CatalogEntry]):
    """A lab's action catalog: index → :class:`CatalogEntry`, and names → indices.

    ``catalog[i]`` is entry ``i``; ``catalog.index("MOVE@Z_SORTING")`` its index (an unknown
    name raises ``InvalidInputError`` with the closest names); ``catalog.of_type("START_RUN")``
    the indices of every entry issuing that action type.
    """

    def __init__(self, entries: Sequence[CatalogEntry]) -> None:
        self._entries = tuple(entries)
        for i, e in enumerate(self._entries):
            if e.index != i:
                raise ValueError(f"catalog entry {e.name!r} has index {e.index}, expected {i}")
        self._by_name = {e.name: e.index for e in self._entries}
        if len(self._by_name) != len(self._entries):
            raise ValueError("catalog entry names must be unique")

    def __len__(self) -> int:
        return len(self._entries)

    @overload
    def __getitem__(self, i: int) -> CatalogEntry: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[CatalogEntry]: ...

    def __getitem__(self, i: int | slice) -> CatalogEntry | Sequence[CatalogEntry]:
        return self._entries[i]

    def __contains__(self, item: object) -> bool:
        if isinstance(item, str):
            return item in self._by_name
        return item in self._entries

    def index(self, name: Any, start: int = 0, stop: int | None = None) -> int:
        """The index of the entry called ``name`` (``InvalidInputError`` if there is none)."""
        if isinstance(name, CatalogEntry):
            name = name.name
        found = self._by_name.get(name) if isinstance(name, str) else None
        if found is None:
            from labtrust_gym.errors import InvalidInputError, did_you_mean

            raise InvalidInputError(
                f"No catalog entry named {name!r} in this lab ({len(self)} entries; see "
                f"env.action_catalog.names()).{did_you_mean(str(name), self._by_name)}"
            )
        return found

    def names(self) -> list[str]:
        return [e.name for e in self._entries]

    def of_type(self, action_type: str) -> list[int]:
        """Indices of the entries issuing ``action_type`` (bare index included)."""
        return [e.index for e in self._entries if e.action_type == action_type]

    def to_list(self) -> list[dict[str, Any]]:
        """The catalog as JSON-friendly dicts (index, name, action_type, target, kind, args)."""
        return [e.to_dict() for e in self._entries]

    def __repr__(self) -> str:
        return f"ActionCatalog({len(self)} entries)"


def entry_name(action_type: str, target: str | None = None) -> str:
    """The name of the catalog entry issuing ``action_type`` at ``target``."""
    return action_type if target is None else f"{action_type}@{target}"


def split_entry_name(name: str) -> tuple[str, str | None]:
    """``"START_RUN@DEV_CHEM_A1"`` → ``("START_RUN", "DEV_CHEM_A1")``; ``"TICK"`` → ``("TICK",
    None)``."""
    action_type, sep, target = name.partition("@")
    return action_type, (target if sep else None)

__all__ = [
    "ACTION_INDEX_BY_NAME",
    "ACTION_INFO_KEYS",
    "ACTION_MOVE",
    "ACTION_NAMES",
    "ACTION_NOOP",
    "ACTION_OPEN_DOOR",
    "ACTION_QUEUE_RUN",
    "ACTION_START_RUN",
    "ACTION_TICK",
    "NEXT",
    "NUM_ACTIONS",
    "ActionCatalog",
    "CatalogEntry",
    "action_index_of",
    "copy_action_extras",
    "entry_name",
    "entry_of",
    "explicit_event",
    "merge_action_extras",
    "noop_action",
    "split_entry_name",
    "validate_action_dict",
]


def noop_action() -> dict[str, Any]:
    """The canonical do-nothing action dict (what a no-op coordination method returns)."""
    return {"action_index": ACTION_NOOP, "action_type": "NOOP"}


def explicit_event(
    action_type: str, args: Mapping[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    """An explicit engine event as an action dict: ``action_type`` with its ``args`` (the env
    fills the time and signs it if it may); ``extra`` keys (``token_refs``, ``key_id``, …) ride
    along. Its ``action_index`` is the type's seed index, or TICK's slot for other engine types."""
    action: dict[str, Any] = {
        "action_index": ACTION_INDEX_BY_NAME.get(action_type, ACTION_TICK),
        "action_type": action_type,
        "args": dict(args or {}),
    }
    action.update(extra)
    return action


def action_index_of(action: Any, num_actions: int | None = None) -> int:
    """Return the ``action_index`` of an int-like action or an action dict.

    ``num_actions`` (the lab's catalog size) bounds the index; without it any index ``>= 0`` is
    accepted. A dict without ``action_index`` maps a bare action type (``"MOVE"``) to its index
    and any other engine ``action_type`` to TICK's slot (it is an explicit event, not a no-op);
    a dict naming only an ``entry`` returns ``-1`` (the env resolves names against its catalog).
    Raises ``InvalidInputError`` naming the problem for anything that is not a valid action.
    """
    from labtrust_gym.errors import InvalidInputError

    upper = f"0..{num_actions - 1}" if num_actions is not None else "0..K-1 (the catalog size)"
    if isinstance(action, Mapping):
        idx = action.get("action_index", None)
        if idx is None:
            atype = action.get("action_type")
            if isinstance(atype, str) and atype in ACTION_INDEX_BY_NAME:
                return ACTION_INDEX_BY_NAME[atype]
            # A dict carrying only an engine action_type (e.g. RELEASE_RESULT) maps to TICK's slot:
            # it is an explicit event, not a no-op.
            if isinstance(atype, str) and atype:
                return ACTION_TICK
            if isinstance(action.get("entry"), str):
                return -1
            raise InvalidInputError(
                f"Action dict {dict(action)!r} has none of 'action_index' ({upper}), 'entry' "
                "(a catalog entry name) or 'action_type'; give one."
            )
    else:
        idx = action
    not_an_index = InvalidInputError(
        f"Action {idx!r} is not an integer action index; use {upper} (0..5 are "
        f"{', '.join(ACTION_NAMES)})."
    )
    # booleans (Python's and numpy's, checked by name to keep numpy out of this module) are not
    # indices even though int() accepts them
    if isinstance(idx, (str, bytes)) or idx is None or type(idx).__name__ in ("bool", "bool_"):
        raise not_an_index
    try:
        value = int(idx)
    except (TypeError, ValueError):
        raise not_an_index from None
    if value != idx:
        raise not_an_index
    if value < 0 or (num_actions is not None and value >= num_actions):
        raise InvalidInputError(f"Action index {idx!r} is out of range; use {upper}.")
    return value


def validate_action_dict(action: Mapping[str, Any], *, agent_id: str = "?") -> None:
    """Check an action dict's keys and value types; raise ``InvalidInputError`` on a problem."""
    from labtrust_gym.errors import InvalidInputError

    unknown = set(action) - ACTION_INFO_KEYS
    if unknown:
        from labtrust_gym.errors import did_you_mean

        bad = sorted(unknown)[0]
        raise InvalidInputError(
            f"Action for agent {agent_id!r} has unknown key {bad!r}; allowed keys: "
            f"{', '.join(sorted(ACTION_INFO_KEYS))}.{did_you_mean(bad, ACTION_INFO_KEYS)}"
        )
    atype = action.get("action_type")
    if atype is not None and not isinstance(atype, str):
        raise InvalidInputError(
            f"Action for agent {agent_id!r}: 'action_type' must be a string, got {atype!r}."
        )
    entry = action.get("entry")
    if entry is not None and not isinstance(entry, str):
        raise InvalidInputError(
            f"Action for agent {agent_id!r}: 'entry' must be a catalog entry name, got {entry!r}."
        )
    args = action.get("args")
    if args is not None and not isinstance(args, Mapping):
        raise InvalidInputError(
            f"Action for agent {agent_id!r}: 'args' must be a mapping, got {type(args).__name__}."
        )
    refs = action.get("token_refs")
    if refs is not None and (isinstance(refs, str) or not all(isinstance(r, str) for r in refs)):
        raise InvalidInputError(
            f"Action for agent {agent_id!r}: 'token_refs' must be a list of token id strings."
        )


#: Keys of an action dict that ride along, unchanged, with the event it sends.
ACTION_EXTRA_KEYS: Final[tuple[str, ...]] = (
    "reason_code", "token_refs", "key_id", "signature", "seq", "session_id", "session_pub", "mac"
)


def copy_action_extras(act: Mapping[str, Any], ev: dict[str, Any]) -> None:
    """Copy the extras an action dict carries (:data:`ACTION_EXTRA_KEYS`) onto its event."""
    for key in ACTION_EXTRA_KEYS:
        value = act.get(key)
        if value is not None:
            ev[key] = list(value) if key == "token_refs" else value


def merge_action_extras(act: Mapping[str, Any], ev: dict[str, Any]) -> None:
    """Extras and extra ``args`` of an action dict ride along with a catalog entry's event
    (given args win)."""
    extra = act.get("args")
    if extra:
        ev["args"] = {**ev["args"], **extra}
    copy_action_extras(act, ev)


def entry_of(catalog: ActionCatalog, act: Mapping[str, Any], index: int) -> int:
    """The catalog entry an action dict chooses: its ``entry`` name (which must agree with an
    ``action_index`` given too), else ``index``."""
    name = act.get("entry")
    if name is None:
        return index
    e = catalog.index(name)
    given = act.get("action_index")
    if given is not None and int(given) != e:
        from labtrust_gym.errors import InvalidInputError

        raise InvalidInputError(
            f"Action names entry {name!r} (index {e}) but action_index {given}; give one of them."
        )
    return e
