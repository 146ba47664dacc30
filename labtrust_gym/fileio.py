"""Small, dependency-light file helpers shared by every layer.

* atomic writes (temp file in the target directory + ``os.replace``) so an interrupted run never
  leaves a half-written file; new files get the usual ``0o666 & ~umask`` mode, and a write that
  fails (disk full, file too large) is a one-line ``ResourceError`` that leaves nothing behind;
* output checks made before any work: the path is refused unless a file can really be created
  there (a probe file is created and removed), so a bad ``--out`` fails first, not last;
* canonical JSON (sorted keys, compact separators, UTF-8) used for results and hashing;
* YAML/JSON loading that turns parse errors into ``PolicyError`` naming the file;
* JSON-Schema validation against ``policy/schemas`` that names the failing field.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from labtrust_gym.errors import (
    InvalidInputError,
    LabTrustError,
    PolicyError,
    ResourceError,
    SchemaValidationError,
)


def canonical_json(obj: Any, *, indent: int | None = None) -> str:
    """Deterministic JSON text: sorted keys, no NaN, compact unless ``indent`` is given."""
    if indent is None:
        return json.dumps(
            obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    return json.dumps(obj, sort_keys=True, indent=indent, ensure_ascii=False, allow_nan=False)


def check_output_path(
    path: str | os.PathLike[str], *, label: str = "Output path", example: str = "results.json"
) -> Path:
    """Refuse, before any work is done, an output file path that cannot be written atomically:
    an existing directory or non-regular file (a device, a pipe), a missing parent directory, a
    name longer than the file system allows, or a directory where no file can be created (tried
    for real, so read-only mounts and root-owned trees are caught too). ``label`` names the path
    in the message (e.g. ``"--out"``); ``example`` is the file name suggested for a directory."""
    target = _check_target(Path(path), label, example)
    parent = target.parent
    problem = _probe_dir(parent)
    if problem is not None:
        raise InvalidInputError(
            f"{label} {str(target)!r}: cannot create a file in {str(parent)!r}: "
            f"{_describe_os_error(problem)}."
        )
    return target


def _check_target(target: Path, label: str, example: str = "results.json") -> Path:
    """The checks that need no write: its name's length, what is at the path, its directory."""
    try:
        name_max = os.pathconf(target.parent, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        name_max = 255
    if len(os.fsencode(target.name)) > name_max:
        raise InvalidInputError(
            f"{label}: file name {target.name[:40]!r}... is longer than the {name_max} bytes "
            "the file system allows."
        )
    if _is_dir(target):
        raise InvalidInputError(
            f"{label} {str(target)!r} is a directory; give a file path such as "
            f"{str(target / example)!r}."
        )
    with contextlib.suppress(OSError):
        mode = target.lstat().st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
            raise InvalidInputError(
                f"{label} {str(target)!r} exists and is not a regular file (a device, pipe or "
                "socket); an atomic write would replace it. Give a file path."
            )
    parent = target.parent
    if not _is_dir(parent):
        raise InvalidInputError(
            f"{label} {str(target)!r}: directory {str(parent)!r} does not exist; create it first."
        )
    if not os.access(parent, os.W_OK):
        raise InvalidInputError(
            f"{label} {str(target)!r}: directory {str(parent)!r} is not writable."
        )
    return target


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # e.g. ENAMETOOLONG: treated as "not a directory" by the callers' messages
        return False


def ensure_output_dir(path: str | os.PathLike[str], *, label: str = "Output directory") -> Path:
    """Create the output directory ``path`` (and parents) or refuse it with one clear error:
    a file in the way, a parent that is a file, no permission, or a directory in which no file
    can be created (tried for real). ``label`` names the option."""
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
    problem = _probe_dir(target)
    if problem is not None:
        raise InvalidInputError(
            f"{label} {str(target)!r}: cannot create files in it: {_describe_os_error(problem)}."
        )
    return target


#: Temp files of the atomic writes in progress in this process (see discard_partial_writes).
_PARTIAL: set[str] = set()


def discard_partial_writes() -> None:
    """Remove the temp files of atomic writes in progress. For signal handlers that end the
    process: the targets are untouched, and with this no stray temp file is left either."""
    for tmp in list(_PARTIAL):
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    _PARTIAL.clear()


def die_of_sigterm(signum: int, frame: Any) -> None:
    """A SIGTERM handler: remove the temp files of writes in progress, then die of SIGTERM
    exactly as without a handler (same exit status)."""
    import signal

    discard_partial_writes()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


@contextlib.contextmanager
def partial_writes_removed_on_sigterm() -> Iterator[None]:
    """While active, SIGTERM ends the process as usual but leaves no temp file behind.

    Installed only from the main thread and only over the default action: a handler someone
    else set (a server, a notebook) is left alone, and the previous action comes back after."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or (
        signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return
    signal.signal(signal.SIGTERM, die_of_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _open_temp(directory: Path, name: str) -> tuple[int, str]:
    """Create a fresh temp file beside the target, mode ``0o666`` filtered by the umask (as any
    new file; ``tempfile.mkstemp`` would force ``0o600``). Registered in :data:`_PARTIAL`."""
    stem = os.fsencode(name)[:96].decode("utf-8", "ignore")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = os.path.join(directory, f".{stem}.{secrets.token_hex(6)}.tmp")
        _PARTIAL.add(tmp)  # before the file exists: a signal handler may run at any bytecode
        try:
            return os.open(tmp, flags | getattr(os, "O_BINARY", 0), 0o666), tmp
        except FileExistsError:
            _PARTIAL.discard(tmp)
        except BaseException:
            _PARTIAL.discard(tmp)
            raise
    raise FileExistsError(errno.EEXIST, f"no free temp file name in {str(directory)!r}")


def _probe_dir(directory: Path) -> OSError | None:
    """Create and remove a temp file in ``directory``; the error if that is impossible."""
    try:
        fd, tmp = _open_temp(directory, "probe")
    except OSError as exc:
        return exc
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(tmp)
    _PARTIAL.discard(tmp)
    return None


def _describe_os_error(exc: OSError) -> str:
    code = errno.errorcode.get(exc.errno or 0)
    return f"{exc.strerror or exc}" + (f" [{code}]" if code else "")


def _write_failed(target: Path, exc: OSError) -> LabTrustError:
    hint = (
        " Free some disk space (or raise the file-size limit) and run again."
        if exc.errno in (errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", -1))
        else ""
    )
    return ResourceError(
        f"Cannot write {str(target)!r}: {_describe_os_error(exc)}; nothing was written (an "
        f"existing file there is unchanged).{hint}"
    )


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, fsync: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically: readers see the old file or the whole new one.

    A write that fails (``ENOSPC``, ``EFBIG``, …) raises :class:`ResourceError` naming the cause
    and leaves neither a partial target nor a temp file."""
    target = _check_target(Path(path), "Output path")
    try:
        fd, tmp = _open_temp(target.parent, target.name)
    except OSError as exc:
        raise _write_failed(target, exc) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException as exc:  # KeyboardInterrupt included: never leave the temp file behind
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _write_failed(target, exc) from None
        raise
    finally:
        _PARTIAL.discard(tmp)
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
        # libyaml's loader when PyYAML was built with it (same safe subset, ~5x faster)
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
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
