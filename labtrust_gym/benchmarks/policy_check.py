"""``labtrust validate-policy``: every policy file against its schema, every id cross-referenced.

The effective policy is validated: every layer merged (the shipped policy, every plugin's policy
directory, the user's), so a user directory holding one lab profile is checked together with
what it overrides, and a plugin's files are checked too. Schemas are found by naming convention
in the merged ``schemas/``: ``<dir>/<name>.v<ver>.yaml`` is validated against
``schemas/<name>.v<ver>.schema.json`` (or ``schemas/<dir>_<name>.v<ver>.schema.json``; lab
profiles ``lab_profiles/<id>.v<ver>.yaml``: ``lab_profile.v<ver>.schema.json``); a YAML file
without a schema is itself a problem. A schema may ``$ref`` another by file name.
Every schema error of a file is reported, not just the first. Then :data:`REFS` — reference
rules as data — checks that every id a file uses is defined (reason codes, actions, zones,
roles, invariants, emits, injections, tasks, methods, scale presets, attacks, risks, providers
…), plus the attack suite's own consistency and the invariant handlers. When all that holds,
the engine compiles the policy as a last check.

With a partner, the effective policy (base + ``partners/<id>/``) is validated; a problem in a
file the partner overlays names the overlay too.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Ids = Callable[[dict[str, Any]], set[str]]


@dataclass(frozen=True)
class Problem:
    """One problem: the policy-relative file, the JSON path inside it and what is wrong; ``layer``
    names the policy layer the file comes from when it is not the shipped policy."""

    file: str
    path: str
    message: str
    layer: str | None = None

    def __str__(self) -> str:
        where = f" (in {self.layer})" if self.layer else ""
        return f"{self.file}: {self.path or '(file)'}: {self.message}{where}"


_VERSIONED = re.compile(r"(?P<name>.+)\.v(?P<ver>\d+(?:\.\d+)*)\.ya?ml")


def schema_names(rel: str) -> list[str]:
    """Schema files that may validate policy-relative ``rel``, by the naming convention:
    ``<dir>/<name>.v<ver>.yaml`` -> ``<name>.v<ver>.schema.json``, else the directory-prefixed
    ``<dir>_<name>.v<ver>.schema.json``; lab profiles -> ``lab_profile.v<ver>.schema.json``;
    study specs ``coordination/studies/<id>.v<ver>.yaml`` ->
    ``coordination_study.v<ver>.schema.json``. Empty for a file that is not named
    ``<name>.v<ver>.yaml``."""
    parts = rel.split("/")
    m = _VERSIONED.fullmatch(parts[-1])
    if m is None:
        return []
    if parts[0] == "lab_profiles" and len(parts) == 2:  # <profile id>.v<ver>.yaml
        return [f"lab_profile.v{m['ver']}.schema.json"]
    if parts[:2] == ["coordination", "studies"] and len(parts) == 3:  # <study id>.v<ver>.yaml
        return [f"coordination_study.v{m['ver']}.schema.json"]
    names = [f"{m['name']}.v{m['ver']}.schema.json"]
    if len(parts) > 1:
        names.append(f"{parts[-2]}_{m['name']}.v{m['ver']}.schema.json")
    return names


def walk(doc: Any, pattern: str) -> Iterator[tuple[str, Any]]:
    """``(json path, value)`` for every match of ``pattern`` (``/``-separated, ``*`` = every
    list item or mapping value; strings are never iterated)."""

    def rec(node: Any, parts: list[str], path: list[str]) -> Iterator[tuple[str, Any]]:
        if not parts:
            yield "/".join(path), node
            return
        head, rest = parts[0], parts[1:]
        if head == "*":
            if isinstance(node, list):
                for i, item in enumerate(node):
                    yield from rec(item, rest, [*path, str(i)])
            elif isinstance(node, dict):
                for key, item in node.items():
                    yield from rec(item, rest, [*path, str(key)])
        elif isinstance(node, dict) and head in node:
            yield from rec(node[head], rest, [*path, head])

    yield from rec(doc, pattern.split("/"), [])


# --------------------------------------------------------------------------------------------
# Id sets and reference rules
# --------------------------------------------------------------------------------------------


def _values(rel: str, pattern: str) -> Ids:
    return lambda docs: {str(v) for _p, v in walk(docs.get(rel), pattern)}


def _keys(rel: str, pattern: str) -> Ids:
    return lambda docs: {
        str(k) for _p, v in walk(docs.get(rel), pattern) if isinstance(v, dict) for k in v
    }


def _registry(kind: str) -> Ids:
    def ids(_docs: dict[str, Any]) -> set[str]:
        from labtrust_gym.plugins import registry

        return set(registry(kind).ids())

    return ids


def _union(*parts: Ids, extra: tuple[str, ...] = ()) -> Ids:
    return lambda docs: set().union(*(p(docs) for p in parts)) | set(extra)


RC, EV = (
    "reason_codes/reason_code_registry.v0.1.yaml",
    "reason_codes/evidence_code_registry.v0.1.yaml",
)
SUITE, CLAIMS = "security/attack_suite.v0.1.yaml", "safety_case/claims.v0.1.yaml"
INV = "invariants/invariant_registry.v0.1.yaml"

IDS: dict[str, Ids] = {
    "reason code": _values(RC, "codes/*/code"),
    "reason code (engine or evidence)": _union(
        _values(RC, "codes/*/code"), _values(EV, "codes/*/code")
    ),
    "action": _values("actions/action_catalog.v0.1.yaml", "actions/*/action_type"),
    "action or '*'": _union(
        _values("actions/action_catalog.v0.1.yaml", "actions/*/action_type"), extra=("*",)
    ),
    "zone": _values("zones/zone_layout.v0.1.yaml", "zones/*/zone_id"),
    "door": _values("zones/zone_layout.v0.1.yaml", "doors/*/door_id"),
    "role": _keys("rbac/rbac_policy.v0.1.yaml", "roles"),
    "device type": _values("equipment/equipment.v0.1.yaml", "device_types/*/device_type"),
    "invariant": _values(INV, "invariants/*/invariant_id"),
    "emit": _values("emits/emits_vocab.v0.1.yaml", "emits/*/emit"),
    "injection": _values("coordination/risk_injections.v0.2.yaml", "injections/*/injection_id"),
    "scale preset": _keys("coordination/scale_configs.v0.1.yaml", "scale_configs"),
    "task": _registry("tasks"),
    "coordination method": _registry("coordination_methods"),
    "domain": _registry("domains"),
    "security suite provider": _registry("security_suite_providers"),
    "safety case provider": _registry("safety_case_providers"),
    "metrics aggregator": _registry("metrics_aggregators"),
    "benchmark pack loader": _registry("benchmark_pack_loaders"),
    "attack": _values(SUITE, "attacks/*/attack_id"),
    "risk": _values(SUITE, "risks/*/risk_id"),
}

_PACKS = ("official/benchmark_pack.v0.1.yaml", "official/benchmark_pack.v0.2.yaml")
_PACK_LISTS = ("tasks", "quick_eval", "smoke")

#: (file or glob, JSON path pattern, id set) — every value found must be in the id set.
REFS: tuple[tuple[str, str, str], ...] = (
    ("rbac/rbac_policy.v0.1.yaml", "roles/*/allowed_actions/*", "action"),
    ("rbac/rbac_policy.v0.1.yaml", "roles/*/allowed_zones/*", "zone"),
    ("rbac/rbac_policy.v0.1.yaml", "roles/*/allowed_device_types/*", "device type"),
    ("tokens/token_types.v0.1.yaml", "token_types/*/mint_roles/*", "role"),
    ("tokens/token_types.v0.1.yaml", "token_types/*/approver_roles/*", "role"),
    (INV, "invariants/*/reason_code", "reason code"),
    (INV, "invariants/*/scope/action_types/*", "action or '*'"),
    ("enforcement/enforcement_map.v0.1.yaml", "rules/*/invariant_id", "invariant"),
    ("zones/zone_layout.v0.1.yaml", "edges/*/a", "zone"),
    ("zones/zone_layout.v0.1.yaml", "edges/*/b", "zone"),
    ("zones/zone_layout.v0.1.yaml", "edges/*/door_id", "door"),
    ("equipment/equipment.v0.1.yaml", "panels/*/route/*", "device type"),
    ("equipment/equipment.v0.1.yaml", "default_devices/*/zone_id", "zone"),
    ("equipment/equipment.v0.1.yaml", "default_devices/*/device_type", "device type"),
    ("coordination/coordination_methods.v0.1.yaml", "methods/*/method_id", "coordination method"),
    ("coordination/risk_injections.v0.2.yaml", "injections/*/params/device_type", "device type"),
    ("coordination/risk_injections.v0.2.yaml", "injections/*/params/door_id", "door"),
    ("coordination/risk_injections.v0.2.yaml", "injections/*/params/role", "role"),
    ("coordination/risk_injections.v0.2.yaml", "injections/*/params/impersonate_roles/*", "role"),
    ("coordination/risk_injections.v0.2.yaml", "injections/*/detection/signals/*/emit/*", "emit"),
    ("coordination/risk_injections.v0.2.yaml", "injections/*/containment/emits/*", "emit"),
    *(
        (pack, f"{section}/*/{field}", ids)
        for pack in _PACKS
        for section in _PACK_LISTS
        for field, ids in (
            ("task", "task"),
            ("injection", "injection"),
            ("coord_method", "coordination method"),
            ("scale", "scale preset"),
        )
    ),
    (SUITE, "attacks/*/expected_outcome/reason_code", "reason code (engine or evidence)"),
    (SUITE, "attacks/*/expected_outcome/emit", "emit"),
    (SUITE, "attacks/*/expected_outcome/invariant_id", "invariant"),
    (SUITE, "attacks/*/engine/steps/*/action", "action"),
    (SUITE, "fixtures/*/steps/*/action", "action"),
    (SUITE, "attacks/*/episode/task", "task"),
    (SUITE, "attacks/*/episode/injection", "injection"),
    (SUITE, "attacks/*/episode/coord_method", "coordination method"),
    (SUITE, "attacks/*/episode/scale", "scale preset"),
    (CLAIMS, "claims/*/evidence/attacks/*", "attack"),
    (CLAIMS, "claims/*/risk_ids/*", "risk"),
    ("golden/golden_scenarios.v0.1.yaml", "scenarios/*/steps/*/expect/blocked", "reason code"),
    ("lab_profiles/*", "domain_id", "domain"),
    ("lab_profiles/*", "security_suite_provider_id", "security suite provider"),
    ("lab_profiles/*", "safety_case_provider_id", "safety case provider"),
    ("lab_profiles/*", "metrics_aggregator_id", "metrics aggregator"),
    ("lab_profiles/*", "benchmark_pack_loader_id", "benchmark pack loader"),
)


def _rel_matches(rel: str, pattern: str) -> bool:
    if pattern.endswith("/*"):
        return rel.startswith(pattern[:-1]) and "/" not in rel[len(pattern) - 1 :]
    return rel == pattern


def check_refs(docs: dict[str, Any]) -> list[Problem]:
    from labtrust_gym.errors import did_you_mean

    problems = []
    cache: dict[str, set[str]] = {}
    for file_pattern, pattern, kind in REFS:
        for rel in sorted(r for r in docs if _rel_matches(r, file_pattern)):
            for path, value in walk(docs[rel], pattern):
                if value is None:
                    continue
                known = cache.get(kind)
                if known is None:
                    known = cache[kind] = IDS[kind](docs)
                if str(value) not in known:
                    problems.append(
                        Problem(
                            rel, path, f"unknown {kind} {value!r}.{did_you_mean(str(value), known)}"
                        )
                    )
    return problems


def check_special(docs: dict[str, Any]) -> list[Problem]:
    """Rules that are not a plain id lookup: handlers, the suite's consistency, duplicates."""
    from labtrust_gym.plugins import registry
    from labtrust_gym.security.attack_suite import ALLOWLIST_REL, suite_problems

    problems = []
    handlers = set(registry("invariant_handlers").ids())
    for path, inv in walk(docs.get(INV), "invariants/*"):
        tmpl = inv.get("logic_template") or {}
        key = f"{tmpl.get('type')}.{(tmpl.get('parameters') or {}).get('check')}"
        if key not in handlers:
            problems.append(
                Problem(INV, f"{path}/logic_template", f"no handler {key!r} is registered")
            )
    if SUITE in docs:
        allow = [str(v) for _p, v in walk(docs.get(ALLOWLIST_REL), "callables/*/name")]
        problems += [Problem(SUITE, p, m) for p, m in suite_problems(docs[SUITE], allow)]
    for rel, pattern in (
        (RC, "codes/*/code"),
        (EV, "codes/*/code"),
        (CLAIMS, "claims/*/claim_id"),
        (INV, "invariants/*/invariant_id"),
    ):
        seen: set[str] = set()
        for path, value in walk(docs.get(rel), pattern):
            if value in seen:
                problems.append(Problem(rel, path, f"duplicate id {value!r}"))
            seen.add(value)
    return problems


