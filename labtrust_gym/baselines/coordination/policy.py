"""``policy/coordination/coordination_methods.v0.1.yaml``: the methods' policy entries.

Each entry: ``method_id``, ``description``, ``coordination_class`` (centralized, kernel,
hierarchical, market, consensus, swarm, reference), ``scale_capable``, ``max_agents`` (the most
agents ``propose_actions`` plans for at once; above it the runner takes the per-agent path of a
``scale_capable`` method, or refuses with an error), ``default_params`` and ``known_weaknesses``.
Read through the active lab profile's ``coordination_methods_path`` and the policy layers,
validated against its schema, cached per file version.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SCHEMA = ("schemas", "coordination_methods.v0.1.schema.json")

_CACHE: dict[tuple[str, float], dict[str, dict[str, Any]]] = {}


def load_method_entries(policy_root: Path | str | None = None) -> dict[str, dict[str, Any]]:
    """``{method_id: entry}`` in file order (empty when the file does not exist)."""
    from labtrust_gym.config import get_active_profile, get_repo_root, policy_path
    from labtrust_gym.fileio import load_yaml, validate_with_schema

    root = Path(policy_root) if policy_root is not None else get_repo_root()
    path = get_active_profile().resolve_path("coordination_methods_path", root)
    try:
        key = (str(path), os.stat(path).st_mtime)
    except OSError:
        return {}
    cached = _CACHE.get(key)
    if cached is None:
        doc = load_yaml(path) or {}
        validate_with_schema(doc, policy_path(root, *SCHEMA), what=str(path))
        cached = {
            str(e["method_id"]): dict(e)
            for e in doc.get("methods") or ()
            if isinstance(e, Mapping)
        }
        _CACHE[key] = cached
    return {k: dict(v) for k, v in cached.items()}


def method_entry(method_id: str, policy_root: Path | str | None = None) -> dict[str, Any] | None:
    """The policy entry of ``method_id`` (None: the method has none, e.g. a plugin's)."""
    return load_method_entries(policy_root).get(method_id)


__all__ = ["load_method_entries", "method_entry"]
