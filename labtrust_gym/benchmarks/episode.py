"""One benchmark episode: build the lab, drive the env, gather the metrics context.

Who acts:

* the domain's scripted baseline (``DomainEnv.scripted_baseline``; hospital_lab:
  :class:`~labtrust_gym.baselines.scripted.ScriptedLabController`) drives every lab agent by
  default;
* with ``--coord-method`` the coordination method proposes every agent's action;
* with ``eval-agent`` an external agent drives ``agent_ids`` and the baseline the rest;
* threat agents (``DomainEnv.threat_agents``; hospital_lab: role ``adversary``/``insider``) are
  always driven by the task's attack scripts.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from labtrust_gym.errors import InvalidInputError, LabTrustError, PluginError

if TYPE_CHECKING:
    from .runner import EpisodeJob
    from .tasks import BenchmarkTask


def instantiate_task(task_name: str, task_class: Any) -> Any:
    """Instantiate a registered task class and check the instance against the task contract,
    turning a plugin's crash or malformed task into a one-line error naming its provider."""
    from .tasks import BenchmarkTask

    try:
        task = task_class()
    except LabTrustError:
        raise
    except Exception as exc:
        raise InvalidInputError(
            f"Task {task_name!r} ({task_class!r}) could not be instantiated: "
            f"{type(exc).__name__}: {exc}."
        ) from exc
    try:
        if not isinstance(task, BenchmarkTask):
            raise PluginError(f"Instantiating it returned {type(task).__name__}, not a task.")
        BenchmarkTask.check(task)  # the base contract, even if the class skipped __init__
    except LabTrustError as exc:
        raise PluginError(
            f"Task {task_name!r} ({_provider('tasks', task_name, task_class)}): {exc} "
            "Fix the task class (see docs/benchmarks.md, Tasks)."
        ) from None
    return task


def _provider(kind: str, ident: str, obj: Any) -> str:
    """Who provides ``ident`` (a worker may not know a runtime registration: then the object)."""
    from labtrust_gym.plugins import registry

    reg = registry(kind)
    if ident in reg:
        return reg.provider(ident)
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', obj)!s}"


def _initial_state(task: BenchmarkTask, job: EpisodeJob) -> dict[str, Any]:
    from .labs import check_initial_state

    try:
        state = task.get_initial_state(job.seed, policy_root=Path(job.policy_root))
    except LabTrustError:
        raise
    except Exception as exc:
        raise InvalidInputError(
            f"Task {task.name!r}: get_initial_state(seed={job.seed}) failed: "
            f"{type(exc).__name__}: {exc}."
        ) from exc
    return check_initial_state(state, task.name)


def resolve_dt_s(task: BenchmarkTask, scale: Mapping[str, Any] | None) -> float | None:
    """Simulated seconds per step: the task's, else the scale preset's (None: the env default)."""
    return task.dt_s if task.dt_s is not None else (scale or {}).get("dt_s")


def resolve_timing_mode(
    run_timing: str | None, task: BenchmarkTask, scale: Mapping[str, Any] | None
) -> str:
    """The episode's timing mode, with the env's precedence: the run's option > the task's own
    setting > the scale preset's > ``"explicit"``."""
    return run_timing or task.timing_mode or (scale or {}).get("timing_mode") or "explicit"


def _scale_dict(task: BenchmarkTask) -> dict[str, Any] | None:
    if task.scale_config is None:
        return None
    from labtrust_gym.engine.scale import load_scale_config

    return load_scale_config(task.scale_config).to_dict()


#: The env of the current run in this process, reused by its next episode: a reset costs less
#: than building an env (about 10% of a short episode; docs/performance.md). A cached env is
#: used only for a job identical but for its seed and log dir (the key is the whole rest of the
#: job), only within one run (``run_benchmark`` empties the cache first, so an earlier run's
#: profile or policy never leaks in), only for a domain whose reset re-initialises everything
#: (``DomainEnv.reusable``: tested for hospital_lab; a plugin adapter might keep state across
#: resets), and only if it accepts the episode's lab — a lab whose devices differ by seed gets a
#: fresh env. So whether an episode ran on a reused env or a fresh one, in-process or in a
#: worker, cannot change it.
_ENV_CACHE: dict[str, Any] = {}