# --------------------------------------------------------------------------------------------
# Files and schemas
# --------------------------------------------------------------------------------------------


def policy_files(root: Path | str | None) -> dict[str, tuple[Path, str | None]]:
    """Every file of the effective policy with ``root`` as its user layer — every layer merged,
    partner overlays left out — as ``{relative path: (file, layer)}``; ``layer`` describes a
    layer other than the shipped one (``user …``, ``plugin …``), None for the shipped policy."""
    from labtrust_gym.config import policy_layers

    return {
        rel: (path, None if layer.kind == "shipped" else layer.describe())
        for rel, (path, layer) in policy_layers(root).files().items()
        if rel.split("/", 1)[0] != "partners"
    }


def _schema_registry(schemas: dict[str, Path]) -> Any:
    """Every schema of the effective policy, by file name (and ``$id``), so a schema — a
    plugin's included — may ``$ref`` another by file name
    (``{"$ref": "invariant_registry.v0.1.schema.json"}``)."""
    import json

    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    resources = []
    for name, path in schemas.items():
        try:
            contents = json.loads(path.read_bytes())
        except ValueError:
            continue  # reported by the schema check
        resource = Resource.from_contents(contents, default_specification=DRAFT202012)
        resources.append((name, resource))
        if isinstance(contents, dict) and isinstance(contents.get("$id"), str):
            resources.append((contents["$id"], resource))
    return Registry().with_resources(resources)


