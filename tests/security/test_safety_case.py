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


def _attack_results(
    path: Path, verdicts: dict[str, str], *, partner: str | None = None, **fields: Any
) -> None:
    """A valid attack-results document for this policy (``fields`` override any field)."""
    from labtrust_gym.benchmarks.security_runner import summarize
    from labtrust_gym.config import policy_fingerprint

    path.parent.mkdir(parents=True, exist_ok=True)
    attacks = [{"attack_id": a, "verdict": v, "duration_s": 0.5} for a, v in verdicts.items()]
    doc = {
        "format": "labtrust-attack-results/0.1",
        "provider_id": "default",
        "suite_id": "labtrust_default",
        "selection": "only",
        "seed": 0,
        "partner_id": partner,
        "policy_fingerprint": policy_fingerprint(get_repo_root()),
        "summary": summarize(attacks),
        "attacks": attacks,
        **fields,
    }
    path.write_text(json.dumps(doc))


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


def test_evidence_must_be_valid_and_of_this_policy_and_partner(tmp_path: Path) -> None:
    """An attack_results.json with bare verdicts, or one made under another policy or for
    another partner, never supports a claim: its items are rejected, with the reason."""
    attacks = load_claims(get_repo_root())["claims"]
    spec = next(c for c in attacks if c["claim_id"] == "CLM-SPECIMEN")["evidence"]
    ev = tmp_path / "ev"
    target = ev / "attack_results.json"
    ev.mkdir()
    bare = [{"attack_id": a, "verdict": "passed"} for a in spec["attacks"]]
    target.write_text(json.dumps({"attacks": bare}))  # the reviewer's two-verdict file
    claim = _claim(build_safety_case(get_repo_root(), [ev]), "CLM-SPECIMEN")
    assert claim["status"] == "unsupported"
    assert "not a valid attack results document" in claim["reasons"][0]
    cases = {
        "another policy": {"policy_fingerprint": "sha256:" + "0" * 64},
        "another partner": {"partner_id": "acme"},
        "edited summary": {"summary": {**_summary(0), "total": 9}},
    }
    for label, fields in cases.items():
        _attack_results(target, dict.fromkeys(spec["attacks"], "passed"), **fields)
        claim = _claim(build_safety_case(get_repo_root(), [ev]), "CLM-SPECIMEN")
        assert claim["status"] == "unsupported", label
        assert all("evidence rejected" in r for r in claim["reasons"]), (label, claim["reasons"])
    _attack_results(target, dict.fromkeys(spec["attacks"], "passed"))
    case = build_safety_case(get_repo_root(), [ev])
    assert _claim(case, "CLM-SPECIMEN")["status"] == "supported"
    assert case["evidence_files"][0]["digest_of"].startswith("canonical JSON without")
    partnered = build_safety_case(get_repo_root(), [ev], partner_id="acme")  # case for acme
    assert _claim(partnered, "CLM-SPECIMEN")["status"] == "unsupported"


def _summary(n: int) -> dict[str, Any]:
    return {"total": n, "passed": n, "failed": 0, "error": 0, "skipped": 0, "all_passed": n > 0}


def test_artifact_criteria_hashes_and_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layer = tmp_path / "layer"
    (layer / "safety_case").mkdir(parents=True)
    claims = {
        "version": "0.1",
        "case_id": "artifacts",
        "claims": [
            {
                "claim_id": "CLM-ART",
                "statement": "The metrics file shows a release.",
                "evidence": {
                    "artifacts": [
                        {"path": "metrics.json", "criteria": [
                            {"metric": "throughput", "op": ">=", "value": 1}
                        ]}
                    ]
                },
            }
        ],
    }
    (layer / "safety_case" / "claims.v0.1.yaml").write_text(json.dumps(claims))
    monkeypatch.setenv("LABTRUST_POLICY_DIR", str(layer))
    from labtrust_gym.config import policy_fingerprint

    ev = tmp_path / "ev"
    ev.mkdir()
    (ev / "metrics.json").write_text(json.dumps({"throughput": 0}))
    claim = _claim(build_safety_case(None, [ev]), "CLM-ART")
    art = claim["evidence"]["artifacts"][0]
    assert claim["status"] == "unsupported" and len(art["sha256"]) == 64
    assert art["failed_criteria"] == ["throughput >= 1 (observed 0)"]
    (ev / "metrics.json").write_text(json.dumps({"throughput": 2}))
    assert _claim(build_safety_case(None, [ev]), "CLM-ART")["status"] == "supported"
    other = {"throughput": 2, "policy_fingerprint": "sha256:" + "1" * 64}
    (ev / "metrics.json").write_text(json.dumps(other))
    claim = _claim(build_safety_case(None, [ev]), "CLM-ART")
    assert claim["status"] == "unsupported" and "another policy" in claim["reasons"][0]
    own = {**other, "policy_fingerprint": policy_fingerprint(layer)}
    (ev / "metrics.json").unlink()
    (ev / "pack").mkdir()
    (ev / "pack" / "metrics.json").write_text(json.dumps(own))
    found = _claim(build_safety_case(None, [ev]), "CLM-ART")
    assert found["status"] == "supported"  # found under a subdirectory, and unique
    assert found["evidence"]["artifacts"][0]["found"] == "pack/metrics.json"
    (ev / "other").mkdir()
    (ev / "other" / "metrics.json").write_text(json.dumps(own))
    twice = _claim(build_safety_case(None, [ev]), "CLM-ART")
    assert twice["status"] == "no-evidence"
    assert twice["evidence"]["artifacts"][0]["found"].startswith("ambiguous: ")


def test_a_good_smoke_run_leaves_the_suite_claim_without_evidence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Attacks a smoke run did not select are missing, not failed; a failure is unsupported."""
    sec = tmp_path / "sec"
    assert cli(capsys, "run-security-suite", "--out", str(sec))[0] == 0
    case = build_safety_case(get_repo_root(), [sec])
    suite = _claim(case, "CLM-SUITE")
    assert suite["status"] == "no-evidence", suite["reasons"][:3]
    ran = {a["id"] for a in suite["evidence"]["attacks"] if a["status"] == "passed"}
    assert ran and all(r.endswith("has no evidence") for r in suite["reasons"])
    doc = json.loads((sec / "attack_results.json").read_text())
    doc["attacks"][0]["verdict"] = "failed"
    doc["summary"] = {**doc["summary"], "passed": doc["summary"]["passed"] - 1, "failed": 1}
    doc["summary"]["all_passed"] = False
    (sec / "attack_results.json").write_text(json.dumps(doc))
    assert _claim(build_safety_case(get_repo_root(), [sec]), "CLM-SUITE")["status"] == (
        "unsupported"
    )


def test_the_same_evidence_gives_a_byte_identical_case(tmp_path: Path) -> None:
    from labtrust_gym.fileio import canonical_json
    from labtrust_gym.security.safety_case import safety_case_markdown

    cases = []
    for duration in (0.1, 7.25):  # only the wall-clock durations differ
        ev = tmp_path / f"ev{duration}"
        _attack_results(ev / "attack_results.json", {"ATK-SPEC-001": "passed"})
        doc = json.loads((ev / "attack_results.json").read_text())
        doc["attacks"][0]["duration_s"] = duration
        (ev / "attack_results.json").write_text(json.dumps(doc))
        case = build_safety_case(get_repo_root(), [ev])
        cases.append((canonical_json(case), safety_case_markdown(case)))
    assert cases[0] == cases[1]


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
