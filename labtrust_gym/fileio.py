"""Small, dependency-light file helpers shared by every layer.

* atomic writes (temp file in the target directory + ``os.replace``) so an interrupted run never
  leaves a half-written file;
* canonical JSON (sorted keys, compact separators, UTF-8) used for results and hashing;
* YAML/JSON loading that turns parse errors into ``PolicyError`` naming the file;
* JSON-Schema validation against ``policy/schemas`` that names the failing field.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from labtrust_gym.errors import InvalidInputError, PolicyError, SchemaValidationError


def canonical_json(obj: Any, *, indent: int | None = None) -> str:
    """Deterministic JSON text: sorted keys, no NaN, compact unless ``indent`` is given."""
    if indent is None:
        return json.dumps(
            obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    return json.dumps(obj, sort_keys=True, indent=indent, ensure_ascii=False, allow_nan=False)


def check_output_path(path: str | os.PathLike[str], *, label: str = "Output path") -> Path:
    """Refuse, before any work is done, an output file path that cannot be written atomically:
    an existing directory, a missing parent directory or one that is not writable. ``label``
    names the path in the message (e.g. ``"--out"``)."""
    target = Path(path)
    if target.is_dir():
        raise InvalidInputError(
            f"{label} {str(target)!r} is a directory; give a file path such as "
            f"{str(target / 'results.json')!r}."
        )
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise InvalidInputError(
            f"{label} {str(target)!r}: directory {str(parent)!r} does not exist; create it first."
        )
    if not os.access(parent, os.W_OK):
        raise InvalidInputError(
            f"{label} {str(target)!r}: directory {str(parent)!r} is not writable."
        )
    return target


def ensure_output_dir(path: str | os.PathLike[str], *, label: str = "Output directory") -> Path:
    """Create the output directory ``path`` (and parents) or refuse it with one clear error:
    a file in the way, a parent that is a file, or no permission. ``label`` names the option."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise InvalidInputError(f"{label} {str(target)!r} exists and is not a directory.")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInputError(
            f"{label} {str(target)!r} cannot be created: {exc.strerror or exc}."
        ) from None
    if not os.access(target, os.W_OK):
        raise InvalidInputError(f"{label} {str(target)!r} is not writable.")
    return target


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, fsync: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically: readers see the old file or the whole new one."""
    target = Path(path)
    check_output_path(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:  # KeyboardInterrupt included: never leave the temp file behind
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str, *, fsync: bool = True) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync)


def atomic_write_json(path: str | os.PathLike[str], obj: Any, *, indent: int | None = 2) -> Path:
    """Write canonical JSON (sorted keys; trailing newline) atomically."""
    return atomic_write_text(path, canonical_json(obj, indent=indent) + "\n")


def atomic_write_lines(path: str | os.PathLike[str], lines: Iterable[str]) -> Path:
    return atomic_write_text(
        path, "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    )


def load_yaml(path: str | os.PathLike[str]) -> Any:
    """Load a YAML (or JSON) file, raising ``PolicyError`` that names the file on any problem."""
    import yaml

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(f"Policy file not found: {str(p)!r}.") from None
    except OSError as exc:
        raise PolicyError(f"Cannot read policy file {str(p)!r}: {exc.strerror or exc}.") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PolicyError(f"Invalid YAML in {str(p)!r}{where}: {problem}.") from None


def load_json(path: str | os.PathLike[str]) -> Any:
    p = Path(path)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInputError(f"File not found: {str(p)!r}.") from None
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"Invalid JSON in {str(p)!r} at line {exc.lineno}: {exc.msg}."
        ) from None


_SCHEMA_CACHE: dict[Path, Any] = {}


def validate_with_schema(document: Any, schema_path: str | os.PathLike[str], *, what: str) -> None:
    """Validate ``document`` against the JSON Schema at ``schema_path``.

    Raises ``SchemaValidationError`` naming ``what`` (e.g. the file being validated), the JSON path
    of the first error and the message.
    """
    import jsonschema

    sp = Path(schema_path)
    validator = _SCHEMA_CACHE.get(sp)
    if validator is None:
        schema = load_json(sp)
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        validator = cls(schema)
        _SCHEMA_CACHE[sp] = validator
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        location = "/".join(str(part) for part in err.absolute_path) or "(top level)"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise SchemaValidationError(f"{what}: field {location!r}: {err.message}{more}.")


def tree_fingerprint(directory: str | os.PathLike[str], *, skip: Iterable[str] = ()) -> str:
    """``sha256:<hex>`` over every file under ``directory``: relative POSIX path and bytes, in
    sorted order (``__pycache__`` and dot-files left out, as are paths under ``skip``)."""
    import hashlib

    base = Path(directory)
    skipped = tuple(s.rstrip("/") + "/" for s in skip)
    digest = hashlib.sha256()
    for path in sorted(p for p in base.rglob("*") if p.is_file()):
        rel = path.relative_to(base).as_posix()
        if "__pycache__" in rel or rel.startswith(".") or rel.startswith(skipped):
            continue
        digest.update(rel.encode("utf-8") + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return "sha256:" + digest.hexdigest()
