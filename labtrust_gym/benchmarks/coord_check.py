"""``labtrust plugins doctor``'s coordination check: build every registered method once.

Each registered factory is called the way the runner calls it — on a small generated lab
(``small_smoke``, seed 0) with the policy dict, scale config and params the runner would pass —
and what it returns goes through the plugin table's contract (a ``method_id`` string and
``propose_actions``; :data:`labtrust_gym.contracts.COORDINATION_METHOD`). A factory that raises,
returns something else, or is ``scale_capable`` in policy without ``propose_agent`` is a problem,
attributed to its plugin; so is a policy entry whose ``method_id`` nothing registers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labtrust_gym.errors import LabTrustError

PROBE_SCALE = "small_smoke"
POLICY_FILE = "policy/coordination/coordination_methods.v0.1.yaml"


def _probe(root: Path) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """``(policy, scale_config, env)`` of the probe lab."""
    from labtrust_gym.benchmarks.builtin_tasks import CoordScale
    from labtrust_gym.envs import LabTrustParallelEnv
    from labtrust_gym.envs.scale import load_scale_config

    from .episode import method_policy

    task = CoordScale()
    task.scale_config = PROBE_SCALE
    state = task.get_initial_state(0, policy_root=root)
    env = LabTrustParallelEnv(task=task, initial_state=state, max_steps=task.max_steps)
    env.reset(seed=0)
    policy = method_policy(task.describe(), state, str(root), {}, env)
    return policy, load_scale_config(PROBE_SCALE).to_dict(), env


def check_coordination_methods(policy_root: Path | None = None) -> list[Any]:
    """Problems (``labtrust_gym.plugins.PluginProblem``) found by building every method."""
    from labtrust_gym import plugins
    from labtrust_gym.baselines.coordination.policy import load_method_entries
    from labtrust_gym.config import get_repo_root
    from labtrust_gym.errors import PluginError

    from .episode import method_params

    root = policy_root if policy_root is not None else get_repo_root()
    reg = plugins.registry("coordination_methods")
    infos = {info.name: info for info in plugins.plugin_infos()}
    entries = load_method_entries(root)
    problems: list[Any] = []

    def problem(plugin: str, cause: str) -> None:
        info = infos.get(plugin)
        problems.append(
            info.problem(cause) if info is not None else plugins.PluginProblem(plugin, cause)
        )

    records = reg.registrations()
    probe: tuple[dict[str, Any], dict[str, Any], Any] | None = None
    for record in records:
        try:
            factory = reg.get(record.ident)
        except PluginError:
            continue  # not importable / not callable: plugins.doctor() reports it
        if probe is None:
            probe = _probe(root)
        policy, scale, env = probe
        entry = entries.get(record.ident) or {}
        params = dict(entry.get("default_params") or {})
        params.update({"compute_budget": None, "proposal_backend": None})
        where = f"coordination method {record.ident!r}"
        try:
            method = factory(policy, root, dict(scale), method_params(params, env))
        except LabTrustError as exc:
            problem(record.plugin, f"{where}: {exc}")
            continue
        except Exception as exc:
            problem(record.plugin, f"{where}: factory failed: {type(exc).__name__}: {exc}")
            continue
        if entry.get("scale_capable") and not callable(getattr(method, "propose_agent", None)):
            problem(
                record.plugin,
                f"{where} is scale_capable in {POLICY_FILE} but has no "
                "propose_agent(agent_id, obs, infos, t).",
            )
    registered = {r.ident for r in records}
    for ident in entries:
        if ident not in registered:
            problems.append(
                plugins.PluginProblem(
                    POLICY_FILE,
                    f"entry {ident!r} names a coordination method no plugin registers.",
                )
            )
    return problems


__all__ = ["check_coordination_methods"]
