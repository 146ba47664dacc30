"""Where episodes run: in-process, in N local processes, or as Ray tasks.

Episodes are independent and each is a pure function of its job (task, seed, options), so the
results are identical whichever executor ran them; results are always collected in job order.

Local worker processes never outlive the run. Each asks the kernel for a parent-death signal
(Linux ``PR_SET_PDEATHSIG``; elsewhere a thread watches ``getppid()``), so a parent killed by
SIGKILL or SIGTERM takes its workers with it, and on SIGTERM a worker removes the temp file of a
write in progress before it dies. A worker that dies mid-run (OOM killer, a signal) stops the run
with one :class:`~labtrust_gym.errors.ResourceError` naming the worker and its signal.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from labtrust_gym.errors import ConfigError, InvalidInputError, LabTrustError, ResourceError

J = TypeVar("J")
R = TypeVar("R")

EXECUTORS = ("local", "ray")

Progress = Callable[[int], None]
#: Called in the calling process with each job's index and result as it arrives; raising stops
#: the run (the other jobs are cancelled, workers stopped).
Check = Callable[[int, Any], None]


def check_executor_options(executor: str, workers: int, ray_address: str | None) -> None:
    if executor not in EXECUTORS:
        from labtrust_gym.errors import UnknownIdError

        raise UnknownIdError.for_id("executor", executor, EXECUTORS)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidInputError(f"--workers must be >= 1 (a positive integer), got {workers!r}.")
    if ray_address is not None and executor != "ray":
        raise InvalidInputError("--ray-address needs --executor ray.")


def run_jobs(
    fn: Callable[[J], R],
    jobs: Sequence[J],
    *,
    workers: int = 1,
    executor: str = "local",
    ray_address: str | None = None,
    on_done: Progress | None = None,
    check: Check | None = None,
) -> list[R]:
    """Run ``fn(job)`` for every job; return results in job order.

    ``check(i, result)`` then ``on_done(i)`` are called in the calling process as job ``i``
    finishes (to refuse a bad result at once; for progress bars). An exception in any job or
    check is re-raised here after the remaining jobs are cancelled.
    """
    check_executor_options(executor, workers, ray_address)
    done = _reporter(check, on_done)
    if executor == "ray":
        return _run_ray(fn, jobs, workers=workers, address=ray_address, on_done=done)
    if workers == 1 or len(jobs) <= 1:
        results: list[R] = []
        for i, job in enumerate(jobs):
            results.append(fn(job))
            done(i, results[-1])
        return results
    return _run_processes(fn, jobs, workers=min(workers, len(jobs)), on_done=done)


def _reporter(check: Check | None, on_done: Progress | None) -> Callable[[int, Any], None]:
    def done(i: int, result: Any) -> None:
        if check is not None:
            check(i, result)
        if on_done is not None:
            on_done(i)

    return done


def _mp_context() -> multiprocessing.context.BaseContext:
    # fork keeps runtime registrations (register_task in a test or notebook) visible in workers;
    # elsewhere fall back to spawn, where workers re-load plugins from entry points.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _run_processes(
    fn: Callable[[J], R],
    jobs: Sequence[J],
    *,
    workers: int,
    on_done: Callable[[int, Any], None],
) -> list[R]:
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    results: list[Any] = [None] * len(jobs)
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=_mp_context(),
        initializer=_init_worker,
        initargs=(os.getpid(),),
    )
    started: dict[int, Any] = {}
    try:
        futures = {}
        try:
            for i, job in enumerate(jobs):
                futures[pool.submit(_call_in_worker, fn, job)] = i
                started.update(getattr(pool, "_processes", None) or {})
        except OSError as exc:  # fork failed: EAGAIN (process limit), ENOMEM
            raise ResourceError(
                f"Cannot start {workers} worker processes: {exc.strerror or exc}; "
                "use fewer --workers."
            ) from None
        pending = set(futures)
        while pending:
            # FIRST_COMPLETED, not FIRST_EXCEPTION: the latter returns only when *every* job is
            # done (when none fails), so progress would stay at 0 until the end.
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in sorted(done, key=futures.__getitem__):
                results[futures[fut]] = fut.result()  # re-raises a worker's exception
                on_done(futures[fut], results[futures[fut]])
    except BrokenProcessPool:
        _terminate_workers(pool)
        pool.shutdown(wait=False, cancel_futures=True)
        raise _worker_died(started) from None
    except BaseException:
        _terminate_workers(pool)
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return results


def _worker_died(processes: dict[int, Any]) -> ResourceError:
    """The one-line error for a pool whose worker died: which worker, and how."""
    dead = []
    for pid, proc in sorted(processes.items()):
        proc.join(timeout=5)
        code = proc.exitcode
        if code is not None and code != 0 and code != -signal.SIGTERM:  # SIGTERM: we stopped it
            dead.append(f"worker process {pid} {_how_it_ended(code)}")
    what = "; ".join(dead) or "a worker process died"
    return ResourceError(
        f"The run was stopped: {what} before its episodes finished; no results were written. "
        "A worker killed with SIGKILL is often the kernel's out-of-memory killer: try fewer "
        "--workers."
    )


def _how_it_ended(exitcode: int) -> str:
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"was killed by {name}"
    return f"exited with code {exitcode}"


def _call_in_worker(fn: Callable[[J], R], job: J) -> R:
    """Run one job in a worker. An exception that cannot travel back to the parent intact (it
    does not pickle or unpickle, e.g. a required keyword argument) is replaced, so the parent
    reports the job's error instead of a broken pool: a LabTrustError by a plain one with the
    same message and exit code (still one line in the CLI), anything else by a RuntimeError
    carrying its type and text."""
    try:
        return fn(job)
    except Exception as exc:
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:
            if isinstance(exc, LabTrustError):
                plain = LabTrustError(str(exc))
                plain.exit_code = exc.exit_code
                raise plain from None
            raise RuntimeError(
                f"{type(exc).__module__}.{type(exc).__qualname__}: {exc} (raised in a worker "
                "process; the exception could not be sent back as it is)"
            ) from None
        raise


def _init_worker(parent_pid: int) -> None:
    """Worker start-up: die with the parent, clean up on SIGTERM, leave Ctrl-C to the parent."""
    from labtrust_gym.fileio import die_of_sigterm

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us on Ctrl-C
    signal.signal(signal.SIGTERM, die_of_sigterm)
    if not _set_parent_death_signal(signal.SIGTERM):
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    if os.getppid() != parent_pid:  # the parent died before the death signal was armed
        die_of_sigterm(signal.SIGTERM, None)


def _set_parent_death_signal(sig: int) -> bool:
    """Ask Linux to send ``sig`` when the parent dies (``prctl(PR_SET_PDEATHSIG)``)."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(1, int(sig), 0, 0, 0) == 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int) -> None:
    """Fallback where prctl is missing: poll for re-parenting (the parent has died)."""
    import time

    while os.getppid() == parent_pid:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)


