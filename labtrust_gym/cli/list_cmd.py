"""``labtrust list KIND``: the ids of one extension kind, of the lab profiles (with the policy
layer each comes from), of the scale presets or of the risk injections.

Listing an extension kind imports every entry point of that kind, so a plugin that cannot be
imported or fails validation is not listed as if it worked: it is named on stderr with its cause,
and with ``--strict-plugins`` the command exits 1.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from labtrust_gym.errors import UnknownIdError
from labtrust_gym.hookspecs import hookimpl
from labtrust_gym.plugins import KINDS

#: Kinds that are not extension points: policy data.
DATA_KINDS = ("profiles", "scales", "injections")


def kind_names() -> list[str]:
    """Every KIND ``labtrust list`` accepts, as typed on the command line."""
    return [k.replace("_", "-") for k in KINDS] + list(DATA_KINDS)


def _emit(rows: list[dict[str, Any]], as_json: bool, columns: tuple[str, ...]) -> None:
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        typer.echo("\t".join(str(row[c]) if row[c] is not None else "-" for c in columns))


def _list_extensions(key: str, verbose: bool, as_json: bool) -> int:
    from labtrust_gym import plugins
    from labtrust_gym.errors import PluginError

    reg = plugins.registry(key)
    rows: list[dict[str, Any]] = []
    broken = 0
    for record in reg.registrations():
        try:
            reg.get(record.ident)  # imports a lazy entry point and validates it
        except PluginError as exc:
            broken += 1
            typer.echo(f"broken: {reg.spec.label} {record.ident!r}: {exc}", err=True)
            continue
        rows.append({"id": record.ident, "plugin": record.plugin})
    columns: tuple[str, ...] = ("id", "plugin") if verbose else ("id",)
    if key == "coordination_methods":
        rows, columns = _with_method_entries(rows, verbose)
    _emit(rows, as_json, columns)
    if broken and plugins.is_strict():
        typer.echo(f"{broken} broken {reg.spec.label}(s) (strict mode).", err=True)
        return 1
    return 0


def _with_method_entries(
    rows: list[dict[str, Any]], verbose: bool
) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    """Coordination methods with their policy entry: class and description (and, verbose,
    scale_capable and max_agents); a method without an entry shows ``-``."""
    from labtrust_gym.baselines.coordination.policy import load_method_entries

    entries = load_method_entries()
    out = []
    for row in rows:
        entry = entries.get(row["id"], {})
        out.append(
            {
                **row,
                "class": entry.get("coordination_class"),
                "description": entry.get("description"),
                "scale_capable": entry.get("scale_capable"),
                "max_agents": entry.get("max_agents"),
            }
        )
    columns: tuple[str, ...] = ("id", "class", "description")
    if verbose:
        columns = ("id", "class", "scale_capable", "max_agents", "plugin", "description")
    return out, columns


def _list_profiles(verbose: bool, as_json: bool) -> None:
    from labtrust_gym.config import profile_sources

    rows = [
        {"id": ident, "layer": layer.describe(), "path": str(path)}
        for ident, (path, layer) in profile_sources().items()
    ]
    _emit(rows, as_json, ("id", "layer", "path") if verbose else ("id", "layer"))


def _list_scales(verbose: bool, as_json: bool) -> None:
    from labtrust_gym.engine.scale import list_scale_configs, load_scale_config

    rows = []
    for ident in list_scale_configs():
        cfg = load_scale_config(ident).to_dict()
        rows.append({"id": ident, "num_agents": cfg.get("num_agents")})
    _emit(rows, as_json, ("id", "num_agents") if verbose else ("id",))


def _list_injections(verbose: bool, as_json: bool) -> None:
    from labtrust_gym.benchmarks.injections import load_injections

    rows = [
        {
            "id": ident,
            "kind": entry.get("kind"),
            "mechanism": entry.get("mechanism"),
            "description": entry.get("title"),
        }
        for ident, entry in sorted(load_injections().items())
    ]
    _emit(rows, as_json, ("id", "kind", "mechanism", "description") if verbose else ("id",))


def list_kind(
    kind: Annotated[
        str,
        typer.Argument(
            help="What to list, one of: " + ", ".join(kind_names()) + ".",
            metavar="KIND",
            show_default=False,
        ),
    ],
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="More columns: the providing plugin (a coordination method's scale_capable and "
            "max_agents too); a profile's file; a scale's agent count; an injection's kind and "
            "description.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the registered ids of one extension kind, or the lab profiles (with the policy
    layer each comes from), scale presets or risk injections."""
    key = kind.replace("-", "_")
    if key == "profiles":
        _list_profiles(verbose, as_json)
    elif key == "scales":
        _list_scales(verbose, as_json)
    elif key == "injections":
        _list_injections(verbose, as_json)
    elif key in KINDS:
        code = _list_extensions(key, verbose, as_json)
        if code:
            raise typer.Exit(code)
    else:
        raise UnknownIdError.for_id("kind", kind, kind_names())


@hookimpl
def labtrust_register_commands(app: typer.Typer) -> None:
    app.command("list")(list_kind)