def _schema_problems(
    schemas: dict[str, Path], registry: Any, rel: str, doc: Any
) -> list[Problem]:
    import jsonschema
    from referencing.exceptions import Unresolvable

    from labtrust_gym.fileio import load_json

    names = schema_names(rel)
    if not names:
        return [Problem(rel, "", "policy files are named <name>.v<version>.yaml")]
    schema_path = next((schemas[n] for n in names if n in schemas), None)
    if schema_path is None:
        return [Problem(rel, "", f"no schema: expected schemas/{' or schemas/'.join(names)}")]
    schema = load_json(schema_path)
    validator = jsonschema.validators.validator_for(schema)(schema, registry=registry)
    try:
        errors = sorted(
            validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))
        )
    except Unresolvable as exc:  # a $ref to a schema the merged policy does not have
        return [Problem(rel, "", f"schema {schema_path.name} cannot be used: {exc}")]
    return [
        Problem(rel, "/".join(str(p) for p in err.absolute_path), err.message) for err in errors
    ]


def validate_tree(base: Path, *, layers_of: Path | None = None) -> tuple[list[Problem], int]:
    """All problems of the effective policy with ``base`` as its user layer (every layer: the
    shipped policy, plugins' directories, the user's) and the number of files checked. A
    problem in a file from a plugin or user layer names that layer (as found with
    ``layers_of`` as the user layer, when ``base`` is a materialised copy)."""
    import json

    import jsonschema

    from labtrust_gym.errors import LabTrustError
    from labtrust_gym.fileio import load_yaml

    files = policy_files(base)
    labels = {
        rel: layer for rel, (_p, layer) in policy_files(layers_of or base).items() if layer
    }
    problems: list[Problem] = []
    docs: dict[str, Any] = {}
    schemas = {
        rel.removeprefix("schemas/"): path
        for rel, (path, _layer) in files.items()
        if rel.startswith("schemas/") and rel.count("/") == 1 and rel.endswith(".json")
    }
    registry = _schema_registry(schemas)
    yaml_files = [rel for rel in files if rel.endswith((".yaml", ".yml"))]
    for rel in yaml_files:
        path = files[rel][0]
        found: list[Problem]
        try:
            doc = load_yaml(path)
        except LabTrustError as exc:
            found = [Problem(rel, "", str(exc))]
        else:
            found = _schema_problems(schemas, registry, rel, doc)
            if not found:
                docs[rel] = doc
        problems += [_in_layer(p, labels.get(rel)) for p in found]
    for name, path in sorted(schemas.items()):
        try:
            schema = json.loads(path.read_bytes())
            jsonschema.validators.validator_for(schema).check_schema(schema)
        except (ValueError, jsonschema.SchemaError) as exc:
            why = f"not a valid JSON Schema: {str(exc).splitlines()[0]}"
            rel = f"schemas/{name}"
            problems.append(_in_layer(Problem(rel, "", why), labels.get(rel)))
    problems += [_in_layer(p, labels.get(p.file)) for p in check_refs(docs) + check_special(docs)]
    if not problems:
        from labtrust_gym.engine.policy import load_policy

        try:
            load_policy(base)
        except LabTrustError as exc:
            problems.append(Problem("(engine)", "", str(exc)))
    return problems, len(yaml_files) + len(schemas)


