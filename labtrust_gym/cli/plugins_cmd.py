"""``labtrust plugins list|doctor``: what is installed, where it came from, what is broken."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from labtrust_gym.hookspecs import hookimpl

plugins_app = typer.Typer(
    help="Inspect installed plugins.", no_args_is_help=True, rich_markup_mode=None
)


def _rows(include_builtin: bool) -> list[dict[str, Any]]:
    from labtrust_gym import plugins

    registered = plugins.registrations_by_plugin()
    policy_dirs: dict[str, list[str]] = {}
    for name, directory in plugins.plugin_policy_dirs():
        policy_dirs.setdefault(name, []).append(str(directory))
    rows = []
    for info in plugins.plugin_infos():
        if info.source == "builtin" and not include_builtin:
            continue
        rows.append(
            {
                "name": info.name,
                "source": info.source,
                "distribution": info.distribution,
                "version": info.version,
                "entry_point": info.entry_point,
                "hooks": plugins.hooks_of(info.name),
                "registers": registered.get(info.name, {}),
                "policy_dirs": policy_dirs.get(info.name, []),
            }
        )
    return rows


@plugins_app.command("list")
def list_plugins(
    all_: Annotated[bool, typer.Option("--all", help="Include the built-in plugins.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List plugins: name, source (builtin/entrypoint/runtime/extension), distribution, version
    and what each registers."""
    from labtrust_gym import plugins

    rows = _rows(include_builtin=all_)
    blocked = plugins.blocked_plugins()
    problems = [p.describe() for p in plugins.problems()]
    if as_json:
        typer.echo(
            json.dumps(
                {"plugins": rows, "blocked": blocked, "problems": problems},
                indent=2,
                sort_keys=True,
            )
        )
        return
    if not rows:
        typer.echo("No third-party plugins installed (use --all to include built-ins).")
    for row in rows:
        origin = row["source"]
        if row["distribution"]:
            origin += f", {row['distribution']} {row['version'] or '?'}"
        typer.echo(f"{row['name']}  ({origin})")
        if row["entry_point"]:
            typer.echo(f"    entry point: {row['entry_point']}")
        for kind, ids in sorted(row["registers"].items()):
            typer.echo(f"    {kind}: {', '.join(ids)}")
        for directory in row["policy_dirs"]:
            typer.echo(f"    policy layer: {directory}")
        if not row["registers"]:
            typer.echo(f"    hooks: {', '.join(row['hooks']) or '(none)'}")
    for name in blocked:
        typer.echo(f"blocked: {name} (LABTRUST_DISABLE_PLUGINS)")
    for problem in problems:
        typer.echo(f"problem: {problem}")


@plugins_app.command("doctor")
def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Load every plugin, resolve everything it registers, build every coordination method once,
    check the policy layers plugins ship and that every lab profile selects registered ids; exit
    1 if anything is wrong."""
    from labtrust_gym import plugins
    from labtrust_gym.config import policy_layers, profile_problems
    from labtrust_gym.errors import PolicyError

    found = plugins.doctor()
    try:
        policy_layers()  # plugin policy dirs: not a directory, or a file shipped twice
    except PolicyError as exc:
        found.append(plugins.PluginProblem("policy layers", str(exc)))
    from labtrust_gym.benchmarks.coord_check import check_coordination_methods

    found.extend(check_coordination_methods())  # every method built once
    found = list(dict.fromkeys([*found, *plugins.problems()]))
    profiles, notes = profile_problems()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": not found and not profiles,
                    "problems": [
                        {
                            "plugin": p.plugin,
                            "distribution": p.distribution,
                            "version": p.version,
                            "entry_point": p.entry_point,
                            "cause": p.cause,
                        }
                        for p in found
                    ],
                    "profile_problems": profiles,
                    "profile_notes": notes,
                },
                indent=2,
                sort_keys=True,
            )
        )
    else:
        count = len(plugins.plugin_infos())
        if not found and not profiles:
            typer.echo(
                f"OK: {count} plugins loaded, every registration resolves, every lab profile "
                "selects registered ids."
            )
        for problem in found:
            typer.echo(f"PROBLEM: {problem.describe()}")
        for message in profiles:
            typer.echo(f"PROBLEM: {message}")
        for note in notes:
            typer.echo(f"note: {note}")
    if found or profiles:
        raise typer.Exit(1)


@hookimpl
def labtrust_register_commands(app: typer.Typer) -> None:
    app.add_typer(plugins_app, name="plugins")
