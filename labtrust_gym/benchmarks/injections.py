"""Risk injections (``--injection ID``): seeded perturbations of a coordination episode.

Defined as data in ``policy/coordination/risk_injections.v0.1.yaml``. A ``state`` injection
edits the initial state (a device fault, a QC drift); an ``action`` injection perturbs the joint
action each step (lost messages). Both draw from a private RNG derived from the episode seed, so
an injected episode is as reproducible as any other.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labtrust_gym.errors import UnknownIdError

INJECTIONS_FILE = ("coordination", "risk_injections.v0.1.yaml")
INJECTIONS_SCHEMA = ("schemas", "risk_injections.v0.1.schema.json")

_CACHE: dict[str, dict[str, dict[str, Any]]] = {}


def load_injections(policy_root: Path | str | None = None) -> dict[str, dict[str, Any]]:
    """``{injection_id: entry}`` from the policy file (validated against its schema)."""
    from labtrust_gym.config import get_repo_root, policy_path
    from labtrust_gym.fileio import load_yaml, validate_with_schema

    root = policy_root if policy_root is not None else get_repo_root()
    path = policy_path(root, *INJECTIONS_FILE)
    key = str(path)
    if key not in _CACHE:
        doc = load_yaml(path)
        validate_with_schema(doc, policy_path(root, *INJECTIONS_SCHEMA), what=str(path))
        _CACHE[key] = {entry["injection_id"]: entry for entry in doc["injections"]}
    return _CACHE[key]


def list_injections(policy_root: Path | str | None = None) -> list[str]:
    return sorted(load_injections(policy_root))


def check_injection(injection_id: str, policy_root: Path | str | None = None) -> dict[str, Any]:
    known = load_injections(policy_root)
    if injection_id not in known:
        raise UnknownIdError.for_id("injection", injection_id, known)
    return known[injection_id]


def apply_state_injection(
    entry: Mapping[str, Any], state: dict[str, Any], seed: int, horizon_s: float
) -> dict[str, Any]:
    """Return ``state`` with a ``state`` injection applied (unchanged for ``action`` ones)."""
    if entry["kind"] != "state":
        return state
    rng = random.Random(f"{entry['injection_id']}:{seed}")
    params = entry["params"]
    devices = [
        d["device_id"]
        for d in state.get("devices") or ()
        if d.get("device_type") == params.get("device_type")
    ]
    if not devices:
        return state
    device_id = rng.choice(sorted(devices))
    lo, hi = params.get("t_frac", (0.2, 0.4))
    t_s = int(rng.uniform(lo, hi) * horizon_s)
    out = dict(state)
    if entry["injection_id"].startswith("INJ-DEVICE-FAULT"):
        duration = max(1, int(float(params.get("duration_frac", 0.2)) * horizon_s))
        out["device_faults"] = [
            *(state.get("device_faults") or ()),
            {"device_id": device_id, "t_s": t_s, "duration_s": duration},
        ]
    else:
        out["qc_failures"] = [
            *(state.get("qc_failures") or ()),
            {"device_id": device_id, "t_s": t_s},
        ]
    return out


class ActionInjector:
    """Per-step perturbation of the joint action for ``action`` injections."""

    def __init__(self, entry: Mapping[str, Any] | None, seed: int) -> None:
        self.drop_rate = 0.0
        self.dropped = 0
        if entry is not None and entry["kind"] == "action":
            self.drop_rate = float(entry["params"].get("drop_rate", 0.0))
        self.rng = random.Random(f"{entry['injection_id'] if entry else 'none'}:{seed}:actions")

    @property
    def active(self) -> bool:
        return self.drop_rate > 0.0

    def apply(self, actions: dict[str, Any]) -> dict[str, Any]:
        if not self.active:
            return actions
        out: dict[str, Any] = {}
        for agent_id in sorted(actions):
            if self.rng.random() < self.drop_rate:
                self.dropped += 1
                continue  # the env treats a missing agent as NOOP
            out[agent_id] = actions[agent_id]
        return out