def _in_layer(problem: Problem, layer: str | None) -> Problem:
    return Problem(problem.file, problem.path, problem.message, layer) if layer else problem


def validate_policy(
    root: Path | str | None = None, partner_id: str | None = None
) -> tuple[list[Problem], int]:
    """Problems of the effective policy with ``root`` as its user layer (with ``partner_id``'s
    overlay applied: the merged tree is validated, and a problem in a file the partner overlays
    names the overlay too)."""
    from labtrust_gym.config import get_repo_root
    from labtrust_gym.errors import LabTrustError
    from labtrust_gym.security.partners import materialise, overlay_files, partner_dir

    base = Path(root) if root is not None else get_repo_root()
    if not partner_id:
        return validate_tree(base)
    partner_dir(base, partner_id)
    overlaid = set(overlay_files(base, partner_id))
    with tempfile.TemporaryDirectory(prefix="labtrust_validate_") as tmp:
        try:
            eff = materialise(base, partner_id, Path(tmp) / "policy")
        except LabTrustError as exc:
            return [Problem(f"partners/{partner_id}", "", str(exc))], len(overlaid)
        problems, n = validate_tree(eff, layers_of=base)
    tag = f"partners/{partner_id}/"
    return [
        Problem(f"{p.file} (+ {tag}{p.file})", p.path, p.message) if p.file in overlaid else p
        for p in problems
    ], n
