"""Faults around a run, with real processes: the parent killed (SIGKILL/SIGTERM) leaves no worker
behind, a killed worker and a full disk are one-line errors that leave no results file."""

from __future__ import annotations

import errno
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labtrust_gym.errors import LabTrustError

REPO = Path(__file__).resolve().parents[2]
LONG_RUN = ("run-benchmark", "--task", "stat_insertion", "--episodes", "5000")

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["LABTRUST_POLICY_DIR"] = str(REPO / "policy")
    env.pop("LABTRUST_PROFILE", None)
    return env


def _labtrust(*args: str, cwd: Path, **kwargs: object) -> subprocess.Popen[str]:
    # Output goes to files: a pipe would stay open as long as any orphaned worker holds it.
    return subprocess.Popen(
        [sys.executable, "-c", "from labtrust_gym.cli import main; main()", *args],
        cwd=cwd,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=(cwd.parent / f"{cwd.name}.stderr").open("w"),
        text=True,
        **kwargs,  # type: ignore[arg-type]
    )


def _finish(proc: subprocess.Popen[str], cwd: Path, timeout: float = 60) -> str:
    """Wait for ``proc``; return its stderr."""
    proc.wait(timeout=timeout)
    return (cwd.parent / f"{cwd.name}.stderr").read_text()


def _stat(pid: int) -> tuple[str, int, str] | None:
    """(state, ppid, start time) of a live process, None once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), fields[19]


def _children(pid: int) -> dict[int, str]:
    """``{child pid: start time}`` of ``pid``'s children."""
    out: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            st = _stat(int(entry.name))
            if st is not None and st[1] == pid:
                out[int(entry.name)] = st[2]
    return out


def _alive(pid: int, started: str) -> bool:
    st = _stat(pid)
    return st is not None and st[2] == started and st[0] not in ("Z", "X")


def _start_workers(
    tmp_path: Path, workers: int = 2
) -> tuple[subprocess.Popen[str], dict[int, str]]:
    """A long ``--workers`` run, returned once its workers have written episode logs."""
    logs = tmp_path / "logs"
    proc = _labtrust(
        *LONG_RUN, "--workers", str(workers), "--log", str(logs), "--out", "r.json", cwd=tmp_path
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (logs.is_dir() and len(list(logs.iterdir())) > 2):
        time.sleep(0.05)
    assert logs.is_dir() and any(logs.iterdir()), "the run never started"
    kids = _children(proc.pid)
    assert len(kids) >= workers, kids
    return proc, kids


def _wait_gone(kids: dict[int, str], timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [pid for pid, started in kids.items() if _alive(pid, started)]
        if not left:
            return []
        time.sleep(0.05)
    return left


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killing_the_parent_leaves_no_worker_behind(tmp_path: Path, sig: signal.Signals) -> None:
    proc, kids = _start_workers(tmp_path)
    try:
        os.kill(proc.pid, sig)
        _finish(proc, tmp_path)
        left = _wait_gone(kids)
        assert not left, f"workers {left} outlived their parent (killed by {sig.name})"
    finally:
        for pid, started in kids.items():
            if _alive(pid, started):
                os.kill(pid, signal.SIGKILL)
    assert proc.returncode == -sig
    assert [p.name for p in tmp_path.iterdir()] == ["logs"]  # no r.json, no temp file
    # finished episodes leave their log and its anchor; nothing half-written
    assert not [
        p.name for p in (tmp_path / "logs").iterdir()
        if not p.name.endswith((".jsonl", ".jsonl.anchor.json"))
    ]


def test_a_killed_worker_is_a_one_line_error(tmp_path: Path) -> None:
    proc, kids = _start_workers(tmp_path)
    victim = min(kids)
    os.kill(victim, signal.SIGKILL)
    err = _finish(proc, tmp_path)
    assert proc.returncode == 1, err
    lines = [ln for ln in err.splitlines() if not ln.startswith("warning:")]
    assert len(lines) == 1, err
    assert f"worker process {victim}" in lines[0] and "SIGKILL" in lines[0]
    assert not _wait_gone(kids)
    assert [p.name for p in tmp_path.iterdir()] == ["logs"]


def _limit_file_size() -> None:
    """Child-side: files may not grow past 4 KiB (EFBIG), as on a full or quota-bound disk."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))


@pytest.mark.parametrize("extra", [(), ("--workers", "2", "--log", "logs")], ids=["out", "logs"])
def test_a_file_too_large_is_a_one_line_error_without_partial_files(
    tmp_path: Path, extra: tuple[str, ...]
) -> None:
    proc = _labtrust(
        "run-benchmark", "--task", "throughput_sla", "--episodes", "2", "--out", "r.json", *extra,
        cwd=tmp_path, preexec_fn=_limit_file_size,
    )
    err = _finish(proc, tmp_path, timeout=120)
    assert proc.returncode == 1, err
    lines = [ln for ln in err.splitlines() if not ln.startswith("warning:")]
    assert len(lines) == 1 and "EFBIG" in lines[0] and "File too large" in lines[0], err
    leftovers = [p.name for p in tmp_path.rglob("*") if p.is_file()]
    assert leftovers == [], leftovers


def test_a_full_disk_while_writing_is_an_error_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labtrust_gym import fileio

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(fileio.os, "fsync", full)
    with pytest.raises(LabTrustError, match=r"No space left on device \[ENOSPC\]") as info:
        fileio.atomic_write_json(tmp_path / "r.json", {"a": 1})
    assert info.value.exit_code == 1 and "r.json" in str(info.value)
    assert list(tmp_path.iterdir()) == []


_SIGTERM_MID_WRITE = """
import os, signal, sys
from labtrust_gym import fileio

def fsync(fd):  # SIGTERM arrives while the temp file is being written
    os.kill(os.getpid(), signal.SIGTERM)

fileio.os.fsync = fsync
if sys.argv[2] == "guarded":
    with fileio.partial_writes_removed_on_sigterm():
        fileio.atomic_write_bytes(sys.argv[1], b"x" * 1000)
else:
    fileio.atomic_write_bytes(sys.argv[1], b"x" * 1000)
"""


@pytest.mark.parametrize("mode", ["guarded", "bare"])
def test_sigterm_during_a_write_leaves_no_temp_file_while_a_run_is_guarded(
    tmp_path: Path, mode: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.run(
        [sys.executable, "-c", _SIGTERM_MID_WRITE, str(out / "r.json"), mode],
        env=_env(), capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == -signal.SIGTERM, proc.stderr  # still dies of SIGTERM
    left = [p.name for p in out.iterdir()]
    if mode == "guarded":  # what run_benchmark does for its whole run
        assert left == []
    else:  # without the guard the default action leaves the temp file (never the target)
        assert len(left) == 1 and left[0].endswith(".tmp")


def test_workers_that_cannot_be_started_are_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import multiprocessing

    from labtrust_gym.benchmarks import executors
    from labtrust_gym.errors import ResourceError

    class NoFork:  # a start method whose fork fails as under a process limit
        def __getattr__(self, name: str) -> object:
            return getattr(multiprocessing.get_context("fork"), name)

        def Process(self, *args: object, **kwargs: object) -> object:
            proc = multiprocessing.get_context("fork").Process(*args, **kwargs)  # type: ignore[arg-type]

            def start() -> None:
                raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))

            proc.start = start  # type: ignore[method-assign]
            return proc

    monkeypatch.setattr(executors, "_mp_context", NoFork)
    with pytest.raises(ResourceError, match="Cannot start 2 worker processes: Resource temp"):
        executors.run_jobs(abs, [1, 2, 3], workers=2)
