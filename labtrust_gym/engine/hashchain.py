"""The SHA-256 hash chain over the engine's records and the JSONL episode log.

A log line is ``{"hash":"<64 hex>","record":<record>}`` where ``record`` is the canonical JSON of
``{"event", "outcome", "prev_hash"}`` and ``hash = sha256(record bytes)``. Verification hashes the
record bytes exactly as they appear in the line, so it does not depend on which JSON library wrote
them; any edit of a line (one byte included) breaks either the hash, the link or the line shape.

Canonical JSON = sorted keys, compact separators, UTF-8, written by ``orjson`` (a dependency: it is
several times faster than the standard library on the engine's hot path).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

from labtrust_gym.errors import ChainIntegrityError, InvalidInputError

GENESIS_HASH = "0" * 64
_PREFIX = b'{"hash":"'
_MIDDLE = b'","record":'

#: Deepest nesting (objects and arrays, the record itself included) verification will parse.
#: orjson, which writes every record, refuses anything deeper, so no genuine log exceeds it;
#: a deeper line is refused before parsing (it would exhaust the parser's recursion).
MAX_RECORD_DEPTH = 254
_DEPTH_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def canonical_bytes(obj: Any) -> bytes:
    """Canonical JSON bytes of ``obj`` (sorted keys, compact, UTF-8)."""
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)


def dumps_with_option() -> tuple[Callable[..., bytes], Any]:
    """``(dumps, option)`` such that ``dumps(obj, option=option)`` is ``canonical_bytes(obj)``;
    lets the engine's hot path call orjson without a wrapper frame."""
    return orjson.dumps, orjson.OPT_SORT_KEYS


def line_bytes(hash_hex: str, record: bytes) -> bytes:
    return _PREFIX + hash_hex.encode("ascii") + _MIDDLE + record + b"}"


def _split_line(line: bytes, lineno: int) -> tuple[str, bytes]:
    if not (line.startswith(_PREFIX) and line.endswith(b"}") and line[73:84] == _MIDDLE):
        raise ChainIntegrityError(
            f"Episode log line {lineno}: not a chain line "
            '(expected {"hash":"<64 hex>","record":{...}}).'
        )
    h = line[9:73]
    try:
        hash_hex = h.decode("ascii")
        int(hash_hex, 16)
    except ValueError:
        raise ChainIntegrityError(f"Episode log line {lineno}: hash is not hex.") from None
    return hash_hex, line[84:-1]


def _nests_deeper_than(record: bytes, limit: int) -> bool:
    """Whether the JSON text ``record`` nests more than ``limit`` containers deep (brackets
    inside strings do not count). Cheap for ordinary records: few brackets, no scan."""
    if record.count(b"[") + record.count(b"{") <= limit:
        return False
    depth = 0
    for token in _DEPTH_TOKENS.finditer(record):
        char = token.group()[:1]
        if char in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif char in (b"]", b"}"):
            depth -= 1
    return False


def parse_record(rec: bytes, lineno: int) -> Any:
    """The JSON value of a line's record bytes, refusing nesting deeper than
    :data:`MAX_RECORD_DEPTH` before parsing (every reader of chain lines goes through here, so
    no hostile line can exhaust a parser's recursion). Errors are ``ChainIntegrityError``."""
    if _nests_deeper_than(rec, MAX_RECORD_DEPTH):
        raise ChainIntegrityError(
            f"Episode log line {lineno}: record nests deeper than {MAX_RECORD_DEPTH} levels, "
            "which no engine log does; refusing to parse it."
        )
    try:
        return json.loads(rec)
    except (ValueError, RecursionError):
        raise ChainIntegrityError(f"Episode log line {lineno}: record is not valid JSON.") from None


def parse_line(line: bytes | str, lineno: int) -> Any:
    """The record of one chain line (shape and depth checked, hash not: see verify_chain)."""
    raw = line.encode("utf-8") if isinstance(line, str) else line
    return parse_record(_split_line(raw.rstrip(b"\r\n"), lineno)[1], lineno)


def nests_deeper_than(data: bytes, limit: int = MAX_RECORD_DEPTH) -> bool:
    """Whether the JSON text ``data`` nests more than ``limit`` containers deep."""
    return _nests_deeper_than(data, limit)


