"""Episode log + hash chain: recomputed from the log, any one-byte edit is detected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labtrust_gym.engine.hashchain import GENESIS_HASH, verify_chain, verify_log_file
from labtrust_gym.errors import ChainIntegrityError

from .helpers import drive_default_lab, make_engine


@pytest.fixture(scope="module")
def log_lines() -> list[bytes]:
    eng = make_engine()
    drive_default_lab(eng, horizon_s=900)
    lines = eng.episode_log_lines()
    assert len(lines) > 20
    return lines


def test_log_verifies_and_matches_engine_head(log_lines: list[bytes]) -> None:
    res = verify_chain(log_lines)
    assert res["ok"] and res["length"] == len(log_lines)
    first = json.loads(log_lines[0])
    assert first["record"]["prev_hash"] == GENESIS_HASH
    assert first["record"]["outcome"]["seq"] == 1


def test_log_lines_match_schema(log_lines: list[bytes]) -> None:
    from labtrust_gym.config import get_repo_root, policy_path
    from labtrust_gym.fileio import validate_with_schema

    schema = policy_path(get_repo_root(), "schemas", "engine_episode_log_line.v0.1.schema.json")
    for line in log_lines[:50]:
        validate_with_schema(json.loads(line), schema, what="log line")


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_any_one_byte_edit_fails_verification(log_lines: list[bytes], data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(log_lines) - 1), label="line")
    line = bytearray(log_lines[i])
    pos = data.draw(st.integers(0, len(line) - 1), label="byte")
    new = data.draw(st.integers(0, 255).filter(lambda b: b != line[pos] and b != 10), label="value")
    line[pos] = new
    edited = [*log_lines[:i], bytes(line), *log_lines[i + 1 :]]
    with pytest.raises(ChainIntegrityError):
        verify_chain(edited)


def test_removed_or_reordered_lines_fail(log_lines: list[bytes]) -> None:
    with pytest.raises(ChainIntegrityError, match="line 2"):
        verify_chain([log_lines[0], *log_lines[2:]])
    with pytest.raises(ChainIntegrityError):
        verify_chain([log_lines[1], log_lines[0], *log_lines[2:]])


def test_verify_log_cli(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from labtrust_gym.cli.app import main

    eng = make_engine()
    drive_default_lab(eng, horizon_s=300)
    good = eng.write_episode_log(tmp_path / "episode.jsonl")
    assert verify_log_file(good)["length"] == eng.chain_head()["length"]
    # An engine-written log has no signed anchor: verify-log refuses it unless told to check
    # the chain alone (docs/security.md).
    assert main(["verify-log", str(good)]) == 2
    assert main(["verify-log", "--chain-only", str(good)]) == 0
    data = bytearray(good.read_bytes())
    data[len(data) // 2] ^= 0x01
    bad = tmp_path / "edited.jsonl"
    bad.write_bytes(bytes(data))
    assert main(["verify-log", "--chain-only", str(bad)]) == 2
    res = CliRunner().invoke(
        __import__("labtrust_gym.cli.app", fromlist=["build_app"]).build_app(),
        ["verify-log", "--chain-only", str(good)],
    )
    assert res.exit_code == 0 and "OK (chain only):" in res.output


def test_streamed_log_equals_memory_log(tmp_path: Path) -> None:
    path = tmp_path / "stream.jsonl"
    eng = make_engine(log_path=str(path), log_fsync=False)
    drive_default_lab(eng, horizon_s=200)
    eng.close()
    assert path.read_bytes() == b"".join(ln + b"\n" for ln in eng.episode_log_lines())
