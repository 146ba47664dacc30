"""Benchmark tasks: the :class:`BenchmarkTask` contract and the task-registry façade.

A task says which lab to build (``get_initial_state``), how long an episode lasts
(``max_steps``), which agents the scripted baseline drives, how rewards are shaped and — when it
applies — the turnaround SLA, the attack schedule and the scale preset. The eight built-in tasks
live in :mod:`labtrust_gym.benchmarks.builtin_tasks`.

A plugin task may be written exactly as the extension guide shows::

    class MyTask(BenchmarkTask):
        def __init__(self):
            super().__init__(name="my_task", max_steps=50,
                             scripted_agents=["ops_0", "runner_0"], reward_config={})

and inherit ``get_initial_state``, which builds the default hospital lab.

This module is imported by the plugin core to check task classes; keep it free of numpy,
gymnasium and the engine at module scope.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: Default agents of the standard lab (see docs/engine.md).
DEFAULT_AGENTS: tuple[str, ...] = (
    "reception_0",
    "ops_0",
    "runner_0",
    "runner_1",
    "qc_0",
    "supervisor_0",
)

TIMING_MODES = ("explicit", "simulated")


class BenchmarkTask:
    """Base class of every benchmark task (built-in or plugin).

    Attributes may be given as class attributes (built-in tasks do) or as ``__init__`` keyword
    arguments (the extension guide's style); keyword arguments win.

    :ivar name: the task id.
    :ivar max_steps: env steps per episode.
    :ivar scripted_agents: agent ids driven by the scripted baseline (the env's agent names).
    :ivar reward_config: reward shaping passed to the env (e.g. ``{"release": 1.0}``).
    :ivar sla_turnaround_s: turnaround SLA in simulated seconds (None = no SLA).
    :ivar attack_start_step: first step at which the adversary acts (security tasks).
    :ivar insider_attack_steps: steps at which the insider attempts an attack.
    :ivar timing_mode: ``explicit`` (runs take their nominal service time) or ``simulated``
        (seeded, variable run durations); None = the scale preset's, else ``explicit``.
    :ivar scale_config: a scale preset name or inline dict; when set, the lab is generated.
    :ivar dt_s: simulated seconds per env step (None = 10 s, or the scale preset's).
    :ivar default_injection: risk injection applied when the run names none (``coord_risk``).
    :ivar domain_id: the domain the task's labs are for (None: the profile's domain; the
        inherited ``get_initial_state`` builds hospital_lab labs). A run whose profile selects
        another domain is refused before any episode.
    """

    name: str = ""
    description: str = ""
    max_steps: int = 60
    scripted_agents: Sequence[str] = DEFAULT_AGENTS
    reward_config: Mapping[str, Any] = {}
    sla_turnaround_s: float | None = None
    attack_start_step: int | None = None
    insider_attack_steps: Sequence[int] = ()
    timing_mode: str | None = None
    scale_config: str | Mapping[str, Any] | None = None
    dt_s: float | None = None
    default_injection: str | None = None
    domain_id: str | None = None

    def __init__(
        self,
        name: str | None = None,
        max_steps: int | None = None,
        scripted_agents: Sequence[str] | None = None,
        reward_config: Mapping[str, Any] | None = None,
        *,
        description: str | None = None,
        sla_turnaround_s: float | None = None,
        attack_start_step: int | None = None,
        insider_attack_steps: Sequence[int] | None = None,
        timing_mode: str | None = None,
        scale_config: str | Mapping[str, Any] | None = None,
    ) -> None:
        if name is not None:
            self.name = name
        if max_steps is not None:
            self.max_steps = max_steps
        if scripted_agents is not None:
            self.scripted_agents = (
                scripted_agents if isinstance(scripted_agents, str) else list(scripted_agents)
            )
        if reward_config is not None:
            self.reward_config = dict(reward_config)
        if description is not None:
            self.description = description
        if sla_turnaround_s is not None:
            self.sla_turnaround_s = sla_turnaround_s
        if attack_start_step is not None:
            self.attack_start_step = attack_start_step
        if insider_attack_steps is not None:
            self.insider_attack_steps = tuple(insider_attack_steps)
        if timing_mode is not None:
            self.timing_mode = timing_mode
        if scale_config is not None:
            self.scale_config = scale_config
        self.check()

    def check(self) -> None:
        """Validate the declarative fields; raise ``ConfigError`` naming the task and field."""
        from labtrust_gym.errors import ConfigError

        label = self.name or type(self).__name__
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"Task {type(self).__name__}: 'name' must be a non-empty string.")
        if (
            not isinstance(self.max_steps, int)
            or isinstance(self.max_steps, bool)
            or self.max_steps < 1
        ):
            raise ConfigError(
                f"Task {label!r}: 'max_steps' must be a positive integer, got {self.max_steps!r}."
            )
        if isinstance(self.scripted_agents, str) or not all(
            isinstance(a, str) for a in self.scripted_agents
        ):
            raise ConfigError(f"Task {label!r}: 'scripted_agents' must be a list of agent ids.")
        if not isinstance(self.reward_config, Mapping):
            raise ConfigError(f"Task {label!r}: 'reward_config' must be a mapping.")
        if self.timing_mode is not None and self.timing_mode not in TIMING_MODES:
            raise ConfigError(
                f"Task {label!r}: 'timing_mode' must be one of {', '.join(TIMING_MODES)}, "
                f"got {self.timing_mode!r}."
            )
        problem = _field_problem(self)
        if problem is not None:
            raise ConfigError(f"Task {label!r}: {problem}.")

    # ---- the lab -----------------------------------------------------------------------------
    def get_initial_state(
        self,
        seed: int,
        calibration: Mapping[str, Any] | None = None,
        policy_root: Path | str | None = None,
    ) -> dict[str, Any]:
        """The engine ``initial_state`` of an episode; a pure function of the arguments.

        The default builds the standard hospital lab (six agents, one device per type) with a
        routine arrival stream, or — if :attr:`scale_config` is set — a generated lab from that
        scale preset. ``calibration`` may override ``arrival_rate_per_min``, ``stat_fraction``,
        ``urgent_fraction``, ``dt_s`` and ``strict_signatures``.
        """
        from labtrust_gym.benchmarks.labs import build_lab

        return build_lab(self, seed, calibration=calibration, policy_root=policy_root)

    def lab_options(self) -> dict[str, Any]:
        """Extra lab-building options for :func:`labtrust_gym.benchmarks.labs.build_lab`.

        Built-in tasks override this to add STAT load, QC failures, transport, adversaries, ….
        """
        return {}

    def rng(self, seed: int, purpose: str) -> random.Random:
        """A private RNG for ``purpose`` derived from the episode seed (stable across runs)."""
        return random.Random(f"{self.name}:{purpose}:{seed}")

    def describe(self) -> dict[str, Any]:
        """The task's declarative fields (written into results ``config``)."""
        return {
            "name": self.name,
            "max_steps": self.max_steps,
            "scripted_agents": list(self.scripted_agents),
            "reward_config": dict(self.reward_config),
            "sla_turnaround_s": self.sla_turnaround_s,
            "attack_start_step": self.attack_start_step,
            "insider_attack_steps": list(self.insider_attack_steps),
            "timing_mode": self.timing_mode,
            "dt_s": self.dt_s,
            "scale_config": self.scale_config
            if not isinstance(self.scale_config, Mapping)
            else dict(self.scale_config),
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, max_steps={self.max_steps})"


def _positive_number(value: Any) -> bool:
    return (
        isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < math.inf
    )


def _step_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _field_problem(task: BenchmarkTask) -> str | None:
    """The first optional field of ``task`` with a value the runner cannot use, described."""
    rules: tuple[tuple[str, bool, str], ...] = (
        ("description", isinstance(task.description, str), "a string"),
        (
            "sla_turnaround_s",
            task.sla_turnaround_s is None or _positive_number(task.sla_turnaround_s),
            "None or a positive number of seconds",
        ),
        (
            "dt_s",
            task.dt_s is None or _positive_number(task.dt_s),
            "None or a positive number of seconds",
        ),
        (
            "attack_start_step",
            task.attack_start_step is None or _step_number(task.attack_start_step),
            "None or a step number (an integer >= 0)",
        ),
        (
            "insider_attack_steps",
            not isinstance(task.insider_attack_steps, str | bytes | Mapping)
            and isinstance(task.insider_attack_steps, Sequence)
            and all(_step_number(s) for s in task.insider_attack_steps),
            "a list of step numbers",
        ),
        (
            "scale_config",
            task.scale_config is None or isinstance(task.scale_config, str | Mapping),
            "None, a scale preset name or a mapping",
        ),
        (
            "default_injection",
            task.default_injection is None or isinstance(task.default_injection, str),
            "None or an injection id",
        ),
        (
            "domain_id",
            task.domain_id is None or (isinstance(task.domain_id, str) and task.domain_id != ""),
            "None or a domain id",
        ),
    )
    for field, ok, expected in rules:
        if not ok:
            return f"{field!r} must be {expected}, got {getattr(task, field)!r}"
    return None


# --------------------------------------------------------------------------------------------
# Registry façade (thin: the one plugin manager holds the registrations)
# --------------------------------------------------------------------------------------------


def register_task(name: str, task_class: type[BenchmarkTask], *, replace: bool = False) -> None:
    """Register a task class under ``name`` (the class must derive from :class:`BenchmarkTask`)."""
    from labtrust_gym.plugins import registry

    registry("tasks").register(name, task_class, replace=replace)


def get_task(name: str) -> type[BenchmarkTask]:
    """The task class registered under ``name``; unknown names list the known ones."""
    from labtrust_gym.plugins import registry

    task_class: type[BenchmarkTask] = registry("tasks").get(name)
    return task_class


def list_tasks() -> list[str]:
    """Registered task ids, sorted."""
    from labtrust_gym.plugins import registry

    return registry("tasks").ids()


__all__ = [
    "DEFAULT_AGENTS",
    "TIMING_MODES",
    "BenchmarkTask",
    "get_task",
    "list_tasks",
    "register_task",
]