def _terminate_workers(pool: Any) -> None:
    # On Ctrl-C or a failing job do not wait for the other episodes to finish.
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        if proc.is_alive():
            proc.terminate()


def _run_ray(
    fn: Callable[[J], R],
    jobs: Sequence[J],
    *,
    workers: int,
    address: str | None,
    on_done: Callable[[int, Any], None],
) -> list[R]:
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "--executor ray needs Ray: install the extra with `pip install 'labtrust-gym[ray]'`."
        ) from None

    started_here = False
    if not ray.is_initialized():
        init_kwargs: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "configure_logging": False,
        }
        if address:
            init_kwargs["address"] = address
        else:
            init_kwargs["num_cpus"] = max(workers, 1)
        # Workers must import this package from the same place as the driver.
        init_kwargs["runtime_env"] = {"env_vars": _forwarded_env()}
        try:
            ray.init(**init_kwargs)
        except ConnectionError as exc:
            raise ConfigError(f"Cannot connect to Ray at {address!r}: {exc}.") from None
        started_here = True
    try:
        remote_fn = ray.remote(fn)
        refs = [remote_fn.remote(job) for job in jobs]
        index = {ref: i for i, ref in enumerate(refs)}
        results: list[Any] = [None] * len(jobs)
        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    try:
                        results[index[ref]] = ray.get(ref)
                    except ray.exceptions.RayTaskError as exc:
                        raise exc.as_instanceof_cause() from None
                    on_done(index[ref], results[index[ref]])
        except BaseException:
            for other in pending:
                ray.cancel(other, force=True)
            raise
        return results
    finally:
        if started_here:
            ray.shutdown()


def _forwarded_env() -> dict[str, str]:
    keys = (
        "LABTRUST_POLICY_DIR",
        "LABTRUST_DISABLE_PLUGINS",
        "LABTRUST_STRICT_PLUGINS",
        "LABTRUST_PROFILE",
        "LABTRUST_HOME",
        "PYTHONPATH",
    )
    env = {k: os.environ[k] for k in keys if k in os.environ}
    # Workers sign log anchors with the driver's run key, named by path: a worker that cannot
    # read it fails with that path (a remote node needs the same file), never makes its own.
    from labtrust_gym.security.keys import RUN_KEY_ENV, run_key_path

    key = run_key_path()
    if RUN_KEY_ENV in os.environ or key.is_file():
        env[RUN_KEY_ENV] = str(key)
    # Ray workers start in a temp dir; pin the policy root the driver resolved.
    if "LABTRUST_POLICY_DIR" not in env:
        try:
            from labtrust_gym.config import get_repo_root, policy_path

            env["LABTRUST_POLICY_DIR"] = str(policy_path(get_repo_root()).resolve())
        except Exception:  # the driver reports policy problems itself
            pass
    return env
