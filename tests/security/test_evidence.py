"""Evidence a third party can check: anchored logs, run keys and trust, receipt bundles,
recomputed summaries."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labtrust_gym.errors import ConfigError, EvidenceError
from labtrust_gym.security.anchor import anchor_path, verify_log
from labtrust_gym.security.evidence_attacks import (
    ATTACKER_SEED,
    producer,
    rechain,
    signed_bundle,
    signed_episode,
)
from labtrust_gym.security.keys import RunKey, load_run_key, load_trust
from labtrust_gym.security.receipts import verify_bundle
from tests.security.helpers import cli, flip, run_with_logs


def _lines(path: Path) -> list[bytes]:
    return [ln for ln in path.read_bytes().split(b"\n") if ln]


def _write(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(ln + b"\n" for ln in lines))


def _reanchor(log: Path, key: RunKey) -> None:
    from labtrust_gym.security.evidence_attacks import _reanchor as reanchor

    reanchor(log, key)


def test_verify_log_detects_truncation_and_rewrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = run_with_logs(tmp_path / "run", "throughput_sla")
    log = next((tmp_path / "run" / "logs").glob("*.jsonl"))
    anchor = json.loads(anchor_path(log).read_bytes())
    episode = json.loads(results.read_bytes())["episodes"][0]
    assert episode["log_anchor"] == anchor["chain"]  # also recorded in the results file
    code, out, err = cli(capsys, "verify-log", str(log))
    assert code == 0 and "anchored and signed by sha256:" in out, err
    genuine = log.read_bytes()

    _write(log, _lines(log)[:-1])  # truncated: the chain itself still verifies
    assert cli(capsys, "verify-log", "--chain-only", str(log))[0] == 0
    code, _out, err = cli(capsys, "verify-log", str(log))
    assert code == 2 and "it was truncated" in err

    log.write_bytes(genuine)
    lines = _lines(log)

    def edit(record: dict[str, object]) -> None:
        record["event"]["agent_id"] = "supervisor_0"  # type: ignore[index]

    _write(log, rechain(lines, 3, edit))  # a consistent rewrite: every hash recomputed
    assert cli(capsys, "verify-log", "--chain-only", str(log))[0] == 0
    code, _out, err = cli(capsys, "verify-log", str(log))
    assert code == 2 and "the log was rewritten" in err

    _reanchor(log, RunKey.from_seed(ATTACKER_SEED))  # ... and a stranger re-signs the anchor
    code, _out, err = cli(capsys, "verify-log", str(log))
    assert code == 2 and "which this verifier does not trust" in err


def test_verify_log_rechecks_event_signatures(tmp_path: Path) -> None:
    log = signed_episode(tmp_path, None)
    key, trust = producer()
    report = verify_log(log, trust)
    assert report["signatures_checked"] == report["length"] == 8
    lines = _lines(log)

    def forge(record: dict[str, object]) -> None:
        record["event"]["args"] = {"to_zone": "Z_SORTING"}  # type: ignore[index]

    move = next(i for i, ln in enumerate(lines) if b'"MOVE"' in ln)
    _write(log, rechain(lines, move, forge))
    _reanchor(log, key)  # the trusted run signer itself re-anchors the forged log
    with pytest.raises(
        EvidenceError, match="line 3: the event of 'ops_0' fails its signature"
    ) as e:
        verify_log(log, trust)
    assert e.value.code == "EVIDENCE.EVENT_SIGNATURE"


def test_every_one_byte_edit_of_an_anchor_is_caught(tmp_path: Path) -> None:
    log = signed_episode(tmp_path, None)
    _key, trust = producer()
    anchor = anchor_path(log)
    size = len(anchor.read_bytes())
    for pos in range(0, size, 7):
        original = flip(anchor, pos)
        with pytest.raises(EvidenceError):
            verify_log(log, trust)
        anchor.write_bytes(original)
    verify_log(log, trust)


def test_a_third_party_pins_the_producers_published_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_with_logs(tmp_path / "run", "throughput_sla")
    log = next((tmp_path / "run" / "logs").glob("*.jsonl"))
    code, out, _ = cli(capsys, "keys", "show", "--out", str(tmp_path / "producer.pem"))
    assert code == 0 and "fingerprint: sha256:" in out
    fingerprint = out.split("fingerprint: ")[1].split()[0]
    monkeypatch.setenv("LABTRUST_HOME", str(tmp_path / "third_party"))
    code, _out, err = cli(capsys, "verify-log", str(log))
    assert code == 2 and "does not trust" in err
    for pin in (str(tmp_path / "producer.pem"), fingerprint):
        code, out, err = cli(capsys, "verify-log", str(log), "--trusted-key", pin)
        assert code == 0, err
    assert cli(capsys, "keys", "trust", str(tmp_path / "producer.pem"))[0] == 0
    assert cli(capsys, "verify-log", str(log))[0] == 0
    assert load_run_key(create=False) is None  # verifying never created a key


def test_run_key_file_is_private_and_a_shared_key_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABTRUST_HOME", str(tmp_path / "home"))
    key = load_run_key()
    assert key is not None and key.path is not None
    assert stat.S_IMODE(key.path.stat().st_mode) == 0o600
    assert load_run_key().fingerprint == key.fingerprint  # type: ignore[union-attr]
    os.chmod(key.path, 0o644)
    monkeypatch.setenv("LABTRUST_RUN_KEY", str(key.path))
    with pytest.raises(ConfigError, match="chmod 600"):
        load_run_key()


def _bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    run = tmp_path / "run"
    run_with_logs(run / "a", "insider_key_misuse")  # a strict lab: event signatures in the chain
    run_with_logs(run / "b", "throughput_sla", episodes=2)
    # the same log name as one of b's, other content: kept apart in the bundle
    run_with_logs(run / "c", "throughput_sla", injection="INJ-COMMS-DROP-001")
    bundle = tmp_path / "bundle"
    code, out, err = cli(capsys, "export-receipts", "--run", str(run), "--out", str(bundle))
    assert code == 0 and "receipts from 4 episode(s)" in out, err
    assert (bundle / "episodes" / "c%2Flogs%2Fthroughput_sla_seed0" / "anchor.json").is_file()
    return bundle


def test_verify_bundle_detects_every_one_byte_edit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = _bundle(tmp_path, capsys)
    code, out, err = cli(capsys, "verify-bundle", str(bundle))
    assert code == 0 and "OK:" in out, err
    trust = load_trust()
    files = sorted(p for p in bundle.rglob("*") if p.is_file())
    assert {p.name for p in files} >= {
        "manifest.json",
        "anchor.json",
        "chain_segment.jsonl",
        "chain_proof.json",
    }
    for path in files:
        size = len(path.read_bytes())
        for pos in sorted({0, 1, size // 3, size // 2, size - 2, size - 1}):
            original = flip(path, pos)
            with pytest.raises(EvidenceError):
                verify_bundle(bundle, trust)
            path.write_bytes(original)
    verify_bundle(bundle, trust)
    (bundle / "extra.txt").write_text("x")
    with pytest.raises(EvidenceError, match="not in the manifest") as e:
        verify_bundle(bundle, trust)
    assert e.value.code == "EVIDENCE.MANIFEST_MISMATCH"


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_single_bit_flip_in_a_bundle_is_caught(
    data: st.DataObject, tmp_path_factory: pytest.TempPathFactory
) -> None:
    bundle, trust = signed_bundle(tmp_path_factory.mktemp("bundle"), None)
    verify_bundle(bundle, trust)
    files = sorted(p for p in bundle.rglob("*") if p.is_file())
    path = data.draw(st.sampled_from(files))
    raw = bytearray(path.read_bytes())
    raw[data.draw(st.integers(0, len(raw) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    path.write_bytes(bytes(raw))
    with pytest.raises(EvidenceError):
        verify_bundle(bundle, trust)


def test_summaries_refuse_an_edited_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run" / "results.json"
    out.parent.mkdir()
    assert (
        cli(
            capsys,
            "run-benchmark",
            "--task",
            "throughput_sla",
            "--episodes",
            "2",
            "--out",
            str(out),
        )[0]
        == 0
    )
    assert cli(capsys, "run-summary", "--run", str(out.parent))[0] == 0
    doc = json.loads(out.read_bytes())
    doc["summary"]["throughput"]["mean"] += 5
    out.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    for args in (
        ("run-summary", "--run", str(out.parent)),
        ("summarize-results", "--in", str(out), "--out", str(tmp_path / "s")),
    ):
        code, _out, err = cli(capsys, *args)
        assert code == 2 and "stored summary disagrees" in err and "'throughput'" in err
    doc["episodes"][0]["metrics"]["throughput"] += 1  # an edited episode disagrees too
    doc["summary"]["throughput"]["mean"] -= 5
    out.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    assert cli(capsys, "run-summary", "--run", str(out.parent))[0] == 2
