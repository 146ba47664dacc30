"""The file list of a signed evidence directory (receipt bundle, official pack): every file but
the manifest itself with its SHA-256, written by :func:`file_digests` and checked by
:func:`check_files` — the exact file set, then every digest — so any added, removed or edited
file (one byte included) is caught the same way in every kind of evidence directory."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from labtrust_gym.errors import EvidenceError

_SHA256 = re.compile(r"[0-9a-f]{64}")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _present(root: Path, manifest: str) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} - {manifest}


def file_digests(root: Path, *, manifest: str) -> dict[str, str]:
    """``{relative posix path: sha256}`` of every file under ``root`` except ``manifest``."""
    return {rel: _sha256(root / rel) for rel in sorted(_present(root, manifest))}


def check_files(root: Path, listed: Any, *, manifest: str) -> dict[str, str]:
    """Check that ``listed`` (a manifest's ``files``) names exactly the files under ``root``
    (``manifest`` aside) with their SHA-256; return it. Raises :class:`EvidenceError`:
    ``EVIDENCE.MALFORMED`` (not a ``{path: sha256}`` mapping), ``EVIDENCE.MANIFEST_MISMATCH``
    (files added or missing) or ``EVIDENCE.HASH_MISMATCH`` (a file was edited)."""
    if not isinstance(listed, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and _SHA256.fullmatch(v)
        for k, v in listed.items()
    ):
        raise EvidenceError(
            f"{str(root)!r}: {manifest} has no 'files' mapping of paths to SHA-256 digests.",
            code="EVIDENCE.MALFORMED",
        )
    present = _present(root, manifest)
    if present != set(listed):
        raise EvidenceError(
            f"{str(root)!r}: files not in the manifest {sorted(present - set(listed))}, listed "
            f"but missing {sorted(set(listed) - present)}.",
            code="EVIDENCE.MANIFEST_MISMATCH",
        )
    for rel, digest in sorted(listed.items()):
        if _sha256(root / rel) != digest:
            raise EvidenceError(
                f"{rel}: SHA-256 differs from the manifest (edited).", code="EVIDENCE.HASH_MISMATCH"
            )
    return dict(listed)
