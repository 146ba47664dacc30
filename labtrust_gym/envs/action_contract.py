"""The action contract shared by environments, scripted agents and coordination methods.

Every agent, every step, chooses an ``action_index`` in ``0..5``:

====  ===============  ==================================================================
idx   name             what a bare index does (no ``action_type`` given)
====  ===============  ==================================================================
0     NOOP             nothing; no engine event is issued
1     TICK             the agent waits/observes one step (engine ``TICK`` event)
2     QUEUE_RUN        queue the next waiting specimen on the device the agent stands at
3     MOVE             move to an adjacent zone (``args.to_zone`` or an env-chosen neighbour)
4     OPEN_DOOR        open the door adjacent to the agent's zone (``args.door_id`` or first)
5     START_RUN        start the head of the queue of the device the agent stands at
====  ===============  ==================================================================

An agent may attach an *action info* — ``action_type``, ``args``, ``reason_code``,
``token_refs`` (plus ``key_id``/``signature`` for signed events) — so a scripted or coordinating
agent can issue any engine event (``ACCEPT_SPECIMEN``, ``RELEASE_RESULT``, …).

This module is imported by plugins, so it must stay free of numpy, gymnasium and the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

ACTION_NOOP: Final = 0
ACTION_TICK: Final = 1
ACTION_QUEUE_RUN: Final = 2
ACTION_MOVE: Final = 3
ACTION_OPEN_DOOR: Final = 4
ACTION_START_RUN: Final = 5

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
    {"action_index", "action_type", "args", "reason_code", "token_refs", "key_id", "signature"}
)

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
    "NUM_ACTIONS",
    "action_index_of",
    "noop_action",
    "validate_action_dict",
]


def noop_action() -> dict[str, Any]:
    """The canonical do-nothing action dict (what a no-op coordination method returns)."""
    return {"action_index": ACTION_NOOP, "action_type": "NOOP"}


def action_index_of(action: Any) -> int:
    """Return the ``action_index`` of an int-like action or an action dict.

    Raises ``InvalidInputError`` naming the problem for anything that is not a valid action.
    """
    from labtrust_gym.errors import InvalidInputError

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
            raise InvalidInputError(
                f"Action dict {dict(action)!r} has neither 'action_index' (0..5) nor "
                "'action_type'; give at least one."
            )
    else:
        idx = action
    not_an_index = InvalidInputError(
        f"Action {idx!r} is not an integer action index; use 0..{NUM_ACTIONS - 1} "
        f"({', '.join(ACTION_NAMES)})."
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
    if not 0 <= value < NUM_ACTIONS:
        raise InvalidInputError(
            f"Action index {idx!r} is out of range; use 0..{NUM_ACTIONS - 1} "
            f"({', '.join(ACTION_NAMES)})."
        )
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
