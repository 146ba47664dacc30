"""Lab-profile path overrides take effect where the policy is read."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from labtrust_gym.config import LabProfile, set_active_profile

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def policy_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A full copy of the shipped policy, used as LABTRUST_POLICY_DIR."""
    root = tmp_path / "policy"
    shutil.copytree(REPO / "policy", root)
    monkeypatch.setenv("LABTRUST_POLICY_DIR", str(root))
    return root


def test_scale_configs_path_override(policy_copy: Path) -> None:
    from labtrust_gym.envs.scale import list_scale_configs, load_scale_config

    doc = yaml.safe_load((policy_copy / "coordination" / "scale_configs.v0.1.yaml").read_text())
    doc["scale_configs"]["partner_tiny"] = dict(doc["scale_configs"]["small_smoke"])
    (policy_copy / "partner").mkdir()
    (policy_copy / "partner" / "scales.yaml").write_text(yaml.safe_dump(doc))
    assert "partner_tiny" not in list_scale_configs()
    set_active_profile(LabProfile(profile_id="p", scale_configs_path="partner/scales.yaml"))
    assert "partner_tiny" in list_scale_configs()
    assert load_scale_config("partner_tiny").num_agents == load_scale_config(
        "small_smoke").num_agents


def test_invariant_registry_path_override_runs_overlay(policy_copy: Path) -> None:
    from labtrust_gym.engine.invariants_runtime import register_invariant_handler
    from labtrust_gym.envs import LabTrustParallelEnv

    calls: list[str] = []

    def count_ticks(env: Any, event: dict[str, Any], params: dict[str, Any]) -> Any:
        calls.append(event["agent_id"])
        return (True, None, None)

    register_invariant_handler("state", "profile_probe", count_ticks)
    (policy_copy / "partner").mkdir()
    (policy_copy / "partner" / "invariants.yaml").write_text(
        'version: "0.1"\n'
        "invariants:\n"
        "  - invariant_id: INV-PARTNER-001\n"
        "    severity: low\n"
        "    scope: {action_types: [TICK]}\n"
        "    logic_template: {type: state, parameters: {check: profile_probe}}\n"
        "    reason_code: ENF.AGENT_THROTTLED\n")
    set_active_profile(LabProfile(profile_id="p",
                                  invariant_registry_path="partner/invariants.yaml"))
    env = LabTrustParallelEnv()
    env.reset(seed=0)
    env.step({agent: 1 for agent in env.agents})  # everyone TICKs
    assert sorted(calls) == sorted(env.possible_agents)
