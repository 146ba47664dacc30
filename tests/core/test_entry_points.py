"""The light entry-point reader agrees with importlib.metadata."""

from __future__ import annotations

import importlib.metadata as metadata
from pathlib import Path

from labtrust_gym.entry_points import installed_entry_points


def _key(ep: object) -> tuple[str, str, str, str | None, str | None]:
    dist = getattr(ep, "dist", None)
    return (ep.group, ep.name, ep.value,  # type: ignore[attr-defined]
            dist.metadata["Name"] if dist else None, dist.version if dist else None)


def test_same_entry_points_as_importlib_metadata() -> None:
    ours = {_key(ep) for eps in installed_entry_points().values() for ep in eps}
    groups = {ep.group for dist in metadata.distributions() for ep in dist.entry_points}
    theirs = {_key(ep) for group in groups for ep in metadata.entry_points(group=group)}
    assert ours == theirs
    console = [ep for ep in installed_entry_points()["console_scripts"] if ep.name == "labtrust"]
    assert console[0].load().__name__ == "main"


def test_a_distribution_installed_twice_is_read_once_first_on_path(tmp_path: Path) -> None:
    for where, version in (("a", "1.0"), ("b", "2.0")):
        info = tmp_path / where / f"twice_pkg-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: twice-pkg\nVersion: "
                                       f"{version}\n\nName: not a header\n")
        (info / "entry_points.txt").write_text(f"[labtrust_gym.tasks]\nt = mod{where}:T\n")
    found = installed_entry_points([str(tmp_path / "a"), str(tmp_path / "b"),
                                    str(tmp_path / "missing")])
    (ep,) = found["labtrust_gym.tasks"]
    assert (ep.value, ep.dist.name, ep.dist.version, ep.attr, ep.module) == (
        "moda:T", "twice-pkg", "1.0", "T", "moda")
