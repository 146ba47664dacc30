"""``record`` and ``replay``: LLM answers written to, and served from, a JSONL file.

Each line is one canonical-JSON record ``{"format", "request_hash", "request", "response"}`` (or
``"error"`` instead of ``"response"`` when the wrapped backend failed, so a replay fails the same
way). ``record`` appends every line with a single ``os.write`` on an ``O_APPEND`` descriptor
followed by ``fsync``: a crash leaves every earlier line intact and at most one partial last
line, which ``replay`` skips with a warning. Several processes may append to one file.

``replay`` answers each request from the records with its request hash, in recorded order (a
hash recorded twice is answered twice, in order); a request with no record left is an
:class:`~labtrust_gym.errors.LLMReplayError` naming the hash and the file. Every record is
checked on load: the request hash recomputed, every response field well-formed, and the response
rebuilt from its recorded text (``build_response``) must give the recorded answer, parse error
and answer hash — so an edited request or answer is refused, as is a malformed field, each an
``LLMReplayError`` naming the file and line. ``record`` holds a backend to the same rule before
it writes a line. A replayed response is the recorded one, byte
for byte — its ``backend_id`` and ``latency_s`` are those of the recording.
"""

from __future__ import annotations

import os
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

from labtrust_gym.errors import (
    InvalidInputError,
    LLMBackendError,
    LLMConfigError,
    LLMReplayError,
)
from labtrust_gym.fileio import canonical_json, check_output_path
from labtrust_gym.llm.contract import LLMRequest, LLMResponse, response_problem
from labtrust_gym.llm.registry import (
    LLMBackend,
    backend_name,
    complete_checked,
    create_llm_backend,
)
from labtrust_gym.llm.settings import LLMSettings

RECORD_FORMAT = "labtrust.llm.record.v1"


def record_line(
    request: LLMRequest,
    response: LLMResponse | None = None,
    error: LLMBackendError | None = None,
) -> bytes:
    """One record (a response, or the error the call raised) as a JSONL line."""
    entry: dict[str, Any] = {
        "format": RECORD_FORMAT,
        "request_hash": request.request_hash,
        "request": request.to_dict(),
    }
    if response is not None:
        entry["response"] = response.to_dict()
    elif error is not None:
        entry["error"] = {
            "kind": error.kind,
            "message": str(error),
            "backend_id": error.backend_id,
            "attempts": error.attempts,
        }
    else:
        raise ValueError("record_line needs a response or an error")
    return (canonical_json(entry) + "\n").encode("utf-8")


def append_line(path: str | os.PathLike[str], line: bytes) -> None:
    """Append ``line`` with one write on an O_APPEND descriptor, then fsync it."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        view = memoryview(line)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def check_new_record_file(path: str | os.PathLike[str]) -> None:
    """Refuse to record into an existing non-empty file (a replay would serve its old answers
    mixed with the new ones) or a directory."""
    target = check_output_path(path, label="LLM record file", example="llm_calls.jsonl")
    if target.exists() and target.stat().st_size > 0:
        raise LLMConfigError(
            f"LLM record file {str(target)!r} already holds recorded calls; choose a new file "
            "or delete it (recording appends, and a replay would mix both runs)."
        )


def recorded_identity(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``{"backend", "model"}`` of the calls recorded in a replay file (each None when the file
    records none, or several)."""
    backends: set[str] = set()
    models: set[Any] = set()
    for entry in read_records(path):
        request = entry.get("request") or {}
        backend = (request.get("metadata") or {}).get("backend")
        if isinstance(backend, str):
            backends.add(backend)
        models.add(request.get("model"))
    return {
        "backend": next(iter(backends)) if len(backends) == 1 else None,
        "model": next(iter(models)) if len(models) == 1 else None,
    }


#: incomplete last lines already warned about: (path, size, mtime) — once per process
_WARNED: set[tuple[str, int, int]] = set()


