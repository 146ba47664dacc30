"""run-official-pack: a signed manifest that re-verifies; partner overlays and their
fingerprints; the merge rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labtrust_gym.benchmarks.pack_runner import verify_pack
from labtrust_gym.benchmarks.results import policy_fingerprint
from labtrust_gym.errors import EvidenceError, PolicyError
from labtrust_gym.security.keys import load_trust
from labtrust_gym.security.partners import merge
from tests.security.helpers import cli, flip


def test_smoke_pack_writes_a_manifest_that_reverifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pack"
    code, stdout, err = cli(capsys, "run-official-pack", "--out", str(out), "--smoke")
    assert code == 0, err
    assert "attacks 18/18 passed" in stdout or "passed;" in stdout
    manifest = json.loads((out / "pack_manifest.json").read_text())
    assert manifest["selection"] == "smoke" and manifest["partner"] is None
    assert manifest["policy_fingerprint"] == manifest["base_policy_fingerprint"]
    assert manifest["policy_fingerprint"] == policy_fingerprint()
    files = set(manifest["files"])
    assert {
        "PACK_SUMMARY.md",
        "security/attack_results.json",
        "safety_case/safety_case.json",
        "safety_case/safety_case.md",
        "results/throughput_sla.json",
    } <= files
    assert any(f.endswith(".jsonl.anchor.json") for f in files)
    summary = (out / "PACK_SUMMARY.md").read_text()
    assert "## Security suite" in summary and "| throughput_sla |" in summary
    code, stdout, err = cli(capsys, "verify-pack", str(out))
    assert code == 0 and "3 anchored logs" in stdout, err

    trust = load_trust()
    for rel in ("results/throughput_sla.json", "PACK_SUMMARY.md", "pack_manifest.json"):
        original = flip(out / rel, 40)
        with pytest.raises(EvidenceError):
            verify_pack(out, trust)
        (out / rel).write_bytes(original)
    verify_pack(out, trust)
    code, _stdout, err = cli(capsys, "run-official-pack", "--out", str(out), "--smoke")
    assert code == 2 and "not empty" in err

    # a results file that is no results document, listed and signed anyway: malformed evidence
    results = out / "results" / "throughput_sla.json"
    genuine = results.read_bytes()
    results.write_text(json.dumps({"schema_version": "0.3", "episodes": [1], "summary": []}))
    _resign(out)
    with pytest.raises(EvidenceError, match=r"throughput_sla\.json") as exc:
        verify_pack(out, trust)
    assert exc.value.code == "EVIDENCE.MALFORMED"
    results.write_bytes(genuine)
    _resign(out)

    # a second pack: every file identical but the attack durations and the manifest listing them
    again = tmp_path / "again"
    assert cli(capsys, "run-official-pack", "--out", str(again), "--smoke")[0] == 0
    differ = sorted(
        rel
        for rel in manifest["files"]
        if (out / rel).read_bytes() != (again / rel).read_bytes()
    )
    assert set(differ) <= {"security/attack_results.json"}, differ
    from labtrust_gym.benchmarks.security_runner import without_durations

    def results(d: Path) -> Any:
        return without_durations(json.loads((d / "security" / "attack_results.json").read_text()))

    assert results(out) == results(again)


@pytest.mark.slow
def test_partner_overlay_applies_and_is_fingerprinted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pack"
    code, _stdout, err = cli(
        capsys, "run-official-pack", "--out", str(out), "--smoke", "--partner", "example_partner"
    )
    assert code == 0, err
    manifest = json.loads((out / "pack_manifest.json").read_text())
    partner = manifest["partner"]
    assert partner["id"] == "example_partner" and partner["overlay_fingerprint"].startswith(
        "sha256:"
    )
    assert manifest["policy_fingerprint"] != manifest["base_policy_fingerprint"]
    assert manifest["policy_fingerprint"] == policy_fingerprint(out / "policy")
    assert "results/insider_key_misuse.json" in manifest["files"]  # the overlay's smoke entry
    results = json.loads((out / "results" / "insider_key_misuse.json").read_text())
    assert results["partner_id"] == "example_partner"
    assert results["policy_fingerprint"] == manifest["policy_fingerprint"]
    tokens = (out / "policy" / "tokens" / "token_types.v0.1.yaml").read_text()
    assert "ttl_s: 600" in tokens and not (out / "policy" / "partners").exists()
    attacks = json.loads((out / "security" / "attack_results.json").read_text())["attacks"]
    assert {"ATK-PARTNER-001", "ATK-ENTRY-003"} <= {a["attack_id"] for a in attacks}
    assert all(a["verdict"] == "passed" for a in attacks)
    assert cli(capsys, "verify-pack", str(out))[0] == 0


def _resign(pack: Path) -> None:
    """Re-list every file and re-sign the manifest with the run key (as the run signer can)."""
    from labtrust_gym.fileio import atomic_write_json
    from labtrust_gym.security.keys import load_run_key
    from labtrust_gym.security.manifest import file_digests

    manifest = json.loads((pack / "pack_manifest.json").read_text())
    manifest["files"] = file_digests(pack, manifest="pack_manifest.json")
    key = load_run_key()
    assert key is not None
    atomic_write_json(pack / "pack_manifest.json", key.sign(manifest))


def test_unknown_partner_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = cli(
        capsys, "run-official-pack", "--out", str(tmp_path / "p"), "--smoke", "--partner", "acmee"
    )
    assert code == 2 and "Unknown partner" in err and "example_partner" in err


def test_merge_rules() -> None:
    base: dict[str, Any] = {
        "version": "0.1",
        "attacks": [{"attack_id": "A", "smoke": False, "x": 1}, {"attack_id": "B", "x": 2}],
        "plain": [1, 2],
        "nested": {"keep": 1, "change": 2},
    }
    over = {
        "attacks": [{"attack_id": "A", "smoke": True}, {"attack_id": "C", "x": 3}],
        "plain": [9],
        "nested": {"change": 3},
        "$remove": {"attacks": ["B"]},
    }
    assert merge(base, over) == {
        "version": "0.1",
        "attacks": [{"attack_id": "A", "smoke": True, "x": 1}, {"attack_id": "C", "x": 3}],
        "plain": [9],
        "nested": {"keep": 1, "change": 3},
    }
    assert base["attacks"][0]["smoke"] is False  # inputs untouched
    with pytest.raises(PolicyError, match="unknown ids"):
        merge(base, {"$remove": {"attacks": ["Z"]}})
    with pytest.raises(PolicyError, match="not a list of records"):
        merge(base, {"$remove": {"plain": [1]}})


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(doc=st.dictionaries(st.text(max_size=4), _json, max_size=4))
def test_an_empty_overlay_and_a_document_onto_itself_change_nothing(doc: dict[str, Any]) -> None:
    assert merge(doc, {}) == doc
    assert merge(doc, doc) == doc
