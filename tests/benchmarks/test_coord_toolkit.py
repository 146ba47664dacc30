"""The coordination toolkit's parts, on a real lab: layout, routes, view, work list, claims."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labtrust_gym.baselines.coordination.methods.hierarchical_hub_rr import regions_of
from labtrust_gym.baselines.coordination.methods.kernel_whca import Reservations
from labtrust_gym.baselines.coordination.toolkit import (
    FAR,
    AgentPool,
    AgeTracker,
    ClaimSet,
    CoordinationView,
    LabLayout,
    Router,
    Routes,
    WorkItem,
    WorkModel,
    assign_by_distance,
    resolve_claims,
    submission,
)
from labtrust_gym.benchmarks.builtin_tasks import CoordScale
from labtrust_gym.benchmarks.coord_metrics import gini
from labtrust_gym.envs import LabTrustParallelEnv


@pytest.fixture(scope="module")
def lab() -> tuple[LabTrustParallelEnv, LabLayout, Any, Any]:
    task = CoordScale()
    task.scale_config = "small_smoke"
    env = LabTrustParallelEnv(task=task, initial_state=task.get_initial_state(0))
    obs, infos = env.reset(seed=0)
    return env, LabLayout.from_env(env), obs, infos


def test_layout_names_the_catalog_entries_methods_use(lab: Any) -> None:
    env, layout, _obs, _infos = lab
    cat = env.action_catalog
    z = layout.zone_index["Z_SORTING"]
    assert cat[layout.move[z]].name == "MOVE@Z_SORTING"
    assert cat[layout.start_run[0]].name == f"START_RUN@{layout.device_ids[0]}"
    assert cat[layout.queue["RELEASE_RESULT"]].name == "RELEASE_RESULT@next"
    # the coord_scale lab's device rooms hold two agents per device
    d = layout.device_zone[0]
    assert layout.capacity[d] == 2 * layout.device_zone.count(d)


def test_routes_are_bfs_over_the_roles_zones(lab: Any) -> None:
    _env, layout, _obs, _infos = lab
    routes = Routes(layout)
    zi = layout.zone_index
    dist, hop = routes.table("runner")
    assert dist[zi["Z_INGRESS"]][zi["Z_ANALYZER_HALL_B"]] == 5  # ingress-rec-acc-sort-A-B
    assert hop[zi["Z_INGRESS"]][zi["Z_ANALYZER_HALL_B"]] == zi["Z_RECEPTION"]
    # reception may not enter the analyzer halls; nobody plans into the restricted suite
    r_dist, _ = routes.table("reception")
    assert r_dist[zi["Z_RECEPTION"]][zi["Z_ANALYZER_HALL_A"]] == FAR
    assert dist[zi["Z_AIRLOCK"]][zi["Z_RESTRICTED_BIOHAZARD"]] == FAR
    assert routes.by_distance["runner"][zi["Z_SORTING"]][0] == zi["Z_SORTING"]


def test_view_reads_zones_masks_boards_and_work(lab: Any) -> None:
    env, layout, obs, infos = lab
    view = CoordinationView(layout)
    view.update(obs, infos, 0)
    for row, aid in enumerate(layout.agent_ids):
        assert layout.zone_ids[view.zone[row]] == infos[aid]["zone_id"]
        assert view.ok[row] == obs[aid]["action_mask"].tobytes()
    assert sum(view.occupancy) == len(layout.agent_ids)
    assert view.counts["to_accession"] == env.engine.work_counts()[0] > 0  # the backlog
    assert view.ages["to_accession"].oldest() == 0.0


def test_work_model_lists_the_labs_work(lab: Any) -> None:
    _env, layout, obs, infos = lab
    view = CoordinationView(layout)
    view.update(obs, infos, 0)
    items = WorkModel(layout).items(view)
    accession = next(it for it in items if it.key == "q:CREATE_ACCESSION")
    assert accession.roles == frozenset({"reception"})
    assert accession.slots == view.counts["to_accession"]
    assert {layout.zone_ids[z] for z in accession.zones} == {"Z_RECEPTION", "Z_ACCESSIONING"}
    # nothing is accepted yet: no device work
    assert not [it for it in items if it.kind in ("start", "queue")]


def test_batch_devices_fill_one_batch_at_a_time(lab: Any) -> None:
    _env, layout, obs, infos = lab
    view = CoordinationView(layout)
    view.update(obs, infos, 0)
    centrifuges = [d for d, t in enumerate(layout.device_type) if t == "CENTRIFUGE"]
    view.ready["CENTRIFUGE"] = 5
    items = [it for it in WorkModel(layout).items(view) if it.key.startswith("queue:")]
    queued = {it.device: it.slots for it in items if it.device in centrifuges}
    assert sum(queued.values()) == 5 and len(queued) == 1  # one batch, not spread thin


def test_router_walks_then_works(lab: Any) -> None:
    _env, layout, obs, infos = lab
    view = CoordinationView(layout)
    view.update(obs, infos, 0)
    routes = Routes(layout)
    router = Router(layout, routes)
    row = layout.agent_row["ops_0"]
    hall_b = layout.zone_index["Z_ANALYZER_HALL_B"]
    first = router.step_toward(view, row, hall_b)
    _dist, hop = routes.table("ops")
    assert first == layout.move[hop[view.zone[row]][hall_b]]
    item = WorkItem("x", "start", layout.start_run[0], (layout.device_zone[0],),
                    frozenset({"ops"}), 1, 0.0, 0.0)
    assert router.act_on(view, row, item) == router.step_toward(view, row, layout.device_zone[0])


def test_pool_assigns_nearest_agents_and_respects_free_cells(lab: Any) -> None:
    _env, layout, obs, infos = lab
    view = CoordinationView(layout)
    view.update(obs, infos, 0)
    routes = Routes(layout)
    hall_a = layout.zone_index["Z_ANALYZER_HALL_A"]
    item = WorkItem("w", "queue", 0, (hall_a,), frozenset({"ops", "runner"}), 3, 0.0, 0.0)
    pool = AgentPool(layout, routes, {})
    pool.fill(view, view.rows)
    pairs = assign_by_distance(pool, [item], walkers=3)
    assert len(pairs) == 2  # the two operators of the smoke lab
    room = [0] * len(layout.zone_ids)
    pool = AgentPool(layout, routes, {})
    pool.fill(view, view.rows)
    assert assign_by_distance(pool, [item], walkers=3, room=room) == []  # no free cell: nobody


def test_claims_and_resolution_by_rank() -> None:
    item = WorkItem("q:RELEASE_RESULT", "result", 7, (), frozenset({"qc"}), 1, 0.0, 0.0)
    claims = ClaimSet([item])
    subs = {
        3: submission(7, "q:RELEASE_RESULT", (1, 0)),
        1: submission(7, "q:RELEASE_RESULT", (2, 0)),
        2: submission(None),
    }
    chosen, refused = resolve_claims(claims, subs)
    assert chosen == {3: 7} and refused == 1
    assert not ClaimSet().take("anything")


def test_age_tracker_is_fifo_over_counts() -> None:
    ages = AgeTracker()
    ages.update(2, 10.0)
    ages.update(5, 20.0)
    assert ages.oldest() == 10.0
    ages.update(2, 30.0)  # three done: both t=10 items and one t=20 item
    assert ages.oldest() == 20.0
    ages.update(0, 40.0)
    assert ages.oldest() is None


def test_gini() -> None:
    assert gini([]) == 0.0 and gini([0, 0]) == 0.0
    assert gini([1, 1, 1, 1]) == 0.0
    assert gini([0, 0, 0, 4]) == pytest.approx(0.75)


def test_regions_are_contiguous_runs_of_the_bfs_order(lab: Any) -> None:
    _env, layout, _obs, _infos = lab
    region = regions_of(layout.neighbors, 3)
    assert sorted(set(region)) == [0, 1, 2]
    assert region[0] == 0 and region[layout.zone_index["Z_WASTE"]] == 2


@settings(max_examples=60, deadline=None)
@given(moves=st.lists(st.tuples(st.integers(0, 13), st.integers(0, 3)), max_size=40))
def test_reservations_never_overfill_a_zone_nor_cross_a_doorway_both_ways(
    moves: list[tuple[int, int]],
) -> None:
    """Whatever is reserved through ``fits``, holds stay within capacity and no edge carries
    both directions at one transition (the kernel_whca guarantee, over random requests)."""
    task = CoordScale()
    task.scale_config = "small_smoke"
    layout = _layout_of(task)
    table = Reservations(layout, [0] * len(layout.zone_ids), 2)
    for zone, pick in moves:
        nbrs = layout.neighbors[zone]
        to = nbrs[pick % len(nbrs)] if pick else zone
        if table.fits(0, zone, to) is None:
            table.add(zone, [to, to])
    for k in range(2):
        assert all(h <= c for h, c in zip(table.hold[k], layout.capacity, strict=True))
        for (a, b), n in table.flow[k].items():
            assert n <= layout.lanes.get((a, b), 1) and not table.flow[k].get((b, a), 0)


_LAYOUTS: dict[str, LabLayout] = {}


def _layout_of(task: CoordScale) -> LabLayout:
    if "smoke" not in _LAYOUTS:
        env = LabTrustParallelEnv(task=task, initial_state=task.get_initial_state(0))
        env.reset(seed=0)
        _LAYOUTS["smoke"] = LabLayout.from_env(env)
    return _LAYOUTS["smoke"]


def test_tally_counts_conflicts_idle_work_and_stale_decisions() -> None:
    from labtrust_gym.benchmarks.coord_metrics import CoordinationTally

    def info(at: str, status: str | None, code: str | None = None, **extra: Any) -> Any:
        res = None if status is None else {"status": status, "blocked_reason_code": code}
        return {"action_type": at, "step_result": res, "contended": False, "lab": lab, **extra}

    lab = {"contended": {"c": "ZONE.SWAP"}}
    tally = CoordinationTally(["a", "b", "c", "d"])
    tally.observe(
        {
            "a": info("MOVE", "BLOCKED", "ZONE.AT_CAPACITY"),
            "b": info("START_RUN", "ACCEPTED"),
            "c": info("NOOP", None, contended=True),
            "d": info("TICK", "ACCEPTED"),
        }
    )
    m = tally.metrics(2, {"replans": 3, "planning_work": 10})
    assert (m["coord_cell_conflicts"], m["coord_swap_conflicts"]) == (1, 1)
    assert m["coord_idle_rate"] == 3 / 4  # blocked, contended, TICK
    assert m["coord_stale_decision_rate"] == 2 / 4  # blocked + contended of 4 decisions
    assert m["coord_work_gini"] == pytest.approx(0.75)  # b did all the work
    assert m["coord_released_per_agent"] == 0.5 and m["coord_replans"] == 3
    assert m["coord_messages_sent"] is None  # not reported: never a made-up 0
    assert m["coord_planning_work_per_step"] == 10.0
