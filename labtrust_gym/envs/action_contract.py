"""The action contract at the path plugins and the seed use: ``ACTION_NOOP`` …
``ACTION_START_RUN``, the catalog types and the action-dict checks.

Every domain shares it, so it lives in :mod:`labtrust_gym.domain.actions`; see that module for
what each index means. Nothing heavy is imported here.
"""

from __future__ import annotations

from labtrust_gym.domain.actions import (
    ACTION_INDEX_BY_NAME,
    ACTION_INFO_KEYS,
    ACTION_MOVE,
    ACTION_NAMES,
    ACTION_NOOP,
    ACTION_OPEN_DOOR,
    ACTION_QUEUE_RUN,
    ACTION_START_RUN,
    ACTION_TICK,
    NEXT,
    NUM_ACTIONS,
    ActionCatalog,
    CatalogEntry,
    action_index_of,
    entry_name,
    explicit_event,
    noop_action,
    split_entry_name,
    validate_action_dict,
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
    "NEXT",
    "NUM_ACTIONS",
    "ActionCatalog",
    "CatalogEntry",
    "action_index_of",
    "entry_name",
    "explicit_event",
    "noop_action",
    "split_entry_name",
    "validate_action_dict",
]
