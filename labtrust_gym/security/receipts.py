"""Receipt bundles: a released result, proven to be in an anchored, signed episode log.

``export_receipts(run_dir, out_dir)`` finds the run's results files and the anchored episode logs
they reference (``episodes[].log_sha256``) and writes::

    OUT/manifest.json                          every other file with its SHA-256, signed
    OUT/results/<results file>.json            the results files, as they were
    OUT/episodes/<log>/anchor.json             the log's signed anchor (head hash and length)
    OUT/episodes/<log>/chain_segment.jsonl     the log's tail from the first line any receipt
                                               cites to the anchored head (the chain proof)
    OUT/episodes/<log>/chain_proof.json        where the segment starts: seq and prev_hash
    OUT/episodes/<log>/receipts/<result_id>.json  one receipt per released result

where ``<log>`` is the log's path under the run directory without its suffix, and results
files keep theirs, each flattened to one name by :func:`flat_name` (``%`` -> ``%25``, ``/`` ->
``%2F``: distinct paths never share a name).

A linear hash chain proves a record by the records after it: the segment re-hashes from its
first line to the anchored head, so any line it contains is in the anchored log. A receipt cites
the release record and the result's history (the lines naming the result or its specimen).
``verify_bundle`` checks the manifest signature and every digest (so any one-byte edit of any
file is caught), each segment against its anchor, each receipt against its segment, and each
anchor against the results file that recorded the episode.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

from labtrust_gym.errors import ChainIntegrityError, EvidenceError, InvalidInputError

from .anchor import (
    anchor_path,
    check_event_signatures,
    iter_records,
    read_anchor,
    record_status,
    verify_log,
)
from .keys import (
    RunKey,
    TrustStore,
    load_evidence_json,
    load_run_key,
    read_canonical_json,
    verify_signed,
)
from .manifest import check_files, file_digests

BUNDLE_FORMAT = "labtrust-receipt-bundle/0.1"
MANIFEST = "manifest.json"
RECEIPT_FORMAT = "labtrust-receipt/0.1"
PROOF_FORMAT = "labtrust-chain-proof/0.1"
RELEASE_ACTION = "RELEASE_RESULT"
RELEASE_EMIT = "RESULT_RELEASED"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _is_results(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and doc.get("schema_version") in ("0.2", "0.3")
        and isinstance(doc.get("episodes"), list)
    )


def _find_run_files(run_dir: Path) -> tuple[list[tuple[Path, dict[str, Any]]], dict[str, Path]]:
    """Results documents and anchored logs (by SHA-256) under ``run_dir``."""
    results: list[tuple[Path, dict[str, Any]]] = []
    for path in sorted(run_dir.rglob("*.json")):
        if path.name.endswith(".anchor.json"):
            continue
        try:
            doc = load_evidence_json(path, what="Results file")
        except EvidenceError:
            continue  # not JSON we wrote: not a results file of this run
        if _is_results(doc):
            results.append((path, doc))
    logs = {
        _sha256(p.read_bytes()): p
        for p in sorted(run_dir.rglob("*.jsonl"))
        if anchor_path(p).is_file()
    }
    return results, logs


def flat_name(rel: str) -> str:
    """A run-relative path as one file name, injectively: ``%`` is written ``%25`` and ``/``
    ``%2F`` (so ``a/b`` and ``a__b`` or ``a%2Fb`` never meet in one bundle directory)."""
    return rel.replace("%", "%25").replace("/", "%2F")


def _specimen_of(result_id: str, specimens: set[str]) -> str | None:
    """hospital_lab names a result ``R_<specimen_id>`` (``.n`` for a rerun)."""
    m = re.fullmatch(r"R_(.+?)(\.\d+)?", result_id)
    return m.group(1) if m and m.group(1) in specimens else None


def _mentions(event: dict[str, Any], ids: set[str]) -> bool:
    args = event.get("args")
    if not isinstance(args, dict):
        return False
    for key in ("result_id", "specimen_id"):
        if args.get(key) in ids:
            return True
    many = args.get("specimen_ids")
    return isinstance(many, list) and any(s in ids for s in many)


def _line_hash(line: bytes) -> str:
    return line[9:73].decode("ascii")


def _episode_receipts(lines: list[bytes]) -> tuple[list[dict[str, Any]], int]:
    """Receipts (without the episode/chain context) and the first seq any of them cites."""
    # accepted events only: refusal records and session closures change nothing a receipt
    # vouches for (they stay in the chain segment, which the proof covers)
    records = [(s, r) for s, r in iter_records(lines) if "event" in r]
    specimens = {
        str(r["event"]["args"]["specimen_id"])
        for _s, r in records
        if isinstance(r["event"].get("args"), dict) and "specimen_id" in r["event"]["args"]
    }
    receipts = []
    first = len(lines) + 1
    for seq, rec in records:
        ev = rec["event"]
        if (
            ev.get("action_type") != RELEASE_ACTION
            or record_status(rec) != "ACCEPTED"
            or RELEASE_EMIT not in rec["outcome"].get("emits", ())
        ):
            continue
        rid = str(ev["args"]["result_id"])
        sid = _specimen_of(rid, specimens)
        ids = {rid} | ({sid} if sid else set())
        history = [
            {
                "seq": s,
                "hash": _line_hash(lines[s - 1]),
                "action_type": r["event"].get("action_type"),
                "agent_id": r["event"].get("agent_id"),
                "t_s": r["outcome"].get("t_s"),
            }
            for s, r in records
            if s <= seq and _mentions(r["event"], ids)
        ]
        first = min(first, history[0]["seq"])
        receipts.append(
            {
                "format": RECEIPT_FORMAT,
                "result_id": rid,
                "specimen_id": sid,
                "release": {
                    "seq": seq,
                    "hash": _line_hash(lines[seq - 1]),
                    "t_s": rec["outcome"].get("t_s"),
                    "agent_id": ev.get("agent_id"),
                    "event_id": ev.get("event_id"),
                },
                "history": history,
            }
        )
    return receipts, first


def export_receipts(
    run_dir: str | Path,
    out_dir: str | Path,
    *,
    trust: TrustStore,
    key: RunKey | None = None,
) -> dict[str, Any]:
    """Build a receipt bundle for every released result of the run's anchored episodes."""
    from labtrust_gym.fileio import atomic_write_bytes, atomic_write_json, ensure_output_dir

    run, out = Path(run_dir), Path(out_dir)
    if not run.is_dir():
        raise InvalidInputError(f"--run {str(run)!r} is not a directory.")
    if out.exists() and any(out.iterdir()):
        raise InvalidInputError(f"--out {str(out)!r} is not empty; give a new directory.")
    results, logs = _find_run_files(run)
    plan: dict[Path, tuple[str, Path, dict[str, Any], dict[str, Any]]] = {}
    for res_path, doc in results:
        name = flat_name(res_path.relative_to(run).as_posix())
        for ep in doc["episodes"]:
            digest = ep.get("log_sha256")
            if digest is None:
                continue
            log = logs.get(digest)
            if log is None:
                raise InvalidInputError(
                    f"{str(res_path)!r}: the log of episode seed {ep['seed']} (sha256 "
                    f"{digest[:12]}…) is not under {str(run)!r} with its anchor."
                )
            plan.setdefault(log, (name, res_path, doc, ep))  # a log is exported once
    if not plan:
        raise InvalidInputError(
            f"No anchored episode logs referenced by a results file under {str(run)!r}; run "
            "`labtrust run-benchmark ... --log DIR --out FILE` with both inside the run directory."
        )
    signer = key if key is not None else load_run_key()  # a bad key fails before any output
    assert signer is not None
    ensure_output_dir(out, label="--out")
    copied: set[str] = set()
    n_receipts = 0
    for log, (name, res_path, doc, ep) in plan.items():
        ep_name = flat_name(log.relative_to(run).with_suffix("").as_posix())
        verify_log(log, trust)  # never issue receipts for a log that does not verify
        if name not in copied:
            shutil.copyfile(res_path, _mk(out / "results") / name)
            copied.add(name)
        lines = log.read_bytes().split(b"\n")[:-1]
        receipts, first = _episode_receipts(lines)
        if not receipts:
            continue
        ep_dir = _mk(out / "episodes" / ep_name)
        shutil.copyfile(anchor_path(log), ep_dir / "anchor.json")
        segment = lines[first - 1 :]
        atomic_write_bytes(ep_dir / "chain_segment.jsonl", b"".join(ln + b"\n" for ln in segment))
        prev = json.loads(segment[0][84:-1])["prev_hash"]
        atomic_write_json(
            ep_dir / "chain_proof.json",
            {"format": PROOF_FORMAT, "first_seq": first, "prev_hash": prev},
        )
        context = {
            "results_file": f"results/{name}",
            "task": doc["task"],
            "seed": ep["seed"],
            "policy_fingerprint": doc["policy_fingerprint"],
            "partner_id": doc.get("partner_id"),
            "anchor": f"episodes/{ep_name}/anchor.json",
        }
        rdir = _mk(ep_dir / "receipts")
        for receipt in receipts:
            atomic_write_json(
                rdir / f"{receipt['result_id']}.json", {**receipt, "episode": context}
            )
            n_receipts += 1
    files = file_digests(out, manifest=MANIFEST)
    manifest = {"format": BUNDLE_FORMAT, "files": files, "receipts": n_receipts}
    atomic_write_json(out / MANIFEST, signer.sign(manifest))
    return {"receipts": n_receipts, "episodes": len(plan), "files": len(files) + 1}


