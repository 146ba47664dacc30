"""Train MaskablePPO on ``throughput_sla`` and compare released results per episode.

Needs the ``rl`` extra (``pip install 'labtrust-gym[rl]'``: sb3-contrib, which pulls torch); it
is not part of the default install or CI. Usage (from the repo root)::

    python bench/train_rl.py                          # 300,000 agent-steps, 5 evaluation seeds
    python bench/train_rl.py --timesteps 50000 --eval-episodes 3 --json rl.json

One policy is shared by every agent of the lab (parameter sharing): each agent is a slot of a
vectorised env over ``LabTrustParallelEnv(obs_mode="box")`` (the role, zone and the agent's own
index are in its observation), and MaskablePPO draws only masked-in catalog entries. Training
uses the task's reward config in the default individual mode (violation penalties to the
responsible agent, a release's reward shared along its credit trail). The table compares, on the
same evaluation seeds (never trained on): every agent uniform among its masked-in entries
("random-masked"), every agent the trained policy (deterministic), and the scripted baseline.
This is a benchmark script, not a test: it prints, it never fails.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np

TASK = "throughput_sla"


def _make_env(seed: int = 0) -> Any:
    from labtrust_gym.benchmarks.tasks import get_task
    from labtrust_gym.envs import LabTrustParallelEnv
    from labtrust_gym.plugins import load_plugins

    load_plugins()
    task = get_task(TASK)()
    return LabTrustParallelEnv(task=task, obs_mode="box")


def _vec_env(seed: int) -> Any:
    """The lab as an SB3 ``VecEnv``: one slot per agent, one policy for all (defined here so the
    module imports without the ``rl`` extra)."""
    from gymnasium import spaces
    from stable_baselines3.common.vec_env.base_vec_env import VecEnv

    class LabVecEnv(VecEnv):  # type: ignore[misc]
        def __init__(self, seed: int) -> None:
            self.env = _make_env()
            self.agents = list(self.env.possible_agents)
            a0 = self.agents[0]
            obs_space = self.env.observation_space(a0)
            act_space = self.env.action_space(a0)
            assert isinstance(obs_space, spaces.Box) and isinstance(act_space, spaces.Discrete)
            super().__init__(len(self.agents), obs_space, act_space)
            self._seed = seed
            self._actions: np.ndarray | None = None

        def reset(self) -> np.ndarray:
            obs, _ = self.env.reset(seed=self._seed)
            self._seed += 1
            return np.stack([obs[a] for a in self.agents])

        def step_async(self, actions: np.ndarray) -> None:
            self._actions = actions

        def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
            assert self._actions is not None
            acts = dict(zip(self.agents, self._actions.tolist(), strict=True))
            obs, rew, _terms, truncs, _infos = self.env.step(acts)
            stacked = np.stack([obs[a] for a in self.agents])
            rewards = np.array([rew[a] for a in self.agents], dtype=np.float32)
            done = all(truncs.values())
            infos: list[dict[str, Any]] = [{} for _ in self.agents]
            if done:
                for i, info in enumerate(infos):
                    info["terminal_observation"] = stacked[i]
                    info["TimeLimit.truncated"] = True
                stacked = self.reset()
            dones = np.full(len(self.agents), done)
            return stacked, rewards, dones, infos

        def env_method(self, method_name: str, *args: Any, indices: Any = None, **kw: Any) -> Any:
            if method_name == "action_masks":
                return [self.env.action_mask(a).astype(bool) for a in self.agents]
            raise AttributeError(method_name)

        def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
            return [getattr(self, attr_name, None)] * self.num_envs

        def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
            setattr(self, attr_name, value)

        def env_is_wrapped(self, wrapper_class: Any, indices: Any = None) -> list[bool]:
            return [False] * self.num_envs

        def close(self) -> None:
            self.env.close()

    return LabVecEnv(seed)


def _episode(env: Any, seed: int, choose: Any) -> int:
    """Released results of one episode where ``choose(obs, env)`` gives every agent's action."""
    obs, _ = env.reset(seed=seed)
    while env.agents:
        obs, *_ = env.step(choose(obs, env))
    released: int = env.engine.n_released
    return released


