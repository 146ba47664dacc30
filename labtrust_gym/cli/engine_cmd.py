"""``labtrust golden`` (run the engine's golden scenarios) and ``labtrust verify-log`` (check an
episode log's hash chain). Heavy imports happen inside the commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

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


KeysOpt = Annotated[
    Path | None,
    typer.Option(
        "--keys",
        help="Agent keys you trust (YAML/JSON: a list of keys or {keys: [...]}, as in "
        "policy/keys), added to the policy key registry. Events of an agent with a trusted "
        "key are checked against it only; an anchor that lists another key for such an "
        "agent is refused.",
    ),
]


def key_file(keys: Path | None) -> list[dict[str, Any]] | None:
    """The keys of a ``--keys`` file (None without one)."""
    return _key_file(keys) if keys is not None else None


def _key_file(keys: Path) -> list[dict[str, Any]]:
    """The keys of a key-registry file (``--keys``)."""
    from labtrust_gym.errors import InvalidInputError
    from labtrust_gym.fileio import load_yaml

    if not keys.is_file():
        raise InvalidInputError(f"Key file not found: {str(keys)!r}.")
    doc = load_yaml(keys)
    key_list = doc.get("keys") if isinstance(doc, dict) else doc
    if not isinstance(key_list, list) or not all(
        isinstance(k, dict) and {"key_id", "public_key_b64"} <= set(k) for k in key_list
    ):
        raise InvalidInputError(
            f"Key file {str(keys)!r}: expected a list of keys (or {{keys: [...]}}) each with "
            "key_id and public_key_b64 (and agent_id to check who may sign with it), as in "
            "policy/keys/key_registry.v0.1.yaml."
        )
    return [{"status": "active", **k} for k in key_list]


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
    keys: KeysOpt = None,
) -> None:
    """Verify an episode log: its hash chain (accepted events, refusal records, session
    closures, runner decisions: shield blocks and LLM calls), its signed anchor (chain head and
    length, so a truncated or rewritten log is caught), and the authentication of every accepted
    event (signatures; session MACs once the epoch key is disclosed; sequence numbers, so no
    replay); exit 2 naming the first problem."""
    from labtrust_gym.security.anchor import verify_log as verify
    from labtrust_gym.security.keys import load_trust

    key_list = key_file(keys)
    trust = load_trust(tuple(trusted_key or ()))
    res = verify(path, trust, chain_only=chain_only, keys=key_list)
    kinds = res["records"]
    records = (
        f"{res['length']} records ({kinds['event']} accepted, {kinds['refused']} refused, "
        f"{kinds['sessions_closed']} session closures, {kinds['decision']} runner decisions), "
        f"head {res['head_hash']}"
    )
    typer.echo(
        f"OK (chain only): {records}; not checked against an anchor."
        if not res["anchored"]
        else f"OK: {records}, anchored and signed by {res['signer']} "
        f"({trust.sources[res['signer']]})."
    )
    typer.echo("Authentication re-checked: " + describe_authentication(res))


def describe_authentication(res: dict[str, Any], *, macs: bool = True) -> str:
    """What the signature re-check of a verify report proves, in one line (``macs``: the
    report also counts session MACs and unchecked events, as verify-log's does)."""
    parts = [
        f"{res['signatures_trusted']} signatures against your trusted key registry "
        "(policy/keys plus --keys)"
    ]
    if res["signatures_run_signer_only"]:
        parts.append(
            f"{res['signatures_run_signer_only']} against keys vouched for by the run signer "
            f"only (agents {', '.join(res['run_signer_only_agents'])}: they show the events were "
            "signed consistently, not who held the keys; pass --keys with those agents' keys to "
            "check their authority)"
        )
    if macs:
        behind = res.get("macs_run_signer_only", 0)
        parts.append(
            f"{res['macs_checked']} session MACs"
            + (
                f" ({behind} in sessions opened with keys your registry does not hold, so no "
                "stronger than those keys)"
                if behind
                else ""
            )
        )
    if macs and res["unchecked"]:
        parts.append(f"{res['unchecked']} not checkable (no trusted key, or an epoch never closed)")
    return "; ".join(parts) + "."


@hookimpl
def labtrust_register_commands(app: typer.Typer) -> None:
    app.command("golden")(golden)
    app.command("verify-log")(verify_log)
