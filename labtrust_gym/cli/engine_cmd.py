"""``labtrust golden`` (run the engine's golden scenarios) and ``labtrust verify-log`` (check an
episode log's hash chain). Heavy imports happen inside the commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from labtrust_gym.hookspecs import hookimpl


def golden(
    scenario: Annotated[
        list[str] | None,
        typer.Option("--scenario", "-s", help="Run only this scenario id (repeatable)."),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", help="Scenario file (default: policy/golden/golden_scenarios.v0.1.yaml)."
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the per-scenario report as JSON here.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Run the golden scenarios through the engine; exit 1 if any fails."""
    from labtrust_gym.engine.golden import run_golden
    from labtrust_gym.fileio import atomic_write_json

    results = run_golden(path=file, only=scenario or None)
    failed = [r for r in results if not r["passed"]]
    report = {"passed": len(results) - len(failed), "failed": len(failed), "scenarios": results}
    if out is not None:
        atomic_write_json(out, report)
    if as_json:
        typer.echo(json.dumps(report, indent=2, sort_keys=True))
    else:
        for r in results:
            typer.echo(f"{'PASS' if r['passed'] else 'FAIL'}  {r['id']}  ({r['steps']} steps)")
            for f in r["failures"]:
                typer.echo(f"      {f}")
        typer.echo(f"{report['passed']} passed, {report['failed']} failed")
    if failed:
        raise typer.Exit(1)


TrustedKeyOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--trusted-key",
        help="Public key (PEM file) or sha256: fingerprint whose signatures you accept "
        "(repeatable; your own run key and $LABTRUST_HOME/trusted_keys/*.pem are trusted too).",
    ),
]


def verify_log(
    path: Annotated[Path, typer.Argument(help="Episode log (JSONL) written by the engine.")],
    trusted_key: TrustedKeyOpt = None,
    chain_only: Annotated[
        bool,
        typer.Option(
            "--chain-only",
            help="Check the hash chain alone (no anchor): truncation and a consistent rewrite "
            "then go unnoticed.",
        ),
    ] = False,
) -> None:
    """Verify an episode log: its hash chain, its signed anchor (chain head and length, so a
    truncated or rewritten log is caught) and every event signature of a signed lab; exit 2
    naming the first problem."""
    from labtrust_gym.security.anchor import verify_log as verify
    from labtrust_gym.security.keys import load_trust

    trust = load_trust(tuple(trusted_key or ()))
    res = verify(path, trust, chain_only=chain_only)
    if not res["anchored"]:
        typer.echo(
            f"OK (chain only): {res['length']} events, head {res['head_hash']}; "
            "not checked against an anchor."
        )
        return
    typer.echo(
        f"OK: {res['length']} events, head {res['head_hash']}, anchored and signed by "
        f"{res['signer']} ({trust.sources[res['signer']]}); "
        f"{res['signatures_checked']} event signatures re-checked."
    )


@hookimpl
def labtrust_register_commands(app: typer.Typer) -> None:
    app.command("golden")(golden)
    app.command("verify-log")(verify_log)
