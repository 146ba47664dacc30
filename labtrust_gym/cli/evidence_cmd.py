"""Evidence commands: export-receipts, verify-bundle, and ``labtrust keys`` (the run signing key
and the keys you trust). verify-log and verify-pack live with the engine and pack commands.

Module scope imports only typer and the hook marker; failures of a verification are
``EvidenceError`` (one line naming the first problem and its evidence code, exit 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from labtrust_gym.cli.engine_cmd import KeysOpt, TrustedKeyOpt, describe_authentication, key_file
from labtrust_gym.hookspecs import hookimpl

keys_app = typer.Typer(
    help="The run signing key and the keys whose signatures you trust.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def export_receipts_cmd(
    run: Annotated[
        Path, typer.Option("--run", help="Run directory: results files and --log logs.")
    ],
    out: Annotated[Path, typer.Option("--out", help="New directory for the receipt bundle.")],
    trusted_key: TrustedKeyOpt = None,
) -> None:
    """Build a receipt bundle: a receipt per released result, the chain segment proving it,
    the logs' signed anchors, the results files and a signed manifest of SHA-256s."""
    from labtrust_gym.security.keys import load_trust
    from labtrust_gym.security.receipts import export_receipts

    res = export_receipts(run, out, trust=load_trust(tuple(trusted_key or ())))
    typer.echo(
        f"Wrote {res['receipts']} receipts from {res['episodes']} episode(s), {res['files']} "
        f"files, to {out}/ (check with `labtrust verify-bundle {out}`)"
    )


def verify_bundle_cmd(
    bundle: Annotated[Path, typer.Argument(help="Receipt bundle directory.")],
    trusted_key: TrustedKeyOpt = None,
    keys: KeysOpt = None,
) -> None:
    """Verify a receipt bundle: manifest signature, every file's SHA-256 (any one-byte edit),
    each chain segment against its signed anchor, each receipt against the chain."""
    from labtrust_gym.security.keys import load_trust
    from labtrust_gym.security.receipts import verify_bundle

    trust = load_trust(tuple(trusted_key or ()))
    res = verify_bundle(bundle, trust, keys=key_file(keys))
    signers = ", ".join(f"{fp} ({trust.sources[fp]})" for fp in res["signers"])
    typer.echo(
        f"OK: {res['receipts']} receipts in {res['episodes']} episode(s); signed by {signers}"
    )
    typer.echo("Event signatures re-checked: " + describe_authentication(res, macs=False))


@keys_app.command("show")
def keys_show(
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write the public key (PEM) to this file.")
    ] = None,
) -> None:
    """Print the run key's fingerprint and public key (created on first use). Publish it so
    others can verify your logs, bundles and packs."""
    from labtrust_gym.fileio import atomic_write_text
    from labtrust_gym.security.keys import load_run_key

    key = load_run_key()
    assert key is not None
    typer.echo(f"run key: {key.path}\nfingerprint: {key.fingerprint}")
    typer.echo(key.public_pem(), nl=False)
    if out is not None:
        atomic_write_text(out, key.public_pem())


@keys_app.command("trust")
def keys_trust(
    public_key: Annotated[Path, typer.Argument(help="A producer's public key (PEM).")],
) -> None:
    """Trust a producer's public key from now on (copied to $LABTRUST_HOME/trusted_keys/)."""
    from labtrust_gym.fileio import atomic_write_text
    from labtrust_gym.security.keys import fingerprint, labtrust_home, read_public_key

    fp = fingerprint(read_public_key(public_key))
    target = labtrust_home() / "trusted_keys" / f"{fp[7:23]}.pem"
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, public_key.read_text(encoding="utf-8"))
    typer.echo(f"Trusting {fp} ({target}).")


@hookimpl
def labtrust_register_commands(app: typer.Typer) -> None:
    app.command("export-receipts")(export_receipts_cmd)
    app.command("verify-bundle")(verify_bundle_cmd)
    app.add_typer(keys_app, name="keys")
