"""Partner overlays: ``policy/partners/<partner_id>/`` holds only what a partner changes.

A file ``partners/<id>/<dir>/<name>.yaml`` overlays ``<dir>/<name>.yaml`` of the policy; a file
with no base counterpart is added. Merge rules (docs/security.md, "Partner overlays"):

* mappings merge key by key, recursively; any other overlay value replaces the base value;
* a list of records that all carry the same id key (``attack_id``, ``claim_id``,
  ``invariant_id``, ``code``, ``task`` …, see :data:`ID_KEYS`), unique on both sides, merges by
  id: a record with a known id is merged into the base record, a new id is appended;
* ``$remove: {<list key>: [ids]}`` inside a mapping drops records from that mapping's list.

The effective policy is every file of the layered policy (shipped, plugins', user's: a user
directory with one lab profile is enough) with the overlay merged on; overlay files are found in
every layer too. It is validated like any policy; its fingerprint differs from the base's, and
results record it together with the partner id.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from labtrust_gym.errors import InvalidInputError, PolicyError, UnknownIdError

PARTNERS_DIR = "partners"
REMOVE_KEY = "$remove"
#: Keys that identify the records of a list (the first key every record carries wins).
ID_KEYS: tuple[str, ...] = (
    "attack_id",
    "control_id",
    "risk_id",
    "claim_id",
    "invariant_id",
    "injection_id",
    "method_id",
    "code",
    "emit",
    "key_id",
    "zone_id",
    "door_id",
    "device_type",
    "device_id",
    "panel",
    "route_id",
    "site_id",
    "action_type",
    "profile_id",
    "name",
    "task",
)


#: A partner id is one path component: letters, digits, ``_``, ``-`` and ``.`` (not leading).
_PARTNER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
#: Marks a materialised effective policy (a dot-file: never listed or fingerprinted), so the
#: overlay is not applied a second time by code that reads it with the partner id.
EFFECTIVE_MARKER = ".labtrust_effective_policy"


def _overlay_files_by_partner(root: Path | str | None) -> dict[str, dict[str, Path]]:
    """``{partner id: {policy-relative path: overlay file}}`` over every policy layer."""
    from labtrust_gym.config import policy_layers

    found: dict[str, dict[str, Path]] = {}
    for rel, (path, _layer) in policy_layers(root).files().items():
        parts = rel.split("/", 2)
        overlay = path.suffix in (".yaml", ".yml", ".json")
        if parts[0] == PARTNERS_DIR and len(parts) == 3 and overlay:
            found.setdefault(parts[1], {})[parts[2]] = path
    return found


def list_partners(root: Path | str | None) -> list[str]:
    """Ids of the partners with an overlay in any policy layer, sorted."""
    return sorted(_overlay_files_by_partner(root))


def check_partner_id(partner_id: str, known: list[str] | None = None) -> str:
    """``partner_id`` if it is one plain path component; else an error listing ``known``."""
    if not isinstance(partner_id, str) or not _PARTNER_ID.fullmatch(partner_id) or set(
        partner_id
    ) == {"."}:
        listed = f" Known partners: {', '.join(known)}." if known else ""
        raise InvalidInputError(
            f"Partner id {partner_id!r} is not valid: a partner id is one name (letters, digits, "
            f"'_', '-', '.'), the name of a directory policy/partners/<id>/.{listed}"
        )
    return partner_id


def partner_dir(root: Path | str | None, partner_id: str) -> Path:
    """The (highest layer's) overlay directory of ``partner_id``; an invalid or unknown partner
    is an error listing the known ones."""
    from labtrust_gym.config import policy_path

    known = list_partners(root)
    check_partner_id(partner_id, known)
    path = policy_path(root, PARTNERS_DIR, partner_id)
    if partner_id not in known:
        error = UnknownIdError.for_id("partner", partner_id, known)
        raise UnknownIdError(
            f"{error} A partner is a directory of overlays; looked for {str(path)!r}.",
            kind="partner",
            requested=partner_id,
            known=known,
        )
    return path


def _id_key(items: list[Any]) -> str | None:
    if not items or not all(isinstance(i, Mapping) for i in items):
        return None
    for key in ID_KEYS:
        if all(key in i for i in items):
            values = [i[key] for i in items]
            return key if len(set(map(repr, values))) == len(values) else None
    return None


def merge(base: Any, overlay: Any, where: str = "") -> Any:
    """``overlay`` merged onto ``base`` by the rules above (inputs are not modified)."""
    if isinstance(base, Mapping) and isinstance(overlay, Mapping):
        out = {k: v for k, v in base.items()}
        for key, value in overlay.items():
            if key == REMOVE_KEY:
                continue
            out[key] = merge(out[key], value, f"{where}/{key}") if key in out else value
        for list_key, ids in (overlay.get(REMOVE_KEY) or {}).items():
            items = out.get(list_key)
            id_key = _id_key(items) if isinstance(items, list) else None
            if items is None or id_key is None:
                raise PolicyError(
                    f"Partner overlay {where or '/'}: $remove names {list_key!r}, which is not a "
                    "list of records with an id key."
                )
            unknown = sorted(set(ids) - {i[id_key] for i in items})
            if unknown:
                raise PolicyError(
                    f"Partner overlay {where}/{list_key}: $remove names unknown ids {unknown}."
                )
            out[list_key] = [i for i in items if i[id_key] not in set(ids)]
        return out
    if isinstance(base, list) and isinstance(overlay, list):
        key = _id_key(base)
        keyed = key is not None and all(isinstance(i, Mapping) and key in i for i in overlay)
        if not keyed or len({repr(i[key]) for i in overlay}) != len(overlay):
            return list(overlay)
        merged = {i[key]: i for i in base}
        order = [i[key] for i in base]
        for item in overlay:
            ident = item[key]
            if ident in merged:
                merged[ident] = merge(merged[ident], item, f"{where}/{ident}")
            else:
                merged[ident] = item
                order.append(ident)
        return [merged[i] for i in order]
    return overlay


def overlay_files(root: Path | str | None, partner_id: str) -> list[str]:
    """Policy-relative paths of the partner's overlay files (from every layer), sorted."""
    partner_dir(root, partner_id)
    return sorted(_overlay_files_by_partner(root).get(partner_id, {}))


def is_effective_policy(root: Path | str | None) -> bool:
    """Whether ``root``'s user layer is a materialised effective policy (overlay applied)."""
    from labtrust_gym.config import policy_dir

    return (policy_dir(root) / EFFECTIVE_MARKER).is_file()


def overlay_path(root: Path | str | None, partner_id: str | None, rel: str) -> Path | None:
    """The partner's overlay of policy-relative ``rel``, if it has one. Lenient on purpose: an
    effective policy (already merged) has none, so nothing applies twice; commands check an
    explicit ``--partner`` with :func:`partner_dir` first."""
    if not partner_id or is_effective_policy(root):
        return None
    return _overlay_files_by_partner(root).get(partner_id, {}).get(rel)


def load_overlaid(
    root: Path | str | None, base_path: Path, rel: str, partner_id: str | None
) -> Any:
    """The YAML at ``base_path`` with ``partner_id``'s overlay of ``rel`` merged onto it."""
    from labtrust_gym.fileio import load_yaml

    over = overlay_path(root, partner_id, rel)
    if not base_path.is_file() and over is not None:
        return load_yaml(over)  # a file only the partner provides
    doc = load_yaml(base_path)
    return merge(doc, load_yaml(over), rel) if over is not None else doc


def materialise(root: Path | str | None, partner_id: str, dest: Path) -> Path:
    """Write the effective policy to ``dest``: every file of the layered policy with ``root``
    as its user layer (shipped, plugins', user's; ``partners/`` left out), the overlay of
    ``partner_id`` merged onto the files it changes."""
    import yaml

    from labtrust_gym.config import policy_layers
    from labtrust_gym.fileio import atomic_write_text, load_yaml

    overlays = _overlay_by_rel(root, partner_id)
    base = policy_layers(root).files()
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for rel, (path, _layer) in base.items():
        if rel.split("/", 1)[0] == PARTNERS_DIR or rel in overlays:
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    for rel, over in sorted(overlays.items()):
        doc = load_yaml(over)
        if rel in base:
            doc = merge(load_yaml(base[rel][0]), doc, rel)
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
        header = f"# Effective policy: base merged with partners/{partner_id}/{rel}\n"
        atomic_write_text(target, header + text)
    (dest / EFFECTIVE_MARKER).write_text(f"partner: {partner_id}\n", encoding="utf-8")
    return dest


def _overlay_by_rel(root: Path | str | None, partner_id: str) -> dict[str, Path]:
    partner_dir(root, partner_id)
    return dict(_overlay_files_by_partner(root).get(partner_id, {}))


def overlay_fingerprint(root: Path | str | None, partner_id: str) -> str:
    """``sha256:<hex>`` over the partner's overlay files (relative path and bytes, sorted)."""
    import hashlib

    digest = hashlib.sha256()
    for rel, path in sorted(_overlay_by_rel(root, partner_id).items()):
        digest.update(rel.encode("utf-8") + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return "sha256:" + digest.hexdigest()


@contextlib.contextmanager
def policy_root_env(root: Path | str) -> Iterator[Path]:
    """Make ``root`` the policy root of everything run inside the block (``LABTRUST_POLICY_DIR``
    is set, then restored): code that resolves the policy itself (the env's engine, worker
    processes) then reads the same policy as the caller."""
    from labtrust_gym.config import POLICY_DIR_ENV, policy_dir

    target = policy_dir(root).resolve()
    previous = os.environ.get(POLICY_DIR_ENV)
    os.environ[POLICY_DIR_ENV] = str(target)
    try:
        yield target
    finally:
        if previous is None:
            os.environ.pop(POLICY_DIR_ENV, None)
        else:
            os.environ[POLICY_DIR_ENV] = previous


@contextlib.contextmanager
def effective_policy(root: Path | str | None, partner_id: str | None) -> Iterator[Path]:
    """The policy root to run with: ``root`` itself, or (with a partner) a temporary copy of the
    effective policy, made the process's policy root for the duration of the block."""
    import tempfile

    from labtrust_gym.config import get_repo_root, policy_dir

    base = Path(root) if root is not None else get_repo_root()
    if not partner_id:
        yield policy_dir(base)
        return
    with tempfile.TemporaryDirectory(prefix=f"labtrust_policy_{partner_id}_") as tmp:
        eff = materialise(base, partner_id, Path(tmp) / "policy")
        with policy_root_env(eff):
            yield eff
