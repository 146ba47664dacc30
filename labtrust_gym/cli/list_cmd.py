"""``labtrust list <kind>``: the ids registered for one extension kind (or lab profiles)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from labtrust_gym.errors import UnknownIdError
from labtrust_gym.hookspecs import hookimpl

_EXTRA_KINDS = ("profiles",)


def _kind_names() -> list[str]:
    from labtrust_gym.plugins import KINDS

    return [k.replace("_", "-") for k in KINDS] + list(_EXTRA_KINDS)


def list_kind(
    kind: Annotated[
        str,
        typer.Argument(
            help="tasks, domains, coordination-methods, invariant-handlers, "
            "security-suite-providers, safety-case-providers, metrics-aggregators, "
            "benchmark-pack-loaders, llm-backends or profiles.",
            metavar="KIND",
        ),
    ],
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show the plugin providing each id.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the registered ids of one extension kind."""
    from labtrust_gym.plugins import KINDS, registry

    key = kind.replace("-", "_")
    if key == "profiles":
        from labtrust_gym.config import list_profiles

        ids = list_profiles()
        typer.echo(json.dumps(ids) if as_json else "\n".join(ids))
        return
    if key not in KINDS:
        raise UnknownIdError.for_id("kind", kind, _kind_names())
    records = registry(key).registrations()
    if as_json:
        typer.echo(json.dumps([{"id": r.ident, "plugin": r.plugin} for r in records], indent=2))
        return
    for record in records:
        typer.echo(f"{record.ident}\t{record.plugin}" if verbose else record.ident)


@hookimpl
def labtrust_register_commands(app: typer.Typer) -> None:
    app.command("list")(list_kind)
