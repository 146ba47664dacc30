"""Strict-signature labs: the env signs on the agents' behalf (generated keys or given keys)."""

from __future__ import annotations

from typing import Any

from labtrust_gym.envs.action_contract import ACTION_NOOP, ACTION_TICK
from labtrust_gym.envs.parallel_env import LabTrustParallelEnv

SIGNED = {"base": "medium_stress_signed_bus", "horizon_steps": 5}


def _tick_all(env: LabTrustParallelEnv) -> dict[str, Any]:
    _, _, _, _, infos = env.step(dict.fromkeys(env.agents, ACTION_TICK))
    return infos


def test_generated_signed_lab_events_are_signed_and_accepted() -> None:
    env = LabTrustParallelEnv(scale_config=SIGNED)
    env.reset(seed=0)
    infos = _tick_all(env)
    statuses = {i["step_result"]["status"] for i in infos.values()}
    assert statuses == {"ACCEPTED"}


def test_without_signing_the_engine_refuses_with_sig_missing() -> None:
    env = LabTrustParallelEnv(scale_config=SIGNED, sign_events=False)
    env.reset(seed=0)
    infos = _tick_all(env)
    codes = {i["step_result"]["blocked_reason_code"] for i in infos.values()}
    assert codes == {"SIG.MISSING"}


def test_explicit_signing_keys_and_forged_signatures_pass_through() -> None:
    from labtrust_gym.engine.initial_state import default_initial_state
    from labtrust_gym.engine.signing import derive_keypair

    secret = b"test-secret"
    st = default_initial_state(0)
    st["strict_signatures"] = True
    pairs = {a["agent_id"]: derive_keypair(a["agent_id"], secret=secret) for a in st["agents"]}
    st["keys"] = [
        {"key_id": f"KEY_{a}", "agent_id": a, "public_key_b64": pub, "status": "active"}
        for a, (_, pub) in pairs.items()
    ]
    env = LabTrustParallelEnv(
        initial_state=st, max_steps=5, signing_keys={"qc_0": ("KEY_qc_0", pairs["qc_0"][0])}
    )
    env.reset(seed=0)
    noop = dict.fromkeys(env.agents, ACTION_NOOP)
    _, _, _, _, infos = env.step({**noop, "qc_0": ACTION_TICK, "ops_0": ACTION_TICK})
    assert infos["qc_0"]["step_result"]["status"] == "ACCEPTED"
    assert infos["ops_0"]["step_result"]["blocked_reason_code"] == "SIG.MISSING"
    env.set_signing_keys({"ops_0": ("KEY_ops_0", pairs["ops_0"][0])})
    forged = {"action_index": ACTION_TICK, "key_id": "KEY_ops_0", "signature": "AAAA"}
    _, _, _, _, infos = env.step({**noop, "ops_0": forged})
    assert infos["ops_0"]["step_result"]["blocked_reason_code"] == "SIG.INVALID"
    _, _, _, _, infos = env.step({**noop, "ops_0": ACTION_TICK})
    assert infos["ops_0"]["step_result"]["status"] == "ACCEPTED"
