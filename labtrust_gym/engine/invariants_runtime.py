"""Invariant handlers: the registry façade, registry YAML loading and per-reset compilation.

An invariant registry entry names a handler by ``logic_template.type`` + ``parameters.check``;
the handler registered as ``"type.check"`` is resolved once per reset and called after every
accepted step whose action type is in the entry's scope:
``handler(engine, event, params) -> (passed, reason_code, details) | None`` (None = not
applicable to this step).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labtrust_gym.errors import PolicyError
from labtrust_gym.plugins import registry

InvariantHandler = Callable[[Any, dict[str, Any], dict[str, Any]], Any]


def register_invariant_handler(
    logic_type: str, check_name: str, handler: InvariantHandler, *, replace: bool = False
) -> None:
    registry("invariant_handlers").register(f"{logic_type}.{check_name}", handler, replace=replace)


def get_invariant_handler(key: str) -> InvariantHandler:
    return registry("invariant_handlers").get(key)


def list_invariant_handlers() -> list[str]:
    return registry("invariant_handlers").ids()


@dataclass(frozen=True)
class CompiledInvariant:
    invariant_id: str
    severity: str
    action_types: frozenset[str]  # {"*"} = every action
    handler: InvariantHandler
    params: dict[str, Any]
    reason_code: str
    enforcement: dict[str, Any] | None

    def applies_to(self, action_type: str) -> bool:
        return "*" in self.action_types or action_type in self.action_types


def load_registry_file(path: str | Path, root: Path) -> list[dict[str, Any]]:
    """Entries of an invariant registry YAML (base or overlay), schema-validated."""
    from labtrust_gym.config import policy_path
    from labtrust_gym.fileio import load_yaml, validate_with_schema

    p = Path(path)
    if not p.is_absolute() and not p.exists():
        p = policy_path(root, str(path))
    doc = load_yaml(p)
    validate_with_schema(
        doc,
        policy_path(root, "schemas", "invariant_registry.v0.1.schema.json"),
        what=f"Invariant registry {str(p)!r}",
    )
    return list(doc["invariants"])


def compile_invariants(
    policy: Any, overlays: list[str | Path], extra: list[dict[str, Any]]
) -> list[CompiledInvariant]:
    """Merge base registry, overlay files and ``initial_state.extra_invariants`` (later entries
    with the same id replace earlier ones) and resolve every handler."""
    entries: dict[str, tuple[dict[str, Any], str]] = {}
    base_file = str(policy.files["invariants"])
    for e in policy.invariants:
        entries[e["invariant_id"]] = (e, base_file)
    for ov in overlays:
        for e in load_registry_file(ov, policy.root):
            entries[e["invariant_id"]] = (e, str(ov))
    for e in extra:
        entries[e["invariant_id"]] = (e, "initial_state.extra_invariants")
    out = []
    for inv_id, (e, source) in entries.items():
        tmpl = e["logic_template"]
        params = dict(tmpl.get("parameters") or {})
        key = f"{tmpl['type']}.{params.pop('check')}"
        try:
            handler = get_invariant_handler(key)
        except LookupError as exc:
            raise PolicyError(
                f"{source}: invariant {inv_id!r} needs handler {key!r}: {exc}"
            ) from None
        if e["reason_code"] not in policy.reason_codes:
            raise PolicyError(
                f"{source}: invariant {inv_id!r}: reason_code {e['reason_code']!r} is "
                "not in the reason-code registry."
            )
        out.append(
            CompiledInvariant(
                inv_id,
                e["severity"],
                frozenset(e["scope"]["action_types"]),
                handler,
                params,
                e["reason_code"],
                policy.enforcement.get(inv_id),
            )
        )
    return out
