"""What can be extended: one pluggy hookspec per LabTrust-Gym extension point.

A plugin is any object (usually a module) with functions marked ``@hookimpl`` whose names match
the specs below. Each ``labtrust_register_*`` hook receives a ``register(id, obj)`` callback; call
it once per thing you provide. Built-in tasks, the ``hospital_lab`` domain and the default
providers are registered through these same hooks, first, like any other plugin.

The sections follow the order in which a run uses them: the domain and its invariants, then
tasks and coordination, then evaluation (metrics, benchmark packs, security, safety case), then
LLM backends, then the policy files plugins ship, then the command line. ``docs/hooks.md``
documents every hook; a test fails if one is missing there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

PROJECT_NAME = "labtrust_gym"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

#: The callback every ``labtrust_register_*`` hook receives: ``register(id, obj)``.
Register = Callable[[str, Any], None]


# --------------------------------------------------------------------------------------------
# Domain: the simulated world and the invariants checked in it
# --------------------------------------------------------------------------------------------


@hookspec
def labtrust_register_domains(register: Register) -> None:
    """Register domain adapter factories.

    Called when the domain registry is first used. A factory has the signature
    ``factory(workflow_spec: dict | None, config: dict | None) -> LabTrustEnvAdapter``; the
    adapter's ``domain_env(options)`` gives the env and the runner its env side
    (``labtrust_gym.domain.protocol.DomainEnv``, docs/domains.md).

    :param register: ``register(domain_id, factory)``.

    Example::

        @hookimpl
        def labtrust_register_domains(register):
            register("blood_bank", make_blood_bank_adapter)
    """


@hookspec
def labtrust_register_invariant_handlers(register: Register) -> None:
    """Register invariant handlers, keyed ``"<type>.<check_name>"``.

    A handler is ``handler(env, event, params) -> (passed, reason_code, details) | None``; the
    invariant registry YAML refers to it through ``logic_template.type`` and
    ``logic_template.parameters.check``. Returning ``None`` means "not applicable".

    :param register: ``register("state.my_check", handler)``.

    Example::

        @hookimpl
        def labtrust_register_invariant_handlers(register):
            register("state.fridge_closed", check_fridge_closed)
    """


# --------------------------------------------------------------------------------------------
# Tasks and coordination
# --------------------------------------------------------------------------------------------


@hookspec
def labtrust_register_tasks(register: Register) -> None:
    """Register benchmark tasks.

    The object must be a *class* deriving from
    :class:`labtrust_gym.benchmarks.tasks.BenchmarkTask`; it is instantiated once per run.

    :param register: ``register(task_name, TaskClass)``.

    Example::

        @hookimpl
        def labtrust_register_tasks(register):
            register("night_shift", NightShiftTask)
    """


@hookspec
def labtrust_register_coordination_methods(register: Register) -> None:
    """Register coordination method factories.

    A factory is ``factory(policy, repo_root, scale_config, params) -> CoordinationMethod``;
    ``params`` are the method's ``default_params`` from
    ``policy/coordination/coordination_methods.v0.1.yaml`` merged with runner keyword arguments.

    :param register: ``register(method_id, factory)``.

    Example::

        @hookimpl
        def labtrust_register_coordination_methods(register):
            register("round_robin", make_round_robin)
    """


# --------------------------------------------------------------------------------------------
# Evaluation: metrics, benchmark packs, security suites, safety cases
# --------------------------------------------------------------------------------------------


@hookspec
def labtrust_register_metrics_aggregators(register: Register) -> None:
    """Register episode metrics aggregators.

    An aggregator has the signature of
    :func:`labtrust_gym.benchmarks.metrics.compute_episode_metrics` and returns a metrics dict.
    A lab profile selects one with ``metrics_aggregator_id``.

    :param register: ``register(aggregator_id, aggregator)``.

    Example::

        @hookimpl
        def labtrust_register_metrics_aggregators(register):
            register("with_costs", compute_metrics_with_costs)
    """


@hookspec
def labtrust_register_benchmark_pack_loaders(register: Register) -> None:
    """Register benchmark pack loaders.

    A loader is ``loader(repo_root, prefer_v02, partner_id) -> (pack_dict, version, path)``.
    A lab profile selects one with ``benchmark_pack_loader_id``.

    :param register: ``register(loader_id, loader)``.

    Example::

        @hookimpl
        def labtrust_register_benchmark_pack_loaders(register):
            register("partner_pack", load_partner_pack)
    """


@hookspec
def labtrust_register_security_suite_providers(register: Register) -> None:
    """Register security suite providers.

    A provider has ``load_suite(policy_root, partner_id) -> dict`` and
    ``run_suite(policy_root, repo_root, ...) -> list[dict]``. It may be registered as an
    instance, a class (instantiated without arguments) or a zero-argument factory.

    :param register: ``register(provider_id, provider)``.

    Example::

        @hookimpl
        def labtrust_register_security_suite_providers(register):
            register("red_team_v2", RedTeamSuite)
    """


@hookspec
def labtrust_register_safety_case_providers(register: Register) -> None:
    """Register safety case providers.

    A provider has ``load_claims(policy_root) -> dict`` and
    ``build_safety_case(policy_root) -> dict``; instance, class or factory as for security suites.

    :param register: ``register(provider_id, provider)``.

    Example::

        @hookimpl
        def labtrust_register_safety_case_providers(register):
            register("iso15189", Iso15189SafetyCase())
    """


# --------------------------------------------------------------------------------------------
# LLM backends: what answers an LLM agent's or planner's requests
# --------------------------------------------------------------------------------------------


@hookspec
def labtrust_register_llm_backends(register: Register) -> None:
    """Register LLM backends.

    A backend has ``complete(request: LLMRequest) -> LLMResponse`` and
    ``configure(settings: LLMSettings) -> backend`` (a *new* backend configured for one run; the
    registered object is shared). It may be registered as an instance, a class (instantiated
    without arguments) or a zero-argument factory. Build responses with
    ``labtrust_gym.llm.contract.build_response`` so answers are parsed and hashed like the
    built-ins'; raise ``LLMBackendError`` (never return a fake answer) when a call fails; refuse
    network use unless ``settings.allow_network``.

    :param register: ``register(backend_id, backend)``.

    Example::

        @hookimpl
        def labtrust_register_llm_backends(register):
            register("my_gateway", MyGatewayBackend)
    """


# --------------------------------------------------------------------------------------------
# Policy: data files a plugin ships
# --------------------------------------------------------------------------------------------


@hookspec
def labtrust_policy_dirs() -> Any:
    """Return the policy directories this plugin ships (a path, or a list of paths).

    Each directory is a *policy layer* above the shipped policy and below the user's directory:
    it holds only the files it adds or changes, laid out like ``policy/`` (for example
    ``lab_profiles/my_lab.v0.1.yaml`` or ``invariants/my_overlay.v0.1.yaml``). A file shipped by
    two plugins is an error naming both. Called whenever policy is resolved (results cached);
    a path that is not a directory is reported as a problem of the plugin.

    :return: a ``str``/``os.PathLike`` or a list of them; ``None`` for none.

    Example::

        from pathlib import Path

        @hookimpl
        def labtrust_policy_dirs():
            return [Path(__file__).parent / "policy"]
    """


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


@hookspec
def labtrust_register_commands(app: Any) -> None:
    """Add commands to the ``labtrust`` CLI.

    Called once when the CLI starts, with the root ``typer.Typer`` application. Keep module
    scope light (import heavy libraries inside the command functions) so ``labtrust --help``
    stays fast.

    :param app: the root ``typer.Typer``.

    Example::

        @hookimpl
        def labtrust_register_commands(app):
            @app.command("lab-report")
            def lab_report() -> None:
                ...
    """
