"""The coordination toolkit: what every built-in method (the protocol methods too) is wired onto.

A method is three stages — **observe** through the coordination view, **decide** who does what
(the method's own algorithm: an assignment, an auction, a vote, a swarm rule), **act** through the
router, which turns "agent X should do item W / go to zone Z" into a catalog entry the agent's mask
allows. Nothing here reads the env or the engine: methods see what an RL agent sees (observations,
infos, masks) plus the static layout.

API (docs/coordination.md has the recipe and an example):

* :class:`LabLayout` — static lab (``policy["lab"]``, built by the runner with
  ``LabLayout.from_env(env)``): zones, neighbours, doors, capacities, lanes, devices, roles (RBAC),
  agents, and catalog indices of the entries methods use (``move[z]``, ``start_run[d]``,
  ``queue_run[d]``, ``run_qc[d]``, ``open_door[door]``, ``queue["RELEASE_RESULT"]``, …).
* :class:`Routes` — BFS shortest paths per role over the zone graph, built once per layout:
  ``dist, next_hop = routes.table(role)``; ``routes.by_distance[role][z]``.
* :class:`CoordinationView` — per step, O(N + devices): ``zone[row]``, ``ok[row]`` (mask bytes;
  ``view.can(row, entry)``), ``occupancy[z]``, device boards (``queue_len``, ``busy``, ``down``,
  ``qc_failed``, ``waiting_since``), ``ready[device_type]``, ``counts[work list]``, ``ages``
  (how long the oldest item of each list has waited), ``contended`` (last step's contention codes).
* :class:`WorkModel` / :class:`WorkItem` — the step's work list: key, entry (+ alternatives),
  zones where it is done, eligible roles, slots, since / estimated deadline.
* :class:`ClaimSet` — ``take(key)`` at most ``slots`` times: two agents never take one unit.
* :class:`AgentPool`, :func:`assign_by_distance`, :func:`assign_in_order` — nearest-agent
  assignment by (role, zone) buckets, never O(N x items).
* :class:`Router` — ``act_on(view, row, item)``, ``step_toward(view, row, zone)``,
  ``hop_entry(view, row, here, next)``, ``entry_for(view, row, item)``.
* :class:`Counters` — what ``coordination_report()`` returns (planning work, replans, conflicts
  avoided, combine conflicts, messages sent/dropped).
* :class:`ToolkitMethod` / :class:`ScaleCapable` — base classes: implement ``decide(view) ->
  {row: entry}`` (and for the scale path ``rank`` or ``submit``/``resolve``);
  :class:`LocalBoard` / :func:`resolve_claims` — the per-agent decision and the claim merge.
"""

from labtrust_gym.baselines.coordination.toolkit.act import Counters, Router, submission
from labtrust_gym.baselines.coordination.toolkit.assign import (
    AgentPool,
    assign_by_distance,
    assign_in_order,
)
from labtrust_gym.baselines.coordination.toolkit.layout import FAR, THREAT_ROLES, LabLayout, Routes
from labtrust_gym.baselines.coordination.toolkit.local import LocalBoard, resolve_claims
from labtrust_gym.baselines.coordination.toolkit.method import (
    ScaleCapable,
    ToolkitMethod,
    lab_layout,
)
from labtrust_gym.baselines.coordination.toolkit.view import (
    WORK_FIELDS,
    AgeTracker,
    CoordinationView,
)
from labtrust_gym.baselines.coordination.toolkit.work import (
    ClaimSet,
    WorkItem,
    WorkModel,
    batch_due,
)

__all__ = [
    "FAR",
    "THREAT_ROLES",
    "WORK_FIELDS",
    "AgeTracker",
    "AgentPool",
    "ClaimSet",
    "CoordinationView",
    "Counters",
    "LabLayout",
    "LocalBoard",
    "Router",
    "Routes",
    "ScaleCapable",
    "ToolkitMethod",
    "WorkItem",
    "WorkModel",
    "assign_by_distance",
    "assign_in_order",
    "batch_due",
    "lab_layout",
    "resolve_claims",
    "submission",
]
