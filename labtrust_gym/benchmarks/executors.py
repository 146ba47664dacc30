"""Where episodes run: in-process, in N local processes, or as Ray tasks.

Episodes are independent and each is a pure function of its job (task, seed, options), so the
results are identical whichever executor ran them; results are always collected in job order.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from labtrust_gym.errors import ConfigError, InvalidInputError

J = TypeVar("J")
R = TypeVar("R")

EXECUTORS = ("local", "ray")

Progress = Callable[[int], None]


def check_executor_options(executor: str, workers: int, ray_address: str | None) -> None:
    if executor not in EXECUTORS:
        from labtrust_gym.errors import UnknownIdError

        raise UnknownIdError.for_id("executor", executor, EXECUTORS)
    if workers < 1:
        raise InvalidInputError(f"--workers must be >= 1, got {workers}.")
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
) -> list[R]:
    """Run ``fn(job)`` for every job; return results in job order.

    ``on_done(i)`` is called in the calling process as job ``i`` finishes (for progress bars).
    An exception in any job is re-raised here after the remaining jobs are cancelled.
    """
    check_executor_options(executor, workers, ray_address)
    if executor == "ray":
        return _run_ray(fn, jobs, workers=workers, address=ray_address, on_done=on_done)
    if workers == 1 or len(jobs) <= 1:
        results: list[R] = []
        for i, job in enumerate(jobs):
            results.append(fn(job))
            if on_done is not None:
                on_done(i)
        return results
    return _run_processes(fn, jobs, workers=min(workers, len(jobs)), on_done=on_done)


def _mp_context() -> multiprocessing.context.BaseContext:
    # fork keeps runtime registrations (register_task in a test or notebook) visible in workers;
    # elsewhere fall back to spawn, where workers re-load plugins from entry points.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _run_processes(
    fn: Callable[[J], R], jobs: Sequence[J], *, workers: int, on_done: Progress | None
) -> list[R]:
    from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait

    results: list[Any] = [None] * len(jobs)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context())
    try:
        futures = {pool.submit(fn, job): i for i, job in enumerate(jobs)}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for fut in done:
                results[futures[fut]] = fut.result()  # re-raises a worker's exception
                if on_done is not None:
                    on_done(futures[fut])
    except BaseException:
        _terminate_workers(pool)
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return results


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
    on_done: Progress | None,
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
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                try:
                    results[index[ref]] = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:
                    cause = exc.as_instanceof_cause()
                    for other in pending:
                        ray.cancel(other, force=True)
                    raise cause from None
                if on_done is not None:
                    on_done(index[ref])
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
        "PYTHONPATH",
    )
    env = {k: os.environ[k] for k in keys if k in os.environ}
    # Ray workers start in a temp dir; pin the policy root the driver resolved.
    if "LABTRUST_POLICY_DIR" not in env:
        try:
            from labtrust_gym.config import get_repo_root, policy_path

            env["LABTRUST_POLICY_DIR"] = str(policy_path(get_repo_root()).resolve())
        except Exception:  # the driver reports policy problems itself
            pass
    return env
