"""``run_benchmark``: run a task's episodes, aggregate metrics, write a validated results file.

Everything a run depends on is checked before the first episode (unknown ids list the known ones;
bad seeds, counts and output paths are refused, plugin objects are resolved and checked), episodes
run through an executor (in-process, local processes or Ray) as pure functions of their
:class:`EpisodeJob`, each episode's metrics are validated as soon as it finishes, and the results
document is written once, atomically, at the end — an interrupted run leaves no results file
behind.
"""

from __future__ import annotations

import os
import secrets
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from labtrust_gym.errors import InvalidInputError
from labtrust_gym.fileio import (
    check_output_path,
    ensure_output_dir,
    partial_writes_removed_on_sigterm,
)

from .episode import clear_env_cache, instantiate_task, resolve_timing_mode, run_episode
from .executors import check_executor_options, run_jobs
from .results import (
    DEFAULT_RESULTS_VERSION,
    build_results,
    check_results_version,
    validate_results,
    validate_results_part,
    write_results,
)

BASELINE_ID = "scripted_v1"


class NothingReleasedWarning(UserWarning):
    """A run with a coordination method in which no episode released a result."""

#: Largest episode seed: seeds are written to results files and handed to RNGs as 64-bit ints.
MAX_SEED = 2**63 - 1


@attrs.frozen
class EpisodeJob:
    """Everything one episode needs; picklable, so it can travel to a worker process.

    ``run_id`` is shared by the jobs of one run and by nothing else; it scopes the reuse of an
    env between episodes (see ``episode._ENV_CACHE``) and never reaches the results."""

    task_name: str
    task_class: Any
    seed: int
    policy_root: str
    aggregator_id: str = "default"
    domain_id: str = "hospital_lab"
    coord_method: str | None = None
    coord_params: Mapping[str, Any] = attrs.field(factory=dict)
    coord_max_agents: int | None = None
    coord_scale_capable: bool = False
    #: ``--llm-*`` options for LLM methods (model, allow_network, record_path, replay_path):
    #: passed to the method's factory, never written to results.
    llm_settings: Mapping[str, Any] = attrs.field(factory=dict)
    scale: str | None = None
    injection: str | None = None
    timing: str | None = None
    log_dir: str | None = None
    agent_spec: str | None = None
    agent_ids: tuple[str, ...] = ()
    run_id: str = ""
    #: False only for benchmarks of the code itself (bench/): wall-clock metrics are filled in,
    #: so the outcome is no longer a pure function of the job. Results files always use True.
    deterministic: bool = True


def run_episode_job(job: EpisodeJob) -> dict[str, Any]:
    """Executor entry point: run one episode and return ``{"seed", "metrics", "log_sha256"?}``."""
    return run_episode(job)


def _check_log_dir(log_dir: str | os.PathLike[str] | None) -> str | None:
    if log_dir is None:
        return None
    return str(ensure_output_dir(log_dir, label="--log").resolve())


def _effective_timing(timing: str | None, task_obj: Any, scale: str | None) -> str:
    """The timing mode the episodes run with (recorded in the results' config)."""
    preset = scale if scale is not None else task_obj.scale_config
    scale_dict = None
    if preset is not None:
        from labtrust_gym.engine.scale import load_scale_config

        scale_dict = load_scale_config(preset).to_dict()
    return resolve_timing_mode(timing, task_obj, scale_dict)


def resolve_coord_params(
    coord_method: str, policy_root: Path, overrides: Mapping[str, Any] | None
) -> dict[str, Any]:
    """``default_params`` of ``coord_method`` from coordination_methods.v0.1.yaml + overrides."""
    from labtrust_gym.baselines.coordination.policy import method_entry

    entry = method_entry(coord_method, policy_root)
    params: dict[str, Any] = dict((entry or {}).get("default_params") or {})
    params.update(overrides or {})
    return params


