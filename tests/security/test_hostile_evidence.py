"""Hostile evidence files never crash a verifier: one line, exit 2, EVIDENCE.MALFORMED."""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labtrust_gym.errors import ChainIntegrityError, EvidenceError
from labtrust_gym.fileio import canonical_json
from labtrust_gym.security.anchor import anchor_path
from labtrust_gym.security.evidence_attacks import producer, signed_bundle, signed_episode
from labtrust_gym.security.keys import read_canonical_json
from tests.security.helpers import cli

DEEP: Any = 0
for _ in range(300):
    DEEP = [DEEP]
#: values canonical JSON can hold but the signed-message encoder (orjson) cannot
HOSTILE = {"huge integer": 10**30, "deep nesting": DEEP}


def _write_canonical(path: Path, doc: Any) -> None:
    path.write_text(canonical_json(doc, indent=2) + "\n", encoding="utf-8")


def _trusted_pem(tmp_path: Path) -> str:
    pem = tmp_path / "producer.pem"
    pem.write_text(producer()[0].public_pem(), encoding="utf-8")
    return str(pem)


@pytest.mark.parametrize("label", sorted(HOSTILE))
def test_hostile_values_in_signed_documents_are_malformed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], label: str
) -> None:
    value = HOSTILE[label]
    pem = _trusted_pem(tmp_path)
    for sub in ("log", "b", "pack"):
        (tmp_path / sub).mkdir()
    log = signed_episode(tmp_path / "log", None)
    anchor = json.loads(anchor_path(log).read_bytes())
    anchor["keys"][0]["note"] = value  # anchored keys may carry extra fields (schema)
    _write_canonical(anchor_path(log), anchor)
    bundle, _trust = signed_bundle(tmp_path / "b", None)
    manifest = json.loads((bundle / "manifest.json").read_bytes())
    _write_canonical(bundle / "manifest.json", {**manifest, "receipts": value})
    pack = tmp_path / "pack"
    manifest_doc = {"format": "labtrust-pack-manifest/0.1", "x": value}
    _write_canonical(pack / "pack_manifest.json", manifest_doc)
    for command in (
        ["verify-log", str(log)],
        ["verify-bundle", str(bundle)],
        ["verify-pack", str(pack)],
    ):
        code, _out, err = cli(capsys, *command, "--trusted-key", pem)
        assert code == 2, (command, err)
        assert err.startswith("error: ") and err.count("\n") == 1, err
        assert "EVIDENCE.MALFORMED" in err, err


def test_read_canonical_json_bounds_depth_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    with pytest.raises(EvidenceError, match="nests deeper") as exc:
        read_canonical_json(path, what="Doc")
    assert exc.value.code == "EVIDENCE.MALFORMED"


def test_logcheck_applies_the_chain_depth_bound() -> None:
    from labtrust_gym.engine.logcheck import recheck_authentication

    deep = "[" * 400 + "]" * 400
    line = '{"hash":"' + "0" * 64 + '","record":{"event":' + deep + "}}"
    with pytest.raises(ChainIntegrityError, match="deeper than 254"):
        recheck_authentication([line.encode()], [])


def test_a_hostile_results_file_in_a_bundle_is_malformed_not_a_crash(tmp_path: Path) -> None:
    from labtrust_gym.security.receipts import verify_bundle

    bundle, trust = signed_bundle(tmp_path, None)
    results = next((bundle / "results").glob("*.json"))
    results.write_text("[" * 5000 + "]" * 5000, encoding="utf-8")
    _resign_manifest(bundle)
    with pytest.raises(EvidenceError) as exc:
        verify_bundle(bundle, trust)
    assert exc.value.code == "EVIDENCE.MALFORMED"


def _resign_manifest(bundle: Path) -> None:
    import hashlib

    from labtrust_gym.fileio import atomic_write_json

    manifest = json.loads((bundle / "manifest.json").read_bytes())
    manifest["files"] = {
        rel: hashlib.sha256((bundle / rel).read_bytes()).hexdigest() for rel in manifest["files"]
    }
    atomic_write_json(bundle / "manifest.json", producer()[0].sign(manifest))


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
_FIELDS = ("agent_id", "seq", "key_id", "signature", "session_id", "mac", "t_s", "args")


@functools.cache
def _genuine_log() -> tuple[bytes, bytes]:
    """A signed episode's log and anchor (made once: the examples only edit copies)."""
    with tempfile.TemporaryDirectory() as tmp:
        log = signed_episode(Path(tmp), None)
        return log.read_bytes(), anchor_path(log).read_bytes()


def _evidence_codes() -> set[str]:
    from labtrust_gym.config import policy_path
    from labtrust_gym.fileio import load_yaml

    doc = load_yaml(policy_path(None, "reason_codes", "evidence_code_registry.v0.1.yaml"))
    return {c["code"] for c in doc["codes"]}


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_run_signer_rewriting_any_field_gets_an_evidence_error_never_a_crash(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    """The run signer (trusted to anchor) rewrites one field of one record to any JSON value,
    recomputes the chain and re-anchors: verify-log answers OK or with an EvidenceError
    carrying a registered evidence code — never another exception."""
    from labtrust_gym.security.anchor import verify_log
    from labtrust_gym.security.evidence_attacks import _reanchor

    genuine, anchor = _genuine_log()
    lines = [ln for ln in genuine.split(b"\n") if ln]
    index = data.draw(st.integers(0, len(lines) - 1))
    field = data.draw(st.sampled_from(_FIELDS))
    value = data.draw(_json)

    def edit(record: dict[str, Any]) -> None:
        target = record["outcome"] if field == "t_s" else record["event"]
        target[field] = value

    log = tmp_path_factory.mktemp("hostile") / "episode.jsonl"
    anchor_path(log).write_bytes(anchor)
    log.write_bytes(b"".join(ln + b"\n" for ln in _rechain_any(lines, index, edit)))
    key, trust = producer()
    _reanchor(log, key)
    try:
        report = verify_log(log, trust)
    except EvidenceError as exc:
        assert exc.code in _evidence_codes()
    else:
        assert report["ok"] and report["length"] == len(lines)


def _rechain_any(lines: list[bytes], index: int, edit: Any) -> list[bytes]:
    """Like evidence_attacks.rechain, but serialising with the standard library, which writes
    what orjson refuses (integers beyond 64 bits): a forger is not bound to our encoder."""
    import hashlib

    from labtrust_gym.engine.hashchain import GENESIS_HASH, line_bytes

    out, prev = [], GENESIS_HASH
    for i, line in enumerate(lines):
        record = json.loads(line[84:-1])
        if i == index:
            edit(record)
        record["prev_hash"] = prev
        rec = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        prev = hashlib.sha256(rec.encode("utf-8")).hexdigest()
        out.append(line_bytes(prev, rec.encode("utf-8")))
    return out
