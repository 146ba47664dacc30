"""Coordination studies: methods x scales x injections cells, each run for the same seeds.

A study spec (``policy/schemas/coordination_study.v0.1.schema.json``, docs/studies.md) names
coordination methods, scale presets and risk injections (``none`` is the clean baseline, run on
``clean_task``; the others run on ``task``). Every combination is one **cell**: one
:func:`~labtrust_gym.benchmarks.runner.run_benchmark` run of ``episodes`` episodes (seeds
``seed .. seed + episodes - 1``, the same in every cell, so cells are paired), written to
``<out>/cells/<cell_id>/results.json``.

Cells are independent and run on the local or Ray executor (:func:`executors.run_jobs`); each
cell's results are written by the calling process as soon as the cell finishes, so an
interrupted study keeps what it finished. A cell is **finished** when its ``cell.json`` (written
after ``results.json``) records the fingerprint of the cell's definition (its task, method,
params, scale, injection, seeds, timing, logs, results version and the effective policy's
fingerprint without the study specs, :data:`STUDY_SPECS_DIR`) and the SHA-256 of the
``results.json`` beside it. A rerun skips finished cells and runs the others: a changed spec
reruns exactly the cells whose definition changed. A running study holds the lock file
:data:`LOCK_FILE` in its output directory, so two runs never share one.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from labtrust_gym.errors import InvalidInputError, LabTrustError, SchemaValidationError
from labtrust_gym.fileio import (
    atomic_write_json,
    canonical_json,
    ensure_output_dir,
    load_json,
    load_yaml,
    partial_writes_removed_on_sigterm,
    validate_with_schema,
)

SPEC_SCHEMA = "coordination_study.v0.1.schema.json"
#: The injection id that means "no injection": the clean baseline cell, run on ``clean_task``.
CLEAN = "none"
RESULTS_VERSION = "0.3"
#: The policy subtree of the study specs: left out of the cells' policy fingerprint (a spec is
#: the study's input, not something a cell reads), so editing one spec reruns only the cells it
#: changed, never every cell of every study.
STUDY_SPECS_DIR = "coordination/studies"
_DEFAULTS: dict[str, Any] = {
    "description": "",
    "task": "coord_risk",
    "clean_task": "coord_scale",
    "seed": 42,
    "episodes": 2,
    "timing": None,
    "episode_logs": False,
    "method_params": {},
}


@attrs.frozen
class StudySpec:
    """A validated study spec (defaults filled in)."""

    study_id: str
    description: str
    task: str
    clean_task: str
    methods: tuple[str, ...]
    scales: tuple[str, ...]
    injections: tuple[str, ...]
    seed: int
    episodes: int
    timing: str | None
    episode_logs: bool
    method_params: Mapping[str, Mapping[str, Any]]
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = attrs.asdict(self)
        out.pop("source")
        out["method_params"] = {k: dict(v) for k, v in sorted(self.method_params.items())}
        return out


@attrs.frozen
class CellJob:
    """One cell of a study; picklable (it travels to worker processes and Ray tasks)."""

    cell_id: str
    task: str
    method: str
    scale: str
    injection: str  # CLEAN for the clean baseline
    seed: int
    episodes: int
    timing: str | None
    coord_params: Mapping[str, Any]
    log_dir: str | None
    policy_root: str

    def definition(self) -> dict[str, Any]:
        """What the cell's outcome depends on (apart from the policy and the code)."""
        return {
            "task": self.task,
            "coord_method": self.method,
            "coord_params": dict(sorted(self.coord_params.items())),
            "scale": self.scale,
            "injection": self.injection,
            "seed": self.seed,
            "episodes": self.episodes,
            "timing": self.timing,
            "episode_logs": self.log_dir is not None,
            "results_version": RESULTS_VERSION,
        }


@attrs.frozen
class StudyReport:
    """What :func:`run_study` did: the cells it ran, the finished ones it reused, its files."""

    out_dir: Path
    cells: tuple[CellJob, ...]
    ran: tuple[str, ...]
    reused: tuple[str, ...]
    files: tuple[Path, ...]


