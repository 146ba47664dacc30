"""Built-in benchmarks plugin: the eight tasks, the ``default`` metrics aggregator, the
``default`` benchmark pack loader and the ``default`` security suite and safety case providers,
registered through the same hooks a third party uses.

Module scope stays light (no numpy, gymnasium, pettingzoo or engine imports): the core imports
this module on every ``labtrust`` start-up.
"""

from __future__ import annotations

from labtrust_gym.hookspecs import Register, hookimpl


@hookimpl
def labtrust_register_tasks(register: Register) -> None:
    from labtrust_gym.benchmarks.builtin_tasks import BUILTIN_TASKS

    for task_class in BUILTIN_TASKS:
        register(task_class.name, task_class)


@hookimpl
def labtrust_register_metrics_aggregators(register: Register) -> None:
    from labtrust_gym.benchmarks.metrics import DEFAULT_AGGREGATOR_ID, compute_episode_metrics

    register(DEFAULT_AGGREGATOR_ID, compute_episode_metrics)


@hookimpl
def labtrust_register_benchmark_pack_loaders(register: Register) -> None:
    from labtrust_gym.benchmarks.official_pack import default_pack_loader

    register("default", default_pack_loader)


@hookimpl
def labtrust_register_security_suite_providers(register: Register) -> None:
    from labtrust_gym.benchmarks.security_runner import DefaultSecuritySuiteProvider

    register("default", DefaultSecuritySuiteProvider)


@hookimpl
def labtrust_register_safety_case_providers(register: Register) -> None:
    from labtrust_gym.security.safety_case import DefaultSafetyCaseProvider

    register("default", DefaultSafetyCaseProvider)
