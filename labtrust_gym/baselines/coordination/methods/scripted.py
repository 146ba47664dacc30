"""``scripted``: the scripted baseline's role scripts, as a coordination method.

The same :class:`~labtrust_gym.baselines.scripted.ScriptedLabController` that drives every lab
agent when no method is given, reading the lab through a :class:`ViewBoard` — the coordination
view (masks, zones, device boards, ready work, work-list counts, the clock) instead of the env —
so it observes exactly what any other method observes. What the view does not show, it does
without: no inspection previews (problem specimens are held, never rejected), no STAT check at a
batch device's queue head, no release review delay. Routing uses the floor's BFS table without
restricted zones.

Known weakness: fixed role scripts — operators are statically assigned to device zones (shared
when there are fewer operators than zones) and the many idle agents of a large lab never help;
it plans nothing about space, so moves into the last free cell or through a busy doorway are
left to the engine's contention.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labtrust_gym.baselines.coordination.toolkit import CoordinationView, ToolkitMethod
from labtrust_gym.baselines.scripted import ScriptedLabController


class ViewBoard:
    """The role scripts' board over a :class:`CoordinationView` (see the module docstring)."""

    def __init__(self, method: ToolkitMethod) -> None:
        self.view = method.view
        self.layout = method.layout
        _dist, self._hop = method.routes.table(None)

    def zones(self) -> list[int]:
        return self.view.zone

    def mask(self, agent_id: str, row: int) -> bytes:
        return self.view.ok[row]

    def devices(self) -> tuple[list[int], list[int], list[int], list[int], list[int]]:
        v = self.view
        fault = [int(d and not q) for d, q in zip(v.down, v.qc_failed, strict=True)]
        return fault, v.queue_len, v.busy, v.qc_failed, v.reagent

    def ready(self) -> list[int]:
        return [self.view.ready[t] for t in self.layout.device_type_ids]

    def now(self) -> float:
        return self.view.t_s

    def next_hop(self, zone: int, target: int) -> int:
        return self._hop[zone][target]

    def resolve(self, agent_id: str, entry: int) -> dict[str, Any] | None:
        return None  # previews are the env's; a method sees masks only

    def stat_at_head(self, device_id: str) -> bool:
        return False

    def upstream(self) -> bool:
        counts = self.view.counts
        return bool(
            counts.get("to_accession") or counts.get("to_accept") or any(self.view.ready.values())
        )


class ScriptedMethod(ToolkitMethod):
    ID = "scripted"

    def on_reset(self) -> None:
        lay = self.layout
        self.view = CoordinationView(lay)
        driven = [lay.agent_ids[row] for row in self.view.rows]
        self.controller = ScriptedLabController(driven)
        self.controller.attach(lay, ViewBoard(self), self.seed, self.policy_root)

    def propose_actions(
        self, obs: Mapping[str, Any], infos: Mapping[str, Any], t: int
    ) -> dict[str, Any]:
        self.observe(obs, infos, t)
        actions: dict[str, Any] = self.controller.act(obs, infos, t)
        self.counters.planning_work += len(self.controller.controlled)
        return actions


def factory(
    policy: dict[str, Any],
    repo_root: Path | None,
    scale_config: Mapping[str, Any] | None,
    params: dict[str, Any],
) -> ScriptedMethod:
    return ScriptedMethod(policy, repo_root, scale_config, params)
