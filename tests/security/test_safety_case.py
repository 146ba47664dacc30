"""The safety case: every claim's status follows its evidence."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from labtrust_gym.config import get_repo_root
from labtrust_gym.security.safety_case import (
    build_safety_case,
    get_safety_case_provider,
    junit_id,
    load_claims,
)
from tests.security.helpers import cli

REPO = Path(__file__).resolve().parents[2]


def _attack_results(path: Path, verdicts: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    attacks = [{"attack_id": a, "verdict": v} for a, v in verdicts.items()]
    path.write_text(json.dumps({"attacks": attacks}))


def _junit(path: Path, cases: dict[str, str]) -> None:
    body = []
    for node, outcome in cases.items():
        classname, name = junit_id(node).split("::")
        inner = {"passed": "", "failed": "<failure message='x'/>", "skipped": "<skipped/>"}[outcome]
        body.append(f'<testcase classname="{classname}" name="{name}">{inner}</testcase>')
    path.write_text(f"<testsuites><testsuite>{''.join(body)}</testsuite></testsuites>")


def _claim(case: dict[str, Any], claim_id: str) -> dict[str, Any]:
    return next(c for c in case["claims"] if c["claim_id"] == claim_id)


def test_without_evidence_no_claim_is_supported() -> None:
    case = build_safety_case(get_repo_root())
    assert case["summary"]["no-evidence"] == case["summary"]["claims"] >= 10
    provider = get_safety_case_provider("default")  # registered by the built-in plugin
    assert provider.build_safety_case(get_repo_root())["summary"] == case["summary"]


def test_statuses_follow_the_evidence(tmp_path: Path) -> None:
    claims = {c["claim_id"]: c for c in load_claims(get_repo_root())["claims"]}
    spec = claims["CLM-OVERRIDE"]["evidence"]
    ev = tmp_path / "ev"
    verdicts = dict.fromkeys(spec["attacks"], "passed")
    _attack_results(ev / "security" / "attack_results.json", verdicts)
    _junit(ev / "junit.xml", dict.fromkeys(spec["tests"], "passed"))
    case = build_safety_case(get_repo_root(), [ev])
    assert _claim(case, "CLM-OVERRIDE")["status"] == "supported"
    assert _claim(case, "CLM-ROLES")["status"] == "no-evidence"
    files = {f["path"]: f for f in case["evidence_files"]}
    assert files["security/attack_results.json"]["sha256"] and files["junit.xml"]["kind"] == "junit"

    _attack_results(
        ev / "security" / "attack_results.json", {**verdicts, spec["attacks"][0]: "failed"}
    )
    failed = _claim(build_safety_case(get_repo_root(), [ev]), "CLM-OVERRIDE")
    assert (
        failed["status"] == "unsupported"
        and f"attack {spec['attacks'][0]} failed" in failed["reasons"]
    )

    _attack_results(
        ev / "security" / "attack_results.json", {**verdicts, spec["attacks"][0]: "skipped"}
    )
    skipped = _claim(build_safety_case(get_repo_root(), [ev]), "CLM-OVERRIDE")
    assert skipped["status"] == "no-evidence"  # skipped is never evidence

    _attack_results(ev / "security" / "attack_results.json", verdicts)
    _junit(ev / "junit.xml", {**dict.fromkeys(spec["tests"], "passed"), spec["tests"][0]: "failed"})
    assert (
        _claim(build_safety_case(get_repo_root(), [ev]), "CLM-OVERRIDE")["status"] == "unsupported"
    )


def test_artifact_criteria_and_hashes(tmp_path: Path) -> None:
    ev = tmp_path / "ev"
    doc = {"selection": "smoke", "summary": {"all_passed": True}, "attacks": []}
    ev.mkdir()
    (ev / "attack_results.json").write_text(json.dumps(doc))
    claim = _claim(build_safety_case(get_repo_root(), [ev]), "CLM-SUITE")
    art = claim["evidence"]["artifacts"][0]
    assert claim["status"] == "unsupported" and len(art["sha256"]) == 64
    assert art["failed_criteria"] == ["selection == 'full' (observed 'smoke')"]
    (ev / "attack_results.json").write_text(json.dumps({**doc, "selection": "full"}))
    assert _claim(build_safety_case(get_repo_root(), [ev]), "CLM-SUITE")["status"] == "supported"
    (ev / "attack_results.json").rename(ev / "nested.json")
    (ev / "pack" / "security").mkdir(parents=True)
    (ev / "nested.json").rename(ev / "pack" / "security" / "attack_results.json")
    found = _claim(build_safety_case(get_repo_root(), [ev]), "CLM-SUITE")
    assert found["status"] == "supported"  # found under a subdirectory, and unique
    assert found["evidence"]["artifacts"][0]["found"] == "pack/security/attack_results.json"
    (ev / "attack_results.json").write_text(json.dumps(doc))
    twice = _claim(build_safety_case(get_repo_root(), [ev / "pack", tmp_path]), "CLM-SUITE")
    assert twice["status"] == "no-evidence"
    assert twice["evidence"]["artifacts"][0]["found"].startswith("ambiguous: ")


def test_safety_case_cli_writes_json_and_markdown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sec = tmp_path / "sec"
    assert cli(capsys, "run-security-suite", "--out", str(sec), "--full")[0] == 0
    code, out, err = cli(
        capsys, "safety-case", "--out", str(tmp_path / "case"), "--evidence", str(sec)
    )
    assert code == 0, err
    assert "supported    CLM-SPECIMEN" in out
    case = json.loads((tmp_path / "case" / "safety_case.json").read_text())
    statuses = {c["claim_id"]: c["status"] for c in case["claims"]}
    # attack-only claims are supported by a full suite run; claims citing tests need JUnit
    assert statuses["CLM-SPECIMEN"] == statuses["CLM-RESILIENCE"] == "supported"
    assert statuses["CLM-SUITE"] == "supported" and statuses["CLM-ENTRY"] == "no-evidence"
    md = (tmp_path / "case" / "safety_case.md").read_text()
    assert "| CLM-SPECIMEN | supported |" in md and "sha256" in md
    assert (
        cli(
            capsys, "safety-case", "--out", str(tmp_path / "c2"), "--evidence", str(sec), "--strict"
        )[0]
        == 1
    )


def test_every_test_a_claim_cites_exists() -> None:
    for claim in load_claims(get_repo_root())["claims"]:
        for node in claim["evidence"].get("tests") or ():
            path, _, name = node.partition("::")
            source = (REPO / path).read_text(encoding="utf-8")
            func = name.split("[")[0].split("::")[-1]
            assert re.search(rf"^def {func}\(", source, re.MULTILINE), node
            if "[" in name:  # a golden scenario id
                scenario = name.split("[")[1].rstrip("]")
                golden = (REPO / "policy/golden/golden_scenarios.v0.1.yaml").read_text()
                assert f"id: {scenario}" in golden, node
