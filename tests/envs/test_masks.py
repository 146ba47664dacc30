"""Masks tell the truth: random masked agents on three labs (the default lab, ``corridor_heavy``
and the signed preset ``medium_stress_signed_bus``).

Per step: every masked-in choice is ACCEPTED by the engine (or, when an earlier agent took its
only target this step, issues no event and says ``contended``); one masked-out entry, forced on
a random agent that acts first, is BLOCKED; and sampled (agent, entry) pairs of the published
mask equal the definition of validity (``catalog.valid_for``: the engine's own dry run).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest

from labtrust_gym.engine.domain_env.catalog import valid_for
from labtrust_gym.envs.parallel_env import LabTrustParallelEnv

LABS: dict[str, tuple[dict[str, Any], int]] = {
    # lab -> (constructor kwargs, steps); ~35,000 agent-steps in all
    "default": ({"max_steps": 600}, 600),
    "corridor_heavy": ({"scale_config": {"base": "corridor_heavy", "horizon_steps": 120}}, 120),
    "medium_stress_signed_bus": (
        {"scale_config": {"base": "medium_stress_signed_bus", "horizon_steps": 120}},
        120,
    ),
}


def _drive(env: LabTrustParallelEnv, steps: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    agents = env.possible_agents
    models = env.domain._models
    eng = env.engine
    stats: dict[str, Any] = {"accepted": Counter(), "contended": 0, "forced_blocked": Counter()}
    for _ in range(steps):
        masks = np.stack([obs[a]["action_mask"] for a in agents])
        assert (masks[:, 0] == 1).all()
        # sampled pairs against the definition of validity
        for _ in range(4):
            r = int(rng.integers(len(agents)))
            e = int(rng.integers(len(models)))
            agent = eng.agents[agents[r]]
            if e < 6 or (eng.strict and r in env.domain._masks.unsignable):
                continue
            expected = valid_for(eng, agent, models[e])
            assert bool(masks[r, e]) == expected, (agents[r], models[e].name)
        choice = (rng.random(masks.shape) * masks).argmax(axis=1)
        forced = int(rng.integers(len(agents)))
        out = np.flatnonzero(masks[forced] == 0)
        out = out[out >= 1]
        actions = {a: int(c) for a, c in zip(agents, choice.tolist(), strict=True)}
        if out.size and rng.random() < 0.5:  # every other step, so the lab still works
            for a in agents[:forced]:  # the forced agent acts first: nothing changed before it
                actions[a] = 0
            actions[agents[forced]] = int(rng.choice(out))
        else:
            forced = -1
        obs, _, _, _, infos = env.step(actions)
        for i, a in enumerate(agents):
            info = infos[a]
            res = info["step_result"]
            if i == forced:
                assert res is not None and res["status"] == "BLOCKED", (a, info)
                stats["forced_blocked"][res["blocked_reason_code"]] += 1
                continue
            if info["contended"]:
                assert res is None and masks[i, actions[a]]
                stats["contended"] += 1
            elif res is not None:
                assert res["status"] == "ACCEPTED", (a, info["entry"], res)
                stats["accepted"][info["action_type"]] += 1
        if not env.agents:
            break
    return stats


@pytest.mark.parametrize("lab", sorted(LABS))
def test_random_masked_agents_are_never_blocked(lab: str) -> None:
    kwargs, steps = LABS[lab]
    env = LabTrustParallelEnv(**kwargs)
    stats = _drive(env, steps, seed=3)
    accepted = stats["accepted"]
    # not a vacuous run: the lab's work gets done through the catalog
    for action in ("MOVE", "CREATE_ACCESSION", "ACCEPT_SPECIMEN", "QUEUE_RUN", "START_RUN"):
        assert accepted[action] > 0, (action, accepted)
    assert sum(stats["forced_blocked"].values()) >= steps // 4
    assert len(stats["forced_blocked"]) >= 5, stats["forced_blocked"]


def _busy_lab() -> dict[str, Any]:
    """The default lab with more work, QC failures (held results: override tokens) and a stale
    specimen (past its stability limit: a stability override), and a remote site."""
    from labtrust_gym.engine.initial_state import default_initial_state

    st = default_initial_state(0, n_specimens=60, horizon_s=9000.0)
    st["qc_failures"] = [
        {"device_id": "DEV_HAEM_B1", "t_s": 3000},
        {"device_id": "DEV_CHEM_A1", "t_s": 5000},
    ]
    st["arrivals"][3]["collected_t_s"] = -86400
    st["arrivals"] += [
        {"specimen_id": f"N{i}", "t_s": 600 * i, "priority": "STAT", "panel": "CBC",
         "patient_id": f"PN{i}", "site_id": "SITE_NORTH"}
        for i in range(1, 6)
    ]
    st["critical_rate"] = 0.3
    return st


def test_masked_in_work_covers_the_job() -> None:
    """Random masked agents on a busy lab complete every kind of step of the job."""
    env = LabTrustParallelEnv(initial_state=_busy_lab(), max_steps=900, dt_s=10.0)
    accepted: Counter[str] = Counter()
    for seed in (0, 1):
        accepted.update(_drive(env, 900, seed)["accepted"])
    for action in (
        "CREATE_ACCESSION",
        "ACCEPT_SPECIMEN",
        "QUEUE_RUN",
        "START_RUN",
        "RELEASE_RESULT",
        "NOTIFY_CRITICAL",
        "ACK_CRITICAL",
        "RUN_QC",
        "RESTOCK_REAGENT",
        "OPEN_DOOR",
        "CLOSE_DOOR",
        "MINT_TOKEN",
        "APPROVE_TOKEN",
        "DISPATCH_TRANSPORT",
        "CHAIN_OF_CUSTODY_SIGN",
        "RECEIVE_TRANSPORT",
    ):
        assert accepted[action] > 0, (action, accepted)
