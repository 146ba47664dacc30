"""The security attack suite: its contents, honest verdicts, the CLI, a disabled control."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labtrust_gym.benchmarks.security_runner import (
    DefaultSecuritySuiteProvider,
    list_security_suite_providers,
    register_security_suite_provider,
    run_attack,
    run_security_suite,
    summarize,
    without_durations,
)
from labtrust_gym.config import get_repo_root, policy_path
from labtrust_gym.errors import PolicyError
from labtrust_gym.fileio import load_json, validate_with_schema
from labtrust_gym.security.attack_suite import (
    Observation,
    judge,
    kind_of,
    load_suite,
    resolve_callable,
    suite_problems,
)
from tests.security.helpers import cli, copy_policy, edit_yaml


@pytest.fixture(scope="module")
def suite() -> dict[str, Any]:
    return load_suite(get_repo_root())


def test_suite_has_30_attacks_12_smoke_and_every_kind(suite: dict[str, Any]) -> None:
    attacks = suite["attacks"]
    assert len(attacks) >= 30
    assert sum(1 for a in attacks if a.get("smoke")) >= 12
    assert set(Counter(kind_of(a) for a in attacks)) == {"engine", "episode", "callable"}
    controls = {c["control_id"] for c in suite["controls"]}
    assert controls == {a["control_id"] for a in attacks}, "every control has an attack"


def test_default_provider_is_registered_by_the_builtin_plugin() -> None:
    assert "default" in list_security_suite_providers()


def test_smoke_run_through_the_cli_passes_and_writes_valid_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "run-security-suite", "--out", str(tmp_path), "--seed", "3")
    assert code == 0, err
    doc = load_json(tmp_path / "attack_results.json")
    validate_with_schema(
        doc, policy_path(get_repo_root(), "schemas", "attack_results.v0.1.schema.json"), what="t"
    )
    assert doc["selection"] == "smoke" and doc["seed"] == 3 and doc["summary"]["all_passed"]
    assert all(a["verdict"] == "passed" for a in doc["attacks"])
    assert doc["summary"]["total"] >= 12 and f"{doc['summary']['total']}/" in out
    cov = load_json(tmp_path / "coverage.json")
    assert cov["controls_without_attacks"] == []
    table = (tmp_path / "coverage.md").read_text(encoding="utf-8")
    assert "| CTL-RBAC |" in table and "R-ENTRY" in table


@pytest.mark.slow
def test_full_run_passes_and_is_deterministic_apart_from_durations(tmp_path: Path) -> None:
    a = run_security_suite(tmp_path / "a", full=True, seed=1)
    b = run_security_suite(tmp_path / "b", full=True, seed=1)
    assert a["summary"] == {**a["summary"], "failed": 0, "error": 0, "skipped": 0}
    assert a["summary"]["all_passed"] and a["summary"]["total"] >= 30
    assert without_durations(a) == without_durations(b)
    assert all(x["duration_s"] >= 0 for x in a["attacks"])


def test_a_disabled_control_fails_its_attack_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = copy_policy(tmp_path)

    def one_approver(doc: dict[str, Any]) -> None:
        doc["token_types"]["RELEASE_OVERRIDE"]["approvals_required"] = 1

    edit_yaml(policy / "tokens" / "token_types.v0.1.yaml", one_approver)
    monkeypatch.setenv("LABTRUST_POLICY_DIR", str(policy))
    code, out, err = cli(capsys, "run-security-suite", "--out", str(tmp_path / "out"))
    assert code == 1
    assert "FAIL  ATK-APPR-003" in out
    assert "FAILED: ATK-APPR-003: expected BLOCKED TOKEN.NOT_APPROVED; observed ACCEPTED" in err
    # the exact code is compared: a refusal for another reason is not a pass either
    assert "ATK-APPR-002: expected BLOCKED TOKEN.DUPLICATE_APPROVER; observed BLOCKED " in err
    doc = load_json(tmp_path / "out" / "attack_results.json")
    assert not doc["summary"]["all_passed"] and doc["summary"]["failed"] == 2


def test_judge_blocked_needs_the_exact_reason_code() -> None:
    expected = {"outcome": "blocked", "reason_code": "TOKEN.EXPIRED"}
    assert judge(expected, Observation("BLOCKED", "TOKEN.EXPIRED"))[0] == "passed"
    assert judge(expected, Observation("BLOCKED", "TOKEN.REVOKED"))[0] == "failed"
    assert judge(expected, Observation("ACCEPTED", None))[0] == "failed"
    # a code seen after the attack step is not the attack step's outcome
    late = Observation("ACCEPTED", None, blocked_codes=["TOKEN.EXPIRED"])
    assert judge(expected, late)[0] == "failed"


def test_judge_detected_and_criteria() -> None:
    want_inv = {"outcome": "detected", "invariant_id": "INV-ZONE-004"}
    assert judge(want_inv, Observation("ACCEPTED", invariants=["INV-ZONE-004"]))[0] == "passed"
    assert judge(want_inv, Observation("ACCEPTED", invariants=["INV-ZONE-003"]))[0] == "failed"
    want_code = {"outcome": "detected", "reason_code": "EVIDENCE.ANCHOR_MISMATCH"}
    assert judge(want_code, Observation(codes=[]))[0] == "failed"
    bad = {"metric": "x", "op": "==", "value": 1, "observed": 0, "missing": False, "ok": False}
    obs = Observation(codes=["EVIDENCE.ANCHOR_MISMATCH"], criteria=[bad])
    verdict, reason = judge(want_code, obs)
    assert verdict == "failed" and "criteria not met: x == 1 (observed 0)" in reason


@settings(max_examples=60, deadline=None)
@given(
    want=st.sampled_from(["TOKEN.EXPIRED", "SIG.INVALID", "RBAC.ACTION_DENIED"]),
    got=st.one_of(st.none(), st.sampled_from(["TOKEN.EXPIRED", "SIG.INVALID", "X.Y"])),
    status=st.sampled_from(["ACCEPTED", "BLOCKED"]),
)
def test_judge_passes_exactly_when_the_expected_code_is_observed(
    want: str, got: str | None, status: str
) -> None:
    verdict, _ = judge({"outcome": "blocked", "reason_code": want}, Observation(status, got))
    assert (verdict == "passed") == (status == "BLOCKED" and got == want)


def test_skipped_and_errors_are_never_passed(suite: dict[str, Any]) -> None:
    root = get_repo_root()
    plugin_task = {
        "attack_id": "ATK-T-1",
        "title": "needs a plugin task",
        "risk_id": "R-DISRUPTION",
        "control_id": "CTL-RESILIENCE",
        "expected_outcome": {"outcome": "blocked", "reason_code": "SIG.INVALID"},
        "episode": {"task": "not_installed_task"},
    }
    refused_setup = {
        "attack_id": "ATK-T-2",
        "title": "set-up refused",
        "risk_id": "R-ENTRY",
        "control_id": "CTL-RESTRICTED-ENTRY",
        "expected_outcome": {"outcome": "blocked", "reason_code": "ZONE.RESTRICTED_NO_TOKEN"},
        "engine": {
            "steps": [
                {"agent": "runner_0", "action": "MOVE", "args": {"to_zone": "Z_AIRLOCK"}},
                {"attack": True, "agent": "runner_0", "action": "TICK"},
            ]
        },
    }
    skipped = run_attack(plugin_task, suite, root, 0, [])
    error = run_attack(refused_setup, suite, root, 0, [])
    assert skipped["verdict"] == "skipped" and "not registered" in skipped["reason"]
    assert error["verdict"] == "error" and "DOOR.CLOSED" in error["reason"]
    summary = summarize([skipped, error])
    assert summary["passed"] == 0 and not summary["all_passed"]


def test_callables_must_be_allow_listed_and_marked(suite: dict[str, Any]) -> None:
    with pytest.raises(PolicyError, match="not in security/callable_allowlist"):
        resolve_callable("os.system", ["labtrust_gym.security.evidence_attacks.truncated_log"])
    with pytest.raises(PolicyError, match="not a function marked"):
        resolve_callable("os.getcwd", ["os.getcwd"])
    bad = dict(suite)
    bad["attacks"] = [
        {**suite["attacks"][0], "attack_id": "ATK-X", "callable": {"name": "os.system"}}
        | {"expected_outcome": {"outcome": "detected", "reason_code": "EVIDENCE.MISSING"}},
    ]
    del bad["attacks"][0]["engine"]
    problems = suite_problems(bad, [])
    assert (
        "attacks/0/callable/name",
        "'os.system' is not in security/callable_allowlist.v0.1.yaml",
    ) in problems


def test_an_invalid_suite_is_refused_with_its_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = copy_policy(tmp_path)

    def break_it(doc: dict[str, Any]) -> None:
        doc["attacks"][0]["control_id"] = "CTL-NOPE"

    edit_yaml(policy / "security" / "attack_suite.v0.1.yaml", break_it)
    monkeypatch.setenv("LABTRUST_POLICY_DIR", str(policy))
    with pytest.raises(PolicyError, match="attacks/0/control_id: unknown control 'CTL-NOPE'"):
        load_suite(None)


def test_a_provider_with_the_bare_contract_works(tmp_path: Path) -> None:
    class Thin:
        def load_suite(self, policy_root: Any, partner_id: Any) -> dict[str, Any]:
            return {"suite_id": "thin"}

        def run_suite(self, policy_root: Any, repo_root: Any) -> list[dict[str, Any]]:
            return [{"attack_id": "T-1", "verdict": "passed"}]

    register_security_suite_provider("thin", Thin)
    doc = run_security_suite(tmp_path, provider_id="thin")
    assert doc["provider_id"] == "thin" and doc["summary"]["all_passed"]
    assert not (tmp_path / "coverage.md").exists()  # no controls x risks for this suite


def test_partner_overlay_adds_an_attack_that_needs_its_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = cli(
        capsys,
        "run-security-suite",
        "--out",
        str(tmp_path),
        "--partner",
        "example_partner",
        "--attack",
        "ATK-PARTNER-001",
    )
    assert code == 0, err
    doc = json.loads((tmp_path / "attack_results.json").read_text())
    assert doc["partner_id"] == "example_partner" and doc["attacks"][0]["verdict"] == "passed"
    # against the base policy (15-minute tokens) the same attack fails
    base = DefaultSecuritySuiteProvider().run_suite(
        None, partner_id="example_partner", attack_ids=["ATK-PARTNER-001"]
    )
    assert base[0]["verdict"] == "failed"
    assert "LABTRUST_POLICY_DIR" not in os.environ  # the effective policy was a temporary root


def test_the_engine_rounds_controls_each_fail_their_attack_when_weakened(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Holderless entry tokens allowed, no lead bound on event time: the attacks that probe
    those controls fail by name (the clock check of ATK-INPUT-004 too)."""
    import shutil

    layer = tmp_path / "weak"
    for rel in ("tokens/token_types.v0.1.yaml", "engine/engine.v0.1.yaml"):
        (layer / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(policy_path(get_repo_root(), rel), layer / rel)

    def bearer(doc: dict[str, Any]) -> None:
        doc["token_types"]["RESTRICTED_ENTRY"]["bearer"] = True

    def no_lead(doc: dict[str, Any]) -> None:
        doc["max_event_lead_s"] = 10**9

    edit_yaml(layer / "tokens" / "token_types.v0.1.yaml", bearer)
    edit_yaml(layer / "engine" / "engine.v0.1.yaml", no_lead)
    monkeypatch.setenv("LABTRUST_POLICY_DIR", str(layer))
    args = ["--attack", "ATK-ENTRY-012", "--attack", "ATK-INPUT-004", "--attack", "ATK-SIG-009"]
    code, out, err = cli(capsys, "run-security-suite", "--out", str(tmp_path / "o"), *args)
    assert code == 1, out + err
    assert "FAILED: ATK-ENTRY-012: expected BLOCKED TOKEN.HOLDER_REQUIRED; observed ACCEPTED" in err
    assert "FAILED: ATK-INPUT-004: expected BLOCKED TIME.TOO_FAR_AHEAD; observed ACCEPTED" in err
    assert "query now == 100.0 (observed 86501.0)" in err
    assert "PASS  ATK-SIG-009" in out  # replay protection does not depend on these files


def test_replay_and_session_steps_need_what_they_name(suite: dict[str, Any]) -> None:
    base = {
        "attack_id": "ATK-X",
        "title": "x",
        "risk_id": "R-INPUT",
        "control_id": "CTL-SIGNED-EVENTS",
        "expected_outcome": {"outcome": "blocked", "reason_code": "SIG.REPLAY"},
    }
    steps = {
        "repeat": [{"attack": True, "repeat": 4}],
        "mac_key_of": [
            {"agent": "ops_0", "action": "TICK", "key_id": "K_OPS", "open_session": True},
            {"attack": True, "agent": "ops_0", "action": "TICK", "mac": True, "mac_key_of": "qc_0"},
        ],
    }
    for label, body in steps.items():
        attack = {**base, "engine": {"fixture": "strict_lab", "steps": body}}
        result = run_attack(attack, suite, get_repo_root(), 0, [])
        assert result["verdict"] == "error", (label, result)
        assert label in result["reason"] or "repeats" in result["reason"], result["reason"]
