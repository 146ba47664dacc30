"""Installed entry points, read without importing ``importlib.metadata``.

``importlib.metadata`` pulls in ``email``, ``zipfile`` and ``csv`` — about a fifth of
``labtrust --help``. The plugin core needs only the entry points of installed distributions and,
for attribution, each distribution's name and version, so this module reads them directly: every
``*.dist-info`` / ``*.egg-info`` directory on ``sys.path`` (in path order; the first copy of a
distribution wins, as with ``importlib.metadata``), its ``entry_points.txt`` and the ``Name`` /
``Version`` headers of its ``METADATA`` (or ``PKG-INFO``). The objects behave like
``importlib.metadata.EntryPoint`` / ``Distribution`` for what the plugin core uses: ``name``,
``value``, ``group``, ``module``, ``attr``, ``pattern``, ``load()``, ``dist.name``,
``dist.version``, ``dist.metadata["Name"]``. Zipped eggs are not read.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from functools import cached_property
from typing import Any

_PATTERN = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")


class Distribution:
    """Name and version of an installed distribution, read from its metadata headers."""

    def __init__(self, directory: str) -> None:
        self._directory = directory

    @cached_property
    def metadata(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for filename in ("METADATA", "PKG-INFO"):
            try:
                with open(os.path.join(self._directory, filename), encoding="utf-8") as handle:
                    for line in handle:
                        if not line.strip():
                            break  # the body (long description) starts here
                        key, sep, value = line.partition(":")
                        if sep and key in ("Name", "Version") and key not in headers:
                            headers[key] = value.strip()
            except OSError:
                continue
            break
        return headers

    @property
    def name(self) -> str:
        return self.metadata.get("Name") or _dir_name(self._directory)

    @property
    def version(self) -> str | None:
        return self.metadata.get("Version")


class EntryPoint:
    """One ``name = module:attr`` line of an ``entry_points.txt`` section."""

    pattern = _PATTERN

    def __init__(self, name: str, value: str, group: str, dist: Distribution | None) -> None:
        self.name, self.value, self.group, self.dist = name, value, group, dist

    @property
    def module(self) -> str:
        match = self.pattern.match(self.value)
        return match.group("module") if match else self.value

    @property
    def attr(self) -> str | None:
        match = self.pattern.match(self.value)
        return match.group("attr") if match else None

    def load(self) -> Any:
        """Import the module and return the attribute (the module itself without one)."""
        obj: Any = importlib.import_module(self.module)
        for part in (self.attr or "").split("."):
            if part:
                obj = getattr(obj, part)
        return obj

    def __repr__(self) -> str:
        return f"EntryPoint(name={self.name!r}, value={self.value!r}, group={self.group!r})"


def _dir_name(directory: str) -> str:
    return os.path.basename(directory).rsplit(".", 1)[0].split("-")[0]


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _parse(text: str, dist: Distribution) -> list[EntryPoint]:
    found: list[EntryPoint] = []
    group = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1].strip()
        elif group is not None and "=" in line:
            name, _, value = line.partition("=")
            found.append(EntryPoint(name.strip(), value.strip(), group, dist))
    return found


def installed_entry_points(path: list[str] | None = None) -> dict[str, list[EntryPoint]]:
    """``{group: [entry points]}`` of every distribution on ``path`` (default ``sys.path``)."""
    groups: dict[str, list[EntryPoint]] = {}
    seen: set[str] = set()
    for entry in sys.path if path is None else path:
        try:
            names = sorted(os.listdir(entry or "."))
        except OSError:  # missing, a file or a zip: nothing to read
            continue
        for name in names:
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            directory = os.path.join(entry or ".", name)
            key = _normalize(_dir_name(directory))
            if key in seen:
                continue
            seen.add(key)
            try:
                with open(os.path.join(directory, "entry_points.txt"), encoding="utf-8") as fh:
                    text = fh.read()
            except OSError:
                continue
            for ep in _parse(text, Distribution(directory)):
                groups.setdefault(ep.group, []).append(ep)
    return groups
