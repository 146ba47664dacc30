"""The engine's in-memory hash chain and episode log (record kinds: docs/engine.md).

Records live back to back in one ``bytearray`` with their end offsets in an ``array("Q")`` and
their hex hashes in a second ``bytearray``: no per-record Python object, so the garbage collector
has nothing to traverse; lines are built on output. Optionally every line is also streamed to a
file as it is appended.
"""

from __future__ import annotations

import hashlib
from array import array
from pathlib import Path

from labtrust_gym.engine.hashchain import GENESIS_HASH, LogStream, line_bytes

_sha256 = hashlib.sha256


class AuditLog:
    """The chain head plus (when ``record``) the records, in flat buffers."""

    def __init__(self, record: bool, stream_path: str | Path | None, fsync: bool) -> None:
        self.record = record
        self.head = GENESIS_HASH
        self.head_b = GENESIS_HASH.encode()
        self.length = 0
        self.buf = bytearray()
        self.ends = array("Q")
        self.hashes = bytearray()
        self.stream = LogStream(stream_path, fsync) if stream_path else None

    def append(self, rec: bytes) -> str:
        """Hash ``rec`` (whose ``prev_hash`` is :attr:`head_b`) onto the chain; returns the hash."""
        h = _sha256(rec).hexdigest()
        self.length += 1
        self.head = h
        self.head_b = hb = h.encode()
        if self.record:
            buf = self.buf
            buf += rec
            self.ends.append(len(buf))
            self.hashes += hb
        if self.stream is not None:
            self.stream.write(line_bytes(h, rec))
        return h

    def lines(self) -> list[bytes]:
        buf, hashes = self.buf, self.hashes
        out = []
        start = 0
        for i, end in enumerate(self.ends):
            out.append(line_bytes(hashes[64 * i : 64 * i + 64].decode(), bytes(buf[start:end])))
            start = end
        return out

    def corrupt_for_test(self, index: int) -> None:
        """Flip one byte inside record ``index``'s ``prev_hash`` (accepted records end with it)."""
        end = self.ends[index]
        start = self.ends[index - 1] if index else 0
        pos = self.buf.rfind(b'"prev_hash":"', start, end) + 20
        self.buf[pos] = ord("x") if self.buf[pos] != ord("x") else ord("y")

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None
