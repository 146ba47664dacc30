"""Results documents (schema v0.2 / v0.3): build, validate, write atomically, read back.

A results document is canonical JSON (sorted keys, fixed float formatting) so two runs with the
same arguments produce byte-identical files. Nothing wall-clock dependent is written.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from labtrust_gym.errors import InvalidInputError, SchemaValidationError, UnknownIdError
from labtrust_gym.fileio import atomic_write_json, canonical_json, load_json

from .stats import summarize_episode_metrics

RESULTS_VERSIONS = ("0.2", "0.3")
DEFAULT_RESULTS_VERSION = "0.3"

_V02_KEYS = (
    "schema_version",
    "task",
    "seeds",
    "policy_fingerprint",
    "partner_id",
    "git_sha",
    "agent_baseline_id",
    "config",
    "episodes",
)


def check_results_version(version: str) -> None:
    """Refuse a results schema version we do not write (listing the known ones)."""
    if version not in RESULTS_VERSIONS:
        raise UnknownIdError.for_id("results schema version", version, RESULTS_VERSIONS)


def results_schema_path(version: str, policy_root: Path | None = None) -> Path:
    from labtrust_gym.config import get_repo_root, policy_path

    check_results_version(version)
    root = policy_root if policy_root is not None else get_repo_root()
    return policy_path(root, "schemas", f"results.v{version}.schema.json")


def policy_fingerprint(policy_root: Path | None = None) -> str:
    """The effective (layered) policy's fingerprint (see ``labtrust_gym.config``)."""
    from labtrust_gym.config import policy_fingerprint as fingerprint

    return fingerprint(policy_root)


@functools.lru_cache(maxsize=1)
def git_sha(start: str | None = None) -> str | None:
    """The commit of the code that ran: the git work tree enclosing this package (an editable
    install or a checkout), read without spawning git; None for an installed wheel."""
    here = Path(start or Path(__file__).resolve().parent).resolve()
    for candidate in (here, *here.parents):
        git_dir = candidate / ".git"
        if git_dir.is_dir():
            return _resolve_head(git_dir)
    return None


def _resolve_head(git_dir: Path) -> str | None:
    try:
        head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if not head.startswith("ref: "):
        return head or None
    ref = head[5:]
    ref_file = git_dir / ref
    if ref_file.is_file():
        return ref_file.read_text(encoding="utf-8").strip() or None
    packed = git_dir / "packed-refs"
    if packed.is_file():
        for line in packed.read_text(encoding="utf-8").splitlines():
            parts = line.split(" ")
            if len(parts) == 2 and parts[1] == ref:
                return parts[0]
    return None  # a branch without commits yet


def build_results(
    *,
    task: str,
    seeds: Sequence[int],
    episodes: Sequence[Mapping[str, Any]],
    config: Mapping[str, Any],
    agent_baseline_id: str,
    partner_id: str | None,
    policy_root: Path | None = None,
    version: str = DEFAULT_RESULTS_VERSION,
) -> dict[str, Any]:
    """Assemble a results document of the given schema version (not yet validated)."""
    check_results_version(version)
    doc: dict[str, Any] = {
        "schema_version": version,
        "task": task,
        "seeds": list(seeds),
        "policy_fingerprint": policy_fingerprint(policy_root),
        "partner_id": partner_id,
        "git_sha": git_sha(),
        "agent_baseline_id": agent_baseline_id,
        "config": dict(config),
        "episodes": [dict(ep) for ep in episodes],
    }
    if version == "0.2":
        doc["episodes"] = [{"seed": ep["seed"], "metrics": ep["metrics"]} for ep in episodes]
    else:
        doc["summary"] = summarize_episode_metrics([ep["metrics"] for ep in episodes])
    return doc


