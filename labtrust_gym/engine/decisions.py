"""``decision`` records of the hash chain: what the runner decided about proposals before they
reached the engine (shield verdicts, LLM calls; docs/engine.md, "Hash chain and episode log").

A decision record is ``{"decision": {...}, "outcome": {"seq", "t_s"}, "prev_hash"}``. The engine
does not interpret the decision; it only chains it, so ``verify-log`` covers it like any other
record. The decision's content must be plain JSON (strings, finite numbers, booleans, None, lists,
string-keyed dicts): the runner builds it from checked fields.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from labtrust_gym.engine.hashchain import dumps_with_option
from labtrust_gym.errors import InvalidInputError

_dumps, _SORT = dumps_with_option()

#: the ``kind`` values a decision may have (docs/engine.md)
DECISION_KINDS = ("shield", "llm")


def _plain(value: Any, where: str) -> None:
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(f"Decision record: {where} is {value!r}; give a finite number.")
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidInputError(f"Decision record: {where} has a non-string key {k!r}.")
            _plain(v, f"{where}.{k}")
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _plain(v, f"{where}[{i}]")
        return
    raise InvalidInputError(
        f"Decision record: {where} is a {type(value).__name__}; only JSON values are logged."
    )


def decision_record(decision: Mapping[str, Any], seq: int, t_s: float, prev_hash: bytes) -> bytes:
    """The canonical bytes of one decision record (checked to be plain JSON)."""
    if decision.get("kind") not in DECISION_KINDS:
        kinds = ", ".join(DECISION_KINDS)
        raise InvalidInputError(
            f"Decision record: kind {decision.get('kind')!r}; use one of {kinds}."
        )
    _plain(decision, "decision")
    return (
        b'{"decision":'
        + _dumps(decision, option=_SORT)
        + b',"outcome":'
        + _dumps({"seq": seq, "t_s": t_s}, option=_SORT)
        + b',"prev_hash":"'
        + prev_hash
        + b'"}'
    )