#: record kinds by their top-level keys: an accepted event, a refused (BLOCKED) one, the
#: disclosure that closes a signature epoch's sessions, and a runner's decision (shield
#: verdicts, LLM calls) about proposals before they reached the engine (docs/engine.md)
_KINDS = {
    frozenset(("event", "outcome", "prev_hash")): "event",
    frozenset(("refused", "outcome", "prev_hash")): "refused",
    frozenset(("sessions_closed", "outcome", "prev_hash")): "sessions_closed",
    frozenset(("decision", "outcome", "prev_hash")): "decision",
}


def _refusal_ok(record: dict[str, Any]) -> bool:
    outcome, refused = record["outcome"], record["refused"]
    return (
        isinstance(outcome, dict)
        and isinstance(outcome.get("blocked_reason_code"), str)
        and isinstance(refused, dict)
        and ("event" in refused or isinstance(refused.get("sha256"), str))
    )


def verify_chain(
    lines: Iterable[bytes | str], *, prev_hash: str = GENESIS_HASH, first_seq: int = 1
) -> dict[str, Any]:
    """Recompute the chain; return ``{"ok": True, "length", "head_hash", "records": {kind:
    count}}`` or raise ``ChainIntegrityError`` naming the first bad line (1-based) and why.

    A *segment* of a chain (a receipt bundle's tail of a log) verifies with the ``prev_hash`` of
    its first record and that record's ``first_seq``; ``length`` is then the last line's seq.
    """
    prev = prev_hash
    n = first_seq - 1
    counts = dict.fromkeys(_KINDS.values(), 0)
    for lineno, raw in enumerate(lines, start=first_seq):
        line = raw.encode("utf-8") if isinstance(raw, str) else raw
        line = line.rstrip(b"\r\n")
        if not line:
            raise ChainIntegrityError(f"Episode log line {lineno}: empty line.")
        hash_hex, rec = _split_line(line, lineno)
        if hashlib.sha256(rec).hexdigest() != hash_hex:
            raise ChainIntegrityError(
                f"Episode log line {lineno}: hash does not match the record (the line was edited)."
            )
        record = parse_record(rec, lineno)
        kind = _KINDS.get(frozenset(record)) if isinstance(record, dict) else None
        if kind is None:
            raise ChainIntegrityError(
                f"Episode log line {lineno}: record has the wrong fields (expected "
                "event|refused|sessions_closed|decision, outcome, prev_hash)."
            )
        if kind == "refused" and not _refusal_ok(record):
            raise ChainIntegrityError(
                f"Episode log line {lineno}: refusal record without a reason code or a "
                "refused event/digest."
            )
        counts[kind] += 1
        if record["prev_hash"] != prev:
            raise ChainIntegrityError(
                f"Episode log line {lineno}: prev_hash does not link to line "
                f"{lineno - 1} (a line was removed, inserted or reordered)."
            )
        outcome = record["outcome"]
        if not isinstance(outcome, dict) or outcome.get("seq") != lineno:
            raise ChainIntegrityError(f"Episode log line {lineno}: outcome.seq is not {lineno}.")
        prev = hash_hex
        n += 1
    return {"ok": True, "length": n, "head_hash": prev, "records": counts}


def read_log(path: str | os.PathLike[str]) -> list[bytes]:
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise InvalidInputError(f"Episode log not found: {str(p)!r}.") from None
    except OSError as exc:
        raise InvalidInputError(
            f"Cannot read episode log {str(p)!r}: {exc.strerror or exc}."
        ) from None
    return [ln for ln in data.split(b"\n") if ln]


def verify_log_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``verify_chain`` over a JSONL file; errors name the file."""
    try:
        return verify_chain(read_log(path))
    except ChainIntegrityError as exc:
        raise ChainIntegrityError(f"{str(path)!r}: {exc}") from None


class LogStream:
    """Append chain lines to a file with an fsync per line (crash-safe streaming)."""

    def __init__(self, path: str | os.PathLike[str], fsync: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._fh = open(self.path, "wb")  # noqa: SIM115 - closed in close()

    def write(self, line: bytes) -> None:
        self._fh.write(line + b"\n")
        self._fh.flush()
        if self.fsync:
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()