def prepare_jobs(
    task: str,
    episodes: int,
    seed: int,
    *,
    coord_method: str | None = None,
    coord_params: Mapping[str, Any] | None = None,
    scale: str | None = None,
    injection: str | None = None,
    timing: str | None = None,
    log_dir: str | os.PathLike[str] | None = None,
    agent_spec: str | None = None,
    agent_ids: tuple[str, ...] = (),
    policy_root: Path | None = None,
    compute_budget: int | None = None,
    proposal_backend: str | None = None,
    coord_entry_id: str | None = None,
    llm_settings: Mapping[str, Any] | None = None,
) -> tuple[Any, list[EpisodeJob]]:
    """Resolve and check every id, then build one job per episode (seeds ``seed + i``)."""
    from labtrust_gym.config import get_active_profile, get_repo_root
    from labtrust_gym.plugins import registry

    from .injections import check_injection
    from .tasks import TIMING_MODES, get_task

    check_seeds(seed, episodes)
    root = policy_root if policy_root is not None else get_repo_root()
    profile = get_active_profile()
    task_class = get_task(task)
    task_obj = instantiate_task(task, task_class)
    registry("domains").get(profile.domain_id)
    if task_obj.domain_id is not None and task_obj.domain_id != profile.domain_id:
        from labtrust_gym.errors import ConfigError

        raise ConfigError(
            f"Task {task!r} runs on domain {task_obj.domain_id!r}, but the active lab profile "
            f"{profile.profile_id!r} selects domain {profile.domain_id!r}. Run it with a profile "
            f"whose domain_id is {task_obj.domain_id!r}: labtrust --profile <id> run-benchmark "
            "... (`labtrust list profiles` shows them)."
        )
    if coord_method is not None:
        registry("coordination_methods").get(coord_method)
    if scale is not None:
        from labtrust_gym.engine.scale import load_scale_config

        load_scale_config(scale)
    if (injection or task_obj.default_injection) is not None:
        check_injection(str(injection or task_obj.default_injection), root)
    if timing is not None and timing not in TIMING_MODES:
        from labtrust_gym.errors import UnknownIdError

        raise UnknownIdError.for_id("timing mode", timing, TIMING_MODES)
    from .metrics import check_aggregator_signature

    check_aggregator_signature(profile.metrics_aggregator_id)
    if agent_spec is not None:
        from .episode import load_external_agent

        load_external_agent(agent_spec)  # a bad --agent fails before any episode runs
    params: dict[str, Any] = {}
    max_agents: int | None = None
    scale_capable = False
    if coord_method:
        from labtrust_gym.baselines.coordination.policy import method_entry

        params = resolve_coord_params(coord_method, root, coord_params)
        params.update(_runner_params(params, compute_budget, proposal_backend))
        entry = method_entry(coord_entry_id or coord_method, root) or {}
        max_agents = entry.get("max_agents")
        scale_capable = bool(entry.get("scale_capable", False))
    log = _check_log_dir(log_dir)
    run_id = secrets.token_hex(8)
    jobs = [
        EpisodeJob(
            task_name=task,
            task_class=task_class,
            seed=seed + i,
            policy_root=str(root),
            aggregator_id=profile.metrics_aggregator_id,
            domain_id=profile.domain_id,
            coord_method=coord_method,
            coord_params=params,
            coord_max_agents=max_agents,
            coord_scale_capable=scale_capable,
            llm_settings=dict(llm_settings or {}),
            scale=scale,
            injection=injection,
            timing=timing,
            log_dir=log,
            agent_spec=agent_spec,
            agent_ids=tuple(agent_ids),
            run_id=run_id,
        )
        for i in range(episodes)
    ]
    return task_obj, jobs


def _runner_params(
    params: Mapping[str, Any], compute_budget: int | None, proposal_backend: str | None
) -> dict[str, Any]:
    """The runner's own keys in a method's params (docs/coordination.md, "Parameters"):
    ``compute_budget`` (planning-work units per step, None = unbounded) and
    ``proposal_backend`` (an LLM backend id, None = none); a value given to the runner wins over
    the method's default_params, an unset one keeps it. (``pz_to_engine`` is added per episode.)"""
    bad_budget = isinstance(compute_budget, bool) or not isinstance(compute_budget, int)
    if compute_budget is not None and (bad_budget or compute_budget < 1):
        raise InvalidInputError(
            f"--compute-budget must be a positive integer (planning-work units per step), got "
            f"{compute_budget!r}."
        )
    if proposal_backend is not None:
        from labtrust_gym.plugins import registry

        registry("llm_backends").get(proposal_backend)  # unknown ids list the known ones
    out: dict[str, Any] = {}
    for key, value in (("compute_budget", compute_budget), ("proposal_backend", proposal_backend)):
        out[key] = value if value is not None else params.get(key)
    return out


def check_seeds(seed: int, episodes: int) -> None:
    """Refuse a base seed or episode count the run cannot use (seeds ``seed .. seed+N-1``)."""
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise InvalidInputError(f"--episodes must be a positive integer, got {episodes!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise InvalidInputError(
            f"--seed must be an integer from 0 to {MAX_SEED} (2**63 - 1), got {seed!r}."
        )
    if seed + episodes - 1 > MAX_SEED:
        raise InvalidInputError(
            f"--seed {seed} with --episodes {episodes}: the last episode's seed "
            f"(seed + episodes - 1) would exceed {MAX_SEED} (2**63 - 1); use a smaller --seed."
        )


