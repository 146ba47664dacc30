"""Scale presets and the deterministic generator of large hospital_lab instances.

``load_scale_config("corridor_heavy")`` reads a preset from
``policy/coordination/scale_configs.v0.1.yaml`` (validated against its JSON Schema);
``load_scale_config({...})`` validates an inline dict the same way. ``generate_initial_state``
turns a :class:`ScaleConfig` and a seed into an engine ``initial_state`` (see docs/engine.md):
the agent ids and the lab layout depend only on the config, the arrival schedule and the
scheduled disruptions on the seed as well. Same (config, seed) ⇒ identical state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs

from labtrust_gym.errors import InvalidInputError, UnknownIdError

SCALE_CONFIGS_SCHEMA = ("schemas", "scale_configs.v0.1.schema.json")

#: Order in which roles are listed (agent ids are ``<role>_<k>`` in this order).
ROLE_ORDER: tuple[str, ...] = (
    "reception",
    "runner",
    "ops",
    "qc",
    "supervisor",
    "adversary",
    "insider",
)

_DEFAULTS: dict[str, Any] = {
    "description": "",
    "stat_fraction": 0.1,
    "urgent_fraction": 0.2,
    "qc_failures": 0,
    "device_faults": 0,
    "strict_signatures": False,
    "capacity_scale": 1.0,
    "initial_backlog": 0,
}


def _frozen_mapping(value: Mapping[str, Any]) -> dict[str, Any]:
    return dict(value)


@attrs.frozen
class ScaleConfig:
    """One scale preset (field meanings: see the header of scale_configs.v0.1.yaml)."""

    name: str
    num_agents: int
    role_mix: dict[str, float] = attrs.field(converter=_frozen_mapping)
    devices_per_type: dict[str, int] = attrs.field(converter=_frozen_mapping)
    num_sites: int
    arrival_rate_per_min: float
    horizon_steps: int
    dt_s: float
    timing_mode: str
    description: str = ""
    stat_fraction: float = 0.1
    urgent_fraction: float = 0.2
    qc_failures: int = 0
    device_faults: int = 0
    strict_signatures: bool = False
    panel_mix: dict[str, float] | None = None
    defect_fraction: float | None = None
    capacity_scale: float = 1.0
    initial_backlog: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (what coordination methods receive as ``scale_config``)."""
        return attrs.asdict(self)

    def role_counts(self) -> dict[str, int]:
        """Agents per role: largest-remainder apportionment of ``num_agents`` by ``role_mix``.

        Every role with a positive weight gets at least one agent (so a 4-agent smoke lab still
        has each role it names). Ties are broken by :data:`ROLE_ORDER`, never by dict order.
        """
        roles = [r for r in ROLE_ORDER if self.role_mix.get(r, 0) > 0]
        if len(roles) > self.num_agents:
            raise InvalidInputError(
                f"Scale config {self.name!r}: {len(roles)} roles with positive weight but only "
                f"{self.num_agents} agents; raise num_agents or drop roles from role_mix."
            )
        total = sum(float(self.role_mix[r]) for r in roles)
        quotas = {r: self.num_agents * float(self.role_mix[r]) / total for r in roles}
        counts = {r: math.floor(quotas[r]) for r in roles}
        left = self.num_agents - sum(counts.values())
        by_remainder = sorted(
            roles, key=lambda r: (-(quotas[r] - math.floor(quotas[r])), ROLE_ORDER.index(r))
        )
        for r in by_remainder[:left]:
            counts[r] += 1
        for r in roles:  # a named role must exist: take its agent from the largest role
            if counts[r] == 0:
                donor = max(roles, key=lambda d: (counts[d], -ROLE_ORDER.index(d)))
                counts[donor] -= 1
                counts[r] = 1
        return counts

    def agent_ids(self) -> list[str]:
        """Agent ids ``<role>_<k>`` in role order (independent of the seed)."""
        return [f"{role}_{k}" for role, n in self.role_counts().items() for k in range(n)]


def _policy_file(*parts: str) -> Any:
    from labtrust_gym.config import get_repo_root, policy_path

    return policy_path(get_repo_root(), *parts)


_DOC_CACHE: dict[str, dict[str, Any]] = {}


def _scale_document() -> dict[str, Any]:
    """The validated scale-config policy document (cached per resolved path)."""
    from labtrust_gym.config import get_active_profile
    from labtrust_gym.fileio import load_yaml, validate_with_schema

    path = get_active_profile().resolve_path("scale_configs_path")  # profile override or default
    key = str(path)
    cached = _DOC_CACHE.get(key)
    if cached is None:
        doc = load_yaml(path)
        validate_with_schema(doc, _policy_file(*SCALE_CONFIGS_SCHEMA), what=str(path))
        cached = dict(doc)
        _DOC_CACHE[key] = cached
    return cached


