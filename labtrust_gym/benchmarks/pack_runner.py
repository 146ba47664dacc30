"""``run-official-pack``: the pack's tasks, the security suite and the safety case in one signed,
re-verifiable output directory.

Layout of ``OUT``::

    results/<task>.json          one results file per pack entry (episode logs anchored)
    logs/<task>/<task>_seed<s>.jsonl (+ .anchor.json)
    security/attack_results.json, coverage.json, coverage.md
    safety_case/safety_case.json, safety_case.md
    policy/                      the effective policy, when a partner overlay was applied
    PACK_SUMMARY.md
    pack_manifest.json           every other file with its SHA-256, the policy fingerprints,
                                 signed by the run key

``verify_pack(OUT)`` re-checks the manifest (signature, trusted signer, exact file set, every
digest), every episode log against its anchor, and every results summary against its episodes.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from labtrust_gym.errors import EvidenceError, InvalidInputError

MANIFEST_FORMAT = "labtrust-pack-manifest/0.1"
MANIFEST = "pack_manifest.json"
MANIFEST_SCHEMA = ("schemas", "pack_manifest.v0.1.schema.json")
CASE_SCHEMA = ("schemas", "safety_case.v0.1.schema.json")
SUMMARY = "PACK_SUMMARY.md"


def _entry_labels(entries: list[Mapping[str, Any]]) -> list[str]:
    labels: list[str] = []
    for entry in entries:
        base = str(entry["task"])
        label, n = base, 1
        while label in labels:
            n += 1
            label = f"{base}_{n}"
        labels.append(label)
    return labels


def run_official_pack(
    out: str | Path,
    *,
    smoke: bool = False,
    partner_id: str | None = None,
    prefer_v02: bool = False,
    evidence_dirs: Iterable[str | Path] = (),
    workers: int = 1,
) -> dict[str, Any]:
    """Run the pack and write ``OUT`` as described above; return the (signed) manifest."""
    from labtrust_gym import __version__
    from labtrust_gym.config import get_active_profile, get_repo_root, policy_path
    from labtrust_gym.fileio import (
        atomic_write_json,
        atomic_write_text,
        ensure_output_dir,
        validate_with_schema,
    )
    from labtrust_gym.security.keys import load_run_key
    from labtrust_gym.security.manifest import file_digests
    from labtrust_gym.security.partners import effective_policy, overlay_fingerprint, partner_dir

    from .executors import check_executor_options
    from .official_pack import load_benchmark_pack
    from .results import check_results_version, git_sha, policy_fingerprint
    from .runner import run_benchmark
    from .security_runner import run_security_suite

    out_dir = Path(out)
    if out_dir.exists() and out_dir.is_dir() and any(out_dir.iterdir()):
        raise InvalidInputError(f"--out {str(out_dir)!r} is not empty; give a new directory.")
    check_executor_options("local", workers, None)
    base = get_repo_root()
    partner = partner_id if partner_id is not None else get_active_profile().partner_id
    overlay = None
    if partner is not None and (partner_id is not None or _has_overlay(base, partner)):
        partner_dir(base, partner)  # an explicit --partner must have an overlay directory
        overlay = partner
    signer = load_run_key()  # fail on a bad key before hours of work, not after
    assert signer is not None
    with effective_policy(base, overlay) as root:
        pack, version, pack_path = load_benchmark_pack(root, prefer_v02, partner)
        entries = list(pack.get("smoke") or pack["tasks"][:3]) if smoke else list(pack["tasks"])
        results_version = str(pack.get("results_version", "0.3"))
        check_results_version(results_version)
        for entry in entries:  # every entry is checked before anything is created
            _check_entry(entry, root)
        ensure_output_dir(out_dir, label="--out")
        if overlay is not None:
            shutil.copytree(root, out_dir / "policy")
        docs = []
        for label, entry in zip(_entry_labels(entries), entries, strict=True):
            doc = run_benchmark(
                str(entry["task"]),
                int(entry.get("episodes", 1)),
                int(entry.get("seed", 0)),
                _mk(out_dir / "results") / f"{label}.json",
                coord_method=entry.get("coord_method"),
                scale=entry.get("scale"),
                injection=entry.get("injection"),
                timing=entry.get("timing"),
                partner=partner,
                workers=workers,
                log_dir=_mk(out_dir / "logs" / label),
                results_version=results_version,
                policy_root=root,
            )
            docs.append((label, doc))
        suite = run_security_suite(
            out_dir / "security", full=not smoke, seed=0, partner_id=partner, policy_root=root
        )
        case = build_case(root, [out_dir / "security", *evidence_dirs], partner)
        _mk(out_dir / "safety_case")
        from labtrust_gym.security.safety_case import safety_case_markdown

        atomic_write_json(out_dir / "safety_case" / "safety_case.json", case)
        atomic_write_text(out_dir / "safety_case" / "safety_case.md", safety_case_markdown(case))
        fingerprint = policy_fingerprint(root)
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "pack_id": pack["pack_id"],
        "pack_version": version,
        "pack_file": pack_path.name,
        "selection": "smoke" if smoke else "full",
        "partner": (
            {"id": partner, "overlay_fingerprint": overlay_fingerprint(base, overlay)}
            if overlay is not None
            else ({"id": partner, "overlay_fingerprint": None} if partner else None)
        ),
        "policy_fingerprint": fingerprint,
        "base_policy_fingerprint": policy_fingerprint(base),
        "git_sha": git_sha(),
        "labtrust_version": __version__,
        "tasks": [label for label, _doc in docs],
        "security": suite["summary"],
        "safety_case": case["summary"],
    }
    atomic_write_text(out_dir / SUMMARY, pack_summary_markdown(manifest, docs, suite, case))
    manifest["files"] = file_digests(out_dir, manifest=MANIFEST)
    signed = signer.sign(manifest)
    validate_with_schema(signed, policy_path(base, *MANIFEST_SCHEMA), what="pack manifest")
    atomic_write_json(out_dir / MANIFEST, signed)
    return signed


def _check_entry(entry: Mapping[str, Any], root: Path) -> None:
    """Resolve and check one pack entry as run_benchmark will (ids, seeds), creating nothing."""
    from .runner import prepare_jobs

    prepare_jobs(
        str(entry["task"]),
        int(entry.get("episodes", 1)),
        int(entry.get("seed", 0)),
        coord_method=entry.get("coord_method"),
        scale=entry.get("scale"),
        injection=entry.get("injection"),
        timing=entry.get("timing"),
        policy_root=root,
    )


def _has_overlay(root: Path, partner: str) -> bool:
    from labtrust_gym.config import policy_path

    return policy_path(root, "partners", partner).is_dir()


def _mk(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def build_case(root: Path, evidence: list[str | Path], partner: str | None) -> dict[str, Any]:
    """The profile's safety case provider's case (the default provider takes evidence dirs)."""
    from labtrust_gym.config import get_active_profile
    from labtrust_gym.errors import PluginError
    from labtrust_gym.security.safety_case import get_safety_case_provider

    from .security_runner import call_with_supported

    provider_id = get_active_profile().safety_case_provider_id
    provider = get_safety_case_provider(provider_id)
    case = call_with_supported(
        provider.build_safety_case, root, evidence_dirs=evidence, partner_id=partner
    )
    if not isinstance(case, dict) or not isinstance(case.get("claims"), list):
        raise PluginError(
            f"Safety case provider {provider_id!r}: build_safety_case returned "
            f"{type(case).__name__}; it must return a dict with a 'claims' list."
        )
    case.setdefault("summary", {"claims": len(case["claims"])})
    case = {"provider_id": provider_id, **case}
    from labtrust_gym.config import policy_path
    from labtrust_gym.fileio import validate_with_schema

    validate_with_schema(
        case, policy_path(root, *CASE_SCHEMA), what=f"Safety case of provider {provider_id!r}"
    )
    return case


def pack_summary_markdown(
    manifest: Mapping[str, Any],
    docs: Sequence[tuple[str, Mapping[str, Any]]],
    suite: Mapping[str, Any],
    case: Mapping[str, Any],
) -> str:
    from .security_runner import describe_result
    from .summary import markdown_table

    partner = manifest["partner"]
    lines = [
        f"# Official pack `{manifest['pack_id']}` v{manifest['pack_version']} "
        f"({manifest['selection']})",
        "",
        f"- partner: {partner['id'] if partner else 'none'}"
        + (
            f" (overlay {partner['overlay_fingerprint']})"
            if partner and partner.get("overlay_fingerprint")
            else ""
        ),
        f"- policy fingerprint: `{manifest['policy_fingerprint']}`"
        + (" (base + partner overlay)" if partner and partner.get("overlay_fingerprint") else ""),
        f"- code: labtrust-gym {manifest['labtrust_version']}, git `{manifest['git_sha']}`",
        "",
        "## Tasks",
        "",
        markdown_table(docs).rstrip("\n"),
        "",
        "## Security suite",
        "",
        "{passed}/{total} attacks passed ({failed} failed, {error} errors, {skipped} "
        "skipped).".format(**suite["summary"]),
    ]
    not_passed = [a for a in suite["attacks"] if a["verdict"] != "passed"]
    lines += [""] + [f"- {describe_result(a)}: {a.get('reason', '')}" for a in not_passed]
    s = case["summary"]
    lines += [
        "",
        "## Safety case",
        "",
        ", ".join(f"{k}: {v}" for k, v in s.items()),
        "",
        "| claim | status |",
        "|---|---|",
        *(f"| {c['claim_id']} | {c['status']} |" for c in case["claims"]),
        "",
        f"Every file is listed with its SHA-256 in `{MANIFEST}` (signed); re-check the whole "
        "directory with `labtrust verify-pack DIR`.",
    ]
    return "\n".join(lines) + "\n"


def verify_pack(
    pack_dir: str | Path, trust: Any, *, keys: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Re-verify a pack directory; raise :class:`EvidenceError` naming the first problem.

    Event signatures are checked as by ``verify-log`` (``keys``: agent keys the verifier trusts
    beyond the policy key registry); the report sums them over every log."""
    from labtrust_gym.config import get_repo_root, policy_path
    from labtrust_gym.errors import LabTrustError, SchemaValidationError
    from labtrust_gym.fileio import validate_with_schema
    from labtrust_gym.security.anchor import verify_log
    from labtrust_gym.security.keys import load_evidence_json, read_canonical_json, verify_signed
    from labtrust_gym.security.manifest import check_files

    from .results import validate_results
    from .summary import check_summary

    root = Path(pack_dir)
    if not root.is_dir():
        raise InvalidInputError(f"{str(root)!r} is not a directory (expected a pack output).")
    manifest = read_canonical_json(root / MANIFEST, what="Pack manifest")
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise EvidenceError(
            f"{str(root)!r}: {MANIFEST} is not a pack manifest.", code="EVIDENCE.MALFORMED"
        )
    signer = verify_signed(manifest, trust, what="Pack manifest")
    try:
        validate_with_schema(
            manifest, policy_path(get_repo_root(), *MANIFEST_SCHEMA), what="Pack manifest"
        )
    except SchemaValidationError as exc:
        raise EvidenceError(str(exc), code="EVIDENCE.MALFORMED") from None
    listed = check_files(root, manifest["files"], manifest=MANIFEST)
    logs = sorted(root.glob("logs/**/*.jsonl"))
    report: dict[str, Any] = {
        "ok": True,
        "files": len(listed),
        "logs": len(logs),
        "events": 0,
        "signatures_checked": 0,
        "signatures_trusted": 0,
        "signatures_run_signer_only": 0,
        "run_signer_only_agents": [],
        "signer": signer,
    }
    vouched: set[str] = set()
    for log in logs:
        res = verify_log(log, trust, keys=keys)
        report["events"] += res["length"]
        for name in ("signatures_checked", "signatures_trusted", "signatures_run_signer_only"):
            report[name] += res[name]
        vouched.update(res["run_signer_only_agents"])
    report["run_signer_only_agents"] = sorted(vouched)
    results = sorted(root.glob("results/*.json"))
    for path in results:
        doc = load_evidence_json(path, what="Results file")
        try:
            if not isinstance(doc, dict):
                raise InvalidInputError("not a JSON object")
            validate_results(doc, what=f"{path.name}")
        except LabTrustError as exc:  # not a results document: its summary cannot be checked
            raise EvidenceError(f"{path.name}: {exc}", code="EVIDENCE.MALFORMED") from None
        check_summary(doc, str(path))
        if doc.get("policy_fingerprint") != manifest["policy_fingerprint"]:
            raise EvidenceError(
                f"{path.name}: policy fingerprint differs from the manifest's.",
                code="EVIDENCE.MANIFEST_MISMATCH",
            )
    report["results"] = len(results)
    return report
