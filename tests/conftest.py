"""Shared fixtures: every test gets a fresh plugin manager and no active lab profile."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _fresh_platform(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from labtrust_gym import config, plugins

    for var in (
        "LABTRUST_STRICT_PLUGINS",
        "LABTRUST_DISABLE_PLUGINS",
        "LABTRUST_POLICY_DIR",
        "LABTRUST_PROFILE",
    ):
        monkeypatch.delenv(var, raising=False)
    plugins.reset_plugins()
    plugins.set_strict(None)
    config.set_active_profile(None)
    yield
    plugins.reset_plugins()
    plugins.set_strict(None)
    config.set_active_profile(None)