def load_scale_presets() -> dict[str, dict[str, Any]]:
    """All presets from the policy file, validated against the schema."""
    presets: dict[str, dict[str, Any]] = _scale_document()["scale_configs"]
    return presets


def load_placement() -> dict[str, Any]:
    """The shared ``placement`` section (role home zones, device zones, panel mix, …)."""
    placement: dict[str, Any] = _scale_document()["placement"]
    return placement


def list_scale_configs() -> list[str]:
    """Names of the shipped scale presets."""
    return sorted(load_scale_presets())


def load_scale_config(name_or_dict: str | Mapping[str, Any] | ScaleConfig) -> ScaleConfig:
    """Resolve a preset name, an inline dict or a ready :class:`ScaleConfig`.

    An inline dict is validated with the same schema as the presets; it may carry ``name``
    and may name a ``base`` preset whose fields it overrides (``{"base": "xl_2000",
    "num_agents": 500}``).
    """
    if isinstance(name_or_dict, ScaleConfig):
        return name_or_dict
    if isinstance(name_or_dict, str):
        presets = load_scale_presets()
        if name_or_dict not in presets:
            raise UnknownIdError.for_id("scale config", name_or_dict, presets)
        return _build(name_or_dict, presets[name_or_dict])
    if isinstance(name_or_dict, Mapping):
        body = dict(name_or_dict)
        base = body.pop("base", None)
        if base is not None:
            presets = load_scale_presets()
            if base not in presets:
                raise UnknownIdError.for_id("scale config", str(base), presets)
            body = {**presets[base], **body}
        name = str(body.pop("name", f"{base}_custom" if base else "custom"))
        _validate_inline(body, name)
        return _build(name, body)
    raise InvalidInputError(
        "scale_config must be a preset name, a dict or a ScaleConfig, "
        f"got {type(name_or_dict).__name__}."
    )


def _validate_inline(body: Mapping[str, Any], name: str) -> None:
    from labtrust_gym.fileio import validate_with_schema

    doc = {"version": "0.1", "placement": load_placement(), "scale_configs": {name: dict(body)}}
    validate_with_schema(doc, _policy_file(*SCALE_CONFIGS_SCHEMA), what=f"scale config {name!r}")


def _build(name: str, body: Mapping[str, Any]) -> ScaleConfig:
    fields = {**_DEFAULTS, **body}
    fields.pop("name", None)
    return ScaleConfig(name=name, **fields)


def sustainable_rate_per_min(cfg: ScaleConfig, policy_root: Any = None) -> float:
    """Specimens per simulated minute the lab's devices sustain with the preset's panel mix: per
    device type, ``devices x batch capacity x 60 / service_time_s`` divided by the share of
    specimens whose panel visits that type; the smallest over the types (the bottleneck)."""
    from labtrust_gym.engine.policy import load_policy

    pol = load_policy(policy_root)
    mix = cfg.panel_mix or load_placement()["panel_mix"]
    total = sum(float(w) for w in mix.values()) or 1.0
    rate = math.inf
    for dtype, count in cfg.devices_per_type.items():
        spec = pol.device_types[dtype]
        share = sum(
            float(w) for panel, w in mix.items() if dtype in pol.panels[panel]["route"]
        ) / total
        if count and share > 0:
            per_min = count * float(spec["capacity"]) * 60.0 / float(spec["service_time_s"])
            rate = min(rate, per_min / share)
    return 0.0 if rate == math.inf else rate


def episode_load(
    cfg: ScaleConfig,
    steps: int,
    *,
    load: float,
    backlog_per_device: float,
    policy_root: Any = None,
) -> ScaleConfig:
    """``cfg`` loaded for an episode of ``steps`` steps: arrivals spread over the episode (not the
    preset's horizon) at ``load`` x the lab's sustainable rate, plus an initial backlog of
    ``backlog_per_device`` specimens per device — so the work grows with the devices, which grow
    with the preset's agents, and a lab that is not run well falls behind."""
    devices = sum(cfg.devices_per_type.values())
    rate = load * sustainable_rate_per_min(cfg, policy_root)
    return attrs.evolve(
        cfg,
        horizon_steps=int(steps),
        arrival_rate_per_min=round(rate, 6),
        initial_backlog=math.ceil(backlog_per_device * devices),
    )


# --------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------

