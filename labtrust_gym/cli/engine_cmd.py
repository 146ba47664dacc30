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


def verify_log(
    path: Annotated[Path, typer.Argument(help="Episode log (JSONL) written by the engine.")],
    keys: Annotated[
        Path | None,
        typer.Option(
            "--keys",
            help="Key registry (YAML/JSON: a list of keys or {keys: [...]}, as in "
            "policy/keys) to re-check the Ed25519 signatures of accepted events.",
        ),
    ] = None,
) -> None:
    """Recompute an episode log's SHA-256 hash chain and re-check the authentication of its
    accepted events (session MACs once their epoch key is disclosed; signatures with --keys);
    exit 2 naming the first bad line."""
    from labtrust_gym.engine.hashchain import read_log, verify_log_file
    from labtrust_gym.engine.logcheck import recheck_authentication
    from labtrust_gym.errors import ChainIntegrityError, InvalidInputError
    from labtrust_gym.fileio import load_yaml

    res = verify_log_file(path)
    key_list = None
    if keys is not None:
        if not keys.is_file():
            raise InvalidInputError(f"Key file not found: {str(keys)!r}.")
        doc = load_yaml(keys)
        key_list = doc.get("keys") if isinstance(doc, dict) else doc
        if not isinstance(key_list, list) or not all(
            isinstance(k, dict) and {"key_id", "public_key_b64"} <= set(k) for k in key_list
        ):
            raise InvalidInputError(
                f"Key file {str(keys)!r}: expected a list of keys (or {{keys: [...]}}) each with "
                "key_id and public_key_b64, as in policy/keys/key_registry.v0.1.yaml."
            )
    try:
        auth = recheck_authentication(read_log(path), key_list)
    except ChainIntegrityError as exc:
        raise ChainIntegrityError(f"{str(path)!r}: {exc}") from None
    kinds = res["records"]
    typer.echo(
        f"OK: {res['length']} records ({kinds['event']} accepted, {kinds['refused']} refused, "
        f"{kinds['sessions_closed']} session closures), head {res['head_hash']}; "
        f"authentication re-checked: {auth['signatures_checked']} signatures, "
        f"{auth['macs_checked']} MACs, {auth['unchecked']} not checkable"
        f"{'' if keys is not None else ' (pass --keys to check signatures)'}"
    )


@hookimpl
def labtrust_register_commands(app: typer.Typer) -> None:
    app.command("golden")(golden)
    app.command("verify-log")(verify_log)
