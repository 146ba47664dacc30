"""``PharmacyEnv``: the pharmacy line's env side — what agents see and can do.

A :class:`~labtrust_gym.domain.simple.SimpleDomainEnv`: the methods below say, per agent, which
actions exist, which events each may send and what the agent observes; the base class turns
them into the catalog, truthful masks (through the line's dry run ``check``), contention,
observations in every mode, reward signals and the metrics inputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from gymnasium import spaces

from labtrust_gym.domain.actions import CatalogEntry
from labtrust_gym.domain.protocol import RewardSignals
from labtrust_gym.domain.simple import EntrySpec, SimpleDomainEnv

ROLES = ("pharmacist", "technician")
#: Order counts an agent sees, by status (the line's work board).
BOARD = ("arrived", "verified", "compounding", "compounded", "released")


class PharmacyEnv(SimpleDomainEnv):
    _seen = 0  # released orders already paid (attribution)
    reward_signals = RewardSignals(
        release_emits=frozenset({"ORDER_RELEASED"}),
        progress_actions=frozenset({"START_COMPOUNDING"}),
    )

    # ------------------------------------------------------------------ who and what
    def lab_agents(self) -> list[tuple[str, str | None]]:
        return [(a, self.adapter.roles[a]) for a in self.adapter.agent_ids]

    @property
    def device_ids(self) -> list[str]:
        return list(self.adapter.hoods)

    def entries(self) -> list[EntrySpec]:
        return [
            EntrySpec("VERIFY_ORDER", "next", "queue",
                      "order_id=the next arrived order within its dose limit (STAT first)"),
            EntrySpec("REJECT_ORDER", "next", "queue",
                      "order_id=the next arrived order over its dose limit; "
                      "reason_code=PHARM.DOSE_LIMIT"),
            *(
                EntrySpec("START_COMPOUNDING", h, "device",
                          f"hood_id={h}, order_id=the next verified order")
                for h in self.adapter.hoods
            ),
            EntrySpec("FINAL_CHECK", "next", "queue",
                      "order_id=the next compounded order this pharmacist did not verify"),
        ]

    def candidates(self, agent_id: str, entry: CatalogEntry) -> Iterator[dict[str, Any]]:
        line, at = self.adapter, entry.action_type
        if at == "TICK":
            yield {"action_type": "TICK", "args": {}}
            return
        status = {"VERIFY_ORDER": "arrived", "REJECT_ORDER": "arrived",
                  "START_COMPOUNDING": "verified", "FINAL_CHECK": "compounded"}[at]
        for order in line.in_status(status):
            args = {"order_id": order.order_id}
            if at == "START_COMPOUNDING":
                args["hood_id"] = entry.target
            event = {"action_type": at, "args": args}
            if at == "REJECT_ORDER":
                event["reason_code"] = "PHARM.DOSE_LIMIT"
            yield event

    @property
    def baseline_priorities(self) -> dict[str, list[str]]:
        """The scripted baseline: check before verifying (finish work first); hoods in order."""
        return {
            "pharmacist": ["FINAL_CHECK@next", "REJECT_ORDER@next", "VERIFY_ORDER@next"],
            "technician": [f"START_COMPOUNDING@{h}" for h in self.adapter.hoods],
        }

    # ------------------------------------------------------------------ what an agent sees
    def observation_fields(self) -> dict[str, spaces.Box]:
        return {
            "role": spaces.Box(0, 1, (len(ROLES),), np.int8),
            "board": spaces.Box(0.0, np.inf, (len(BOARD),), np.float32),
            "stat_waiting": spaces.Box(0.0, np.inf, (1,), np.float32),
            "hoods_busy": spaces.Box(0, 1, (len(self.adapter.hoods),), np.int8),
        }

    def observe_agent(self, agent_id: str) -> dict[str, np.ndarray]:
        line = self.adapter
        statuses = [o.status for o in line.orders.values()]
        return {
            "role": np.array([line.roles[agent_id] == r for r in ROLES], dtype=np.int8),
            "board": np.array([statuses.count(s) for s in BOARD], dtype=np.float32),
            "stat_waiting": np.array(
                [sum(1 for o in line.orders.values()
                     if o.priority == "STAT" and o.status in BOARD[:4])],
                dtype=np.float32,
            ),
            "hoods_busy": np.array([h.order_id is not None for h in line.hoods.values()],
                                   dtype=np.int8),
        }

    # ------------------------------------------------------------------ clock, rewards, metrics
    def clock(self, t: float) -> list[Any]:
        emits: list[Any] = self.adapter.advance_to(t)
        return emits

    def attribution(self) -> tuple[None, list[list[int]]]:
        """A released order pays its verifier, its compounder and its checker equally."""
        released = self.adapter.released
        new, self._seen = released[self._seen :], len(released)
        row = {a: i for i, a in enumerate(self.agent_ids)}
        return None, [[row[a] for a in r["handled_by"]] for r in new]

    def reset(self, initial_state: Any, seed: int) -> list[Any]:
        emits = super().reset(initial_state, seed)
        self._seen = 0
        return emits

    def work_items(self) -> list[dict[str, Any]]:
        return [
            {
                "specimen_id": o.order_id,
                "priority": o.priority,
                "arrival_s": o.arrival_s,
                "released_s": o.released_s,
                "status": o.status,
            }
            for o in self.adapter.orders.values()
            if o.status != "pending"
        ]

    def device_queue_lengths(self) -> dict[str, int]:
        waiting = len(self.adapter.in_status("verified"))
        return dict.fromkeys(self.adapter.hoods, waiting)

    def default_initial_state(self, seed: int) -> dict[str, Any]:
        from pharmacy_domain.lab import build_line

        return build_line(seed)