#: Secret from which generated labs derive their agents' Ed25519 keys (strict_signatures).
#: Public on purpose: a generated lab is a benchmark fixture, not a deployment.
SCALE_KEY_SECRET = b"labtrust-gym/scale-generator/v0.1"

_PRIORITIES = ("STAT", "URGENT", "ROUTINE")
_ANALYZER_SUFFIX = "_ANALYZER"


def _sites(policy_root: Any = None) -> tuple[str, list[str]]:
    """(lab_site_id, all site ids with the lab first) from policy/sites."""
    from labtrust_gym.config import get_repo_root, policy_path
    from labtrust_gym.fileio import load_yaml

    root = policy_root if policy_root is not None else get_repo_root()
    path = policy_path(root, "sites", "sites.v0.1.yaml")
    try:
        key = (str(path), path.stat().st_mtime_ns)  # parsed once per file version, not per reset
    except OSError:
        load_yaml(path)  # raises the PolicyError that names the missing file
        raise
    cached = _SITES_CACHE.get(key)
    if cached is None:
        doc = load_yaml(path)
        lab = str(doc["lab_site_id"])
        others = [str(s["site_id"]) for s in doc.get("sites", []) if s["site_id"] != lab]
        cached = _SITES_CACHE[key] = (lab, [lab, *others])
    return cached[0], list(cached[1])


_SITES_CACHE: dict[tuple[str, int], tuple[str, list[str]]] = {}


def _cycle(items: list[str], k: int) -> str:
    return items[k % len(items)]


def generate_initial_state(
    scale_config: str | Mapping[str, Any] | ScaleConfig,
    seed: int,
    *,
    policy_root: Any = None,
) -> dict[str, Any]:
    """A hospital_lab ``initial_state`` for ``scale_config``; a pure function of (config, seed).

    Agents (ids, roles, start zones) and devices depend only on the config; the specimen
    arrival schedule (Poisson arrivals at ``arrival_rate_per_min`` over the horizon, priority
    and panel mix, defects), the scheduled QC failures and device faults also on the seed.
    """
    import numpy as np

    cfg = load_scale_config(scale_config)
    placement = load_placement()
    homes: dict[str, list[str]] = placement["role_home_zones"]
    dev_zones: dict[str, list[str]] = placement["device_zones"]

    agents: list[dict[str, Any]] = []
    for role, count in cfg.role_counts().items():
        if role not in homes:
            raise InvalidInputError(
                f"Scale config {cfg.name!r}: role {role!r} has no entry in "
                "placement.role_home_zones of scale_configs.v0.1.yaml; add its home zones there."
            )
        agents.extend(
            {"agent_id": f"{role}_{k}", "role": role, "zone_id": _cycle(homes[role], k)}
            for k in range(count)
        )

    devices: list[dict[str, Any]] = []
    for dtype, count in cfg.devices_per_type.items():
        if dtype not in dev_zones:
            raise InvalidInputError(
                f"Scale config {cfg.name!r}: device type {dtype!r} has no entry in "
                f"placement.device_zones; known: {', '.join(sorted(dev_zones))}."
                f"{_suggest(dtype, dev_zones)}"
            )
        devices.extend(
            {
                "device_id": f"DEV_{dtype}_{k + 1}",
                "device_type": dtype,
                "zone_id": _cycle(dev_zones[dtype], k),
            }
            for k in range(count)
        )

    lab_site, site_ids = _sites(policy_root)
    if cfg.num_sites > len(site_ids):
        raise InvalidInputError(
            f"Scale config {cfg.name!r}: num_sites={cfg.num_sites} but policy/sites defines only "
            f"{len(site_ids)} sites ({', '.join(site_ids)}); lower num_sites or add sites."
        )
    sites = site_ids[: cfg.num_sites]

    seq = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, _stable_hash(cfg.name)])
    arrivals_rng, disruption_rng = (np.random.default_rng(s) for s in seq.spawn(2))
    arrivals = _arrivals(cfg, placement, sites, arrivals_rng)

    horizon_s = cfg.horizon_steps * cfg.dt_s
    analyzers = [d["device_id"] for d in devices if d["device_type"].endswith(_ANALYZER_SUFFIX)]
    all_devices = [d["device_id"] for d in devices]
    qc_failures = []
    if cfg.qc_failures and analyzers:
        for i in disruption_rng.integers(0, len(analyzers), cfg.qc_failures):
            t = int(disruption_rng.uniform(0.1, 0.8) * horizon_s)
            qc_failures.append({"device_id": analyzers[int(i)], "t_s": t})
    device_faults = []
    if cfg.device_faults and all_devices:
        duration = float(placement["device_fault_duration_s"])
        for i in disruption_rng.integers(0, len(all_devices), cfg.device_faults):
            t = int(disruption_rng.uniform(0.1, 0.8) * horizon_s)
            device_faults.append(
                {"device_id": all_devices[int(i)], "t_s": t, "duration_s": duration}
            )
    qc_failures.sort(key=lambda q: (q["t_s"], q["device_id"]))
    device_faults.sort(key=lambda f: (f["t_s"], f["device_id"]))

    state: dict[str, Any] = {
        "start_t_s": 0,
        "lab_site_id": lab_site,
        "agents": agents,
        "devices": devices,
        "arrivals": arrivals,
        "qc_failures": qc_failures,
        "device_faults": device_faults,
        "strict_signatures": bool(cfg.strict_signatures),
        "capacity_scale": float(cfg.capacity_scale),
    }
    if cfg.strict_signatures:
        from labtrust_gym.engine.signing import derive_keypair

        state["keys"] = [
            {
                "key_id": f"K_{a['agent_id']}",
                "agent_id": a["agent_id"],
                "public_key_b64": derive_keypair(a["agent_id"], secret=SCALE_KEY_SECRET)[1],
                "status": "active",
            }
            for a in agents
        ]
    return state


