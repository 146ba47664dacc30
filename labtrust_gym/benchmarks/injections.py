"""Risk injections (``--injection ID``): the policy file and its checks.

Defined as data in ``policy/coordination/risk_injections.v0.2.yaml`` (schema beside it; the
catalogue with every definition is docs/risk_injections.md). An entry's ``kind`` says what it
touches and is declared, never inferred from its id; its ``mechanism`` names the injector
(:mod:`labtrust_gym.benchmarks.injectors`) and must belong to that kind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labtrust_gym.errors import InvalidInputError, UnknownIdError

INJECTIONS_FILE = ("coordination", "risk_injections.v0.2.yaml")
INJECTIONS_SCHEMA = ("schemas", "risk_injections.v0.2.schema.json")

_CACHE: dict[str, dict[str, dict[str, Any]]] = {}
_HARM: dict[str, dict[str, float]] = {}

#: Harm tolerances when the policy file has no ``harm:`` block (docs/risk_injections.md).
DEFAULT_HARM = {"results_lost": 0.0, "violations": 0.0, "extra_delay_s": 10.0}


def load_injections(policy_root: Path | str | None = None) -> dict[str, dict[str, Any]]:
    """``{injection_id: entry}`` from the policy file (validated against its schema, and each
    entry's mechanism checked against its declared kind)."""
    from labtrust_gym.config import get_repo_root, policy_path
    from labtrust_gym.fileio import load_yaml, validate_with_schema

    from .injectors import INJECTORS

    root = policy_root if policy_root is not None else get_repo_root()
    path = policy_path(root, *INJECTIONS_FILE)
    key = str(path)
    if key not in _CACHE:
        doc = load_yaml(path)
        validate_with_schema(doc, policy_path(root, *INJECTIONS_SCHEMA), what=str(path))
        entries: dict[str, dict[str, Any]] = {}
        for i, entry in enumerate(doc["injections"]):
            iid = entry["injection_id"]
            if iid in entries:
                raise InvalidInputError(f"{path}: injections/{i}: duplicate injection_id {iid!r}.")
            cls = INJECTORS[entry["mechanism"]]
            if cls.kind != entry["kind"]:
                raise InvalidInputError(
                    f"{path}: injections/{i} ({iid}): mechanism {entry['mechanism']!r} is of "
                    f"kind {cls.kind!r}, but the entry declares kind {entry['kind']!r}; fix "
                    "the kind (docs/risk_injections.md lists each mechanism's kind)."
                )
            signal = entry["containment"]["signal"]
            if signal == "emit" and not entry["containment"].get("emits"):
                raise InvalidInputError(
                    f"{path}: injections/{i} ({iid}): containment signal 'emit' needs 'emits'."
                )
            if entry["success"]["criterion"] == "report" and not entry["success"].get(
                "metric"
            ):
                raise InvalidInputError(
                    f"{path}: injections/{i} ({iid}): success criterion 'report' needs "
                    "'metric'."
                )
            entries[iid] = entry
        _CACHE[key] = entries
        _HARM[key] = {k: float(v) for k, v in {**DEFAULT_HARM, **(doc.get("harm") or {})}.items()}
    return _CACHE[key]


def load_harm(policy_root: Path | str | None = None) -> dict[str, float]:
    """The harm tolerances of the policy file's ``harm:`` block: an injected episode harms the
    lab if it lost more than ``results_lost`` results, had more than ``violations`` extra
    invariant violations, or released the results it shares with its clean twin more than
    ``extra_delay_s`` seconds later on average."""
    from labtrust_gym.config import get_repo_root, policy_path

    load_injections(policy_root)
    root = policy_root if policy_root is not None else get_repo_root()
    return dict(_HARM[str(policy_path(root, *INJECTIONS_FILE))])


def list_injections(policy_root: Path | str | None = None) -> list[str]:
    return sorted(load_injections(policy_root))


def check_injection(injection_id: str, policy_root: Path | str | None = None) -> dict[str, Any]:
    known = load_injections(policy_root)
    if injection_id not in known:
        raise UnknownIdError.for_id("injection", injection_id, known)
    return known[injection_id]
