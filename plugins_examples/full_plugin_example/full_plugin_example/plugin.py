"""The plugin module: the ``labtrust_gym`` entry point points here.

Each ``@hookimpl`` below is one extension point. Module scope stays light (``labtrust --help``
imports this module): the task, metrics and command modules are imported inside the hooks.
"""

from __future__ import annotations

from pathlib import Path

from labtrust_gym.hookspecs import Register, hookimpl

#: The policy layer this plugin ships (a lab profile, an invariant overlay, its cost table).
POLICY_DIR = Path(__file__).resolve().parent / "policy"


@hookimpl
def labtrust_register_tasks(register: Register) -> None:
    from full_plugin_example.tasks import StatRushTask

    register("full_example_stat_rush", StatRushTask)


@hookimpl
def labtrust_register_metrics_aggregators(register: Register) -> None:
    from full_plugin_example.metrics import metrics_with_costs

    register("full_example_costs", metrics_with_costs)


@hookimpl
def labtrust_register_invariant_handlers(register: Register) -> None:
    from full_plugin_example.invariants import queue_depth_cap

    register("queue.depth_cap", queue_depth_cap)


@hookimpl
def labtrust_register_commands(app: object) -> None:
    from full_plugin_example.commands import costs_command

    app.command("full-example-costs")(costs_command)  # type: ignore[attr-defined]


@hookimpl
def labtrust_policy_dirs() -> list[Path]:
    return [POLICY_DIR]
