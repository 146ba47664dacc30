"""The plugin module (pluggy group ``labtrust_gym``): the policy layer this plugin ships —
lab profile ``pharmacy`` (selects the domain) and the formulary with its schema."""

from __future__ import annotations

from pathlib import Path

from labtrust_gym.hookspecs import hookimpl

POLICY_DIR = Path(__file__).resolve().parent / "policy"


@hookimpl
def labtrust_policy_dirs() -> list[Path]:
    return [POLICY_DIR]
