"""Shared fixtures: every test gets a fresh plugin manager and no active lab profile."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def _labtrust_home(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A throw-away LABTRUST_HOME (run signing key, trusted keys) shared by the session."""
    return str(tmp_path_factory.mktemp("labtrust_home"))


@pytest.fixture(autouse=True)
def _fresh_platform(monkeypatch: pytest.MonkeyPatch, _labtrust_home: str) -> Iterator[None]:
    from labtrust_gym import config, plugins

    monkeypatch.setenv("LABTRUST_HOME", _labtrust_home)
    monkeypatch.delenv("LABTRUST_RUN_KEY", raising=False)

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
