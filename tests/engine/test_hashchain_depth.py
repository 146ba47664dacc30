"""verify-log against records nested deeper than any the engine writes: a clear refusal naming
the line, never a RecursionError."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from labtrust_gym.cli import main
from labtrust_gym.engine.hashchain import (
    GENESIS_HASH,
    MAX_RECORD_DEPTH,
    canonical_bytes,
    line_bytes,
    verify_chain,
)
from labtrust_gym.errors import ChainIntegrityError


def _line(event: object) -> bytes:
    """A correctly hashed first line whose event is ``event`` (written by hand, not orjson,
    which refuses to nest this deep)."""
    record = (
        b'{"event":' + json.dumps(event, separators=(",", ":")).encode()
        + b',"outcome":{"seq":1},"prev_hash":"' + GENESIS_HASH.encode() + b'"}'
    )
    return line_bytes(hashlib.sha256(record).hexdigest(), record)


def _nested(depth: int) -> object:
    value: object = 0
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


def _nested_text(depth: int) -> bytes:
    """``depth`` nested lists as raw JSON text (json.dumps itself recurses)."""
    return b"[" * depth + b"]" * depth


def test_a_record_nested_too_deep_is_refused_not_a_recursion_error() -> None:
    record = (
        b'{"event":' + _nested_text(100_000) + b',"outcome":{"seq":1},"prev_hash":"'
        + GENESIS_HASH.encode() + b'"}'
    )
    line = line_bytes(hashlib.sha256(record).hexdigest(), record)
    with pytest.raises(ChainIntegrityError, match=r"line 1: record nests deeper than \d+ levels"):
        verify_chain([line])


def test_the_depth_bound_is_exact_and_brackets_in_strings_do_not_count() -> None:
    # The record's own object is one level: its event may hold MAX - 1 nested containers.
    assert verify_chain([_line(_nested(MAX_RECORD_DEPTH - 1))])["length"] == 1
    with pytest.raises(ChainIntegrityError, match="nests deeper"):
        verify_chain([_line(_nested(MAX_RECORD_DEPTH))])
    assert verify_chain([_line({"text": "[" * 10_000 + '\\"{' * 500})])["ok"]


def test_every_record_the_engine_can_write_is_within_the_bound() -> None:
    import orjson

    deepest = _nested(MAX_RECORD_DEPTH)
    with pytest.raises(orjson.JSONEncodeError):  # the writer stops before the reader does
        canonical_bytes({"event": deepest, "outcome": {"seq": 1}, "prev_hash": GENESIS_HASH})


def test_verify_log_cli_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = (
        b'{"event":' + _nested_text(50_000) + b',"outcome":{"seq":1},"prev_hash":"'
        + GENESIS_HASH.encode() + b'"}'
    )
    log = tmp_path / "deep.jsonl"
    log.write_bytes(line_bytes(hashlib.sha256(record).hexdigest(), record) + b"\n")
    code = main(["verify-log", str(log)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "nests deeper than" in err[0], err