# ---- spec ----------------------------------------------------------------------------------
def resolve_spec_path(spec: str | os.PathLike[str], policy_root: Path | None = None) -> Path:
    """``spec`` as a file path, else a shipped study id (``smoke`` ->
    ``policy/coordination/studies/smoke.v0.1.yaml`` from the highest policy layer)."""
    path = Path(spec)
    if path.is_file():
        return path
    name = str(spec)
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name) and not name.endswith((".yaml", ".yml")):
        from labtrust_gym.config import policy_path

        shipped = policy_path(policy_root, "coordination", "studies", f"{name}.v0.1.yaml")
        if shipped.is_file():
            return shipped
    known = ", ".join(list_shipped_studies(policy_root)) or "(none)"
    raise InvalidInputError(
        f"--spec {name!r}: no such file, and no shipped study of that id (shipped: {known}). "
        "Give a study spec YAML file (docs/studies.md)."
    )


def list_shipped_studies(policy_root: Path | None = None) -> list[str]:
    from labtrust_gym.config import policy_path

    directory = policy_path(policy_root, "coordination", "studies")
    if not directory.is_dir():
        return []
    return sorted(p.name[: -len(".v0.1.yaml")] for p in directory.glob("*.v0.1.yaml"))


def load_study_spec(
    spec: str | os.PathLike[str], policy_root: Path | None = None
) -> StudySpec:
    """Read, schema-validate and check a study spec; every id must exist (unknown ones list the
    known ones) and ``injections`` must include ``none``, the clean baseline."""
    from labtrust_gym.config import policy_path

    path = resolve_spec_path(spec, policy_root)
    raw = load_yaml(path)
    what = f"Study spec {str(path)!r}"
    if not isinstance(raw, dict):
        raise SchemaValidationError(
            f"{what}: expected a mapping of fields, got {type(raw).__name__}."
        )
    validate_with_schema(raw, policy_path(policy_root, "schemas", SPEC_SCHEMA), what=what)
    data = {**_DEFAULTS, **raw}
    data.pop("version")
    spec_obj = StudySpec(
        study_id=data["study_id"],
        description=data["description"],
        task=data["task"],
        clean_task=data["clean_task"],
        methods=tuple(data["methods"]),
        scales=tuple(data["scales"]),
        injections=tuple(data["injections"]),
        seed=int(data["seed"]),
        episodes=int(data["episodes"]),
        timing=data["timing"],
        episode_logs=bool(data["episode_logs"]),
        method_params={k: dict(v) for k, v in data["method_params"].items()},
        source=str(path),
    )
    _check_ids(spec_obj, what, policy_root)
    return spec_obj


def _check_ids(spec: StudySpec, what: str, policy_root: Path | None) -> None:
    """Every cell is checked as ``run-benchmark`` would check it (the runner's own
    :func:`~labtrust_gym.benchmarks.runner.prepare_jobs`), before any cell runs."""
    import itertools

    from .runner import prepare_jobs

    if CLEAN not in spec.injections:
        raise InvalidInputError(
            f"{what}: 'injections' must include {CLEAN!r}, the clean baseline every injection is "
            f"compared against (got {list(spec.injections)})."
        )
    unknown = sorted(set(spec.method_params) - set(spec.methods))
    if unknown:
        raise InvalidInputError(
            f"{what}: 'method_params' names {unknown}, which are not in 'methods' "
            f"{list(spec.methods)}."
        )
    _check_clean_task(spec, what)
    _check_method_params(spec, what, policy_root)
    for method, scale, injection in itertools.product(spec.methods, spec.scales, spec.injections):
        try:
            prepare_jobs(
                spec.clean_task if injection == CLEAN else spec.task,
                spec.episodes,
                spec.seed,
                coord_method=method,
                coord_params=spec.method_params.get(method),
                scale=scale,
                injection=None if injection == CLEAN else injection,
                timing=spec.timing,
                policy_root=policy_root,
            )
        except LabTrustError as exc:
            error = InvalidInputError(f"{what}: cell {(method, scale, injection)}: {exc}")
            error.exit_code = exc.exit_code
            raise error from None


def _check_clean_task(spec: StudySpec, what: str) -> None:
    """The clean baseline must run without an injection: a ``clean_task`` with a
    ``default_injection`` (``coord_risk``) would inject it into every ``none`` cell."""
    from .episode import instantiate_task
    from .tasks import get_task

    task = instantiate_task(spec.clean_task, get_task(spec.clean_task))
    if task.default_injection is not None:
        raise InvalidInputError(
            f"{what}: 'clean_task' {spec.clean_task!r} applies the injection "
            f"{task.default_injection!r} by default, so the clean ({CLEAN!r}) cells would be "
            "injected. Use coord_scale (the default) or another task without a default injection."
        )


