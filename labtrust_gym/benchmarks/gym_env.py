"""Single-agent Gymnasium environments: one agent of a task's lab is yours, the scripted baseline
(and the task's threat scripts) drive every other agent.

Importing this module registers ``LabTrust/<Task>-v0`` for every registered task
(``throughput_sla`` → ``LabTrust/ThroughputSla-v0``)::

    import gymnasium as gym
    import labtrust_gym.benchmarks.gym_env  # noqa: F401  (registers the ids)

    env = gym.make("LabTrust/ThroughputSla-v0", role="ops")

(or, without the import, ``gym.make("labtrust_gym.benchmarks.gym_env:LabTrust/ThroughputSla-v0",
...)``). The observation is the agent's flat ``Box`` observation (``obs_mode="box"``), the action
space ``Discrete(K)`` over the lab's catalog; the mask is in ``info["action_mask"]`` and returned
by :meth:`LabTrustGymEnv.action_masks` (what sb3-contrib's ``MaskablePPO`` calls).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium
import numpy as np

from labtrust_gym.errors import InvalidInputError, did_you_mean

ID_PREFIX = "LabTrust/"


def env_id(task_name: str) -> str:
    """``throughput_sla`` → ``LabTrust/ThroughputSla-v0``."""
    return f"{ID_PREFIX}{''.join(p.capitalize() for p in task_name.split('_'))}-v0"


class LabTrustGymEnv(gymnasium.Env[np.ndarray, int]):
    """One agent of ``task``'s lab: by default the ``index``-th agent whose role is ``role``."""

    metadata = {"render_modes": ["ansi", "human"], "render_fps": 4}

    def __init__(
        self,
        task: str = "throughput_sla",
        role: str | None = "ops",
        *,
        agent_id: str | None = None,
        index: int = 0,
        scale: str | None = None,
        render_mode: str | None = None,
        **env_kwargs: Any,
    ) -> None:
        from labtrust_gym.benchmarks.runner import instantiate_task
        from labtrust_gym.benchmarks.tasks import get_task
        from labtrust_gym.envs.parallel_env import LabTrustParallelEnv
        from labtrust_gym.plugins import load_plugins

        load_plugins()
        self.task = instantiate_task(task, get_task(task))
        if scale is not None:
            self.task.scale_config = scale
        state = self._state(0)
        self.env = LabTrustParallelEnv(
            task=self.task,
            initial_state=state,
            obs_mode="box",
            render_mode=render_mode,
            **env_kwargs,
        )
        self.render_mode = render_mode
        self.agent = _choose_agent(self.env, role, agent_id, index)
        self.observation_space = self.env.observation_space(self.agent)
        self.action_space = self.env.action_space(self.agent)
        self.action_catalog = self.env.action_catalog
        self._seed: int | None = None
        self._obs: dict[str, Any] = {}
        self._infos: dict[str, Any] = {}
        self._t = 0
        self._threats: dict[str, Any] = {}
        self._baseline: Any = None

    def _state(self, seed: int) -> dict[str, Any]:
        from labtrust_gym.benchmarks.episode import add_agent_keys
        from labtrust_gym.benchmarks.labs import check_initial_state

        state = check_initial_state(self.task.get_initial_state(seed), self.task.name)
        return add_agent_keys(state) if state.get("strict_signatures") else state

    # ------------------------------------------------------------------ Gymnasium API
    def reset(
        self, *, seed: int | None = None, options: Mapping[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        from labtrust_gym.benchmarks.episode import scripted_policy, signing_keys_for, threat_agents

        super().reset(seed=seed)
        if seed is None:
            seed = 0 if self._seed is None else self._seed + 1
        self._seed = int(seed)
        state = self._state(self._seed)
        env = self.env
        env.set_signing_keys(signing_keys_for(state) if state.get("strict_signatures") else {})
        self._obs, self._infos = env.reset(seed=self._seed, options={"initial_state": state})
        self._threats = threat_agents(env, self.task, self._seed)
        others = [a for a in env.possible_agents if a != self.agent and a not in self._threats]
        self._baseline = scripted_policy(env, self.task, others)
        self._baseline.reset(env, self._seed, None, state)
        self._t = 0
        return self._obs[self.agent], dict(self._infos[self.agent])

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if not self.env.agents:
            raise InvalidInputError("step() called after the episode ended; call reset() first.")
        actions = self._baseline.act(self._obs, self._infos, self._t)
        eng = self.env.engine
        for aid, threat in self._threats.items():
            actions[aid] = threat.act(eng, self._t)
        actions[self.agent] = int(action)
        obs, rewards, terms, truncs, infos = self.env.step(actions)
        for aid, threat in self._threats.items():
            threat.log.resolve(infos.get(aid))
        self._obs, self._infos = obs, infos
        self._t += 1
        a = self.agent
        return obs[a], float(rewards[a]), bool(terms[a]), bool(truncs[a]), dict(infos[a])

    def action_masks(self) -> np.ndarray:
        """The agent's current action mask as booleans (sb3-contrib's ``MaskablePPO`` reads it)."""
        return np.asarray(self.env.action_mask(self.agent), dtype=bool)

    def render(self, *args: Any, **kwargs: Any) -> str | None:
        return self.env.render()

    def close(self) -> None:
        self.env.close()


def _choose_agent(env: Any, role: str | None, agent_id: str | None, index: int) -> str:
    agents = list(env.possible_agents)
    if agent_id is not None:
        if agent_id not in agents:
            raise InvalidInputError(
                f"agent_id {agent_id!r} is not an agent of this lab; agents: "
                f"{', '.join(agents[:12])}{' …' if len(agents) > 12 else ''}."
                f"{did_you_mean(agent_id, agents)}"
            )
        return agent_id
    role_of = list(env.domain.agent_roles)
    members = [a for a, r in zip(agents, role_of, strict=True) if r == role]
    present = sorted({r for r in role_of if r is not None})
    if not members:
        raise InvalidInputError(
            f"No agent with role {role!r} in this lab; roles present: {', '.join(present)}."
            f"{did_you_mean(str(role), present)}"
        )
    if not 0 <= index < len(members):
        raise InvalidInputError(
            f"index {index} is out of range: the lab has {len(members)} agent(s) of role {role!r}."
        )
    return members[index]


def register_envs() -> list[str]:
    """Register ``LabTrust/<Task>-v0`` for every registered task; returns the ids."""
    from labtrust_gym.benchmarks.tasks import list_tasks
    from labtrust_gym.plugins import load_plugins

    load_plugins()
    ids = []
    for name in list_tasks():
        gid = env_id(name)
        if gid not in gymnasium.registry:
            gymnasium.register(
                id=gid,
                entry_point="labtrust_gym.benchmarks.gym_env:LabTrustGymEnv",
                kwargs={"task": name},
            )
        ids.append(gid)
    return ids


register_envs()

__all__ = ["LabTrustGymEnv", "env_id", "register_envs"]
