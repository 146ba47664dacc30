"""Pass criteria as data: a metric path, a comparator and a value.

Used by episode attacks (criteria on an episode's metrics) and safety-case artifacts (criteria on
a JSON evidence file). A path is ``/``-separated keys (list indices allowed), because metric keys
such as reason codes contain dots: ``blocked_by_reason_code/ZONE.RESTRICTED_NO_TOKEN``.
A missing path fails every comparison.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}

_MISSING = object()


def lookup(doc: Any, path: str) -> Any:
    """The value at ``path`` in ``doc``, or the ``_MISSING`` sentinel."""
    cur = doc
    for part in path.split("/"):
        if isinstance(cur, Mapping) and part in cur:
            cur = cur[part]
        elif isinstance(cur, Sequence) and not isinstance(cur, str) and part.isdigit():
            idx = int(part)
            if idx >= len(cur):
                return _MISSING
            cur = cur[idx]
        else:
            return _MISSING
    return cur


def holds(observed: Any, op: str, value: Any) -> bool:
    if observed is _MISSING:
        return False
    if op in ("==", "!="):
        same = _equal(observed, value)
        return same if op == "==" else not same
    numeric = (int, float)
    if (
        isinstance(observed, bool)
        or isinstance(value, bool)
        or not isinstance(observed, numeric)
        or not isinstance(value, numeric)
        or (isinstance(observed, float) and math.isnan(observed))
    ):
        return False
    return bool(OPS[op](observed, value))


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b)


def evaluate(doc: Any, criteria: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each criterion with what was observed and whether it holds."""
    out = []
    for c in criteria:
        observed = lookup(doc, str(c["metric"]))
        out.append(
            {
                "metric": c["metric"],
                "op": c["op"],
                "value": c["value"],
                "observed": None if observed is _MISSING else observed,
                "missing": observed is _MISSING,
                "ok": holds(observed, str(c["op"]), c["value"]),
            }
        )
    return out


def describe(result: Mapping[str, Any]) -> str:
    seen = "missing" if result["missing"] else repr(result["observed"])
    return f"{result['metric']} {result['op']} {result['value']!r} (observed {seen})"
