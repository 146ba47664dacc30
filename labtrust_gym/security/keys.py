"""The run signing key and the verifier's trust store (see docs/security.md, "Evidence").

Two kinds of signatures protect a run's evidence:

* **agents** sign their events in strict-signature labs (``labtrust_gym.engine.signing``);
* the **run signer** — whoever ran the benchmark — signs every log anchor, receipt-bundle
  manifest and pack manifest with one Ed25519 key, the *run key* (this module).

The run key is ``LABTRUST_RUN_KEY`` (a PKCS#8 PEM private key readable only by its owner), else
``$LABTRUST_HOME/keys/run_key.pem`` (``LABTRUST_HOME`` defaults to ``~/.labtrust``), created on
first use. A verifier accepts a signature only from a key it trusts: keys named with
``--trusted-key`` (a public-key PEM file or a ``sha256:`` fingerprint), the public keys in
``$LABTRUST_HOME/trusted_keys/``, and its own run key. A third party pins the producer's published
public key (``labtrust keys show --out producer.pem`` prints it).

A signed document is a JSON object with a ``format`` field and a ``signature`` block
``{alg, key_fingerprint, public_key_b64, value}``; the signed message is
``b"labtrust-gym:" + format + b"\\n" + canonical JSON of the document without "signature"``, so a
signature made for one kind of document never verifies as another.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labtrust_gym.errors import ConfigError, EvidenceError

HOME_ENV = "LABTRUST_HOME"
RUN_KEY_ENV = "LABTRUST_RUN_KEY"
ALG = "ed25519"


def labtrust_home() -> Path:
    """``$LABTRUST_HOME`` or ``~/.labtrust``."""
    raw = os.environ.get(HOME_ENV)
    return Path(raw).expanduser() if raw else Path.home() / ".labtrust"


def default_run_key_path() -> Path:
    return labtrust_home() / "keys" / "run_key.pem"


def b64decode_strict(text: Any, what: str, code: str) -> bytes:
    """Decode base64 that must be in canonical form: a one-character edit never decodes to the
    same bytes (non-zero padding bits would otherwise be ignored)."""
    try:
        raw = base64.b64decode(text, validate=True) if isinstance(text, str) else None
    except ValueError:
        raw = None
    if raw is None or base64.b64encode(raw).decode("ascii") != text:
        raise EvidenceError(f"{what}: not canonical base64.", code=code)
    return raw


def fingerprint(public_key_b64: str) -> str:
    """``sha256:<hex>`` of the raw 32-byte public key."""
    raw = b64decode_strict(public_key_b64, "public key", "EVIDENCE.SIGNATURE_INVALID")
    return "sha256:" + hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class RunKey:
    """An Ed25519 private key that signs evidence documents."""

    private: Any
    public_key_b64: str
    path: Path | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key_b64)

    @classmethod
    def from_private(cls, private: Any, path: Path | None = None) -> RunKey:
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return cls(private, base64.b64encode(raw).decode("ascii"), path)

    @classmethod
    def from_seed(cls, seed: bytes) -> RunKey:
        """A deterministic key (tests and the security suite's own throw-away runs only)."""
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return cls.from_private(Ed25519PrivateKey.from_private_bytes(hashlib.sha256(seed).digest()))

    def public_pem(self) -> str:
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        pem = self.private.public_key().public_bytes(
            Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
        )
        return str(pem.decode("ascii"))

    def sign(self, document: dict[str, Any]) -> dict[str, Any]:
        """``document`` with a ``signature`` block added (any old one is replaced)."""
        body = {k: v for k, v in document.items() if k != "signature"}
        value = self.private.sign(_message(body))
        return {
            **body,
            "signature": {
                "alg": ALG,
                "key_fingerprint": self.fingerprint,
                "public_key_b64": self.public_key_b64,
                "value": base64.b64encode(value).decode("ascii"),
            },
        }


def _message(body: dict[str, Any]) -> bytes:
    fmt = body.get("format")
    if not isinstance(fmt, str) or not fmt:
        raise EvidenceError("Signed document has no 'format' field.", code="EVIDENCE.MALFORMED")
    return b"labtrust-gym:" + fmt.encode("utf-8") + b"\n" + signed_bytes(body, what="Document")


def signed_bytes(doc: Any, *, what: str) -> bytes:
    """The canonical bytes a signature covers. Documents we write always have them; a value
    the encoder cannot take (an integer beyond 64 bits, nesting deeper than 254 levels) means
    the document was not written by us: ``EVIDENCE.MALFORMED``, never a crash."""
    from labtrust_gym.engine.hashchain import canonical_bytes

    try:
        return canonical_bytes(doc)
    except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
        raise EvidenceError(
            f"{what} holds a value no LabTrust-Gym document has ({exc}); it was not written "
            "by LabTrust-Gym.",
            code="EVIDENCE.MALFORMED",
        ) from None


def _check_private_mode(path: Path) -> None:
    if os.name != "posix":
        return
    mode = path.stat().st_mode & 0o077
    if mode:
        raise ConfigError(
            f"Run key {str(path)!r} is readable by other users (mode {oct(mode)}); "
            f"run `chmod 600 {path}`."
        )


def _load_private(path: Path) -> RunKey:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"Cannot read run key {str(path)!r}: {exc.strerror or exc}.") from None
    _check_private_mode(path)
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"Run key {str(path)!r} is not an unencrypted PKCS#8 PEM private key: {exc}."
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"Run key {str(path)!r} is not an Ed25519 key.")
    return RunKey.from_private(key, path)


