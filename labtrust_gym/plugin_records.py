"""The records the plugin core keeps (:mod:`labtrust_gym.plugins`): a problem of a plugin, what
``labtrust plugins list`` shows for one, an entry point not imported yet, and one registration
of one id — plain data with no state of their own, plus the two helpers that read an entry
point's distribution. Every name here is also importable from ``labtrust_gym.plugins``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # real or light (labtrust_gym.entry_points) entry points, duck-typed
    from importlib.metadata import EntryPoint

#: Where a plugin came from (``labtrust plugins list``).
Source = Literal["builtin", "entrypoint", "runtime", "extension"]


@dataclass(frozen=True)
class PluginProblem:
    """A plugin that could not be loaded or used, with everything needed to find it."""

    plugin: str
    cause: str
    distribution: str | None = None
    version: str | None = None
    entry_point: str | None = None

    def describe(self) -> str:
        origin = []
        if self.distribution:
            origin.append(f"distribution {self.distribution} {self.version or '?'}")
        if self.entry_point:
            origin.append(f"entry point {self.entry_point}")
        where = f" ({'; '.join(origin)})" if origin else ""
        return f"plugin {self.plugin!r}{where}: {self.cause}"


@dataclass
class PluginInfo:
    """What ``labtrust plugins list`` shows for one registered plugin."""

    name: str
    source: Source
    distribution: str | None = None
    version: str | None = None
    entry_point: str | None = None

    def problem(self, cause: str) -> PluginProblem:
        """A problem of this plugin, attributed to its distribution and entry point."""
        return PluginProblem(self.name, cause, self.distribution, self.version, self.entry_point)


@dataclass(frozen=True)
class EntryPointRef:
    """An entry-point object not imported yet; loaded when its id is first resolved."""

    entry_point: EntryPoint
    plugin: str

    @property
    def identity(self) -> tuple[str, str]:
        return ("entrypoint", self.entry_point.value)


@dataclass
class Registration:
    """One id of one kind, as provided by one plugin."""

    kind: str
    ident: str
    value: Any
    plugin: str
    replace: bool = False
    resolved: Any = None
    is_resolved: bool = False
    loaded: Any = None  # the object as registered/imported, before checking and wrapping

    @property
    def lazy(self) -> bool:
        return isinstance(self.value, EntryPointRef)


def identity_of(value: Any) -> Any:
    """What makes two registrations the same: the entry-point value, else the object."""
    return value.identity if isinstance(value, EntryPointRef) else ("object", id(value))


def dist_of(ep: EntryPoint) -> tuple[str | None, str | None]:
    """``(name, version)`` of the distribution that declares ``ep`` (None when unknown)."""
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None, None
    try:
        return dist.metadata["Name"] or dist.name, dist.version
    except Exception:  # broken metadata must not stop the report
        return getattr(dist, "name", None), None


def normalize_dist(name: str) -> str:
    """A distribution name as packaging compares them (``Full_Plugin.Example`` ->
    ``full-plugin-example``)."""
    return re.sub(r"[-_.]+", "-", name).lower()
