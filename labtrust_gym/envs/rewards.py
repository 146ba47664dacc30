"""Per-agent rewards from a task's ``reward_config``.

Keys (all optional; unknown keys are rejected so a typo cannot silently zero a reward):

``throughput_reward``   per result released by the agent's accepted event (emit RESULT_RELEASED)
``schedule_reward``     per accepted QUEUE_RUN / START_RUN issued by the agent
``violation_penalty``   per invariant result with status ``VIOLATION`` caused by the agent's event
                        (a ``PASS`` result is not a violation)
``blocked_penalty``     per BLOCKED event of the agent
``step_cost``           charged to every live agent every step (default 0)

Penalties and ``step_cost`` are magnitudes: they are always subtracted, whatever their sign in
the config, because tasks in the wild write them both as ``0.5`` and ``-0.5``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from labtrust_gym.errors import InvalidInputError, did_you_mean

_SCHEDULE_ACTIONS = frozenset({"QUEUE_RUN", "START_RUN"})
#: Emits that count as one released result (hospital_lab emits RESULT_RELEASED; the action name
#: is accepted too for domains that echo it).
RELEASE_EMITS = frozenset({"RESULT_RELEASED", "RELEASE_RESULT"})


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


class RewardAccumulator:
    """Turns one step's engine results into a per-agent reward vector and counters."""

    __slots__ = ("blocked", "cfg", "released", "scheduled", "violations")

    def __init__(self, cfg: RewardConfig) -> None:
        self.cfg = cfg
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
    ) -> np.ndarray:
        """Rewards for all agents (float64, shape ``(num_agents,)``).

        ``agent_rows[i]`` is the row of the agent whose event produced ``results[i]``.
        """
        cfg = self.cfg
        rewards = np.full(num_agents, -abs(cfg.step_cost), dtype=np.float64)
        if not results:
            return rewards
        thr = cfg.throughput_reward
        sched = cfg.schedule_reward
        viol = abs(cfg.violation_penalty)
        blk = abs(cfg.blocked_penalty)
        n_blocked = n_viol = n_rel = n_sched = 0
        sched_types = _SCHEDULE_ACTIONS
        for row, atype, res in zip(agent_rows, action_types, results, strict=True):
            if res.get("status") != "ACCEPTED":
                n_blocked += 1
                rewards[row] -= blk
                continue
            r = 0.0
            if atype in sched_types:
                n_sched += 1
                r += sched
            emits = res.get("emits")
            if emits and ("RESULT_RELEASED" in emits or not isinstance(emits[0], str)):
                k = sum(1 for e in emits if _emit_name(e) in RELEASE_EMITS)
                n_rel += k
                r += thr * k
            elif emits and "RELEASE_RESULT" in emits:
                n_rel += 1
                r += thr
            violations = res.get("violations")
            if violations:
                k = sum(1 for v in violations if v.get("status") == "VIOLATION")
                n_viol += k
                r -= viol * k
            if r:
                rewards[row] += r
        self.blocked += n_blocked
        self.violations += n_viol
        self.released += n_rel
        self.scheduled += n_sched
        return rewards


def _emit_name(emit: Any) -> Any:
    # Emits may be plain names or {"type": name, ...} records, depending on the domain.
    if isinstance(emit, str):
        return emit
    if isinstance(emit, Mapping):
        return emit.get("type") or emit.get("emit") or emit.get("name")
    return None