def _check_method_params(spec: StudySpec, what: str, policy_root: Path | None) -> None:
    """Every ``method_params`` key must be a parameter of its method: one of its
    ``default_params`` (coordination_methods.v0.1.yaml) or a runner key. A method without a
    policy entry (a plugin's) declares no parameters, so its keys are not checked."""
    from labtrust_gym.baselines.coordination.methods.protocol_bridge import RUNNER_KEYS
    from labtrust_gym.baselines.coordination.policy import method_entry
    from labtrust_gym.config import get_repo_root
    from labtrust_gym.errors import did_you_mean

    root = policy_root if policy_root is not None else get_repo_root()
    for method, params in sorted(spec.method_params.items()):
        entry = method_entry(method, root)
        if entry is None:
            continue
        declared = sorted((entry.get("default_params") or {}).keys())
        known = sorted({*declared, *RUNNER_KEYS, "llm_settings"})
        for key in sorted(params):
            if key not in known:
                raise InvalidInputError(
                    f"{what}: method_params.{method}: unknown parameter {key!r}."
                    f"{did_you_mean(key, known)} {method}'s parameters: "
                    f"{', '.join(declared) or '(none)'} (its default_params in "
                    "coordination_methods.v0.1.yaml), and the runner's "
                    f"{', '.join(sorted({*RUNNER_KEYS, 'llm_settings'}))}."
                )


# ---- cells ---------------------------------------------------------------------------------
def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def cell_id(method: str, scale: str, injection: str) -> str:
    """``<method>__<scale>__<injection|clean>``, with characters unsafe in a path replaced."""
    label = "clean" if injection == CLEAN else injection
    return "__".join(_safe(part) for part in (method, scale, label))


def build_cells(spec: StudySpec, out_dir: Path, policy_root: Path | None = None) -> list[CellJob]:
    """The spec's cells in spec order (methods, then scales, then injections)."""
    from labtrust_gym.config import get_repo_root

    from .runner import resolve_coord_params

    root = policy_root if policy_root is not None else get_repo_root()
    cells: list[CellJob] = []
    seen: dict[str, tuple[str, str, str]] = {}
    for method in spec.methods:
        params = resolve_coord_params(method, root, spec.method_params.get(method))
        for scale in spec.scales:
            for injection in spec.injections:
                cid = cell_id(method, scale, injection)
                if cid in seen:
                    raise InvalidInputError(
                        f"Study {spec.study_id!r}: cells {seen[cid]} and "
                        f"{(method, scale, injection)} share the directory name {cid!r}; rename "
                        "one of the ids."
                    )
                seen[cid] = (method, scale, injection)
                logs = out_dir / "cells" / cid / "logs" if spec.episode_logs else None
                cells.append(
                    CellJob(
                        cell_id=cid,
                        task=spec.clean_task if injection == CLEAN else spec.task,
                        method=method,
                        scale=scale,
                        injection=injection,
                        seed=spec.seed,
                        episodes=spec.episodes,
                        timing=spec.timing,
                        coord_params=params,
                        log_dir=str(logs) if logs is not None else None,
                        policy_root=str(root),
                    )
                )
    return cells


