"""docs/cli.md is the CLI's own help, regenerated from the typer app."""

from __future__ import annotations

from pathlib import Path

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
