"""Per-agent rewards from a task's ``reward_config`` (docs/envs.md "Rewards").

Terms (keys of ``reward_config``, all optional; unknown keys are rejected so a typo cannot
silently zero a reward):

``throughput_reward``   per released item, shared by the agents that moved it along (the credit
                        rule below)
``schedule_reward``     per accepted event of a progress action type (the domain's
                        ``RewardSignals.progress_actions``; hospital_lab: QUEUE_RUN /
                        START_RUN), to the agent that issued it
``violation_penalty``   per invariant VIOLATION (a ``PASS`` result is not a violation), to the
                        agent responsible for it (below)
``blocked_penalty``     per BLOCKED event, to the agent that sent it
``step_cost``           charged to every live agent every step (default 0)

Penalties and ``step_cost`` are magnitudes: they are always subtracted, whatever their sign in
the config, because tasks in the wild write them both as ``0.5`` and ``-0.5``.

**Credit rule.** When the domain gives credit trails (``DomainEnv.attribution``), a released
item's ``throughput_reward`` is split in equal shares over the agents of its trail (an agent that
did two of its steps gets two shares); otherwise each emit of the domain's
``RewardSignals.release_emits`` pays the releasing agent. hospital_lab's trail is every accepted
event that moved the specimen along — accession, acceptance, every QUEUE_RUN and START_RUN and
the release (``released_results[...]["handled_by"]``).

**Violations** go to the agent the domain names responsible (hospital_lab: the acting agent,
except a door held open too long — its opener — and an overdue critical escalation — nobody in
particular: the penalty is split equally over all live agents); without a name, the acting
agent.

``reward_mode="team"``: every agent receives the sum of all agents' individual rewards of the
step (the team's reward).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from labtrust_gym.domain.protocol import RewardSignals
from labtrust_gym.errors import ConfigError, InvalidInputError, did_you_mean

REWARD_MODES = ("individual", "team")


@attrs.frozen
class RewardConfig:
    throughput_reward: float = 1.0
    schedule_reward: float = 0.1
    violation_penalty: float = 0.5
    blocked_penalty: float = 0.1
    step_cost: float = 0.0

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any] | None) -> RewardConfig:
        """Build from a task's ``reward_config``; missing keys take the defaults."""
        if not config:
            return cls()
        values = attrs.asdict(cls())
        for key, value in config.items():
            if key not in values:
                raise InvalidInputError(
                    f"reward_config has unknown key {key!r}; known keys: "
                    f"{', '.join(sorted(values))}.{did_you_mean(str(key), values)}"
                )
            try:
                values[key] = float(value)
            except (TypeError, ValueError):
                raise InvalidInputError(
                    f"reward_config[{key!r}] must be a number, got {value!r}."
                ) from None
        return cls(**values)


#: Used when the env runs without a task (or the task's reward_config is empty); derived from
#: the field defaults of :class:`RewardConfig` so the two cannot drift apart.
DEFAULT_REWARD_CONFIG: dict[str, float] = attrs.asdict(RewardConfig())


def check_reward_mode(mode: str) -> str:
    if mode not in REWARD_MODES:
        raise ConfigError(
            f"reward_mode must be one of {', '.join(REWARD_MODES)}, got {mode!r}."
            f"{did_you_mean(str(mode), REWARD_MODES)}"
        )
    return mode


class RewardAccumulator:
    """Turns one step's engine results into a per-agent reward vector and counters."""

    __slots__ = ("blocked", "cfg", "mode", "released", "scheduled", "signals", "violations")

    def __init__(
        self, cfg: RewardConfig, mode: str = "individual", signals: RewardSignals | None = None
    ) -> None:
        self.cfg = cfg
        self.mode = check_reward_mode(mode)
        self.signals = signals if signals is not None else RewardSignals()
        self.blocked = 0
        self.violations = 0
        self.released = 0
        self.scheduled = 0

    def reset(self) -> None:
        self.blocked = self.violations = self.released = self.scheduled = 0

    def compute(
        self,
        num_agents: int,
        agent_rows: Sequence[int],
        action_types: Sequence[str],
        results: Sequence[Mapping[str, Any]],
        *,
        responsible: Sequence[int | None] | None = None,
        credits: Sequence[Sequence[int]] | None = None,
    ) -> np.ndarray:
        """Rewards for all agents (float64, shape ``(num_agents,)``).

        ``agent_rows[i]`` is the row of the agent whose event produced ``results[i]``.
        ``responsible`` gives, per VIOLATION entry of ``results`` (in order), the row of the
        responsible agent or None (nobody in particular); without it, the acting agent.
        ``credits`` gives, per released result of the step, the rows of its credit trail;
        without it the releasing agent gets the whole reward.
        """
        cfg = self.cfg
        rewards = np.full(num_agents, -abs(cfg.step_cost), dtype=np.float64)
        if results:
            self._events(rewards, agent_rows, action_types, results, responsible, credits)
        if self.mode == "team":
            rewards[:] = rewards.sum()
        return rewards

    def _events(
        self,
        rewards: np.ndarray,
        agent_rows: Sequence[int],
        action_types: Sequence[str],
        results: Sequence[Mapping[str, Any]],
        responsible: Sequence[int | None] | None,
        credits: Sequence[Sequence[int]] | None,
    ) -> None:
        cfg = self.cfg
        thr = cfg.throughput_reward
        sched = cfg.schedule_reward
        viol = abs(cfg.violation_penalty)
        blk = abs(cfg.blocked_penalty)
        n_blocked = n_viol = n_rel = n_sched = 0
        sched_types = self.signals.progress_actions
        release_emits = self.signals.release_emits
        for row, atype, res in zip(agent_rows, action_types, results, strict=True):
            if res.get("status") != "ACCEPTED":
                n_blocked += 1
                rewards[row] -= blk
                continue
            if atype in sched_types:
                n_sched += 1
                rewards[row] += sched
            violations = res.get("violations")
            if violations:
                for v in violations:
                    if v.get("status") != "VIOLATION":
                        continue
                    who = responsible[n_viol] if responsible is not None else row
                    n_viol += 1
                    if who is None:  # nobody's in particular: the team shares it
                        rewards -= viol / len(rewards)
                    else:
                        rewards[who] -= viol
            if credits is None:
                emits = res.get("emits")
                if emits:
                    k = sum(1 for e in emits if _emit_name(e) in release_emits)
                    n_rel += k
                    rewards[row] += thr * k
        if credits is not None:
            for trail in credits:
                n_rel += 1
                if not trail:
                    continue
                share = thr / len(trail)
                for who in trail:
                    rewards[who] += share
        self.blocked += n_blocked
        self.violations += n_viol
        self.released += n_rel
        self.scheduled += n_sched


def _emit_name(emit: Any) -> Any:
    # Emits may be plain names or {"type": name, ...} records, depending on the domain.
    if isinstance(emit, str):
        return emit
    if isinstance(emit, Mapping):
        return emit.get("type") or emit.get("emit") or emit.get("name")
    return None