def _create_private(path: Path) -> None:
    """Write a new key to ``path`` atomically; if another process won the race, keep its key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = Ed25519PrivateKey.generate().private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
    )
    fd, tmp = tempfile.mkstemp(prefix=".run_key.", dir=path.parent)
    try:
        os.chmod(tmp, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process made one first: keep it
            os.link(tmp, path)  # atomic, and never replaces an existing key
    finally:
        os.unlink(tmp)


def load_run_key(*, create: bool = True) -> RunKey | None:
    """The run key (``LABTRUST_RUN_KEY``, else the default path, created when ``create``).

    A key that cannot be read or created is a :class:`ConfigError` naming the path and the fix
    (never an ``OSError`` traceback)."""
    explicit = os.environ.get(RUN_KEY_ENV)
    if explicit:
        return _load_private(Path(explicit).expanduser())
    path = default_run_key_path()
    try:
        exists = path.is_file()
        if not exists and create:
            _create_private(path)
    except OSError as exc:
        raise ConfigError(
            f"Cannot create the run key {str(path)!r}: {exc.strerror or exc}. Set {HOME_ENV} to "
            f"a writable directory, or {RUN_KEY_ENV} to an existing key file (PKCS#8 PEM, "
            "mode 0600)."
        ) from None
    if not exists and not create:
        return None
    return _load_private(path)


def run_key_path() -> Path:
    """Where the run key is read from (``LABTRUST_RUN_KEY`` or the default path), resolved."""
    explicit = os.environ.get(RUN_KEY_ENV)
    path = Path(explicit).expanduser() if explicit else default_run_key_path()
    return path.resolve()


def read_public_key(path: Path) -> str:
    """The base64 raw public key in a PEM (SubjectPublicKeyInfo) file."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
        load_pem_public_key,
    )

    try:
        key = load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"Cannot read public key {str(path)!r}: {exc.strerror or exc}.") from None
    except ValueError as exc:
        raise ConfigError(f"{str(path)!r} is not a PEM public key: {exc}.") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{str(path)!r} is not an Ed25519 public key.")
    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode("ascii")


@dataclass
class TrustStore:
    """Fingerprints of the keys whose signatures a verifier accepts, with where each came from."""

    sources: dict[str, str] = field(default_factory=dict)

    def add(self, fp: str, source: str) -> None:
        self.sources.setdefault(fp, source)

    def __contains__(self, fp: object) -> bool:
        return fp in self.sources


def load_trust(
    trusted: list[str] | tuple[str, ...] = (), *, include_local: bool = True
) -> TrustStore:
    """The keys this verifier trusts: ``trusted`` (PEM files or ``sha256:`` fingerprints), the
    PEM files in ``$LABTRUST_HOME/trusted_keys/`` and (``include_local``) its own run key."""
    store = TrustStore()
    for item in trusted:
        if item.startswith("sha256:"):
            if len(item) != 71 or any(c not in "0123456789abcdef" for c in item[7:]):
                raise ConfigError(
                    f"--trusted-key {item!r}: a fingerprint is 'sha256:' and 64 lowercase hex "
                    "digits (see `labtrust keys show`)."
                )
            store.add(item, "--trusted-key")
        else:
            store.add(fingerprint(read_public_key(Path(item))), f"--trusted-key {item}")
    trust_dir = labtrust_home() / "trusted_keys"
    if trust_dir.is_dir():
        for pem in sorted(trust_dir.glob("*.pem")):
            store.add(fingerprint(read_public_key(pem)), str(pem))
    if include_local:
        own = load_run_key(create=False)
        if own is not None:
            store.add(own.fingerprint, f"own run key {own.path}")
    return store


