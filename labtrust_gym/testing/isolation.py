"""A fresh plugin manager per test, and runtime registrations that undo themselves."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def isolated_plugins(*, installed: bool = True, strict: bool = True) -> Iterator[None]:
    """A fresh plugin manager and no active lab profile inside the block; both are restored.

    :param installed: also load installed plugins (entry points), as ``labtrust`` does; False
        gives the built-ins only, so a test sees just what it registers itself.
    :param strict: strict plugin mode (any plugin problem raises), the default in tests.
    """
    from labtrust_gym import config, plugins

    profile = config.get_active_profile()
    config.set_active_profile(None)
    try:
        with plugins.isolated_plugins(installed=installed, strict=strict):
            yield
    finally:
        config.set_active_profile(None if profile is config.DEFAULT_PROFILE else profile)


def _kind(kind: str) -> str:
    from labtrust_gym.errors import UnknownIdError
    from labtrust_gym.plugins import KINDS

    key = kind.replace("-", "_")
    if key not in KINDS:
        raise UnknownIdError.for_id("extension kind", kind, KINDS)
    return key


@contextlib.contextmanager
def registered(kind: str, ident: str, obj: Any, *, replace: bool = False) -> Iterator[Any]:
    """Register ``obj`` as ``ident`` of ``kind`` (``"tasks"``, ``"coordination-methods"``, …)
    for the block, exactly as ``register_*`` would, and remove it afterwards. Yields ``obj``."""
    from labtrust_gym.plugins import registry

    reg = registry(_kind(kind))
    reg.register(ident, obj, replace=replace)
    try:
        yield obj
    finally:
        reg.unregister(ident)