def run_benchmark(
    task: str,
    episodes: int,
    seed: int,
    out: str | os.PathLike[str] | None,
    coord_method: str | None = None,
    scale: str | None = None,
    injection: str | None = None,
    timing: str | None = None,
    partner: str | None = None,
    workers: int = 1,
    executor: str = "local",
    *,
    ray_address: str | None = None,
    log_dir: str | os.PathLike[str] | None = None,
    results_version: str = DEFAULT_RESULTS_VERSION,
    coord_params: Mapping[str, Any] | None = None,
    agent_spec: str | None = None,
    agent_ids: tuple[str, ...] = (),
    on_episode_done: Callable[[int], None] | None = None,
    policy_root: Path | None = None,
    compute_budget: int | None = None,
    proposal_backend: str | None = None,
    coord_entry_id: str | None = None,
    llm_settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run ``episodes`` episodes of ``task`` (seeds ``seed + i``) and write results to ``out``.

    Returns the (validated) results document; ``out=None`` skips writing. Raises a
    :class:`LabTrustError` for any bad input before running anything. ``coord_entry_id`` names
    the coordination_methods.v0.1.yaml entry (max_agents, scale_capable) when the method runs
    under another id (default: ``coord_method``; ``labtrust_gym.testing`` wraps methods).
    """
    from labtrust_gym.config import get_active_profile, get_repo_root
    from labtrust_gym.plugins import registry

    check_results_version(results_version)
    check_executor_options(executor, workers, ray_address)
    check_seeds(seed, episodes)
    out_path = check_output_path(out, label="--out") if out is not None else None
    root = policy_root if policy_root is not None else get_repo_root()
    if partner is not None:  # recorded only, but always a plain partner name
        from labtrust_gym.security.partners import check_partner_id, list_partners

        check_partner_id(partner, list_partners(root))
    if log_dir is not None:  # logs are anchored with the run key: a bad key fails now, not last
        from labtrust_gym.security.keys import load_run_key

        load_run_key()
    task_obj, jobs = prepare_jobs(
        task,
        episodes,
        seed,
        coord_method=coord_method,
        coord_params=coord_params,
        scale=scale,
        injection=injection,
        timing=timing,
        log_dir=log_dir,
        agent_spec=agent_spec,
        agent_ids=agent_ids,
        policy_root=root,
        compute_budget=compute_budget,
        proposal_backend=proposal_backend,
        coord_entry_id=coord_entry_id,
        llm_settings=llm_settings,
    )
    profile = get_active_profile()
    config = {
        "episodes": episodes,
        "base_seed": seed,
        "max_steps": task_obj.max_steps,
        "coord_method": coord_method,
        "coord_params": dict(jobs[0].coord_params),
        "scale": scale,
        "injection": injection or task_obj.default_injection,
        "timing_mode": _effective_timing(timing, task_obj, scale),
        "metrics_aggregator_id": profile.metrics_aggregator_id,
        "domain_id": profile.domain_id,
        "task_config": task_obj.describe(),
    }
    if jobs[0].coord_params.get("proposal_backend") is not None:  # an LLM method's calls go to
        from labtrust_gym.baselines.coordination.methods.llm_base import llm_identity

        config["llm"] = llm_identity(
            {**jobs[0].coord_params, "llm_settings": jobs[0].llm_settings}
        )
    validate_results_part(
        config, "config", version=results_version, what=f"Task {task!r}: results config",
        policy_root=root,
    )

    aggregator = (
        f"metrics aggregator {profile.metrics_aggregator_id!r} "
        f"({registry('metrics_aggregators').provider(profile.metrics_aggregator_id)})"
    )

    def check_episode(i: int, outcome: dict[str, Any]) -> None:
        validate_results_part(
            outcome.get("metrics"),
            "metrics",
            version=results_version,
            what=f"Episode seed {jobs[i].seed}: metrics from {aggregator}",
            policy_root=root,
        )

    baseline = BASELINE_ID
    if coord_method:
        baseline = f"coord:{coord_method}"
    elif agent_spec:
        baseline = f"agent:{agent_spec}"
    clear_env_cache()  # no env of an earlier run (other profile, other policy) is reused
    with partial_writes_removed_on_sigterm():
        outcomes = run_jobs(
            run_episode_job,
            jobs,
            workers=workers,
            executor=executor,
            ray_address=ray_address,
            on_done=on_episode_done,
            check=check_episode,
        )
        if coord_method and all(not o["metrics"].get("throughput") for o in outcomes):
            warnings.warn(
                f"coordination method {coord_method!r} released nothing in any of the "
                f"{len(outcomes)} episode(s) of task {task!r}.",
                NothingReleasedWarning,
                stacklevel=2,
            )
        if agent_spec:
            driven = sorted({a for o in outcomes for a in o.pop("external_agent_ids", ())})
            config["external_agent"] = {"spec": agent_spec, "agent_ids": driven}
        doc = build_results(
            task=task,
            seeds=[job.seed for job in jobs],
            episodes=outcomes,
            config=config,
            agent_baseline_id=baseline,
            partner_id=partner if partner is not None else profile.partner_id,
            policy_root=root,
            version=results_version,
        )
        if out_path is not None:
            write_results(out_path, doc, policy_root=root)
        else:
            validate_results(doc, policy_root=root)
    return doc


__all__ = [
    "BASELINE_ID",
    "EpisodeJob",
    "NothingReleasedWarning",
    "prepare_jobs",
    "run_benchmark",
    "run_episode_job",
]
