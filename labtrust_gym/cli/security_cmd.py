"""Security and policy commands: run-security-suite, safety-case, run-official-pack, verify-pack,
validate-policy.

Module scope imports only typer and the hook marker (``labtrust --help`` stays fast). User
errors raise ``LabTrustError`` (one line, exit 2); a failed check (an attack that did not pass, a
policy problem) exits 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from labtrust_gym.cli.engine_cmd import KeysOpt, TrustedKeyOpt, describe_authentication, key_file
from labtrust_gym.hookspecs import hookimpl

PartnerOpt = Annotated[
    str | None,
    typer.Option(
        "--partner",
        help="Apply the partner overlay policy/partners/<ID>/ (merge rules: docs/security.md).",
    ),
]
EvidenceOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--evidence",
        help="Directory holding evidence: attack_results.json, JUnit XML, artifacts (repeatable).",
    ),
]


def _check_partner(partner: str | None) -> None:
    if partner is not None:
        from labtrust_gym.config import get_repo_root
        from labtrust_gym.security.partners import partner_dir

        partner_dir(get_repo_root(), partner)


# ---- run-security-suite --------------------------------------------------------------------
def run_security_suite_cmd(
    out: Annotated[Path, typer.Option("--out", help="Output directory.")],
    full: Annotated[
        bool, typer.Option("--full", help="Every attack, not only the smoke set.")
    ] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the labs and episodes.")] = 0,
    partner: PartnerOpt = None,
    attack: Annotated[
        list[str] | None, typer.Option("--attack", help="Run only this attack id (repeatable).")
    ] = None,
) -> None:
    """Run the security attack suite; write attack_results.json and the controls x risks
    coverage table; exit 1 naming every attack that did not pass."""
    from labtrust_gym.benchmarks.runner import check_seeds
    from labtrust_gym.benchmarks.security_runner import describe_result, run_security_suite
    from labtrust_gym.security.partners import effective_policy

    check_seeds(seed, 1)
    _check_partner(partner)
    with effective_policy(None, partner) as root:
        doc = run_security_suite(
            out, full=full, seed=seed, partner_id=partner, attack_ids=attack, policy_root=root
        )
    for result in doc["attacks"]:
        typer.echo(describe_result(result))
    _report_suite(doc, out)


def _report_suite(doc: dict[str, Any], out: Path) -> None:
    s = doc["summary"]
    typer.echo(
        f"{s['passed']}/{s['total']} passed, {s['failed']} failed, {s['error']} errors, "
        f"{s['skipped']} skipped (provider {doc['provider_id']}); results in "
        f"{out / 'attack_results.json'}"
    )
    bad = [a for a in doc["attacks"] if a["verdict"] in ("failed", "error")]
    if bad:
        for a in bad:
            typer.echo(f"{a['verdict'].upper()}: {a['attack_id']}: {a.get('reason', '')}", err=True)
        raise typer.Exit(1)


# ---- safety-case ---------------------------------------------------------------------------
def safety_case_cmd(
    out: Annotated[Path, typer.Option("--out", help="Output directory.")],
    evidence: EvidenceOpt = None,
    partner: PartnerOpt = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 unless every claim is supported.")
    ] = False,
) -> None:
    """Build the safety case: every claim's status from the evidence (supported only when all
    its attacks, tests and artifacts exist and passed)."""
    from labtrust_gym.benchmarks.pack_runner import build_case
    from labtrust_gym.fileio import atomic_write_json, atomic_write_text, ensure_output_dir
    from labtrust_gym.security.partners import effective_policy
    from labtrust_gym.security.safety_case import safety_case_markdown

    _check_partner(partner)
    ensure_output_dir(out, label="--out")
    with effective_policy(None, partner) as root:
        case = build_case(root, list(evidence or ()), partner)
    atomic_write_json(out / "safety_case.json", case)
    atomic_write_text(out / "safety_case.md", safety_case_markdown(case))
    for claim in case["claims"]:
        typer.echo(f"{claim['status']:<12} {claim['claim_id']}")
    summary = case.get("summary") or {}
    typer.echo(", ".join(f"{k}: {v}" for k, v in summary.items()) + f"; written to {out}/")
    if strict and any(c["status"] != "supported" for c in case["claims"]):
        raise typer.Exit(1)


# ---- run-official-pack / verify-pack -------------------------------------------------------
def run_official_pack_cmd(
    out: Annotated[Path, typer.Option("--out", help="Output directory (new or empty).")],
    smoke: Annotated[
        bool, typer.Option("--smoke", help="The pack's smoke tasks and the smoke attacks.")
    ] = False,
    partner: PartnerOpt = None,
    v02: Annotated[bool, typer.Option("--v02", help="Use benchmark pack v0.2.")] = False,
    evidence: EvidenceOpt = None,
    workers: Annotated[int, typer.Option("--workers", help="Local worker processes.")] = 1,
) -> None:
    """Run the official benchmark pack: its tasks, the security suite and the safety case; write
    a signed pack_manifest.json (every file's SHA-256, the policy fingerprints) and
    PACK_SUMMARY.md. Exit 1 if an attack did not pass."""
    from labtrust_gym.benchmarks.pack_runner import run_official_pack

    manifest = run_official_pack(
        out,
        smoke=smoke,
        partner_id=partner,
        prefer_v02=v02,
        evidence_dirs=list(evidence or ()),
        workers=workers,
    )
    sec, case = manifest["security"], manifest["safety_case"]
    typer.echo(
        f"Pack {manifest['pack_id']} v{manifest['pack_version']} ({manifest['selection']}): "
        f"{len(manifest['tasks'])} tasks; attacks {sec['passed']}/{sec['total']} passed; "
        f"claims {case.get('supported', '?')}/{case.get('claims', '?')} supported; "
        f"{len(manifest['files'])} files in {out}/ (see {out / 'PACK_SUMMARY.md'})"
    )
    if sec["failed"] or sec["error"]:
        typer.echo("FAIL: some attacks did not pass; see PACK_SUMMARY.md.", err=True)
        raise typer.Exit(1)


def verify_pack_cmd(
    pack_dir: Annotated[Path, typer.Argument(help="Output directory of run-official-pack.")],
    trusted_key: TrustedKeyOpt = None,
    keys: KeysOpt = None,
) -> None:
    """Re-verify a pack: signed manifest, every file's SHA-256, every episode log against its
    anchor, every results summary; exit 2 naming the first problem."""
    from labtrust_gym.benchmarks.pack_runner import verify_pack
    from labtrust_gym.security.keys import load_trust

    trust = load_trust(tuple(trusted_key or ()))
    res = verify_pack(pack_dir, trust, keys=key_file(keys))
    typer.echo(
        f"OK: {res['files']} files, {res['logs']} anchored logs ({res['events']} events), "
        f"{res['results']} results files; signed by {res['signer']} "
        f"({trust.sources[res['signer']]})"
    )
    typer.echo("Event signatures re-checked: " + describe_authentication(res, macs=False))


# ---- validate-policy -----------------------------------------------------------------------
def validate_policy_cmd(
    partner: PartnerOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the problems as JSON.")] = False,
) -> None:
    """Validate every policy file against its schema and cross-reference every id; exit 1
    listing each problem with its file and JSON path."""
    from labtrust_gym.benchmarks.policy_check import validate_policy
    from labtrust_gym.config import get_repo_root, policy_dir

    problems, checked = validate_policy(None, partner)
    where = str(policy_dir(get_repo_root())) + (f" + partners/{partner}" if partner else "")
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": not problems,
                    "files": checked,
                    "problems": [p.__dict__ for p in problems],
                },
                indent=2,
                sort_keys=True,
            )
        )
    else:
        for problem in problems:
            typer.echo(str(problem))
        verdict = f"{len(problems)} problem(s)" if problems else "OK"
        typer.echo(f"{verdict}: {checked} files checked in {where}")
    if problems:
        raise typer.Exit(1)


@hookimpl
def labtrust_register_commands(app: typer.Typer) -> None:
    app.command("run-security-suite")(run_security_suite_cmd)
    app.command("safety-case")(safety_case_cmd)
    app.command("run-official-pack")(run_official_pack_cmd)
    app.command("verify-pack")(verify_pack_cmd)
    app.command("validate-policy")(validate_policy_cmd)
