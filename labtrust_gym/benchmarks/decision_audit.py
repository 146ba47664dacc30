"""The episode log's ``decision`` records: shield blocks and LLM calls (docs/coordination.md,
Shield; docs/engine.md, record kinds).

After the shield checked a step's proposals, the runner chains, at the step's time and before the
step's events:

* one ``{"kind": "llm", ...}`` record per LLM call the method reports through its optional
  ``pop_llm_decisions()`` (backend, model, request/answer hashes, tokens, latency, validity, error)
  with the shield's verdict on each of the call's agents' proposals;
* one ``{"kind": "shield", "step", "blocks": [...]}`` record per step with at least one block
  (agent, proposed action name, reason code) — so every block is in the chain while a step
  without blocks costs nothing.

A domain whose adapter has no ``append_decision`` keeps no records (the counters still count).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from labtrust_gym.errors import PluginError

from .shield import Shield, clean_text

#: field -> accepted types of one ``pop_llm_decisions()`` item (the LLM method contract)
LLM_DECISION_FIELDS: dict[str, tuple[type, ...]] = {
    "backend_id": (str,),
    "model": (str, type(None)),
    "request_hash": (str,),
    "answer_hash": (str, type(None)),
    "tokens_in": (int, type(None)),
    "tokens_out": (int, type(None)),
    "latency_ms": (int, float, type(None)),
    "agent_ids": (list, tuple),
    "valid": (bool,),
    "error": (str, type(None)),
}

#: None only in the record of a failed call (``error`` set): the call returned nothing to read.
_KNOWN_AFTER_A_CALL = ("model", "tokens_in", "tokens_out", "latency_ms")


class DecisionAudit:
    """Writes a step's decision records into the engine's chain (see the module doc)."""

    def __init__(self, engine: Any, shield: Shield, method: Any, source: str, deterministic: bool):
        append = getattr(engine, "append_decision", None)
        self._append = append if callable(append) else None
        self.shield = shield
        pop = getattr(method, "pop_llm_decisions", None) if method is not None else None
        self._pop = pop if callable(pop) else None
        self.source = source
        self.deterministic = deterministic
        self.records = 0

    def pop_llm(self, t: int) -> list[dict[str, Any]]:
        """The method's LLM decisions since the last call, checked (empty: not an LLM method)."""
        if self._pop is None:
            return []
        raw = self._pop()
        if raw is None:
            return []
        if not isinstance(raw, (list, tuple)):
            raise PluginError(
                f"Step {t}: {self.source}: pop_llm_decisions() returned {type(raw).__name__}; "
                "expected a list of dicts (docs/llm.md)."
            )
        return [self._checked(d, t) for d in raw]

    def _checked(self, d: Any, t: int) -> dict[str, Any]:
        if not isinstance(d, Mapping):
            raise PluginError(
                f"Step {t}: {self.source}: pop_llm_decisions() item is {type(d).__name__}, "
                "not a dict."
            )
        out: dict[str, Any] = {}
        for key, types in LLM_DECISION_FIELDS.items():
            value = d.get(key)
            ok = isinstance(value, types) and not (
                isinstance(value, bool) and bool not in types
            )
            if ok and isinstance(value, float) and not math.isfinite(value):
                ok = False
            if ok and key == "agent_ids":
                ok = all(isinstance(a, str) for a in value or ())
            if not ok:
                names = " or ".join("None" if ty is type(None) else ty.__name__ for ty in types)
                raise PluginError(
                    f"Step {t}: {self.source}: an LLM decision's {key!r} is {value!r:.60}; "
                    f"expected {names} (docs/llm.md, the decision contract)."
                )
            out[key] = value
        if out["error"] is None:  # only a failed call may leave what it never learnt unknown
            unknown = [k for k in _KNOWN_AFTER_A_CALL if out[k] is None]
            if unknown:
                raise PluginError(
                    f"Step {t}: {self.source}: an LLM decision without an error has no "
                    f"{', '.join(unknown)}; set them, or set 'error' for a failed call "
                    "(docs/llm.md, the decision contract)."
                )
        out["agent_ids"] = [clean_text(a) for a in out["agent_ids"]]
        for key in ("backend_id", "model", "request_hash", "answer_hash"):
            if isinstance(out[key], str):
                out[key] = clean_text(out[key], 256)
        if out["error"] is not None:
            out["error"] = clean_text(out["error"], 500)
        # wall-clock: zeroed so that same seed => same log (None: a failed call, none measured)
        if self.deterministic and out["latency_ms"] is not None:
            out["latency_ms"] = 0
        return out

    def write(self, t: int, llm: list[dict[str, Any]], proposed: Mapping[str, Any]) -> None:
        """Chain step ``t``'s LLM decisions (with verdicts) and its shield blocks."""
        if self._append is None:
            return
        shield = self.shield
        for d in llm:
            verdicts = []
            for aid in d["agent_ids"]:
                v = shield.verdict(aid, proposed)
                verdicts.append({"agent_id": aid, **v})
            self._append({"kind": "llm", "step": t, **d, "verdicts": verdicts})
            self.records += 1
        if shield.step_blocks:
            self._append({"kind": "shield", "step": t, "blocks": shield.step_blocks})
            self.records += 1
