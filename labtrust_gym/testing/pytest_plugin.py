"""The pytest plugin of ``labtrust-gym`` (entry point ``pytest11``), for plugin authors.

Fixtures (opt-in: nothing happens to a test that does not ask for them):

* ``labtrust_plugins`` — a fresh plugin manager in strict mode, with the installed plugins
  loaded, and no active lab profile, for one test; restored afterwards. Make it automatic with
  ``pytestmark = pytest.mark.usefixtures("labtrust_plugins")``.
* ``labtrust_builtin_plugins`` — the same without installed plugins: only the built-ins and what
  the test registers.
* ``labtrust_registered`` — :func:`labtrust_gym.testing.registered`, the context manager that
  registers an object for a block.

Kept light: pytest imports this module in every session of a project with labtrust-gym
installed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest


@pytest.fixture
def labtrust_plugins() -> Iterator[None]:
    """A fresh, strict plugin manager (installed plugins loaded) for this test."""
    from labtrust_gym.testing.isolation import isolated_plugins

    with isolated_plugins(installed=True, strict=True):
        yield


@pytest.fixture
def labtrust_builtin_plugins() -> Iterator[None]:
    """A fresh, strict plugin manager with the built-in plugins only, for this test."""
    from labtrust_gym.testing.isolation import isolated_plugins

    with isolated_plugins(installed=False, strict=True):
        yield


@pytest.fixture
def labtrust_registered() -> Callable[..., Any]:
    """``labtrust_registered(kind, id, obj)``: a context manager registering ``obj`` for a block."""
    from labtrust_gym.testing.isolation import registered

    return registered
