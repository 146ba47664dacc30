"""Results documents: schema validation, canonical bytes, v0.2 subset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labtrust_gym.benchmarks.metrics import compute_episode_metrics
from labtrust_gym.benchmarks.results import (
    build_results,
    downgrade_to_v02,
    policy_fingerprint,
    read_results,
    validate_results,
    write_results,
)
from labtrust_gym.errors import InvalidInputError, SchemaValidationError

CONFIG = {
    "episodes": 2,
    "base_seed": 7,
    "max_steps": 10,
    "coord_method": None,
    "scale": None,
    "injection": None,
    "timing_mode": "explicit",
    "metrics_aggregator_id": "default",
    "domain_id": "hospital_lab",
}


def _episodes() -> list[dict[str, object]]:
    specs = [{"specimen_id": "S1", "priority": "STAT", "arrival_s": 0.0, "released_s": 120.0}]
    return [
        {"seed": 7, "metrics": compute_episode_metrics([[]], specimens=specs, t_end_s=100.0)},
        {"seed": 8, "metrics": compute_episode_metrics([[]], specimens=[], t_end_s=100.0)},
    ]


def _doc(version: str = "0.3") -> dict[str, object]:
    return build_results(
        task="throughput_sla",
        seeds=[7, 8],
        episodes=_episodes(),
        config=CONFIG,
        agent_baseline_id="scripted_v1",
        partner_id=None,
        version=version,
    )


def test_v03_document_validates_and_has_summary() -> None:
    doc = _doc()
    validate_results(doc)
    assert doc["schema_version"] == "0.3"
    assert doc["summary"]["throughput"]["mean"] == 0.5
    assert set(doc["summary"]["throughput"]["quantiles"]) == {"p05", "p25", "p50", "p75", "p95"}
    assert str(doc["policy_fingerprint"]).startswith("sha256:")


def test_v02_is_the_stable_subset() -> None:
    doc = _doc("0.2")
    validate_results(doc)
    assert "summary" not in doc
    assert downgrade_to_v02(_doc()) == doc
    bad = dict(doc, extra_field=1)
    with pytest.raises(SchemaValidationError, match="extra_field"):
        validate_results(bad)


def test_invalid_documents_are_rejected_naming_the_field() -> None:
    doc = _doc()
    doc["episodes"][0]["metrics"]["throughput"] = -1  # type: ignore[index]
    with pytest.raises(SchemaValidationError, match="episodes/0/metrics/throughput"):
        validate_results(doc)
    with pytest.raises(SchemaValidationError, match="schema_version"):
        validate_results({"schema_version": "9.9"})
    with pytest.raises(SchemaValidationError, match="JSON"):
        validate_results(dict(_doc(), nan=float("nan")))


def test_write_is_canonical_and_byte_identical(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    write_results(a, _doc())
    write_results(b, _doc())
    assert a.read_bytes() == b.read_bytes()
    text = a.read_text()
    assert text.endswith("\n")
    assert json.loads(text) == read_results(a)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.json"]


def test_invalid_document_leaves_no_file(tmp_path: Path) -> None:
    doc = _doc()
    doc["task"] = ""
    out = tmp_path / "r.json"
    with pytest.raises(SchemaValidationError):
        write_results(out, doc)
    assert list(tmp_path.iterdir()) == []


def test_read_results_rejects_non_results(tmp_path: Path) -> None:
    p = tmp_path / "x.json"
    p.write_text("[1, 2]")
    with pytest.raises(InvalidInputError, match="not a results document"):
        read_results(p)


def test_policy_fingerprint_changes_with_policy(tmp_path: Path) -> None:
    (tmp_path / "policy").mkdir()
    (tmp_path / "policy" / "a.yaml").write_text("x: 1\n")
    first = policy_fingerprint(tmp_path)
    other = tmp_path / "other"
    (other / "policy").mkdir(parents=True)
    (other / "policy" / "a.yaml").write_text("x: 2\n")
    assert policy_fingerprint(other) != first
    assert policy_fingerprint(tmp_path) == first


def test_git_sha_is_the_package_checkout_commit_or_none(tmp_path: Path) -> None:
    import re
    import subprocess

    from labtrust_gym.benchmarks.results import git_sha

    sha = git_sha()
    repo = Path(__file__).resolve().parents[2]
    if (repo / ".git").is_dir():
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True
        ).stdout.strip()
        assert sha == head or (sha is not None and re.fullmatch(r"[0-9a-f]{40}", sha))
    else:
        assert sha is None
    assert git_sha.__wrapped__(str(tmp_path)) is None  # not a work tree
