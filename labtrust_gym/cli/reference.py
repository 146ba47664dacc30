"""The CLI reference (``docs/cli.md``), generated from the typer app itself.

    python -m labtrust_gym.cli.reference > docs/cli.md

Only the built-in commands are documented (installed plugins are not loaded while rendering), at
a fixed width, so the output is the same on every machine; ``tests/core/test_cli_reference.py``
fails when ``docs/cli.md`` is out of date.
"""

from __future__ import annotations

import sys
from typing import Any

WIDTH = 96

HEADER = """\
# `labtrust` command reference

Generated from the CLI by `python -m labtrust_gym.cli.reference > docs/cli.md` (a test fails
when this file is out of date). It lists the built-in commands; installed plugins may add their
own (`labtrust --help` shows everything installed).

Global options (`--profile`, `--strict-plugins`, `--debug`, `--version`) belong to `labtrust`
itself and go **before** the command name: `labtrust --profile my_lab run-benchmark ...`. Given
after it, the CLI says so and exits 2. Values shown as `<a|b>` are the only ones accepted; ids
(tasks, coordination methods, scale presets, injections, profiles) are listed by
`labtrust list KIND`. Errors are one line on stderr with exit code 2 (`--debug` shows the
traceback); a failed check (doctor, smoke, determinism, golden) exits 1.
"""


def _sections(command: Any, path: list[str], parent: Any) -> list[tuple[str, str]]:
    ctx = command.context_class(
        command, info_name=path[-1], parent=parent, terminal_width=WIDTH, max_content_width=WIDTH
    )
    out = [(" ".join(path), command.get_help(ctx))]
    for name in sorted(getattr(command, "commands", None) or {}):
        sub = command.commands[name]
        if not getattr(sub, "hidden", False):
            out += _sections(sub, [*path, name], ctx)
    return out


def render() -> str:
    """The markdown of ``docs/cli.md``."""
    import typer

    from labtrust_gym.cli.app import build_app
    from labtrust_gym.cli.typer_support import tidy_metavars
    from labtrust_gym.plugins import isolated_plugins

    with isolated_plugins(installed=False, strict=True):
        command = typer.main.get_command(build_app())
        tidy_metavars(command)
        sections = _sections(command, ["labtrust"], None)
    parts = [HEADER]
    for title, text in sections:
        parts.append(f"\n## `{title}`\n\n```text\n{text.rstrip()}\n```\n")
    return "".join(parts)


if __name__ == "__main__":
    sys.stdout.write(render())
