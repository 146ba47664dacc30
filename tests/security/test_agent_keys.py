"""Whose keys a verifier trusts: the run signer cannot vouch for an agent the verifier knows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from labtrust_gym.errors import ConfigError, EvidenceError
from labtrust_gym.security.agent_keys import merge_registries, resolve_agent_keys
from labtrust_gym.security.anchor import anchor_path, verify_log
from labtrust_gym.security.evidence_attacks import (
    agent_registry,
    producer,
    signed_episode,
    swapped_key,
)
from tests.security.helpers import cli


def _registry_layer(tmp_path: Path, keys: list[dict[str, Any]]) -> Path:
    """A user policy directory holding only a key registry."""
    layer = tmp_path / "user_policy"
    (layer / "keys").mkdir(parents=True)
    doc = {"version": "0.1", "keys": keys}
    (layer / "keys" / "key_registry.v0.1.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    return layer


def test_a_key_swapped_into_the_anchor_is_refused_by_the_policy_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ATK-EVID-008's forgery verifies when only the anchor vouches for keys, and is refused
    by default once the agents' keys are in the (layered) policy key registry."""
    work = tmp_path / "work"
    work.mkdir()
    outcome = swapped_key({"workdir": str(work), "policy_root": None})
    assert outcome["codes"] == ["EVIDENCE.KEY_MISMATCH"], outcome
    assert outcome["note"].startswith("without the registry the forgery verifies")
    log = work / "episode.jsonl"
    _key, trust = producer()
    report = verify_log(log, trust)  # the shipped registry is empty: anchor keys only
    assert report["signatures_trusted"] == 0
    assert report["signatures_run_signer_only"] == report["signatures_checked"] > 0

    monkeypatch.setenv("LABTRUST_POLICY_DIR", str(_registry_layer(tmp_path, agent_registry())))
    with pytest.raises(EvidenceError, match=r"K_supervisor_0.*another public_key_b64") as exc:
        verify_log(log, trust)
    assert exc.value.code == "EVIDENCE.KEY_MISMATCH"


def test_genuine_signatures_count_as_trusted_only_against_the_registry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = signed_episode(tmp_path, None)
    _key, trust = producer()
    report = verify_log(log, trust, keys=agent_registry()[:2])  # reception_0 and ops_0 known
    assert report["signatures_checked"] == 8
    assert report["signatures_trusted"] == 5  # 2 reception events, 3 of ops
    assert report["signatures_run_signer_only"] == 3
    assert report["run_signer_only_agents"] == ["qc_0", "runner_0", "supervisor_0"]
    keys = tmp_path / "keys.yaml"
    keys.write_text(yaml.safe_dump({"keys": agent_registry()}), encoding="utf-8")
    pem = tmp_path / "producer.pem"
    pem.write_text(producer()[0].public_pem(), encoding="utf-8")
    code, out, err = cli(capsys, "verify-log", str(log), "--trusted-key", str(pem))
    assert code == 0, err
    assert "8 against keys vouched for by the run signer only" in out
    code, out, err = cli(
        capsys, "verify-log", str(log), "--trusted-key", str(pem), "--keys", str(keys)
    )
    assert code == 0, err
    assert "8 signatures against your trusted key registry" in out
    assert "run signer only" not in out


def test_an_extra_anchor_key_for_a_known_agent_is_refused(tmp_path: Path) -> None:
    registry = agent_registry()
    anchor_keys = [*registry, {**registry[0], "key_id": "K_EXTRA", "public_key_b64": "x"}]
    with pytest.raises(EvidenceError, match=r"K_EXTRA.*for agent 'reception_0'") as exc:
        resolve_agent_keys(anchor_keys, registry, where="log")
    assert exc.value.code == "EVIDENCE.KEY_MISMATCH"
    revoked = [{**registry[1], "status": "revoked"}]
    with pytest.raises(EvidenceError, match="another status"):
        resolve_agent_keys([registry[1]], revoked, where="log")
    stranger = {"key_id": "K_S", "agent_id": "stranger", "public_key_b64": "y"}
    keys = resolve_agent_keys([*registry, stranger], registry, where="log")
    assert keys.anchor_only == {"K_S"} and keys.trusted == {k["key_id"] for k in registry}


def test_two_trusted_sources_must_agree() -> None:
    key = agent_registry()[0]
    assert merge_registries(("a", [key]), ("b", [dict(key)])) == [key]
    with pytest.raises(ConfigError, match="stated differently by a and b"):
        merge_registries(("a", [key]), ("b", [{**key, "public_key_b64": "z"}]))


def test_the_anchor_lists_what_the_verifier_compares(tmp_path: Path) -> None:
    log = signed_episode(tmp_path, None)
    anchor = json.loads(anchor_path(log).read_bytes())
    assert {k["key_id"] for k in anchor["keys"]} == {k["key_id"] for k in agent_registry()}


def test_macs_are_no_stronger_than_the_key_that_opened_their_session(tmp_path: Path) -> None:
    from labtrust_gym.security.keys import load_trust
    from tests.security.helpers import run_with_logs

    run_with_logs(tmp_path / "run")  # insider_key_misuse: a strict lab in session mode
    log = next((tmp_path / "run" / "logs").glob("*.jsonl"))
    report = verify_log(log, load_trust())
    assert report["macs_checked"] > 0
    assert report["macs_run_signer_only"] == report["macs_checked"]  # benchmark keys only
