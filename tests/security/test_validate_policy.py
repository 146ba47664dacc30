"""validate-policy catches broken policy with file and path; doctor checks lab profiles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from labtrust_gym.benchmarks.policy_check import schema_names, validate_policy
from tests.security.helpers import cli, copy_policy, edit_yaml


def test_shipped_policy_is_valid_with_and_without_the_example_partner(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = cli(capsys, "validate-policy")
    assert code == 0 and out.startswith("OK:"), out + err
    code, out, err = cli(capsys, "validate-policy", "--partner", "example_partner")
    assert code == 0 and "+ partners/example_partner" in out, out + err


def test_schema_by_naming_convention() -> None:
    assert schema_names("rbac/rbac_policy.v0.1.yaml")[0] == "rbac_policy.v0.1.schema.json"
    assert schema_names("lab_profiles/hospital_lab.v0.1.yaml") == ["lab_profile.v0.1.schema.json"]
    assert schema_names("llm/prices.v0.1.yaml") == [
        "prices.v0.1.schema.json",
        "llm_prices.v0.1.schema.json",
    ]
    assert schema_names("notes/readme.yaml") == []


def test_a_broken_fixture_is_caught_with_file_and_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = copy_policy(tmp_path)

    def bad_invariant(doc: dict[str, Any]) -> None:
        doc["invariants"][2]["reason_code"] = "ZONE.NOPE"
        doc["invariants"][0]["logic_template"]["parameters"]["check"] = "teleport"

    def bad_enforcement(doc: dict[str, Any]) -> None:
        doc["rules"].append({"invariant_id": "INV-GHOST-001", "action": "kill_switch"})

    def bad_rbac(doc: dict[str, Any]) -> None:
        doc["roles"]["runner"]["allowed_actions"] = 5
        doc["roles"]["qc"]["allowed_actions"].append("FLY")

    def bad_suite(doc: dict[str, Any]) -> None:
        doc["attacks"][1]["expected_outcome"]["reason_code"] = "TOKEN.EXPIRD"
        doc["attacks"][2]["control_id"] = "CTL-NOPE"

    def bad_pack(doc: dict[str, Any]) -> None:
        doc["tasks"][0]["task"] = "throughput_slaa"

    edit_yaml(policy / "invariants" / "invariant_registry.v0.1.yaml", bad_invariant)
    edit_yaml(policy / "enforcement" / "enforcement_map.v0.1.yaml", bad_enforcement)
    edit_yaml(policy / "rbac" / "rbac_policy.v0.1.yaml", bad_rbac)
    edit_yaml(policy / "security" / "attack_suite.v0.1.yaml", bad_suite)
    edit_yaml(policy / "official" / "benchmark_pack.v0.1.yaml", bad_pack)
    (policy / "security" / "notes.v0.1.yaml").write_text("a: 1\n")
    (policy / "sites" / "sites.v0.1.yaml").write_text("sites: [\n")
    monkeypatch.setenv("LABTRUST_POLICY_DIR", str(policy))
    code, out, _err = cli(capsys, "validate-policy")
    assert code == 1
    expected = [
        "invariants/invariant_registry.v0.1.yaml: invariants/2/reason_code: unknown reason code "
        "'ZONE.NOPE'",
        "invariants/invariant_registry.v0.1.yaml: invariants/0/logic_template: no handler "
        "'zone.teleport' is registered",
        "enforcement/enforcement_map.v0.1.yaml: rules/4/invariant_id: unknown invariant "
        "'INV-GHOST-001'",
        "rbac/rbac_policy.v0.1.yaml: roles/runner/allowed_actions: 5 is not of type 'array'",
        "security/attack_suite.v0.1.yaml: attacks/1/expected_outcome/reason_code: unknown reason "
        "code (engine or evidence) 'TOKEN.EXPIRD'. Did you mean 'TOKEN.EXPIRED'?",
        "security/attack_suite.v0.1.yaml: attacks/2/control_id: unknown control 'CTL-NOPE'",
        "official/benchmark_pack.v0.1.yaml: tasks/0/task: unknown task 'throughput_slaa'",
        "security/notes.v0.1.yaml: (file): no schema: expected schemas/notes.v0.1.schema.json or "
        "schemas/security_notes.v0.1.schema.json",
        "sites/sites.v0.1.yaml: (file): Invalid YAML",
    ]
    for line in expected:
        assert line in out, f"missing: {line}\n{out}"
    # rbac failed its schema, so its ids are not cross-checked (no noise about FLY)
    assert "FLY" not in out
    assert "problem(s)" in out.splitlines()[-1]
    code, out, _err = cli(capsys, "validate-policy", "--json")
    doc = json.loads(out)
    assert code == 1 and not doc["ok"]
    assert {"file", "path", "message", "layer"} == set(doc["problems"][0])


def test_a_broken_partner_overlay_names_the_overlay(tmp_path: Path) -> None:
    policy = copy_policy(tmp_path)
    overlay = policy / "partners" / "example_partner" / "tokens" / "token_types.v0.1.yaml"
    overlay.write_text("token_types:\n  RESTRICTED_ENTRY:\n    ttl_s: soon\n")
    problems, _n = validate_policy(policy, "example_partner")
    assert [str(p) for p in problems] == [
        "tokens/token_types.v0.1.yaml (+ partners/example_partner/tokens/token_types.v0.1.yaml): "
        "token_types/RESTRICTED_ENTRY/ttl_s: 'soon' is not of type 'number'"
    ]


def test_doctor_fails_when_a_profile_selects_an_unregistered_provider(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = cli(capsys, "plugins", "doctor")
    assert code == 0, out + err  # the shipped profiles pass
    policy = copy_policy(tmp_path)

    def fancy(doc: dict[str, Any]) -> None:
        doc["security_suite_provider_id"] = "fancy"

    edit_yaml(policy / "lab_profiles" / "hospital_lab.v0.1.yaml", fancy)
    monkeypatch.setenv("LABTRUST_POLICY_DIR", str(policy))
    code, out, _err = cli(capsys, "plugins", "doctor")
    assert code == 1
    assert (
        "PROBLEM: lab profile 'hospital_lab': security_suite_provider_id: Unknown security suite "
        "provider 'fancy'. Known: default." in out
    )
    code, out, _err = cli(capsys, "plugins", "doctor", "--json")
    assert code == 1 and json.loads(out)["profile_problems"]


def test_doctor_fails_when_a_profile_selects_an_unregistered_llm_backend(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    profiles = tmp_path / "policy" / "lab_profiles"
    profiles.mkdir(parents=True)
    (profiles / "gpu_lab.v0.1.yaml").write_text(
        'version: "0.1"\nprofile_id: gpu_lab\nllm: {backend_id: openai_compatibel}\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("LABTRUST_POLICY_DIR", str(tmp_path / "policy"))
    code, out, _err = cli(capsys, "plugins", "doctor")
    assert code == 1
    assert "PROBLEM: lab profile 'gpu_lab': llm.backend_id: Unknown LLM backend" in out
    assert "Did you mean 'openai_compatible'?" in out
