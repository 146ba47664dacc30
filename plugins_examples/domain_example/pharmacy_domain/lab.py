"""The pharmacy lines the task and the env build: staff, hoods and a seeded order stream.

The formulary (dose limits, hoods, staff, beyond-use time) is policy data read through the
policy layers (``policy/pharmacy/formulary.v0.1.yaml``, validated against its schema), so a
user's ``policy/`` directory can change it without touching code.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from labtrust_gym.config import get_repo_root, policy_path
from labtrust_gym.fileio import load_yaml, validate_with_schema


def load_formulary(policy_root: Path | str | None = None) -> dict[str, Any]:
    root = Path(policy_root) if policy_root is not None else get_repo_root()
    path = policy_path(root, "pharmacy", "formulary.v0.1.yaml")
    doc: dict[str, Any] = load_yaml(path)
    schema = policy_path(root, "schemas", "pharmacy_formulary.v0.1.schema.json")
    validate_with_schema(doc, schema, what=str(path))
    return doc


def build_line(
    seed: int,
    policy_root: Path | str | None = None,
    *,
    horizon_s: float = 1200.0,
    orders_per_min: float = 1.8,
    stat_fraction: float = 0.2,
    over_limit_fraction: float = 0.05,
) -> dict[str, Any]:
    """The line's initial state for ``seed``: a pure function of its arguments. Orders arrive
    as a Poisson stream over the first 80% of the horizon; a few ask for more than the dose
    limit (a pharmacist must reject them)."""
    formulary = load_formulary(policy_root)
    rng = random.Random(f"pharmacy:{seed}")
    agents = [
        {"agent_id": f"{role}_{i}", "role": role}
        for role in ("pharmacist", "technician")
        for i in range(int(formulary["staff"][role]))
    ]
    drugs = formulary["drugs"]
    orders: list[dict[str, Any]] = []
    t = 0.0
    while True:
        t += rng.expovariate(orders_per_min / 60.0)
        if t > 0.8 * horizon_s:
            break
        drug = rng.choice(drugs)
        over = rng.random() < over_limit_fraction
        dose = drug["max_dose_mg"] * 1.5 if over else drug["typical_mg"]
        orders.append(
            {
                "order_id": f"RX{len(orders) + 1:04d}",
                "t_s": int(t),
                "priority": "STAT" if rng.random() < stat_fraction else "ROUTINE",
                "drug": drug["drug"],
                "dose_mg": dose,
            }
        )
    return {
        "start_t_s": 0,
        "agents": agents,
        "hoods": [dict(h) for h in formulary["hoods"]],
        "max_dose_mg": {d["drug"]: d["max_dose_mg"] for d in drugs},
        "beyond_use_s": formulary["beyond_use_s"],
        "orders": orders,
    }
