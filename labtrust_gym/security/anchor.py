"""Log anchors: a signed record of an episode log's chain head and length, written beside it.

A hash chain alone cannot show that lines were cut off the end, nor that someone rewrote the log
and recomputed every hash. The anchor (``<log>.anchor.json``) fixes the chain's length and head
hash, the log's SHA-256, and the public keys and roles of the episode, and the run signer signs
it (``labtrust_gym.security.keys``). :func:`verify_log` checks all of it: chain, anchor
signature and signer trust, head/length/digest, and every event signature of a strict-signature
lab — against the verifier's trusted key registry wherever it knows the agent, never against a
key only the anchor vouches for (``labtrust_gym.security.agent_keys``).

Refusal records (``refused``), session closures and runner decisions (``decision``: shield
blocks, LLM calls) carry no accepted event; only accepted events are required to be validly
signed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from labtrust_gym.errors import ChainIntegrityError, EvidenceError

from .agent_keys import AgentKeys
from .keys import RunKey, TrustStore, load_run_key, read_canonical_json, verify_signed

ANCHOR_FORMAT = "labtrust-log-anchor/0.1"
ANCHOR_SCHEMA = ("schemas", "log_anchor.v0.1.schema.json")


def anchor_path(log_path: str | Path) -> Path:
    p = Path(log_path)
    return p.with_name(p.name + ".anchor.json")


def record_status(record: dict[str, Any]) -> str:
    """``ACCEPTED`` unless the record says otherwise (room for refusal records)."""
    status = record.get("outcome", {}).get("status", "ACCEPTED")
    return str(status)


def build_anchor(
    log_path: Path,
    *,
    head_hash: str,
    length: int,
    strict_signatures: bool,
    agents: dict[str, str | None],
    keys: list[dict[str, Any]],
) -> dict[str, Any]:
    data = log_path.read_bytes()
    return {
        "format": ANCHOR_FORMAT,
        "log_file": log_path.name,
        "log_sha256": hashlib.sha256(data).hexdigest(),
        "log_bytes": len(data),
        "chain": {"length": int(length), "head_hash": head_hash},
        "strict_signatures": bool(strict_signatures),
        "agents": dict(sorted(agents.items())),
        "keys": keys,
    }


def write_anchor(log_path: str | Path, engine: Any, key: RunKey | None = None) -> dict[str, Any]:
    """Sign and write the anchor of ``engine``'s log just written to ``log_path``.

    Returns ``{"head_hash", "length"}`` for the results file.
    """
    from labtrust_gym.fileio import atomic_write_json

    path = Path(log_path)
    head = engine.chain_head()
    keyring = getattr(engine, "keyring", None)
    agents = getattr(engine, "agents", {}) or {}
    doc = build_anchor(
        path,
        head_hash=head["head_hash"],
        length=head["length"],
        strict_signatures=bool(getattr(engine, "strict", False)),
        agents={aid: getattr(rec, "role", None) for aid, rec in agents.items()},
        keys=keyring.public_keys() if keyring is not None else [],
    )
    signer = key if key is not None else load_run_key()
    assert signer is not None  # load_run_key(create=True) always returns a key
    atomic_write_json(anchor_path(path), signer.sign(doc))
    return {"head_hash": head["head_hash"], "length": head["length"]}


def read_anchor(path: Path, trust: TrustStore) -> tuple[dict[str, Any], str]:
    """The anchor at ``path`` (canonical bytes, schema, signature, trusted signer) and its
    signer's fingerprint."""
    from labtrust_gym.config import get_repo_root, policy_path
    from labtrust_gym.errors import SchemaValidationError
    from labtrust_gym.fileio import validate_with_schema

    if not path.is_file():
        raise EvidenceError(
            f"No anchor for this log (looked for {str(path)!r}). Without it a truncated or "
            "rewritten log cannot be told from a genuine one; pass --chain-only to check the "
            "hash chain alone.",
            code="EVIDENCE.ANCHOR_MISSING",
        )
    doc = read_canonical_json(path, what="Log anchor")
    try:
        validate_with_schema(
            doc, policy_path(get_repo_root(), *ANCHOR_SCHEMA), what=f"Log anchor {str(path)!r}"
        )
    except SchemaValidationError as exc:
        raise EvidenceError(str(exc), code="EVIDENCE.MALFORMED") from None
    signer = verify_signed(doc, trust, what=f"Log anchor {str(path)!r}")
    return doc, signer