def evaluate(
    model: Any, venv: Any, seeds: list[int], deterministic: bool = True
) -> dict[str, list[int]]:
    from labtrust_gym.baselines.scripted import ScriptedLabController

    env = _make_env()
    rng = np.random.default_rng(12345)
    agents = list(env.possible_agents)

    def random_masked(obs: Any, env: Any) -> dict[str, int]:
        masks = np.stack([env.action_mask(a) for a in agents])
        return dict(zip(agents, (rng.random(masks.shape) * masks).argmax(axis=1).tolist(),
                        strict=True))

    def trained(obs: Any, env: Any) -> dict[str, int]:
        batch = venv.normalize_obs(np.stack([obs[a] for a in agents]))
        masks = np.stack([env.action_mask(a).astype(bool) for a in agents])
        actions, _ = model.predict(batch, action_masks=masks, deterministic=deterministic)
        return dict(zip(agents, np.asarray(actions).tolist(), strict=True))

    out: dict[str, list[int]] = {"random-masked": [], "MaskablePPO": [], "scripted": []}
    for seed in seeds:
        out["random-masked"].append(_episode(env, seed, random_masked))
        out["MaskablePPO"].append(_episode(env, seed, trained))
        baseline = ScriptedLabController()
        obs, infos = env.reset(seed=seed)
        state = env._resolve_initial_state(seed, None)
        baseline.reset(env, seed, None, state)
        t = 0
        while env.agents:
            obs, _, _, _, infos = env.step(baseline.act(obs, infos, t))
            t += 1
        out["scripted"].append(int(env.engine.n_released))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=300_000, help="agent-steps to train")
    parser.add_argument("--eval-episodes", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--stochastic", action="store_true", help="evaluate the policy's samples, not its argmax"
    )
    parser.add_argument("--json", help="also write the table to this JSON file")
    args = parser.parse_args(argv)
    try:
        import torch
        from sb3_contrib import MaskablePPO
    except ImportError:
        print("bench/train_rl.py needs the rl extra: pip install 'labtrust-gym[rl]'")
        return 0
    torch.set_num_threads(1)  # a shared machine; the network is tiny
    from stable_baselines3.common.vec_env import VecNormalize

    # training seeds never overlap evaluation seeds; observations (counts, queue lengths) and
    # rewards are normalised by running statistics, the standard SB3 recipe
    venv = VecNormalize(_vec_env(seed=10_000 + args.seed), gamma=0.99)
    model = MaskablePPO(
        "MlpPolicy",
        venv,
        n_steps=240,  # one episode per rollout per agent slot
        batch_size=240,
        learning_rate=3e-4,
        gamma=0.99,
        ent_coef=0.01,
        seed=args.seed,
        verbose=0,
    )
    t0 = time.perf_counter()
    model.learn(total_timesteps=args.timesteps)
    train_s = time.perf_counter() - t0
    seeds = list(range(args.seed + 1, args.seed + 1 + args.eval_episodes))
    venv.training = False
    table = evaluate(model, venv, seeds, deterministic=not args.stochastic)
    print(f"{TASK}: MaskablePPO (MlpPolicy, one policy shared by the lab's "
          f"{venv.num_envs} agents, {'stochastic' if args.stochastic else 'deterministic'} "
          f"evaluation), {args.timesteps:,} agent-steps in {train_s:.0f} s; "
          f"released results per episode on evaluation seeds {seeds}:")
    print("| agents driven by | " + " | ".join(f"seed {s}" for s in seeds) + " | mean |")
    print("|---|" + "---:|" * (len(seeds) + 1))
    for name, values in table.items():
        cells = " | ".join(str(v) for v in values)
        print(f"| {name} | {cells} | {statistics.fmean(values):.1f} |")
    if args.json:
        from labtrust_gym.fileio import atomic_write_json

        atomic_write_json(
            args.json,
            {"task": TASK, "timesteps": args.timesteps, "train_s": round(train_s, 1),
             "seeds": seeds, "released": table},
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
