"""Benchmark packs: which tasks an official run covers, and the pack-loader registry façade.

A loader is ``loader(repo_root, prefer_v02, partner_id) -> (pack_dict, version, path)``. The
built-in ``default`` loader reads ``policy/official/benchmark_pack.v0.1.yaml`` (or ``v0.2`` when
``prefer_v02`` and it exists), honours the active profile's ``benchmark_pack_path`` override, a
partner's replacement pack ``policy/official/partners/<partner_id>/benchmark_pack.v0.X.yaml`` or
its overlay ``policy/partners/<partner_id>/official/benchmark_pack.v0.X.yaml`` (merged onto the
base pack by the rules of ``labtrust_gym.security.partners``), and validates the pack against
``policy/schemas/benchmark_pack.v0.1.schema.json``. What a loader returns is checked by the plugin
table's contract (``labtrust_gym.contracts``): a wrong shape is a ``PluginError`` naming the
loader, its plugin and distribution.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from labtrust_gym.errors import PolicyError

PackLoader = Callable[[Any, bool, "str | None"], tuple[dict[str, Any], str, Path]]

PACK_SCHEMA = ("schemas", "benchmark_pack.v0.1.schema.json")


# --------------------------------------------------------------------------------------------
# Registry façade
# --------------------------------------------------------------------------------------------


def register_benchmark_pack_loader(
    loader_id: str, loader: PackLoader, *, replace: bool = False
) -> None:
    """Register ``loader(repo_root, prefer_v02, partner_id) -> (pack_dict, version, path)``."""
    from labtrust_gym.plugins import registry

    registry("benchmark_pack_loaders").register(loader_id, loader, replace=replace)


def get_benchmark_pack_loader(loader_id: str) -> PackLoader:
    from labtrust_gym.plugins import registry

    loader: PackLoader = registry("benchmark_pack_loaders").get(loader_id)
    return loader


def list_benchmark_pack_loaders() -> list[str]:
    from labtrust_gym.plugins import registry

    return registry("benchmark_pack_loaders").ids()


def load_benchmark_pack(
    repo_root: Path | str | None = None,
    prefer_v02: bool = False,
    partner_id: str | None = None,
    loader_id: str | None = None,
) -> tuple[dict[str, Any], str, Path]:
    """Load the benchmark pack with the selected loader (default: the profile's loader id)."""
    from labtrust_gym.config import get_active_profile

    profile = get_active_profile()
    chosen = loader_id or profile.benchmark_pack_loader_id
    loader = get_benchmark_pack_loader(chosen)  # its result's shape is checked on the call
    pack, version, path = loader(
        repo_root, prefer_v02, partner_id if partner_id is not None else profile.partner_id
    )
    return dict(pack), str(version), Path(path)


# --------------------------------------------------------------------------------------------
# The default loader
# --------------------------------------------------------------------------------------------


def default_pack_loader(
    repo_root: Path | str | None, prefer_v02: bool, partner_id: str | None
) -> tuple[dict[str, Any], str, Path]:
    """The built-in loader (registered as ``default``)."""
    from labtrust_gym.config import get_active_profile, get_repo_root, policy_path
    from labtrust_gym.fileio import load_yaml, validate_with_schema

    root = Path(repo_root) if repo_root is not None else get_repo_root()
    candidates: list[Path] = []
    versions = ("0.2", "0.1") if prefer_v02 else ("0.1",)
    if partner_id:  # each candidate resolves through the policy layers
        candidates += [
            policy_path(root, "official", "partners", partner_id, f"benchmark_pack.v{v}.yaml")
            for v in versions
        ]
    profile = get_active_profile()
    if profile.benchmark_pack_path:
        candidates.append(profile.resolve_path("benchmark_pack_path", root))
    base_packs = [policy_path(root, "official", f"benchmark_pack.v{v}.yaml") for v in versions]
    candidates += base_packs
    path = next((c for c in candidates if c.is_file()), None)
    if path is None:
        raise PolicyError(
            f"No benchmark pack found; looked for {', '.join(repr(str(c)) for c in candidates)}."
        )
    if path in base_packs and partner_id:
        # A partner overlay (policy/partners/<id>/official/...) merges onto the base pack.
        from labtrust_gym.security.partners import load_overlaid

        pack = load_overlaid(root, path, f"official/{path.name}", partner_id)
    else:
        pack = load_yaml(path)
    validate_with_schema(
        pack, policy_path(root, *PACK_SCHEMA), what=f"benchmark pack {str(path)!r}"
    )
    pack = dict(pack)
    if partner_id and not pack.get("partner_id"):
        pack["partner_id"] = partner_id
    return pack, str(pack["version"]), path


__all__ = [
    "PackLoader",
    "default_pack_loader",
    "get_benchmark_pack_loader",
    "list_benchmark_pack_loaders",
    "load_benchmark_pack",
    "register_benchmark_pack_loader",
]