def read_records(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of a replay file, each checked (format, request hash, response)."""
    source = Path(path)
    try:
        data = source.read_bytes()
    except FileNotFoundError:
        raise LLMReplayError(
            f"Replay file {str(source)!r} does not exist; record one first with the record "
            "backend (record_path)."
        ) from None
    except OSError as exc:
        raise LLMReplayError(
            f"Cannot read replay file {str(source)!r}: {exc.strerror or exc}."
        ) from None
    lines = data.split(b"\n")
    if lines[-1].strip() and _first_warning(source, len(data)):
        warnings.warn(
            f"Replay file {str(source)!r}: the last line is incomplete (a recording interrupted "
            "mid-write); it is ignored.",
            UserWarning,
            stacklevel=2,
        )
    records = []
    for number, raw in enumerate(lines[:-1], start=1):
        if raw.strip():
            records.append(_check_record(raw, f"{source}:{number}"))
    return records


def _first_warning(source: Path, size: int) -> bool:
    try:
        key = (str(source.resolve()), size, source.stat().st_mtime_ns)
    except OSError:
        return True
    if key in _WARNED:
        return False
    _WARNED.add(key)
    return True


def _check_record(raw: bytes, where: str) -> dict[str, Any]:
    import json

    try:
        entry = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise LLMReplayError(f"Replay file {where}: not a JSON record ({exc}).") from None
    if not isinstance(entry, dict) or entry.get("format") != RECORD_FORMAT:
        raise LLMReplayError(f"Replay file {where}: not a {RECORD_FORMAT} record.")
    try:
        request = LLMRequest.from_dict(entry.get("request") or {})
        if request.request_hash != entry.get("request_hash"):
            raise InvalidInputError(
                "the stored request hash does not match the request (the file was edited, or "
                "written by an incompatible version)."
            )
        if "response" in entry:
            response = LLMResponse.from_dict(entry["response"])
            if response.request_hash != request.request_hash:
                raise InvalidInputError("the response belongs to another request.")
            problem = response_problem(request, response)
            if problem is not None:
                raise InvalidInputError(f"the response is inconsistent: {problem}.")
        elif not _is_error(entry.get("error")):
            raise InvalidInputError(
                "it has neither a response nor an error {kind, message, backend_id, attempts}."
            )
    except InvalidInputError as exc:
        raise LLMReplayError(f"Replay file {where}: {exc}") from None
    return entry


def _is_error(error: Any) -> bool:
    return (
        isinstance(error, dict)
        and all(isinstance(error.get(k), str) for k in ("kind", "message", "backend_id"))
        and isinstance(error.get("attempts"), int)
        and not isinstance(error.get("attempts"), bool)
    )


class ReplayBackend:
    """The built-in ``replay`` backend: answers from ``settings.replay_path``."""

    backend_id = "replay"

    def __init__(self, settings: LLMSettings | None = None) -> None:
        self.settings = settings if settings is not None else LLMSettings()
        self._queues: dict[str, list[dict[str, Any]]] | None = None
        self._served: dict[str, int] = defaultdict(int)

    def configure(self, settings: LLMSettings) -> ReplayBackend:
        backend = ReplayBackend(settings)
        backend._load()  # a missing or corrupt file fails before the run starts
        return backend

    def _load(self) -> dict[str, list[dict[str, Any]]]:
        if self._queues is None:
            if not self.settings.replay_path:
                raise LLMConfigError(
                    "The replay LLM backend needs a file to answer from: set replay_path "
                    "(e.g. --llm-replay PATH) to a file written by the record backend."
                )
            queues: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for entry in read_records(self.settings.replay_path):
                queues[entry["request_hash"]].append(entry)
            self._queues = dict(queues)
        return self._queues

    def complete(self, request: LLMRequest) -> LLMResponse:
        queues = self._load()
        digest = request.request_hash
        entries = queues.get(digest, [])
        index = self._served[digest]
        if index >= len(entries):
            held = (
                f"holds {len(entries)} answer(s) for request hash {digest} and this is call "
                f"{index + 1}"
                if entries
                else f"has no answer for request hash {digest} ({len(queues)} distinct requests "
                "recorded)"
            )
            raise LLMReplayError(
                f"Replay file {self.settings.replay_path!r} {held}. The run differs from the "
                "recording (task, seeds, method, prompts, sampling, model and backend must match; "
                "without --llm-model/--llm-backend a replay uses the recorded ones)."
            )
        self._served[digest] = index + 1
        entry = entries[index]
        if "response" in entry:
            return LLMResponse.from_dict(entry["response"])
        error = entry["error"]
        raise LLMBackendError(
            str(error.get("message", "recorded error")),
            kind=str(error.get("kind", "error")),
            backend_id=str(error.get("backend_id", "")),
            attempts=int(error.get("attempts", 1)),
        )


class RecordBackend:
    """The built-in ``record`` backend: wraps ``settings.record_wraps``, appends every call."""

    backend_id = "record"

    def __init__(self, settings: LLMSettings | None = None, inner: LLMBackend | None = None):
        self.settings = settings if settings is not None else LLMSettings()
        self.inner = inner

    def configure(self, settings: LLMSettings) -> RecordBackend:
        if not settings.record_path:
            raise LLMConfigError(
                "The record LLM backend needs a file to write: set record_path "
                "(e.g. --llm-record PATH)."
            )
        if settings.record_wraps == self.backend_id:
            raise LLMConfigError("The record LLM backend cannot wrap itself; set record_wraps.")
        check_output_path(settings.record_path, label="LLM record file", example="llm_calls.jsonl")
        inner = create_llm_backend(settings.record_wraps, settings)
        return RecordBackend(settings, inner)

    def complete(self, request: LLMRequest) -> LLMResponse:
        if self.inner is None or not self.settings.record_path:
            raise LLMConfigError(
                "The record LLM backend is not configured; build it with "
                "create_llm_backend('record', settings) and a record_path."
            )
        try:
            response = complete_checked(self.inner, request)
            problem = response_problem(request, response)
            if problem is not None:  # never record what replay would refuse
                name = backend_name(self.inner)
                raise LLMBackendError(
                    f"LLM backend {name!r} returned an inconsistent response: {problem}.",
                    kind="bad_response",
                    backend_id=name,
                )
        except LLMBackendError as exc:
            append_line(self.settings.record_path, record_line(request, error=exc))
            raise
        append_line(self.settings.record_path, record_line(request, response))
        return response