def cell_fingerprint(cell: CellJob, policy_fp: str) -> str:
    payload = canonical_json({"cell": cell.definition(), "policy_fingerprint": policy_fp})
    return "sha256:" + hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _sha256_file(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def cell_is_finished(cell_dir: Path, fingerprint: str) -> bool:
    """True when ``cell.json`` records ``fingerprint`` and the hash of the results beside it."""
    marker, results = cell_dir / "cell.json", cell_dir / "results.json"
    if not (marker.is_file() and results.is_file()):
        return False
    try:
        record = load_json(marker)
    except InvalidInputError:
        return False
    return (
        isinstance(record, dict)
        and record.get("fingerprint") == fingerprint
        and record.get("results_sha256") == _sha256_file(results)
    )


def run_cell(cell: CellJob) -> dict[str, Any]:
    """Executor entry point: run one cell's episodes in this process; return its results."""
    import warnings

    from .runner import NothingReleasedWarning, run_benchmark

    with warnings.catch_warnings():
        # A cell that releases nothing (a method under a harsh injection) is a result here.
        warnings.simplefilter("ignore", NothingReleasedWarning)
        return run_benchmark(
            cell.task,
            cell.episodes,
            cell.seed,
            None,
            coord_method=cell.method,
            coord_params=cell.coord_params,
            scale=cell.scale,
            injection=None if cell.injection == CLEAN else cell.injection,
            timing=cell.timing,
            log_dir=cell.log_dir,
            results_version=RESULTS_VERSION,
            policy_root=Path(cell.policy_root),
        )


# ---- the study -----------------------------------------------------------------------------
#: The lock file a running study holds (``flock``) in its ``--out`` directory (its pid inside).
LOCK_FILE = ".study.lock"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    except OSError:
        return False
    return True


class StudyLock:
    """The lock a running study holds on ``out/.study.lock`` (see :func:`acquire_study_lock`)."""

    def __init__(self, path: Path, fd: int | None) -> None:
        self.path = path
        self._fd = fd

    def release(self) -> None:
        """Remove the lock file, then drop the lock (the kernel drops it too if we die)."""
        self.path.unlink(missing_ok=True)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _busy(out: Path, lock: Path, text: str) -> LabTrustError:
    holder = int(text) if text.isdigit() else None
    who = f"process {holder}" if holder is not None else "another process"
    return LabTrustError(
        f"--out {str(out)!r} is in use by another study run ({who} holds {str(lock)!r}). "
        "Wait for it to finish or use another --out directory."
    )


def acquire_study_lock(out: Path) -> StudyLock:
    """Take ``out/.study.lock`` so two runs sharing one directory never delete each other's
    cells: an exclusive ``flock`` held for the whole run (the kernel releases it whatever way
    the process ends, so a lock file left behind by a killed run is simply taken over). The
    file holds the holder's process id, for the error message only. Where ``fcntl`` does not
    exist, the file is created with ``O_EXCL`` and a holder that no longer runs is taken over."""
    lock = out / LOCK_FILE
    try:
        import fcntl
    except ImportError:  # not POSIX
        return _acquire_by_pid(out, lock)
    for _attempt in range(3):
        fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            text = os.read(fd, 64).decode("utf-8", "replace").strip()
            os.close(fd)
            raise _busy(out, lock, text) from None
        try:  # the holder before us may have removed the file we opened: lock the new one
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            continue
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return StudyLock(lock, fd)
    raise LabTrustError(
        f"Could not take the study lock {str(lock)!r} (it keeps changing hands); retry, or use "
        "another --out directory."
    )


def _acquire_by_pid(out: Path, lock: Path) -> StudyLock:
    for _attempt in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                text = lock.read_text(encoding="utf-8").strip()
            except FileNotFoundError:
                continue  # released meanwhile: try again
            holder = int(text) if text.isdigit() else None
            if holder is not None and holder != os.getpid() and not _pid_alive(holder):
                lock.unlink(missing_ok=True)  # stale: its process is gone
                continue
            raise _busy(out, lock, text) from None
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(f"{os.getpid()}\n")
        return StudyLock(lock, None)
    raise LabTrustError(
        f"Could not take the study lock {str(lock)!r} (it keeps changing hands); retry, or use "
        "another --out directory."
    )


def run_study(
    spec: StudySpec,
    out_dir: str | os.PathLike[str],
    *,
    workers: int = 1,
    executor: str = "local",
    ray_address: str | None = None,
    policy_root: Path | None = None,
    on_start: Callable[[int, int], None] | None = None,
    on_cell_done: Callable[[str], None] | None = None,
) -> StudyReport:
    """Run the spec's unfinished cells, then write the study's summary and Pareto tables.

    ``on_start(to_run, reused)`` is called once before the first cell runs, ``on_cell_done``
    with each cell id as it finishes (progress bars). Raises the first failing cell's error
    after cancelling the others; cells finished by then stay finished.
    """
    from .executors import check_executor_options

    check_executor_options(executor, workers, ray_address)
    out = ensure_output_dir(out_dir, label="--out")
    lock = acquire_study_lock(out)
    try:
        return _run_study_locked(
            spec, out, workers=workers, executor=executor, ray_address=ray_address,
            policy_root=policy_root, on_start=on_start, on_cell_done=on_cell_done,
        )
    finally:
        lock.release()


def _run_study_locked(
    spec: StudySpec,
    out: Path,
    *,
    workers: int,
    executor: str,
    ray_address: str | None,
    policy_root: Path | None,
    on_start: Callable[[int, int], None] | None,
    on_cell_done: Callable[[str], None] | None,
) -> StudyReport:
    from labtrust_gym.config import get_repo_root, policy_fingerprint

    from .executors import run_jobs
    from .results import write_results

    root = policy_root if policy_root is not None else get_repo_root()
    cells = build_cells(spec, out.resolve(), root)
    policy_fp = policy_fingerprint(root, exclude=(STUDY_SPECS_DIR,))
    fingerprints = {c.cell_id: cell_fingerprint(c, policy_fp) for c in cells}
    todo = [
        c for c in cells
        if not cell_is_finished(out / "cells" / c.cell_id, fingerprints[c.cell_id])
    ]
    todo_ids = {c.cell_id for c in todo}
    reused = tuple(c.cell_id for c in cells if c.cell_id not in todo_ids)
    if todo and spec.episode_logs:  # logs are anchored with the run key: fail now, not per cell
        from labtrust_gym.security.keys import load_run_key

        load_run_key()
    for cell in todo:  # an unfinished cell starts from nothing: no stale marker, results or logs
        cell_dir = ensure_output_dir(out / "cells" / cell.cell_id, label="cell directory")
        for stale in ("cell.json", "results.json"):
            (cell_dir / stale).unlink(missing_ok=True)
        if cell.log_dir is not None:
            shutil.rmtree(cell.log_dir, ignore_errors=True)
    atomic_write_json(out / "study.json", _manifest(spec, cells, fingerprints, policy_fp))
    if on_start is not None:
        on_start(len(todo), len(reused))

    def finish(i: int, doc: dict[str, Any]) -> None:
        cell = todo[i]
        cell_dir = out / "cells" / cell.cell_id
        results = write_results(cell_dir / "results.json", doc, policy_root=root)
        record = {
            "cell_id": cell.cell_id,
            "definition": cell.definition(),
            "fingerprint": fingerprints[cell.cell_id],
            # not results.json's policy_fingerprint: the study specs are left out (editing one
            # spec reruns only its changed cells)
            "policy_fingerprint_without_studies": policy_fp,
            "results_sha256": _sha256_file(results),
        }
        atomic_write_json(cell_dir / "cell.json", record)  # last: marks the cell finished
        if on_cell_done is not None:
            on_cell_done(cell.cell_id)

    if todo:
        with partial_writes_removed_on_sigterm():  # SIGTERM leaves no temp file of a cell
            run_jobs(
                run_cell,
                todo,
                workers=workers,
                executor=executor,
                ray_address=ray_address,
                check=finish,
            )
    from .study_summary import write_study_tables

    files = write_study_tables(spec, cells, out, policy_root=root)
    return StudyReport(
        out_dir=out,
        cells=tuple(cells),
        ran=tuple(c.cell_id for c in todo),
        reused=reused,
        files=tuple(files),
    )


def _manifest(
    spec: StudySpec, cells: Sequence[CellJob], fingerprints: Mapping[str, str], policy_fp: str
) -> dict[str, Any]:
    return {
        "study_id": spec.study_id,
        "spec": spec.to_dict(),
        "policy_fingerprint_without_studies": policy_fp,
        "cells": [
            {
                "cell_id": c.cell_id,
                "method": c.method,
                "scale": c.scale,
                "injection": c.injection,
                "task": c.task,
                "fingerprint": fingerprints[c.cell_id],
            }
            for c in cells
        ],
    }


__all__ = [
    "CLEAN",
    "LOCK_FILE",
    "STUDY_SPECS_DIR",
    "CellJob",
    "StudyLock",
    "StudyReport",
    "StudySpec",
    "acquire_study_lock",
    "build_cells",
    "cell_fingerprint",
    "cell_id",
    "cell_is_finished",
    "list_shipped_studies",
    "load_study_spec",
    "run_cell",
    "run_study",
]