def _mk(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _fail(code: str, message: str) -> EvidenceError:
    return EvidenceError(message, code=code)


def verify_bundle(
    bundle_dir: str | Path,
    trust: TrustStore,
    *,
    keys: list[dict[str, Any]] | None = None,
    policy_root: Path | str | None = None,
) -> dict[str, Any]:
    """Verify a receipt bundle; raise :class:`EvidenceError` naming the first problem. Event
    signatures are checked as by :func:`~labtrust_gym.security.anchor.verify_log` (trusted key
    registry first; ``run_signer_only_agents`` names the agents whose keys only anchors vouch
    for)."""
    from labtrust_gym.engine.hashchain import verify_chain

    from .agent_keys import resolve_agent_keys, trusted_keys

    root = Path(bundle_dir)
    if not root.is_dir():
        raise InvalidInputError(f"{str(root)!r} is not a directory (expected a receipt bundle).")
    manifest = read_canonical_json(root / MANIFEST, what="Bundle manifest")
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise _fail("EVIDENCE.MALFORMED", f"{str(root)!r}: {MANIFEST} is not a receipt bundle.")
    signers = {verify_signed(manifest, trust, what="Bundle manifest")}
    listed = check_files(root, manifest.get("files"), manifest=MANIFEST)
    registry = trusted_keys(keys, policy_root)
    receipts = 0
    signatures = {"checked": 0, "trusted": 0, "run_signer_only": 0}
    vouched: set[str] = set()
    episodes = sorted({rel.split("/")[1] for rel in listed if rel.startswith("episodes/")})
    for stem in episodes:
        ep_dir = root / "episodes" / stem
        anchor, signer = read_anchor(ep_dir / "anchor.json", trust)
        signers.add(signer)
        proof = read_canonical_json(ep_dir / "chain_proof.json", what="Chain proof")
        first, prev = _proof_start(proof, stem)
        seg_bytes = (ep_dir / "chain_segment.jsonl").read_bytes()
        lines = [ln for ln in seg_bytes.split(b"\n") if ln]
        try:
            chain = verify_chain(lines, prev_hash=prev, first_seq=first)
        except ChainIntegrityError as exc:
            raise _fail("EVIDENCE.CHAIN_BROKEN", f"episodes/{stem}: {exc}") from None
        if (chain["length"], chain["head_hash"]) != (
            anchor["chain"]["length"],
            anchor["chain"]["head_hash"],
        ):
            raise _fail(
                "EVIDENCE.ANCHOR_MISMATCH",
                f"episodes/{stem}: the chain segment does not end at the anchored head.",
            )
        where = f"episodes/{stem}"
        sigs = check_event_signatures(
            iter_records(lines, first),
            anchor,
            where=where,
            agent_keys=resolve_agent_keys(anchor["keys"], registry, where=where),
        )
        for name in signatures:
            signatures[name] += sigs[name]
        vouched.update(sigs["run_signer_only_agents"])
        for path in sorted((ep_dir / "receipts").glob("*.json")):
            _check_receipt(root, path, lines, first, anchor)
            receipts += 1
    if receipts != manifest.get("receipts"):
        raise _fail(
            "EVIDENCE.MANIFEST_MISMATCH",
            f"{str(root)!r}: {receipts} receipts found, the manifest records "
            f"{manifest.get('receipts')}.",
        )
    return {
        "ok": True,
        "receipts": receipts,
        "episodes": len(episodes),
        "signers": sorted(signers),
        "signatures_checked": signatures["checked"],
        "signatures_trusted": signatures["trusted"],
        "signatures_run_signer_only": signatures["run_signer_only"],
        "run_signer_only_agents": sorted(vouched),
    }


def _proof_start(proof: Any, stem: str) -> tuple[int, str]:
    first = proof.get("first_seq") if isinstance(proof, dict) else None
    prev = proof.get("prev_hash") if isinstance(proof, dict) else None
    if (
        not isinstance(first, int)
        or isinstance(first, bool)
        or first < 1
        or not isinstance(prev, str)
        or proof.get("format") != PROOF_FORMAT
    ):
        raise _fail(
            "EVIDENCE.MALFORMED",
            f"episodes/{stem}/chain_proof.json: expected {{format, first_seq >= 1, prev_hash}}.",
        )
    return first, prev


def _check_receipt(
    root: Path, path: Path, lines: list[bytes], first: int, anchor: dict[str, Any]
) -> None:
    rel = path.relative_to(root).as_posix()
    receipt = read_canonical_json(path, what="Receipt")

    def bad(why: str) -> EvidenceError:
        return _fail("EVIDENCE.RECEIPT_MISMATCH", f"{rel}: {why}")

    def record_at(seq: Any, digest: Any) -> dict[str, Any]:
        if not isinstance(seq, int) or not first <= seq < first + len(lines):
            raise bad(f"line {seq} is not in the chain segment.")
        line = lines[seq - first]
        if _line_hash(line) != digest:
            raise bad(f"line {seq} has another hash in the chain.")
        rec: dict[str, Any] = json.loads(line[84:-1])
        return rec

    try:
        rid = receipt["result_id"]
        release = record_at(receipt["release"]["seq"], receipt["release"]["hash"])
        ev = release["event"]
        if (
            ev.get("action_type") != RELEASE_ACTION
            or (ev.get("args") or {}).get("result_id") != rid
            or RELEASE_EMIT not in release["outcome"].get("emits", ())
            or record_status(release) != "ACCEPTED"
        ):
            raise bad(f"line {receipt['release']['seq']} is not the accepted release of {rid}.")
        ids = {rid} | ({receipt["specimen_id"]} if receipt.get("specimen_id") else set())
        for item in receipt["history"]:
            if not _mentions(record_at(item["seq"], item["hash"])["event"], ids):
                raise bad(f"history line {item['seq']} does not concern {sorted(ids)}.")
        _check_results_link(root, receipt["episode"], anchor, bad)
    except (KeyError, TypeError) as exc:
        raise bad(f"malformed receipt ({type(exc).__name__}: {exc}).") from None


def _check_results_link(
    root: Path, episode: dict[str, Any], anchor: dict[str, Any], bad: Any
) -> None:
    results_path = root / episode["results_file"]
    doc = load_evidence_json(results_path, what="Results file")
    episodes = doc.get("episodes") if isinstance(doc, dict) else None
    if not isinstance(episodes, list) or not all(isinstance(ep, dict) for ep in episodes):
        raise _fail("EVIDENCE.MALFORMED", f"{episode['results_file']}: not a results file.")
    matches = [ep for ep in episodes if ep.get("seed") == episode["seed"]]
    want = {"head_hash": anchor["chain"]["head_hash"], "length": anchor["chain"]["length"]}
    if not any(
        ep.get("log_sha256") == anchor["log_sha256"] and ep.get("log_anchor", want) == want
        for ep in matches
    ):
        raise bad(
            f"the results file records no episode seed {episode['seed']} with this log "
            "(SHA-256 and anchored head differ)."
        )
