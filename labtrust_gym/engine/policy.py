"""Load, validate and compile the hospital_lab policy files.

Each policy file is validated against its JSON Schema in ``policy/schemas`` and cross-checked
(every zone, action, role, device type and reason code referenced exists). The compiled bundle is
cached per policy root and file modification times, so an engine ``reset`` costs a dict lookup
unless a file changed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labtrust_gym.errors import PolicyError

#: (attribute, directory, file, schema) of every policy file the engine reads.
POLICY_FILES: tuple[tuple[str, str, str, str], ...] = (
    ("zones", "zones", "zone_layout.v0.1.yaml", "zone_layout.v0.1.schema.json"),
    ("equipment", "equipment", "equipment.v0.1.yaml", "equipment.v0.1.schema.json"),
    ("critical", "critical", "critical_results.v0.1.yaml", "critical_results.v0.1.schema.json"),
    ("stability", "stability", "stability_limits.v0.1.yaml", "stability_limits.v0.1.schema.json"),
    ("sites", "sites", "sites.v0.1.yaml", "sites.v0.1.schema.json"),
    ("keys", "keys", "key_registry.v0.1.yaml", "key_registry.v0.1.schema.json"),
    ("rbac", "rbac", "rbac_policy.v0.1.yaml", "rbac_policy.v0.1.schema.json"),
    ("tokens", "tokens", "token_types.v0.1.yaml", "token_types.v0.1.schema.json"),
    (
        "reason_codes",
        "reason_codes",
        "reason_code_registry.v0.1.yaml",
        "reason_code_registry.v0.1.schema.json",
    ),
    ("emits", "emits", "emits_vocab.v0.1.yaml", "emits_vocab.v0.1.schema.json"),
    ("actions", "actions", "action_catalog.v0.1.yaml", "action_catalog.v0.1.schema.json"),
    (
        "invariants",
        "invariants",
        "invariant_registry.v0.1.yaml",
        "invariant_registry.v0.1.schema.json",
    ),
    ("enforcement", "enforcement", "enforcement_map.v0.1.yaml", "enforcement_map.v0.1.schema.json"),
    ("engine", "engine", "engine.v0.1.yaml", "engine.v0.1.schema.json"),
)

ARG_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "number": (int, float),
    "int": (int,),
    "dict": (dict,),
    "list[str]": (list,),
}


@dataclass
class RolePolicy:
    actions: frozenset[str]
    zones: frozenset[str] | None  # None = every zone
    device_types: frozenset[str] | None  # None = every device type


@dataclass
class CompiledPolicy:
    """Everything the engine needs from policy, in lookup-friendly form."""

    root: Path
    raw: dict[str, Any]
    zone_ids: list[str]
    restricted_zones: frozenset[str]
    neighbors: dict[str, dict[str, str | None]]  # zone -> {adjacent zone: door id or None}
    doors: dict[str, dict[str, Any]]  # door -> {max_open_s, zones}
    action_zones: dict[str, frozenset[str]]
    device_types: dict[str, dict[str, Any]]
    default_devices: list[dict[str, Any]]
    panels: dict[str, dict[str, Any]]
    analytes: dict[str, list[dict[str, Any]]]
    default_critical_rate: float
    tiers: list[dict[str, Any]]
    notify_within_s: float
    stability: dict[str, float]
    lab_site_id: str
    site_ids: frozenset[str]
    routes: dict[str, dict[str, Any]]
    keys: list[dict[str, Any]]
    roles: dict[str, RolePolicy]
    token_types: dict[str, dict[str, Any]]
    reason_codes: dict[str, dict[str, Any]]
    emits: dict[str, dict[str, Any]]
    actions: dict[str, dict[str, Any]]  # action -> {args: [(name, types, required)], ...}
    invariants: list[dict[str, Any]]
    enforcement: dict[str, dict[str, Any]]
    engine: dict[str, Any]  # limits and signature scheme (policy/engine/engine.v0.1.yaml)
    #: zone -> agents it holds at once (None = unlimited); zone_layout ``capacity``
    zone_capacity: dict[str, int | None] = field(default_factory=dict)
    #: zone -> {adjacent zone: (edge index, direction 0/1, lanes)}; zone_layout ``edges``
    edges: dict[str, dict[str, tuple[int, int, int]]] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    derived: dict[str, Any] = field(
        default_factory=dict
    )  # per-policy tables built once (e.g. routing)


#: policy stack -> (file modification stamps, compiled policy): one entry per stack of policy
#: layers (user root, plugin directories, shipped policy), replaced when one of its files changes,
#: so engines on different roots do not evict each other.
_CACHE: dict[tuple[str, ...], tuple[tuple[tuple[str, float], ...], CompiledPolicy]] = {}


_FILES: dict[tuple[str, ...], dict[str, tuple[str, str]]] = {}


def _files(root: Path) -> tuple[tuple[str, ...], dict[str, tuple[str, str]]]:
    """The stack key of ``root`` and each policy file (and schema) resolved through the layers.

    With a user layer the files are resolved on every call (a file the user adds takes effect at
    the next load); a stack of installed layers only (shipped, plugins) is resolved once."""
    from labtrust_gym.config import policy_layers

    layers = policy_layers(root)
    cached = _FILES.get(layers.key)
    if cached is None:
        cached = {
            attr: (layers.locate(d, f), layers.locate("schemas", s))
            for attr, d, f, s in POLICY_FILES
        }
        if layers.top.kind != "user":
            _FILES[layers.key] = cached
    return layers.key, cached


def load_policy(root: Path | str | None = None) -> CompiledPolicy:
    """The compiled policy under ``root`` (default: ``get_repo_root()``), cached."""
    from labtrust_gym.config import get_repo_root

    base = Path(root) if root is not None else get_repo_root()
    key, files = _files(base)
    stamps = []
    for attr, (path, _schema) in files.items():
        try:
            stamps.append((path, os.stat(path).st_mtime))
        except OSError:
            raise PolicyError(
                f"Policy file for {attr!r} not found in any policy layer (looked for "
                f"{str(path)!r}); the shipped policy is incomplete: reinstall labtrust-gym."
            ) from None
    version = tuple(stamps)
    entry = _CACHE.get(key)
    if entry is None or entry[0] != version:
        paths = {attr: (Path(f), Path(s)) for attr, (f, s) in files.items()}
        entry = _CACHE[key] = (version, _compile(base, paths))
    return entry[1]


def _load_all(files: dict[str, tuple[Path, Path]]) -> dict[str, Any]:
    from labtrust_gym.fileio import load_yaml, validate_with_schema

    raw: dict[str, Any] = {}
    for attr, (path, schema) in files.items():
        doc = load_yaml(path)
        validate_with_schema(doc, schema, what=f"Policy file {str(path)!r}")
        raw[attr] = doc
    return raw


def _need(cond: bool, path: Path, message: str) -> None:
    if not cond:
        raise PolicyError(f"Policy file {str(path)!r}: {message}")


def _compile(root: Path, files: dict[str, tuple[Path, Path]]) -> CompiledPolicy:
    from labtrust_gym.config import policy_path

    raw = _load_all(files)
    fz = files["zones"][0]
    zones_doc = raw["zones"]
    zone_ids = [z["zone_id"] for z in zones_doc["zones"]]
    zone_set = set(zone_ids)
    _need(len(zone_set) == len(zone_ids), fz, "field 'zones': duplicate zone_id.")
    doors = {
        d["door_id"]: {"max_open_s": float(d["max_open_s"]), "zones": ()}
        for d in zones_doc["doors"]
    }
    neighbors: dict[str, dict[str, str | None]] = {z: {} for z in zone_ids}
    edges: dict[str, dict[str, tuple[int, int, int]]] = {z: {} for z in zone_ids}
    for i, e in enumerate(zones_doc["edges"]):
        a, b, door = e["a"], e["b"], e.get("door_id")
        _need(
            a in zone_set and b in zone_set, fz, f"field 'edges/{i}': unknown zone {a!r} or {b!r}."
        )
        _need(a != b and b not in neighbors[a], fz, f"field 'edges/{i}': duplicate edge {a}-{b}.")
        lanes = int(e.get("lanes", 1))
        edges[a][b] = (i, 0, lanes)
        edges[b][a] = (i, 1, lanes)
        if door is not None:
            _need(door in doors, fz, f"field 'edges/{i}/door_id': door {door!r} is not in 'doors'.")
            doors[door]["zones"] = (a, b)
        neighbors[a][b] = door
        neighbors[b][a] = door
    for door_id, d in doors.items():
        _need(bool(d["zones"]), fz, f"field 'doors': door {door_id!r} is on no edge.")
    action_zones = {a: frozenset(zs) for a, zs in (zones_doc.get("action_zones") or {}).items()}
    for a, zs in action_zones.items():
        _need(
            zs <= zone_set,
            fz,
            f"field 'action_zones/{a}': unknown zone in {sorted(zs - zone_set)}.",
        )

    fe = files["equipment"][0]
    eq = raw["equipment"]
    device_types = {d["device_type"]: d for d in eq["device_types"]}
    panels = {}
    for i, p in enumerate(eq["panels"]):
        for t in p["route"]:
            _need(t in device_types, fe, f"field 'panels/{i}/route': unknown device type {t!r}.")
        panels[p["panel"]] = {**p, "route": tuple(p["route"])}
    for i, d in enumerate(eq["default_devices"]):
        _need(
            d["device_type"] in device_types,
            fe,
            f"field 'default_devices/{i}/device_type': unknown {d['device_type']!r}.",
        )
        _need(
            d["zone_id"] in zone_set,
            fe,
            f"field 'default_devices/{i}/zone_id': unknown zone {d['zone_id']!r}.",
        )

    fc = files["critical"][0]
    crit = raw["critical"]
    for p in panels:
        _need(p in crit["analytes"], fc, f"field 'analytes': panel {p!r} has no analytes.")
    tiers = sorted(crit["notification_ladder"]["tiers"], key=lambda t: t["tier"])
    _need(
        [t["tier"] for t in tiers] == list(range(1, len(tiers) + 1)),
        fc,
        "field 'notification_ladder/tiers': tiers must be numbered 1..n.",
    )
    stability = {p: float(v["max_age_s"]) for p, v in raw["stability"]["limits"].items()}

    fs = files["sites"][0]
    sites_doc = raw["sites"]
    site_ids = frozenset(s["site_id"] for s in sites_doc["sites"])
    _need(sites_doc["lab_site_id"] in site_ids, fs, "field 'lab_site_id': not one of 'sites'.")
    routes = {r["route_id"]: r for r in sites_doc["routes"]}
    for rid, r in routes.items():
        _need(
            r["from_site"] in site_ids and r["to_site"] in site_ids,
            fs,
            f"route {rid!r}: unknown site.",
        )

    actions: dict[str, dict[str, Any]] = {}
    for a in raw["actions"]["actions"]:
        args = []
        for name, typ in a["args"].items():
            required = not typ.endswith("?")
            args.append((name, ARG_TYPES[typ.rstrip("?")], required))
        actions[a["action_type"]] = {
            "args": tuple(args),
            "needs_reason_code": bool(a.get("needs_reason_code")),
            "description": a["description"],
        }
    for a in action_zones:
        _need(a in actions, fz, f"field 'action_zones': unknown action {a!r}.")

    fr = files["rbac"][0]
    roles = {}
    for role, r in raw["rbac"]["roles"].items():
        acts = frozenset(r["allowed_actions"])
        unknown = sorted(acts - set(actions))
        _need(not unknown, fr, f"field 'roles/{role}/allowed_actions': unknown actions {unknown}.")
        rz = r["allowed_zones"]
        zones = None if rz == "*" else frozenset(rz)
        _need(
            zones is None or zones <= zone_set,
            fr,
            f"field 'roles/{role}/allowed_zones': unknown zone.",
        )
        rd = r["allowed_device_types"]
        dts = None if rd == "*" else frozenset(rd)
        _need(
            dts is None or dts <= set(device_types),
            fr,
            f"field 'roles/{role}/allowed_device_types': unknown type.",
        )
        roles[role] = RolePolicy(acts, zones, dts)

    ft = files["tokens"][0]
    for tt, t in raw["tokens"]["token_types"].items():
        for r in (*t["mint_roles"], *t["approver_roles"]):
            _need(r in roles, ft, f"field 'token_types/{tt}': unknown role {r!r}.")

    reason_codes = {c["code"]: c for c in raw["reason_codes"]["codes"]}
    emits = {e["emit"]: e for e in raw["emits"]["emits"]}
    fi = files["invariants"][0]
    invariants = raw["invariants"]["invariants"]
    for inv in invariants:
        _need(
            inv["reason_code"] in reason_codes,
            fi,
            f"invariant {inv['invariant_id']!r}: reason_code {inv['reason_code']!r} "
            "is not in the reason-code registry.",
        )
    fen = files["enforcement"][0]
    inv_ids = {i["invariant_id"] for i in invariants}
    enforcement = {}
    for rule in raw["enforcement"]["rules"]:
        _need(
            rule["invariant_id"] in inv_ids,
            fen,
            f"rule for unknown invariant {rule['invariant_id']!r}.",
        )
        _need(
            rule["action"] != "throttle_agent" or "duration_s" in rule,
            fen,
            f"rule for {rule['invariant_id']!r}: throttle_agent needs duration_s.",
        )
        enforcement[rule["invariant_id"]] = rule

    return CompiledPolicy(
        root=root,
        raw=raw,
        zone_ids=zone_ids,
        restricted_zones=frozenset(z["zone_id"] for z in zones_doc["zones"] if z.get("restricted")),
        zone_capacity={z["zone_id"]: z.get("capacity") for z in zones_doc["zones"]},
        edges=edges,
        neighbors=neighbors,
        doors=doors,
        action_zones=action_zones,
        device_types=device_types,
        default_devices=list(eq["default_devices"]),
        panels=panels,
        analytes=crit["analytes"],
        default_critical_rate=float(crit["default_critical_rate"]),
        tiers=tiers,
        notify_within_s=float(crit["notification_ladder"]["notify_within_s"]),
        stability=stability,
        lab_site_id=sites_doc["lab_site_id"],
        site_ids=site_ids,
        routes=routes,
        keys=list(raw["keys"]["keys"]),
        roles=roles,
        token_types=raw["tokens"]["token_types"],
        reason_codes=reason_codes,
        emits=emits,
        actions=actions,
        invariants=list(invariants),
        enforcement=enforcement,
        engine=raw["engine"],
        files={
            **{a: p for a, (p, _s) in files.items()},
            "initial_state_schema": policy_path(
                root, "schemas", "engine_initial_state.v0.1.schema.json"
            ),
        },
    )
