"""docs/cli.md is the CLI's own help, regenerated from the typer app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labtrust_gym.cli.reference import render

REPO = Path(__file__).resolve().parents[2]


def test_cli_reference_is_current() -> None:
    current = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    assert current == render(), (
        "docs/cli.md is out of date: python -m labtrust_gym.cli.reference > docs/cli.md"
    )


def test_cli_reference_covers_every_builtin_command() -> None:
    text = render()
    for command in ("run-benchmark", "eval-agent", "list", "plugins doctor", "verify-log"):
        assert f"## `labtrust {command}`" in text
    assert "<str>" not in text and "list[Path]" not in text


def _help(command: Any, name: str = "labtrust") -> str:
    ctx = command.context_class(command, info_name=name, terminal_width=96, max_content_width=96)
    return str(command.get_help(ctx))


def test_the_lazily_built_cli_shows_the_same_help_as_the_full_build() -> None:
    """main() builds only the command named on the command line (or command summaries for the
    root help); what the user sees must not change."""
    import typer

    from labtrust_gym.cli.app import build_app
    from labtrust_gym.cli.typer_support import build_command, tidy_metavars

    app = build_app()
    full = typer.main.get_command(app)
    tidy_metavars(full)
    assert _help(build_command(app, [])) == _help(full)
    assert _help(build_command(app, ["--profile", "example"])) == _help(full)
    for name, command in full.commands.items():  # type: ignore[attr-defined]
        alone = build_command(app, ["--debug", name, "--help"])
        assert list(alone.commands) == [name]
        assert _help(alone.commands[name], name) == _help(command, name)
