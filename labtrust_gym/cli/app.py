"""Building and running the root ``labtrust`` app.

``main()`` reads the global flags that change how plugins load (``--strict-plugins``), loads the
plugins, lets every plugin add its commands, then runs typer. A :class:`LabTrustError` becomes one
line on stderr and exit code 2 (a traceback only with ``--debug``); plugin problems are printed as
warnings, never swallowed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer

from labtrust_gym import __version__
from labtrust_gym.errors import LabTrustError

HELP = (
    "LabTrust-Gym: a multi-agent hospital-laboratory benchmark with a trust skeleton "
    "(roles, tokens, audit hash chain, invariants) and a plugin platform."
)


def _echo_err(message: str) -> None:
    typer.echo(message, err=True)


def _version_callback(value: bool) -> None:
    if not value:
        return
    from labtrust_gym.plugins import plugin_infos

    typer.echo(f"labtrust-gym {__version__}")
    for info in plugin_infos():
        origin = f" [{info.distribution} {info.version}]" if info.source != "builtin" else ""
        typer.echo(f"  plugin {info.name} ({info.source}){origin}")
    raise typer.Exit(0)


def _root(
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            metavar="ID",
            help="Lab profile applied to the command (`labtrust list profiles`; any policy "
            "layer's lab_profiles/<ID>.v0.1.yaml).",
            envvar="LABTRUST_PROFILE",
        ),
    ] = None,
    strict_plugins: Annotated[
        bool, typer.Option("--strict-plugins", help="Make any plugin problem a hard error.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version and loaded plugins, then exit.",
            is_eager=True,
            callback=_version_callback,
        ),
    ] = False,
) -> None:
    """Global options, applied before any subcommand runs."""
    if profile:
        from labtrust_gym.config import apply_profile

        apply_profile(profile)


def build_app() -> typer.Typer:
    """The root app with every plugin's commands added (plugins are loaded here)."""
    from labtrust_gym.cli.typer_support import install_light_conversion
    from labtrust_gym.plugins import get_plugin_manager, report_problem_from_hook

    install_light_conversion()
    app = typer.Typer(
        name="labtrust",
        help=HELP,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,  # plain click help: rich help rendering costs ~60 ms at start-up
    )
    app.callback()(_root)
    pm = get_plugin_manager()
    for impl in pm.hook.labtrust_register_commands.get_hookimpls():
        try:
            impl.function(**{name: app for name in impl.argnames})
        except LabTrustError:
            raise
        except Exception as exc:
            report_problem_from_hook(impl.plugin_name, "labtrust_register_commands", exc)
    return app


def _pre_scan(argv: Sequence[str]) -> tuple[bool, bool]:
    """Find ``--debug`` / ``--strict-plugins`` among the global options (before the command)."""
    debug = strict = False
    takes_value = False
    for arg in argv:
        if takes_value:  # the value of --profile
            takes_value = False
            continue
        if not arg.startswith("-"):
            break
        debug = debug or arg == "--debug"
        strict = strict or arg == "--strict-plugins"
        takes_value = arg == "--profile"
    return debug, strict


def _click_exceptions() -> Any:
    """The click exceptions typer raises: recent typer vendors click as ``typer._click``."""
    import importlib

    try:
        return importlib.import_module("typer._click.exceptions")
    except ImportError:  # typer releases that depend on the click distribution
        return importlib.import_module("click.exceptions")


#: Options of the root command: they go before the command name.
GLOBAL_OPTIONS = ("--profile", "--strict-plugins", "--debug", "--version")


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """Warnings as one line on stderr: ``note:`` for policy notes, else ``warning:``."""
    from labtrust_gym.config import PolicyNote

    label = "note" if issubclass(category, PolicyNote) else "warning"
    _echo_err(f"{label}: {message}")


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point. Returns (and exits with) the process exit code."""
    import warnings

    args = list(sys.argv[1:] if argv is None else argv)
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        code = _run(args)
    if argv is None:
        sys.exit(code)
    return code


def _run(args: list[str]) -> int:
    click_exceptions = _click_exceptions()
    debug, strict = _pre_scan(args)
    debug = debug or os.environ.get("LABTRUST_DEBUG", "") not in ("", "0")
    code = 0
    try:
        from labtrust_gym import plugins
        from labtrust_gym.cli.typer_support import build_command

        if strict:
            plugins.set_strict(True)
        app = build_app()
        for problem in plugins.problems():
            _echo_err(f"warning: {problem.describe()} (run `labtrust plugins doctor`)")
        command = build_command(app, args)
        result = command.main(args=args, prog_name="labtrust", standalone_mode=False)
        code = result if isinstance(result, int) else 0  # typer returns Exit codes here
        if code == 130:  # typer turns Ctrl-C into Exit(130)
            _echo_err("Interrupted.")
    except LabTrustError as exc:
        if debug:
            raise
        evidence_code = getattr(exc, "code", None)  # EvidenceError: name the evidence code
        _echo_err(f"error: {exc}" + (f" ({evidence_code})" if evidence_code else ""))
        code = exc.exit_code
    except typer.Exit as exc:
        code = exc.exit_code
        if code == 130:  # typer turns Ctrl-C into Exit(130)
            _echo_err("Interrupted.")
    except (typer.Abort, KeyboardInterrupt):
        _echo_err("Interrupted.")
        code = 130
    except click_exceptions.ClickException as exc:
        if debug:
            raise
        name = getattr(exc, "option_name", None)
        if isinstance(exc, click_exceptions.NoSuchOption) and name in GLOBAL_OPTIONS:
            _echo_err(
                f"error: {name} is an option of `labtrust` itself: put it before the command, "
                f"e.g. `labtrust {name}{' ID' if name == '--profile' else ''} <command> ...`."
            )
            return 2
        exc.show()
        code = exc.exit_code
    return code
