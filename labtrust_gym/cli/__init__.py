"""The ``labtrust`` command line: a typer app whose commands come from plugins.

Built-in command groups are ordinary plugins implementing ``labtrust_register_commands``; so are
third-party ones. Module scope here stays light: ``labtrust --help`` must not import numpy,
gymnasium or pettingzoo.
"""

from __future__ import annotations

from labtrust_gym.cli.app import build_app, main

__all__ = ["build_app", "main"]
