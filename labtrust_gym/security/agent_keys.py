"""Which agent keys a verifier trusts when it re-checks the signatures of logged events.

A log anchor lists the public keys of its episode, but the anchor is signed by the *run signer*
only: whoever can sign anchors can also swap in a key of their own making and re-sign any event
with it. So a verifier never lets the anchor decide the key of an agent it already knows:

* the **trusted registry** is the verifier's own: the policy key registry
  (``policy/keys/key_registry.v0.1.yaml`` of the layered policy) plus any ``--keys FILE``;
* a key id of the trusted registry is checked against the registry's entry, and an anchor that
  lists it differently (another public key, owner, role, status or window) is an error, as is an
  anchor key for an agent whose keys the registry holds (``EVIDENCE.KEY_MISMATCH``);
* a key only the anchor lists (an agent the registry does not know) is still used — it shows
  the events were signed consistently — but every signature checked with it is counted and
  reported as *vouched for by the run signer only*: it proves the pipeline's integrity, not the
  agent's authority.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labtrust_gym.errors import EvidenceError

KEY_REGISTRY = ("keys", "key_registry.v0.1.yaml")
KEY_REGISTRY_SCHEMA = ("schemas", "key_registry.v0.1.schema.json")
#: Fields of a key that a registry entry fixes (compared when the registry states them).
KEY_FIELDS = ("public_key_b64", "agent_id", "status", "role", "not_before_s", "not_after_s")
_DEFAULTS = {"status": "active"}


def policy_key_registry(root: Path | str | None = None) -> list[dict[str, Any]]:
    """The keys of the layered policy's key registry (schema-validated)."""
    from labtrust_gym.config import policy_path
    from labtrust_gym.fileio import load_yaml, validate_with_schema

    path = policy_path(root, *KEY_REGISTRY)
    doc = load_yaml(path)
    validate_with_schema(doc, policy_path(root, *KEY_REGISTRY_SCHEMA), what=f"{str(path)!r}")
    return [dict(k) for k in doc["keys"]]


def merge_registries(*sources: tuple[str, Iterable[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Keys of several trusted registries (``(label, keys)``); the same key id stated twice
    differently is a :class:`ConfigError` naming both sources."""
    from labtrust_gym.errors import ConfigError

    merged: dict[str, tuple[str, dict[str, Any]]] = {}
    for label, keys in sources:
        for key in keys:
            entry = {**_DEFAULTS, **dict(key)}
            seen = merged.get(entry["key_id"])
            if seen is not None and seen[1] != entry:
                raise ConfigError(
                    f"Key {entry['key_id']!r} is stated differently by {seen[0]} and {label}; "
                    "a trusted key registry must be consistent."
                )
            merged.setdefault(entry["key_id"], (label, entry))
    return [merged[k][1] for k in sorted(merged)]


@dataclass(frozen=True)
class AgentKeys:
    """The keys a verifier checks logged signatures with, and where each came from."""

    keys: tuple[dict[str, Any], ...]
    trusted: frozenset[str]
    anchor_only: frozenset[str]

    def ring(self) -> Any:
        from labtrust_gym.engine.signing import KeyRing

        return KeyRing(list(self.keys))

    def owner(self, key_id: str) -> str | None:
        for key in self.keys:
            if key["key_id"] == key_id:
                return key.get("agent_id")
        return None


def resolve_agent_keys(
    anchor_keys: Iterable[Mapping[str, Any]] | None,
    trusted: Iterable[Mapping[str, Any]],
    *,
    where: str,
) -> AgentKeys:
    """The keys to check with: the trusted registry's, plus the anchor's keys of agents the
    registry does not know. Raises ``EVIDENCE.KEY_MISMATCH`` when the anchor contradicts the
    registry (see the module doc)."""
    registry = {k["key_id"]: {**_DEFAULTS, **dict(k)} for k in trusted}
    covered = {k.get("agent_id") for k in registry.values()} - {None}
    extra: dict[str, dict[str, Any]] = {}
    for raw in anchor_keys or ():
        key = {**_DEFAULTS, **dict(raw)}
        kid, owner = key.get("key_id"), key.get("agent_id")
        known = registry.get(kid) if isinstance(kid, str) else None
        if known is not None:
            differs = [f for f in KEY_FIELDS if f in known and key.get(f) != known[f]]
            if differs:
                raise EvidenceError(
                    f"{where}: the anchor lists key {kid!r} with another "
                    f"{' and '.join(differs)} than the trusted key registry; a key swapped in "
                    "by the run signer cannot vouch for an agent's events.",
                    code="EVIDENCE.KEY_MISMATCH",
                )
        elif owner in covered:
            held = sorted(k for k, v in registry.items() if v.get("agent_id") == owner)
            raise EvidenceError(
                f"{where}: the anchor lists key {kid!r} for agent {owner!r}, whose keys the "
                f"trusted key registry holds ({', '.join(held)}); only those may sign its events.",
                code="EVIDENCE.KEY_MISMATCH",
            )
        elif isinstance(kid, str):
            extra[kid] = key
    return AgentKeys(
        keys=tuple([*registry.values(), *extra.values()]),
        trusted=frozenset(registry),
        anchor_only=frozenset(extra),
    )


def trusted_keys(
    keys: list[dict[str, Any]] | None = None, root: Path | str | None = None
) -> list[dict[str, Any]]:
    """The verifier's trusted registry: the policy key registry plus ``keys`` (``--keys``)."""
    sources: list[tuple[str, Iterable[Mapping[str, Any]]]] = [
        ("the policy key registry", policy_key_registry(root))
    ]
    if keys is not None:
        sources.append(("--keys", keys))
    return merge_registries(*sources)