def clear_env_cache() -> None:
    """Forget the reusable env (at the start of every run)."""
    _ENV_CACHE.clear()


def _cache_key(job: EpisodeJob) -> str:
    return repr(attrs.evolve(job, seed=0, log_dir=None))  # includes the job's run_id


def _new_env(
    task: BenchmarkTask, state: dict[str, Any], job: EpisodeJob, scale: Mapping[str, Any] | None
) -> Any:
    from labtrust_gym.envs import LabTrustParallelEnv

    reward_config = dict(task.reward_config) or None
    try:
        return LabTrustParallelEnv(
            task=task,
            initial_state=state,
            max_steps=task.max_steps,
            dt_s=resolve_dt_s(task, scale),
            timing_mode=resolve_timing_mode(job.timing, task, scale),
            reward_config=reward_config,
            domain_id=job.domain_id,
        )
    except LabTrustError as exc:
        raise type(exc)(f"Task {task.name!r}: {exc}") from None


def _reset_env(
    task: BenchmarkTask, state: dict[str, Any], job: EpisodeJob, scale: Mapping[str, Any] | None
) -> tuple[Any, Any, Any]:
    """``(env, obs, infos)`` of this episode: the run's env if it takes this lab, else a new one."""
    keys = signing_keys_for(state) if state.get("strict_signatures") else {}
    options = {"initial_state": state}
    key = _cache_key(job)
    env = _ENV_CACHE.pop(key, None)
    if env is not None:
        env.set_signing_keys(keys)  # never the previous episode's keys
        try:
            obs, infos = env.reset(seed=job.seed, options=options)
        except LabTrustError:  # e.g. other devices this seed: a fresh env decides
            env = None
    if env is None:
        env = _new_env(task, state, job, scale)
        env.set_signing_keys(keys)
        try:
            obs, infos = env.reset(seed=job.seed, options=options)
        except LabTrustError as exc:
            raise type(exc)(f"Task {task.name!r}: {exc}") from None
    _ENV_CACHE.clear()
    if env.domain.reusable is True:
        _ENV_CACHE[key] = env
    return env, obs, infos