def _arrivals(
    cfg: ScaleConfig, placement: Mapping[str, Any], sites: list[str], rng: Any
) -> list[dict[str, Any]]:
    import numpy as np

    horizon_s = cfg.horizon_steps * cfg.dt_s
    rate_per_s = cfg.arrival_rate_per_min / 60.0
    times = np.zeros(0, dtype=np.int64)
    if rate_per_s > 0:
        # Poisson process: draw a few more gaps than expected, keep those inside the horizon.
        expected = rate_per_s * horizon_s
        n_draw = int(expected + 6 * math.sqrt(expected) + 16)
        gaps = np.cumsum(rng.exponential(1.0 / rate_per_s, n_draw))
        while gaps[-1] < horizon_s:  # astronomically rare; keep the process exact anyway
            gaps = np.concatenate(
                [gaps, gaps[-1] + np.cumsum(rng.exponential(1.0 / rate_per_s, n_draw))]
            )
        times = gaps[gaps < horizon_s].astype(np.int64)
    backlog = int(cfg.initial_backlog)
    if backlog:  # already waiting at the lab site at t = 0
        times = np.concatenate([np.zeros(backlog, dtype=np.int64), times])
    if not times.size:
        return []
    n = int(times.size)

    mix = cfg.panel_mix or placement["panel_mix"]
    panels = sorted(mix)
    weights = np.array([float(mix[p]) for p in panels], dtype=np.float64)
    panel_idx = rng.choice(len(panels), size=n, p=weights / weights.sum())
    u_prio = rng.random(n)
    site_idx = rng.integers(0, len(sites), n)
    site_idx[:backlog] = 0
    defect_p = (
        cfg.defect_fraction if cfg.defect_fraction is not None else placement["defect_fraction"]
    )
    u_defect = rng.random(n)
    kind_defect = rng.integers(0, 3, n)

    stat, urgent = cfg.stat_fraction, cfg.stat_fraction + cfg.urgent_fraction
    out: list[dict[str, Any]] = []
    for i, (t, p, up, si, ud, kd) in enumerate(
        zip(
            times.tolist(),
            panel_idx.tolist(),
            u_prio.tolist(),
            site_idx.tolist(),
            u_defect.tolist(),
            kind_defect.tolist(),
            strict=True,
        )
    ):
        panel = panels[p]
        spec: dict[str, Any] = {
            "specimen_id": f"S{i + 1:06d}",
            "t_s": t,
            "priority": _PRIORITIES[0 if up < stat else 1 if up < urgent else 2],
            "panel": panel,
            "patient_id": f"P{i + 1:06d}",
            "site_id": sites[si],
        }
        if ud < defect_p:
            if kd == 0:
                spec["label_patient_id"] = f"P{i + 1:06d}X"  # ID mismatch
            elif kd == 1 or panel != "COAG":
                spec["leak"] = True
            else:
                spec["fill_ratio"] = 0.8  # citrate under-fill
        out.append(spec)
    return out


def _stable_hash(text: str) -> int:
    import zlib

    return zlib.crc32(text.encode("utf-8"))


def _suggest(name: str, candidates: Any) -> str:
    from labtrust_gym.errors import did_you_mean

    return did_you_mean(name, list(candidates))
