"""The default lab and validation of ``initial_state`` documents.

``default_initial_state(seed)`` is the lab every task starts from unless it builds its own: six
agents (reception_0, ops_0, runner_0, runner_1, qc_0, supervisor_0), the policy's default devices
and a seeded arrival schedule. ``validate_initial_state`` checks a document against
``policy/schemas/engine_initial_state.v0.1.schema.json`` and against the policy (roles, zones,
device types, panels, sites), raising ``InvalidInputError`` that names the field.
"""

from __future__ import annotations

import math
import random
from typing import Any

from labtrust_gym.engine.policy import CompiledPolicy, load_policy
from labtrust_gym.errors import InvalidInputError, SchemaValidationError

DEFAULT_AGENTS: tuple[tuple[str, str, str], ...] = (
    ("reception_0", "reception", "Z_RECEPTION"),
    ("ops_0", "ops", "Z_ANALYZER_HALL_A"),
    ("runner_0", "runner", "Z_PREANALYTICS"),
    ("runner_1", "runner", "Z_CENTRIFUGE_BAY"),
    ("qc_0", "qc", "Z_QC_SUPERVISOR"),
    ("supervisor_0", "supervisor", "Z_QC_SUPERVISOR"),
)

_PANEL_MIX = (("CHEM", 0.4), ("CBC", 0.3), ("COAG", 0.15), ("LIPID", 0.15))
_PRIORITY_MIX = (("STAT", 0.1), ("URGENT", 0.2), ("ROUTINE", 0.7))


def weighted_pick(rng: random.Random, mix: tuple[tuple[str, float], ...]) -> str:
    """One name from ``(name, probability)`` pairs, by one draw of ``rng`` (deterministic)."""
    x = rng.random()
    acc = 0.0
    for name, p in mix:
        acc += p
        if x < acc:
            return name
    return mix[-1][0]


def default_arrivals(
    seed: int = 0, n_specimens: int = 12, horizon_s: float = 3600.0, start_t_s: float = 0.0
) -> list[dict[str, Any]]:
    """A deterministic arrival schedule: ``n_specimens`` spread over ``horizon_s``."""
    rng = random.Random(seed)
    out = []
    for k in range(n_specimens):
        t = start_t_s + round(horizon_s * k / max(n_specimens, 1))
        out.append(
            {
                "specimen_id": f"S{k + 1}",
                "t_s": t,
                "priority": weighted_pick(rng, _PRIORITY_MIX),
                "panel": weighted_pick(rng, _PANEL_MIX),
                "patient_id": f"P{1000 + k}",
                "collected_t_s": max(0, t - 600),
            }
        )
    return out


def default_initial_state(
    seed: int = 0, n_specimens: int = 12, horizon_s: float = 3600.0
) -> dict[str, Any]:
    """The default lab (a fresh dict; callers may edit it)."""
    return {
        "start_t_s": 0,
        "agents": [{"agent_id": a, "role": r, "zone_id": z} for a, r, z in DEFAULT_AGENTS],
        "arrivals": default_arrivals(seed, n_specimens, horizon_s),
        "qc_failures": [],
        "device_faults": [],
        "maintenance": [],
        "transport_excursions": [],
        "strict_signatures": False,
    }


_FAST: dict[str, Any] = {}


def _fast_check(schema_path: Any) -> Any:
    """The compiled fast check for the initial_state schema (cached per schema file)."""
    from labtrust_gym.engine.fastcheck import compile_schema
    from labtrust_gym.fileio import load_json

    key = str(schema_path)
    if key not in _FAST:
        _FAST[key] = compile_schema(load_json(schema_path))
    return _FAST[key]


def _bad(field: str, message: str) -> InvalidInputError:
    return InvalidInputError(f"initial_state: field {field!r}: {message}")


