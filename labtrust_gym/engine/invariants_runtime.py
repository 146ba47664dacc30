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
    handler_key: str = ""  # "type.check", for error reports
    plugin: str | None = None  # the plugin that registered the handler, when known

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
                key,
                _provider(key),
            )
        )
    return out


def _provider(key: str) -> str | None:
    for rec in registry("invariant_handlers").registrations():
        if rec.ident == key:
            return rec.plugin
    return None


# ------------------------------------------------------------------ the invariant stage
_SHAPE = "expected None or a (passed: bool, reason_code: str | None, details: dict | None) tuple"


def _malformed(r: Any) -> bool:
    return (
        type(r) is not tuple
        or len(r) != 3
        or type(r[0]) is not bool
        or (r[1] is not None and type(r[1]) is not str)
        or (r[2] is not None and type(r[2]) is not dict)
    )


def _handler_error(inv: CompiledInvariant, error: str) -> tuple[bool, str, dict[str, Any]]:
    details: dict[str, Any] = {"handler": inv.handler_key, "error": error}
    if inv.plugin is not None:
        details["plugin"] = inv.plugin
    return False, "INV.HANDLER_ERROR", details


def run_invariants(
    eng: Any,
    invs: tuple[Any, ...],
    ev: dict[str, Any],
    agent: Any,
    emits: list[str],
    consumed: list[str],
    now: float,
) -> list[dict[str, Any]]:
    """Run the invariants in the accepted event's scope; returns its violation entries.

    A handler is plugin code: an exception or a return value of the wrong shape is recorded as
    an ``INV.HANDLER_ERROR`` violation naming the handler (and its plugin), never a crash
    mid-step and never a silent pass.
    """
    violations: list[dict[str, Any]] = []
    eng.ctx_consumed = consumed
    d = eng.__dict__
    skippable = not eng.report_passing
    for check, params, inv, due_attr, guard_attr in invs:
        # built-ins that would PASS/not apply are not called (see builtin_invariants)
        if due_attr is not None:
            due = d[due_attr]
            if due is not None and now <= due and skippable:
                continue
        elif guard_attr is not None and not d[guard_attr] and skippable:
            continue
        try:
            r = check(eng, ev, params)
        except Exception as exc:
            r = _handler_error(inv, f"raised {type(exc).__name__}: {exc}")
        else:
            if r is None:
                continue
            if r.__class__ is not tuple or _malformed(r):
                text = repr(r)
                r = _handler_error(
                    inv, f"returned {text[:200]}{'...' if len(text) > 200 else ''}: {_SHAPE}"
                )
        if r[0]:
            if eng.report_passing:
                violations.append(
                    {"invariant_id": inv.invariant_id, "status": "PASS", "reason_code": None}
                )
            continue
        _violation(eng, inv, r, agent, emits, violations)
    if eng.ctx_started:
        eng.ctx_started = []
        eng.ctx_overrides = set()
    return violations


def _violation(
    eng: Any,
    inv: CompiledInvariant,
    r: tuple[Any, ...],
    agent: Any,
    emits: list[str],
    violations: list[dict[str, Any]],
) -> None:
    # a handler's own code is used when it is a registered one
    code, details = r[1], r[2]
    if code is None or code not in eng.policy.reason_codes:
        if code is not None:
            details = {**(details or {}), "unregistered_reason_code": code}
        code = inv.reason_code
    violations.append(
        {"invariant_id": inv.invariant_id, "status": "VIOLATION", "reason_code": code}
    )
    vb = eng.stats["violations_by_invariant"]
    vb[inv.invariant_id] = vb.get(inv.invariant_id, 0) + 1
    # Who caused it: the acting agent, unless the handler names another agent (a door left
    # open by whoever opened it) or nobody in particular (an overdue escalation: None).
    responsible: str | None = agent.agent_id
    if details is not None and "responsible_agent_id" in details:
        named = details["responsible_agent_id"]
        responsible = named if named in eng.agents else None
    eng.violation_log.append(
        {
            "t_s": eng.now_s,
            "invariant_id": inv.invariant_id,
            "reason_code": code,
            "agent_id": agent.agent_id,
            "responsible_agent_id": responsible,
            "details": details,
        }
    )
    if inv.enforcement is not None:
        from labtrust_gym.engine.actions_trust import apply_enforcement

        target = eng.agents[responsible] if responsible is not None else agent
        apply_enforcement(eng, target, inv.enforcement)
        emits.append("ENFORCEMENT_APPLIED")