class _Drivers:
    """Combines the domain's baseline, an optional coordination method / external agent and
    the domain's threat scripts."""

    def __init__(
        self,
        task: BenchmarkTask,
        job: EpisodeJob,
        env: Any,
        state: dict[str, Any],
        scale: Mapping[str, Any] | None,
    ) -> None:
        self.threats: dict[str, Any] = threat_agents(env, task, job.seed)
        lab_agents = [a for a in env.possible_agents if a not in self.threats]
        self.method: Any = None
        self.external: Any = None
        self.external_ids: tuple[str, ...] = ()
        baseline_ids: list[str] = lab_agents
        self.lab_agents = lab_agents
        self.per_agent = False
        self.tally: Any = None
        if job.coord_method is not None:
            self.method, self.method_policy = _build_method(job, task, state, scale, env)
            self.per_agent = _per_agent_path(job, self.method, len(lab_agents))
            from .coord_metrics import CoordinationTally

            self.tally = CoordinationTally(lab_agents)
            baseline_ids = []
        elif job.agent_spec is not None:
            self.external = load_external_agent(job.agent_spec)
            # Default: the lab agents the task does not list as scripted (if it lists them
            # all: ops_0 in hospital_lab, else the first lab agent).
            listed = set(task.scripted_agents)
            default_ids = tuple(a for a in lab_agents if listed and a not in listed) or (
                ("ops_0",) if "ops_0" in lab_agents else tuple(lab_agents[:1])
            )
            self.external_ids = job.agent_ids or default_ids
            unknown = [a for a in self.external_ids if a not in lab_agents]
            if unknown:
                from labtrust_gym.errors import UnknownIdError

                raise UnknownIdError.for_id("agent", unknown[0], lab_agents)
            baseline_ids = [a for a in lab_agents if a not in self.external_ids]
        self.baseline = scripted_policy(env, task, baseline_ids)
        self.baseline.reset(env, job.seed, job.policy_root, state)
        if self.method is not None:
            self.method.reset(job.seed, self.method_policy, scale)
        if self.external is not None and callable(getattr(self.external, "reset", None)):
            self.external.reset(job.seed, list(self.external_ids))
        self.engine = env.engine
        from .shield import Shield

        #: every lab agent's proposal passes the shield (threat scripts are the task's attack)
        self.shield = Shield(env)
        self.proposed: Mapping[str, Any] = {}
        self.source = (
            f"coordination method {job.coord_method!r}"
            if self.method is not None
            else f"external agent {job.agent_spec!r}"
            if self.external is not None
            else "the scripted baseline"
        )

    def act(
        self,
        obs: Mapping[str, Any],
        infos: Mapping[str, Any],
        t: int,
        deliver: Callable[[dict[str, Any], int], dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """The joint action of step ``t``. ``deliver(actions, t)`` (a risk injector's channel)
        carries the lab agents' orders to them; threat agents act beside it."""
        actions = self._lab_actions(obs, infos, t)
        if deliver is not None:
            actions = deliver(actions, t)
        for aid, agent in self.threats.items():
            actions[aid] = agent.act(self.engine, t)
        return actions

    def _lab_actions(
        self, obs: Mapping[str, Any], infos: Mapping[str, Any], t: int
    ) -> dict[str, Any]:
        if self.method is not None:
            start = time.perf_counter()
            proposed = _actions_of(self._propose(obs, infos, t), self.source, t)
            self.tally.wall_s += time.perf_counter() - start
            actions = {a: act for a, act in proposed.items() if a not in self.threats}
        else:
            actions = self.baseline.act(obs, infos, t)
            if self.external is not None:
                chosen = _actions_of(self.external.act(obs, infos, t), self.source, t)
                for aid in self.external_ids:
                    if aid in chosen:
                        actions[aid] = chosen[aid]
        self.proposed = actions
        return self.shield.check(actions)  # NOOP for what the catalog or the mask refuses

    def _propose(self, obs: Mapping[str, Any], infos: Mapping[str, Any], t: int) -> Any:
        """The method's joint action: ``propose_actions``, or on the scale path every agent's
        own ``propose_agent`` merged by ``combine_submissions``."""
        method = self.method
        if not self.per_agent:
            return method.propose_actions(obs, infos, t)
        self.tally.per_agent_steps += 1
        propose = method.propose_agent
        subs = {a: propose(a, obs, infos, t) for a in self.lab_agents}
        return method.combine_submissions(subs, obs, t)

    def observe(
        self, infos: Mapping[str, Any], step_results: list[Mapping[str, Any]], t: int
    ) -> None:
        violations = [
            v
            for r in step_results
            for v in r.get("violations") or ()
            if v.get("status") == "VIOLATION"
        ]
        for aid, agent in self.threats.items():
            agent.log.resolve(infos.get(aid))
            agent.log.mark_detected_since(t, violations)
        if self.method is not None:
            self.tally.observe(infos)
            self.method.on_step_result(step_results)

    def attempts(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for aid in sorted(self.threats):
            out.extend(self.threats[aid].log.attempts)
        return sorted(out, key=lambda a: (a["step"], a["kind"]))


def _actions_of(value: Any, source: str, t: int) -> Mapping[str, Any]:
    """What a coordination method or an external agent proposed, checked to be a mapping."""
    if not isinstance(value, Mapping):
        raise PluginError(
            f"Step {t}: {source} returned {type(value).__name__}; expected a dict "
            "{agent_id: action} (an action index or an action dict)."
        )
    return value


def scripted_policy(env: Any, task: Any, agent_ids: list[str]) -> Any:
    """The domain's scripted baseline (``DomainEnv.scripted_baseline``) driving ``agent_ids``."""
    from labtrust_gym.domain.protocol import resolve_ref

    what = f"Domain {env.domain_id!r}: scripted baseline"
    factory = resolve_ref(env.domain.scripted_baseline, what)
    policy = _call_domain_factory(factory, what, list(agent_ids), task)
    if not (callable(getattr(policy, "reset", None)) and callable(getattr(policy, "act", None))):
        raise PluginError(
            f"{what} {factory!r} returned {type(policy).__name__}; expected an object with "
            "reset(env, seed, policy_root, initial_state) and act(obs, infos, t) "
            "(docs/domains.md)."
        )
    return policy


def threat_agents(env: Any, task: Any, seed: int) -> dict[str, Any]:
    """The domain's threat scripts for this task (``DomainEnv.threat_agents``), by agent id."""
    ref = env.domain.threat_agents
    if ref is None:
        return {}
    from labtrust_gym.domain.protocol import resolve_ref

    what = f"Domain {env.domain_id!r}: threat agents"
    return dict(_call_domain_factory(resolve_ref(ref, what), what, env, task, seed))


def _call_domain_factory(factory: Any, what: str, *args: Any) -> Any:
    try:
        return factory(*args)
    except LabTrustError:
        raise
    except Exception as exc:
        raise PluginError(f"{what} {factory!r} failed: {type(exc).__name__}: {exc}.") from exc


BENCH_KEY_SECRET = b"labtrust-gym/benchmarks/scripted-keys/v0.1"


def add_agent_keys(state: dict[str, Any]) -> dict[str, Any]:
    """Give every agent without an active key one (strict labs); returns the edited state."""
    from labtrust_gym.engine.signing import derive_keypair

    keys = [dict(k) for k in state.get("keys") or ()]
    owned = {k["agent_id"] for k in keys if k.get("status", "active") == "active"}
    for agent in state.get("agents") or ():
        aid = agent["agent_id"]
        if aid not in owned:
            keys.append(
                {
                    "key_id": f"KEY_BENCH_{aid}",
                    "agent_id": aid,
                    "status": "active",
                    "public_key_b64": derive_keypair(aid, secret=BENCH_KEY_SECRET)[1],
                }
            )
    out = dict(state)
    out["keys"] = keys
    return out


def signing_keys_for(state: Mapping[str, Any]) -> dict[str, tuple[str, Any]]:
    """``{agent_id: (key_id, private_key)}`` for the benchmark keys of ``state`` (strict labs).

    The env signs every event of these agents (docs/envs.md, "Signed events"); keys of labs made
    by the scale generator are handled by the env itself.
    """
    from labtrust_gym.engine.signing import derive_keypair

    keys: dict[str, tuple[str, Any]] = {}
    for key in state.get("keys") or ():
        aid = key["agent_id"]
        if key.get("status", "active") != "active" or aid in keys:
            continue
        if not str(key["key_id"]).startswith("KEY_BENCH_"):
            continue
        private, public = derive_keypair(aid, secret=BENCH_KEY_SECRET)
        if public == key["public_key_b64"]:
            keys[aid] = (key["key_id"], private)
    return keys


def method_policy(
    task_fields: Mapping[str, Any],
    state: Mapping[str, Any],
    policy_root: str,
    params: Mapping[str, Any],
    env: Any,
) -> dict[str, Any]:
    """The ``policy`` argument of a coordination method's factory and ``reset``
    (docs/coordination.md): the task's fields, the policy root, the lab's agents and devices, the
    params, the static lab layout (``lab``, a ``LabLayout``) and the action catalog."""
    from labtrust_gym.baselines.coordination.toolkit.layout import LabLayout

    return {
        "task": dict(task_fields),
        "policy_root": policy_root,
        "agents": [dict(a) for a in state.get("agents") or ()],
        "devices": [dict(d) for d in state.get("devices") or ()],
        "params": dict(params),
        "lab": LabLayout.from_env(env),
        "action_catalog": env.action_catalog,
    }


def method_params(
    params: Mapping[str, Any], env: Any, llm_settings: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The factory's ``params``: the job's (default_params + runner options) plus
    ``pz_to_engine``, the env agent name -> engine agent id map (the identity here), and, when
    the run has any, ``llm_settings`` (the ``--llm-*`` options; kept out of the results config
    so a recorded and a replayed run write the same results)."""
    out = dict(params)
    out["pz_to_engine"] = {a: a for a in env.possible_agents}
    if llm_settings:
        out["llm_settings"] = dict(llm_settings)
    return out


def _build_method(
    job: EpisodeJob,
    task: BenchmarkTask,
    state: Mapping[str, Any],
    scale: Mapping[str, Any] | None,
    env: Any,
) -> tuple[Any, dict[str, Any]]:
    from labtrust_gym.plugins import registry

    # the plugin table's contract checks what the factory returns (a CoordinationMethod)
    factory = registry("coordination_methods").get(str(job.coord_method))
    policy = method_policy(task.describe(), state, job.policy_root, job.coord_params, env)
    try:
        method = factory(
            policy,
            Path(job.policy_root),
            dict(scale) if scale else None,
            method_params(job.coord_params, env, job.llm_settings),
        )
    except LabTrustError:
        raise
    except Exception as exc:
        raise InvalidInputError(
            f"Coordination method {job.coord_method!r}: factory failed: "
            f"{type(exc).__name__}: {exc}."
        ) from exc
    return method, policy


def _per_agent_path(job: EpisodeJob, method: Any, n_agents: int) -> bool:
    """Whether this episode uses the scale path: more agents than the method's ``max_agents``.
    A method that is not ``scale_capable`` (or has no ``propose_agent``) cannot act at that N:
    a clear error, never a silent fallback."""
    limit = job.coord_max_agents
    if limit is None or n_agents <= limit:
        return False
    where = "policy/coordination/coordination_methods.v0.1.yaml"
    if not job.coord_scale_capable:
        raise InvalidInputError(
            f"Coordination method {job.coord_method!r} plans for at most {limit} agents at once "
            f"(max_agents in {where}) and is not scale_capable; this lab has {n_agents} agents. "
            "Use a smaller --scale or a scale_capable method (labtrust list "
            "coordination-methods --verbose)."
        )
    if not callable(getattr(method, "propose_agent", None)) or not callable(
        getattr(method, "combine_submissions", None)
    ):
        raise PluginError(
            f"Coordination method {job.coord_method!r} is scale_capable in {where} but has no "
            f"propose_agent(agent_id, obs, infos, t) / combine_submissions: it cannot act at "
            f"{n_agents} agents (max_agents {limit})."
        )
    return True


def load_external_agent(spec: str) -> Any:
    """Import and instantiate ``package.module:Class`` (or an object with ``act``).

    ``eval-agent`` puts the working directory on ``sys.path`` first, as ``python -m`` does, so a
    module next to the user is found."""
    import importlib

    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise InvalidInputError(f"--agent {spec!r}: expected 'package.module:ClassName'.")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidInputError(
            f"--agent {spec!r}: cannot import {module_name!r}: {exc}."
        ) from None
    cls = getattr(module, attr, None)
    if cls is None:
        raise InvalidInputError(
            f"--agent {spec!r}: module {module_name!r} has no attribute {attr!r}."
        )
    agent = cls() if isinstance(cls, type) else cls
    if not callable(getattr(agent, "act", None)):
        raise InvalidInputError(
            f"--agent {spec!r}: the agent must have act(obs, infos, t) -> {{agent_id: action}}."
        )
    return agent


def _log_path(job: EpisodeJob) -> Path | None:
    if job.log_dir is None:
        return None
    return Path(job.log_dir) / f"{job.task_name}_seed{job.seed}.jsonl"


def run_episode(job: EpisodeJob) -> dict[str, Any]:
    """Run one episode; return ``{"seed", "metrics"}`` (+ ``log_sha256`` when logging).

    With a risk injection the job runs twice on the same seed: first the *clean twin* (no
    injection, no log), then the injected episode, whose metrics gain the ``sec_*`` keys
    (labtrust_gym.benchmarks.sec_metrics) measured against the twin."""
    from .injections import check_injection
    from .injectors import build_injector
    from .labs import DEFAULT_DT_S

    task = instantiate_task(job.task_name, job.task_class)
    if job.scale is not None:
        task.scale_config = job.scale
    scale = _scale_dict(task)
    state = _initial_state(task, job)
    injection_id = job.injection or task.default_injection
    if not injection_id:
        return _play(job, task, scale, state, None)[0]
    entry = check_injection(injection_id, job.policy_root)
    dt_s = float(resolve_dt_s(task, scale) or DEFAULT_DT_S)
    clean, clean_releases = _play(job, task, scale, state, None, log=False)
    injector = build_injector(entry, job.seed, task.max_steps, dt_s, job.policy_root)
    outcome, releases = _play(job, task, scale, state, injector)
    from .sec_metrics import sec_metrics

    metrics = outcome["metrics"]
    metrics.update(sec_metrics(injector, metrics, clean["metrics"], releases, clean_releases))
    return outcome


def _play(
    job: EpisodeJob,
    task: BenchmarkTask,
    scale: Mapping[str, Any] | None,
    state: dict[str, Any],
    injector: Any,
    *,
    log: bool = True,
) -> tuple[dict[str, Any], dict[str, float] | None]:
    """Drive one episode of ``state``; a risk ``injector`` acts only through its hooks
    (labtrust_gym.benchmarks.injectors.base). Returns the outcome and each released item's
    release time (``None`` if the domain's metrics context has no ``specimens``)."""
    from labtrust_gym.plugins import registry

    if injector is not None:
        state = injector.edit_state(state)
    if state.get("strict_signatures"):
        state = add_agent_keys(state)
    env, obs, infos = _reset_env(task, state, job, scale)
    eng, dom = env.engine, env.domain
    log_path = _log_path(job) if log else None
    if log_path is not None and not callable(getattr(eng, "write_episode_log", None)):
        raise InvalidInputError(
            f"Domain {job.domain_id!r} does not write episode logs (its adapter has no "
            "write_episode_log); run without --log."
        )
    drivers = _Drivers(task, job, env, state, scale)
    from .decision_audit import DecisionAudit

    audit = DecisionAudit(eng, drivers.shield, drivers.method, drivers.source, job.deterministic)
    deliver: Callable[[dict[str, Any], int], dict[str, Any]] | None = None
    if injector is not None:
        injector.on_reset(env, drivers.method)
        deliver = injector.actions
    steps: list[list[Mapping[str, Any]]] = []
    rewards: dict[str, float] = {a: 0.0 for a in env.possible_agents}
    t = 0
    while env.agents:
        if injector is not None:
            injector.before_step(t)
            seen_obs, seen_infos = injector.observe(obs, infos, t)
            actions = drivers.act(seen_obs, seen_infos, t, deliver)
        else:
            actions = drivers.act(obs, infos, t)
        audit.write(t, audit.pop_llm(t), drivers.proposed)
        try:
            obs, step_rewards, _terms, _truncs, infos = env.step(actions)
        except InvalidInputError as exc:  # name who proposed the bad action
            raise InvalidInputError(f"Step {t}: actions from {drivers.source}: {exc}") from None
        step_results = _lab_step_results(infos)
        steps.append(step_results)
        for aid, r in step_rewards.items():
            rewards[aid] += float(r)
        dom.metrics_sample()
        drivers.observe(infos, step_results, t)
        if injector is not None:
            injector.after_step(infos, step_results, t)
        t += 1
    if injector is not None:
        injector.finish()
    context = _metrics_context(dom.metrics_inputs(float(env.get_dt_s())), task, drivers, rewards, t)
    aggregator = registry("metrics_aggregators").get(job.aggregator_id)
    metrics = dict(aggregator(steps, **context))  # checked by the plugin table's contract
    metrics.update(drivers.shield.metrics())
    if drivers.method is not None:
        metrics.update(coordination_metrics(drivers, metrics, deterministic=job.deterministic))
        drivers.method.on_episode_end(metrics)
    outcome: dict[str, Any] = {"seed": job.seed, "metrics": metrics}
    if drivers.external is not None:
        outcome["external_agent_ids"] = list(drivers.external_ids)
    if log_path is not None:
        if hasattr(eng, "close_sessions"):  # disclose the session key: verify-log re-checks MACs
            eng.close_sessions()
        eng.write_episode_log(log_path)
        outcome["log_sha256"] = hashlib.sha256(log_path.read_bytes()).hexdigest()
        from labtrust_gym.security.anchor import write_anchor

        outcome["log_anchor"] = write_anchor(log_path, eng)
    return outcome, _releases(context)


def _releases(context: Mapping[str, Any]) -> dict[str, float] | None:
    """``{item id: release time}`` of the released items of a metrics context."""
    items = context.get("specimens")
    if not isinstance(items, list):
        return None
    return {
        str(i["specimen_id"]): float(i["released_s"])
        for i in items
        if isinstance(i, Mapping) and i.get("released_s") is not None and "specimen_id" in i
    }


def coordination_metrics(
    drivers: _Drivers, metrics: Mapping[str, Any], *, deterministic: bool = True
) -> dict[str, Any]:
    """The ``coord_*`` metrics of the episode (docs/metrics.md, Coordination), with what the
    method reports through its optional ``coordination_report()``."""
    report_fn = getattr(drivers.method, "coordination_report", None)
    report = report_fn() if callable(report_fn) else None
    if report is not None and not isinstance(report, Mapping):
        raise PluginError(
            f"{drivers.source}: coordination_report() returned {type(report).__name__}; "
            "expected a dict {counter: number} (docs/coordination.md)."
        )
    throughput = int(metrics.get("throughput") or 0)
    out: dict[str, Any] = drivers.tally.metrics(
        throughput, report, deterministic=deterministic
    )
    llm_fn = getattr(drivers.method, "llm_metrics", None)  # LLM methods: the llm_* metrics
    if callable(llm_fn):
        out.update(llm_fn())
    return out


def _lab_step_results(infos: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    for info in infos.values():
        lab = info.get("lab")
        if lab is not None:
            return list(lab.get("step_results") or ())
    return []


def _metrics_context(
    inputs: Mapping[str, Any],
    task: BenchmarkTask,
    drivers: _Drivers,
    rewards: dict[str, float],
    steps: int,
) -> dict[str, Any]:
    """The aggregator's keyword context: the domain's metrics inputs (items, clock, devices…)
    and what the runner knows (the SLA, the attacks, the rewards, the step count)."""
    context = dict(inputs)
    context.update(
        {
            "sla_turnaround_s": task.sla_turnaround_s,
            "attack_attempts": drivers.attempts() if drivers.threats else None,
            # when the threat scripts actually started (they act from the seed)
            "attack_start_step": min(
                (a.start_step for a in drivers.threats.values() if hasattr(a, "start_step")),
                default=task.attack_start_step,
            ),
            "insider_attack_steps": sorted(
                {s for a in drivers.threats.values() for s in getattr(a, "attack_steps", ())}
            )
            or list(task.insider_attack_steps)
            or None,
            "rewards": rewards,
            "episode_steps": steps,
        }
    )
    return context