def iter_records(lines: list[bytes], start_seq: int = 1) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(seq, record)`` of chain lines already verified by ``verify_chain``/``verify_segment``."""
    from labtrust_gym.engine.hashchain import parse_record

    for i, line in enumerate(lines):
        yield start_seq + i, parse_record(line[84:-1], start_seq + i)


def check_event_signatures(
    records: Iterator[tuple[int, dict[str, Any]]],
    anchor: dict[str, Any],
    *,
    where: str,
    agent_keys: AgentKeys,
) -> dict[str, Any]:
    """Re-check every Ed25519-signed accepted event against ``agent_keys`` (a strict lab's
    accepted events must all be authenticated). Session-MAC'd events are re-checked over the
    whole log by :func:`labtrust_gym.engine.logcheck.recheck_authentication`.

    Returns ``{"checked", "trusted", "run_signer_only", "run_signer_only_agents"}``: how many
    signatures were checked, how many against the verifier's trusted registry and how many
    against keys only the anchor (the run signer) vouches for, and whose those were."""
    from labtrust_gym.engine.logcheck import MalformedRecordError, check_auth_fields
    from labtrust_gym.engine.signing import signing_message

    ring = agent_keys.ring()
    roles = anchor["agents"]
    strict = anchor["strict_signatures"]
    counts = {"checked": 0, "trusted": 0, "run_signer_only": 0}
    vouched: set[str] = set()
    for seq, record in records:
        event = record.get("event")
        accepted = record_status(record) == "ACCEPTED"
        if not accepted or not isinstance(event, dict) or "mac" in event:
            continue
        if not strict and "signature" not in event:
            continue
        t = record["outcome"].get("t_s", 0.0)
        try:
            if isinstance(t, bool) or not isinstance(t, int | float):
                raise MalformedRecordError(f"Episode log line {seq}: outcome.t_s is {t!r:.40}.")
            check_auth_fields({"seq": 0, **event}, seq)
        except MalformedRecordError as exc:
            raise EvidenceError(f"{where}: {exc}", code="EVIDENCE.MALFORMED") from None
        agent = event["agent_id"]
        key_id, sig = event.get("key_id"), event.get("signature")
        if not isinstance(key_id, str) or not isinstance(sig, str):
            code: str | None = "SIG.MISSING"
        else:
            code = ring.key_check(key_id, str(agent), t, roles.get(agent))
            if code is None and not ring.verify(key_id, sig, signing_message(event)):
                code = "SIG.INVALID"
        if code is not None:
            raise EvidenceError(
                f"{where}: line {seq}: the event of {agent!r} fails its signature check "
                f"({code}); it was not signed by the agent's key.",
                code="EVIDENCE.EVENT_SIGNATURE",
            )
        counts["checked"] += 1
        if key_id in agent_keys.trusted:
            counts["trusted"] += 1
        else:
            counts["run_signer_only"] += 1
            vouched.add(str(agent))
    return {**counts, "run_signer_only_agents": sorted(vouched)}


def verify_log(
    log_path: str | Path,
    trust: TrustStore,
    *,
    chain_only: bool = False,
    keys: list[dict[str, Any]] | None = None,
    policy_root: Path | str | None = None,
) -> dict[str, Any]:
    """Verify an episode log and its anchor; raise :class:`EvidenceError` on the first problem.

    Event signatures are checked against the verifier's trusted key registry — the policy key
    registry of ``policy_root``'s layered policy plus ``keys`` (``--keys``) — and, for agents
    that registry does not know, against the keys the anchor lists, which only the run signer
    vouches for (:mod:`labtrust_gym.security.agent_keys`). Returns ``{"ok", "length",
    "head_hash", "records", "anchored", "signer", "signatures_checked", "signatures_trusted",
    "signatures_run_signer_only", "run_signer_only_agents", "macs_checked",
    "macs_run_signer_only", "unchecked"}`` (``macs_run_signer_only``: MACs in sessions opened
    with a key the trusted registry does not hold).
    """
    from labtrust_gym.engine.hashchain import read_log, verify_chain

    from .agent_keys import resolve_agent_keys, trusted_keys

    path = Path(log_path)
    registry = trusted_keys(keys, policy_root)
    lines = read_log(path)
    try:
        chain = verify_chain(lines)
    except ChainIntegrityError as exc:
        raise EvidenceError(f"{str(path)!r}: {exc}", code="EVIDENCE.CHAIN_BROKEN") from None
    report: dict[str, Any] = {
        "ok": True,
        "length": chain["length"],
        "head_hash": chain["head_hash"],
        "records": chain["records"],
        "anchored": False,
        "signer": None,
        "signatures_checked": 0,
        "signatures_trusted": 0,
        "signatures_run_signer_only": 0,
        "run_signer_only_agents": [],
        "macs_checked": 0,
        "macs_run_signer_only": 0,
        "unchecked": 0,
    }
    if chain_only:  # no anchor: the chain and what the trusted registry lets us re-check
        return _recheck(report, lines, registry, path, frozenset(k["key_id"] for k in registry))
    anchor, signer = read_anchor(anchor_path(path), trust)
    want = anchor["chain"]
    if chain["length"] != want["length"]:
        verb = "truncated" if chain["length"] < want["length"] else "extended"
        raise EvidenceError(
            f"{str(path)!r}: the log has {chain['length']} events but its anchor records "
            f"{want['length']}: it was {verb}.",
            code="EVIDENCE.ANCHOR_MISMATCH",
        )
    if chain["head_hash"] != want["head_hash"]:
        raise EvidenceError(
            f"{str(path)!r}: the chain head {chain['head_hash'][:16]}… differs from the anchored "
            f"head {want['head_hash'][:16]}…: the log was rewritten.",
            code="EVIDENCE.ANCHOR_MISMATCH",
        )
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != anchor["log_sha256"] or anchor["log_file"] != path.name:
        raise EvidenceError(
            f"{str(path)!r}: the file's SHA-256 or name differs from its anchor.",
            code="EVIDENCE.ANCHOR_MISMATCH",
        )
    report["anchored"] = True
    report["signer"] = signer
    agent_keys = resolve_agent_keys(anchor["keys"], registry, where=str(path))
    sigs = check_event_signatures(
        iter_records(lines), anchor, where=str(path), agent_keys=agent_keys
    )
    report["signatures_checked"] = sigs["checked"]
    report["signatures_trusted"] = sigs["trusted"]
    report["signatures_run_signer_only"] = sigs["run_signer_only"]
    report["run_signer_only_agents"] = sigs["run_signer_only_agents"]
    return _recheck(report, lines, list(agent_keys.keys), path, agent_keys.trusted)


def _recheck(
    report: dict[str, Any],
    lines: list[bytes],
    keys: list[dict[str, Any]],
    path: Path,
    trusted: frozenset[str],
) -> dict[str, Any]:
    """Sequence numbers (no replay), session MACs once their epoch key is disclosed, and the
    Ed25519 signatures ``keys`` cover (:mod:`labtrust_gym.engine.logcheck`)."""
    from labtrust_gym.engine.logcheck import MalformedRecordError, recheck_authentication

    try:
        auth = recheck_authentication(lines, keys)
    except MalformedRecordError as exc:
        raise EvidenceError(f"{str(path)!r}: {exc}", code="EVIDENCE.MALFORMED") from None
    except ChainIntegrityError as exc:
        raise EvidenceError(f"{str(path)!r}: {exc}", code="EVIDENCE.EVENT_SIGNATURE") from None
    if not report["anchored"]:  # chain only: every key checked with is a trusted one
        report["signatures_trusted"] = auth["signatures_checked"]
    report["signatures_checked"] = max(report["signatures_checked"], auth["signatures_checked"])
    report["macs_checked"] = auth["macs_checked"]
    # a MAC rests on the handshake that opened its session: only as trusted as that key
    report["macs_run_signer_only"] = sum(
        n for key_id, n in auth["macs_by_key"].items() if key_id not in trusted
    )
    report["unchecked"] = auth["unchecked"]
    return report