def _unique(items: list[dict[str, Any]], key: str, field: str) -> None:
    seen: set[str] = set()
    for i, it in enumerate(items):
        v = it[key]
        if v in seen:
            raise _bad(f"{field}/{i}/{key}", f"duplicate id {v!r}.")
        seen.add(v)


def validate_initial_state(state: Any, policy: CompiledPolicy | None = None) -> dict[str, Any]:
    """Return ``state`` with defaults filled in; raise ``InvalidInputError`` naming the field."""
    from labtrust_gym.errors import did_you_mean
    from labtrust_gym.fileio import validate_with_schema

    pol = policy or load_policy()
    if state is None:
        state = default_initial_state()
    if not isinstance(state, dict):
        raise InvalidInputError(
            f"initial_state must be a mapping, got {type(state).__name__}; see docs/engine.md."
        )
    schema_path = pol.files["initial_state_schema"]
    fast = _fast_check(schema_path)
    try:
        if fast is None or not fast(state):  # jsonschema only to confirm and name the field
            validate_with_schema(state, schema_path, what="initial_state")
    except SchemaValidationError as exc:
        raise InvalidInputError(str(exc)) from None
    st = dict(state)
    if "agents" not in st:
        st["agents"] = [{"agent_id": a, "role": r, "zone_id": z} for a, r, z in DEFAULT_AGENTS]
    if "devices" not in st:
        st["devices"] = [dict(d) for d in pol.default_devices]
    for k in (
        "arrivals",
        "qc_failures",
        "device_faults",
        "maintenance",
        "transport_excursions",
        "keys",
        "tokens",
        "extra_invariants",
    ):
        st.setdefault(k, [])
    st.setdefault("start_t_s", 0)
    st.setdefault("strict_signatures", False)
    st.setdefault("timing_mode", "explicit")
    st.setdefault("lab_site_id", pol.lab_site_id)
    zones = set(pol.zone_ids)
    if st["lab_site_id"] not in pol.site_ids:
        raise _bad(
            "lab_site_id", f"unknown site {st['lab_site_id']!r}; known: {sorted(pol.site_ids)}."
        )
    if not st["agents"]:
        raise _bad("agents", "at least one agent is required.")
    _unique(st["agents"], "agent_id", "agents")
    for i, a in enumerate(st["agents"]):
        role = a["role"]
        if role is not None and role not in pol.roles:
            raise _bad(
                f"agents/{i}/role",
                f"unknown role {role!r}; known: {sorted(pol.roles)}."
                f"{did_you_mean(role, pol.roles)} Use null for an agent without a role.",
            )
        if a["zone_id"] not in zones:
            raise _bad(
                f"agents/{i}/zone_id",
                f"unknown zone {a['zone_id']!r}.{did_you_mean(a['zone_id'], zones)}",
            )
    _unique(st["devices"], "device_id", "devices")
    devices = {d["device_id"] for d in st["devices"]}
    for i, d in enumerate(st["devices"]):
        if d["device_type"] not in pol.device_types:
            raise _bad(
                f"devices/{i}/device_type",
                f"unknown device type {d['device_type']!r}; known: {sorted(pol.device_types)}.",
            )
        if d["zone_id"] not in zones:
            raise _bad(f"devices/{i}/zone_id", f"unknown zone {d['zone_id']!r}.")
    _unique(st["arrivals"], "specimen_id", "arrivals")
    for i, a in enumerate(st["arrivals"]):
        if a["panel"] not in pol.panels:
            raise _bad(
                f"arrivals/{i}/panel", f"unknown panel {a['panel']!r}; known: {sorted(pol.panels)}."
            )
        site = a.get("site_id", st["lab_site_id"])
        if site not in pol.site_ids:
            raise _bad(f"arrivals/{i}/site_id", f"unknown site {site!r}.")
    for key in ("qc_failures", "device_faults", "maintenance"):
        for i, e in enumerate(st[key]):
            if e["device_id"] not in devices:
                raise _bad(f"{key}/{i}/device_id", f"unknown device {e['device_id']!r}.")
    for i, m in enumerate(st["maintenance"]):
        if m["end_s"] <= m["start_s"]:
            raise _bad(f"maintenance/{i}/end_s", "must be after start_s.")
    for i, x in enumerate(st["transport_excursions"]):
        if x["route_id"] not in pol.routes:
            raise _bad(f"transport_excursions/{i}/route_id", f"unknown route {x['route_id']!r}.")
    agents = {a["agent_id"] for a in st["agents"]}
    for i, k in enumerate(st["keys"]):
        if k["agent_id"] not in agents:
            raise _bad(f"keys/{i}/agent_id", f"unknown agent {k['agent_id']!r}.")
    _unique(st["tokens"], "token_id", "tokens")
    for i, t in enumerate(st["tokens"]):
        tt = pol.token_types.get(t["token_type"])
        if tt is None:
            raise _bad(
                f"tokens/{i}/token_type",
                f"unknown token type {t['token_type']!r}; known: {sorted(pol.token_types)}.",
            )
        if not isinstance(t["scope"].get(tt["scope_key"]), str):
            raise _bad(f"tokens/{i}/scope", f"needs a string {tt['scope_key']!r}.")
        if not tt["bearer"] and t.get("holder_agent_id") is None:
            raise _bad(
                f"tokens/{i}/holder_agent_id",
                f"token type {t['token_type']!r} is not a bearer type (policy/tokens): "
                "name the agent who holds it.",
            )
    _check_capacities(st, pol)
    st.setdefault("signature_mode", pol.engine["signatures"]["mode"])
    return st