def validate_results(
    doc: Mapping[str, Any], *, what: str = "results", policy_root: Path | None = None
) -> None:
    version = doc.get("schema_version") if isinstance(doc, Mapping) else None
    if version not in RESULTS_VERSIONS:
        raise SchemaValidationError(
            f"{what}: field 'schema_version': expected one of "
            f"{', '.join(RESULTS_VERSIONS)}, got {version!r}."
        )
    _validate(doc, None, version=str(version), what=what, policy_root=policy_root)


def validate_results_part(
    value: Any, part: str, *, version: str, what: str, policy_root: Path | None = None
) -> None:
    """Validate one part of a results document (``"metrics"`` of an episode, the ``"config"``)
    as soon as it exists, so a bad one fails the run at once rather than after every episode."""
    _validate(value, part, version=version, what=what, policy_root=policy_root)


def _validate(
    value: Any, part: str | None, *, version: str, what: str, policy_root: Path | None
) -> None:
    # Round-trip through canonical JSON so tuples, numpy scalars or NaN fail here, not on disk.
    try:
        canonical_json(value)
    except (TypeError, ValueError) as exc:
        raise SchemaValidationError(f"{what}: not JSON-serialisable: {exc}.") from None
    validator = _validator(str(results_schema_path(version, policy_root)), part)
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        location = "/".join(str(p) for p in errors[0].absolute_path) or "(top level)"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise SchemaValidationError(f"{what}: field {location!r}: {errors[0].message}{more}.")


@functools.lru_cache(maxsize=16)
def _validator(schema_path: str, part: str | None) -> Any:
    """A validator of a results schema (``part=None``) or of one of its ``$defs`` entries, with
    the local ``$ref``s inlined: the same rules, about 2.5 times faster to apply (the runner checks
    every episode's metrics as it arrives and the whole document at the end)."""
    import jsonschema

    full = load_json(schema_path)
    defs = full.get("$defs") or {}
    schema = _inline_refs(full if part is None else defs[part], defs, 0)
    schema["$schema"] = full.get("$schema")
    cls = jsonschema.validators.validator_for(full)
    cls.check_schema(schema)
    return cls(schema)


def _inline_refs(node: Any, defs: Mapping[str, Any], depth: int) -> Any:
    """``node`` with every ``{"$ref": "#/$defs/x", ...}`` replaced by ``x`` (results schemas
    are not recursive; a cycle is refused rather than followed forever)."""
    if depth > 32:
        raise SchemaValidationError("results schema: $defs nest too deep (a recursive $ref?).")
    if isinstance(node, list):
        return [_inline_refs(item, defs, depth) for item in node]
    if not isinstance(node, Mapping):
        return node
    ref = node.get("$ref")
    rest = {k: _inline_refs(v, defs, depth) for k, v in node.items() if k not in ("$ref", "$defs")}
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = _inline_refs(defs[ref[len("#/$defs/") :]], defs, depth + 1)
        return {"allOf": [target, rest]} if rest else target
    if ref is not None:
        rest["$ref"] = ref
    return rest


def write_results(
    path: str | os.PathLike[str], doc: Mapping[str, Any], *, policy_root: Path | None = None
) -> Path:
    """Validate ``doc`` then write it atomically as canonical JSON."""
    validate_results(doc, what=f"results for {str(path)!r}", policy_root=policy_root)
    return atomic_write_json(path, doc)


def read_results(
    path: str | os.PathLike[str], *, policy_root: Path | None = None
) -> dict[str, Any]:
    doc = load_json(path)
    if not isinstance(doc, dict):
        raise InvalidInputError(
            f"{str(path)!r} is not a results document (expected a JSON object)."
        )
    validate_results(doc, what=str(path), policy_root=policy_root)
    return doc


def downgrade_to_v02(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The CI-stable v0.2 subset of a v0.3 (or v0.2) document."""
    out = {key: doc[key] for key in _V02_KEYS}
    out["schema_version"] = "0.2"
    out["episodes"] = [{"seed": ep["seed"], "metrics": ep["metrics"]} for ep in doc["episodes"]]
    return out