def verify_signed(document: Any, trust: TrustStore, *, what: str) -> str:
    """Check ``document``'s signature and that its signer is trusted; return the fingerprint.

    Raises :class:`EvidenceError` (``EVIDENCE.SIGNATURE_INVALID`` or
    ``EVIDENCE.UNTRUSTED_SIGNER``) naming ``what``.
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    sig = document.get("signature") if isinstance(document, dict) else None
    if not isinstance(sig, dict) or sig.get("alg") != ALG:
        raise EvidenceError(
            f"{what}: no Ed25519 signature block.", code="EVIDENCE.SIGNATURE_INVALID"
        )
    code = "EVIDENCE.SIGNATURE_INVALID"
    pub = b64decode_strict(sig.get("public_key_b64"), f"{what}: signer public key", code)
    value = b64decode_strict(sig.get("value"), f"{what}: signature", code)
    fp = "sha256:" + hashlib.sha256(pub).hexdigest()
    if sig.get("key_fingerprint") != fp:
        raise EvidenceError(f"{what}: key_fingerprint does not match the public key.", code=code)
    body = {k: v for k, v in document.items() if k != "signature"}
    try:
        Ed25519PublicKey.from_public_bytes(pub).verify(value, _message(body))
    except (InvalidSignature, ValueError):
        raise EvidenceError(
            f"{what}: the signature does not verify (the document was edited after signing).",
            code=code,
        ) from None
    if fp not in trust:
        raise EvidenceError(
            f"{what}: signed by key {fp}, which this verifier does not trust. If that is the "
            "producer's published key, pass --trusted-key with its PEM file or fingerprint.",
            code="EVIDENCE.UNTRUSTED_SIGNER",
        )
    return fp


def parse_evidence_json(data: bytes, *, what: str) -> Any:
    """Parse JSON evidence bytes under the depth bound every verifier applies (the hash
    chain's, :data:`labtrust_gym.engine.hashchain.MAX_RECORD_DEPTH`), checked before parsing;
    anything that is not JSON LabTrust-Gym could have written is ``EVIDENCE.MALFORMED``."""
    import json

    from labtrust_gym.engine.hashchain import MAX_RECORD_DEPTH, nests_deeper_than

    if nests_deeper_than(data, MAX_RECORD_DEPTH):
        raise EvidenceError(
            f"{what}: nests deeper than {MAX_RECORD_DEPTH} levels, which no LabTrust-Gym "
            "document does; refusing to parse it.",
            code="EVIDENCE.MALFORMED",
        )
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise EvidenceError(f"{what}: not valid JSON.", code="EVIDENCE.MALFORMED") from None
    signed_bytes(doc, what=what)  # e.g. integers beyond 64 bits
    return doc


def _read_evidence(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        raise EvidenceError(
            f"{what}: {str(path)!r} is missing or unreadable.", code="EVIDENCE.MISSING"
        ) from None


def load_evidence_json(path: Path, *, what: str) -> Any:
    """:func:`parse_evidence_json` of a file (a missing or unreadable file is
    ``EVIDENCE.MISSING``)."""
    return parse_evidence_json(_read_evidence(path, what), what=f"{what} {str(path)!r}")


def read_canonical_json(path: Path, *, what: str) -> Any:
    """Parse a JSON evidence file that must be byte-for-byte in the canonical form LabTrust-Gym
    writes (sorted keys, two-space indent, trailing newline): whitespace edits are edits too."""
    from labtrust_gym.fileio import canonical_json

    data = _read_evidence(path, what)
    doc = parse_evidence_json(data, what=f"{what} {str(path)!r}")
    canonical = (canonical_json(doc, indent=2) + "\n").encode("utf-8")
    if data != canonical:
        raise EvidenceError(
            f"{what}: {str(path)!r} is not in canonical form (it was edited).",
            code="EVIDENCE.MALFORMED",
        )
    return doc