#: Capacity of a zone without one (the layout's "unlimited").
UNLIMITED = 1 << 62


def zone_capacities(st: dict[str, Any], pol: CompiledPolicy) -> list[int]:
    """Agents each zone (policy order) holds at once: the layout's ``capacity`` times the
    state's ``capacity_scale`` (rounded up), overridden by its ``zone_capacity``; unlimited
    zones get :data:`UNLIMITED`."""
    scale = float(st.get("capacity_scale", 1))
    override = st.get("zone_capacity") or {}
    out = []
    for z in pol.zone_ids:
        cap = override.get(z)
        if cap is None:
            base = pol.zone_capacity.get(z)
            cap = UNLIMITED if base is None else math.ceil(base * scale - 1e-9)
        out.append(int(cap))
    return out


def edge_lanes(st: dict[str, Any], pol: CompiledPolicy) -> dict[int, int]:
    """Lanes of every edge (edge index -> traversals per direction per instant), scaled by the
    state's ``capacity_scale`` (rounded up)."""
    scale = float(st.get("capacity_scale", 1))
    return {
        idx: max(1, math.ceil(lanes * scale - 1e-9))
        for nbrs in pol.edges.values()
        for idx, _direction, lanes in nbrs.values()
    }


def _check_capacities(st: dict[str, Any], pol: CompiledPolicy) -> None:
    """Zone ids of ``zone_capacity`` exist and no zone starts with more agents than it holds."""
    from labtrust_gym.errors import did_you_mean

    zones = set(pol.zone_ids)
    for z in st.get("zone_capacity") or {}:
        if z not in zones:
            raise _bad("zone_capacity", f"unknown zone {z!r}.{did_you_mean(z, zones)}")
    caps = dict(zip(pol.zone_ids, zone_capacities(st, pol), strict=True))
    counts: dict[str, int] = {}
    for a in st["agents"]:
        counts[a["zone_id"]] = counts.get(a["zone_id"], 0) + 1
    for z, n in counts.items():
        if n > caps[z]:
            raise _bad(
                "agents",
                f"{n} agents start in zone {z!r}, which holds {caps[z]} "
                "(zone_layout capacity x capacity_scale, or zone_capacity); raise the "
                "capacity or place fewer agents there.",
            )
