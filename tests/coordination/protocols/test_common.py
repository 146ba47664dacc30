"""The shared records and helpers: zone graph distances, local work assignment, parameters."""

from __future__ import annotations

import attrs
import pytest

from labtrust_gym.baselines.coordination.protocols import (
    AuctionParams,
    GossipParams,
    PaxosParams,
    StigmergyParams,
    SwarmParams,
)
from labtrust_gym.baselines.coordination.protocols.common import (
    UNREACHABLE,
    ZoneGraph,
    assign_local_work,
    group_indices_by_zone,
    pick_weighted,
    seeded_rng,
)
from labtrust_gym.errors import InvalidInputError

from .helpers import agent, item, line_graph

PARAM_RECORDS = [AuctionParams, GossipParams, PaxosParams, SwarmParams, StigmergyParams]


def test_zone_graph_bfs_distances_and_order() -> None:
    g = ZoneGraph.from_adjacency(
        ["A", "B", "C", "D", "E"], {"A": ["B"], "C": ["B"], "D": ["C", "A"]}
    )
    assert g.neighbours == ((1, 3), (0, 2), (1, 3), (0, 2), ())  # undirected, sorted
    assert g.dist[0] == (0, 1, 2, 1, UNREACHABLE)
    assert g.dist[4] == (UNREACHABLE, UNREACHABLE, UNREACHABLE, UNREACHABLE, 0)
    assert g.by_distance[0] == (0, 1, 3, 2)  # distance, then index; E unreachable
    assert g.zone_index("C") == 2


def test_zone_graph_rejects_bad_input() -> None:
    with pytest.raises(InvalidInputError, match="Did you mean 'Z1'"):
        line_graph(3).zone_index("Z11")
    with pytest.raises(InvalidInputError, match="neighbour must be another zone"):
        ZoneGraph(["A", "B"], [[1], [5]])
    with pytest.raises(InvalidInputError, match="repeated"):
        ZoneGraph(["A", "A"], [[], []])
    with pytest.raises(InvalidInputError, match="unknown zone 'X'"):
        ZoneGraph.from_adjacency(["A"], {"A": ["X"]})
    with pytest.raises(InvalidInputError, match="load=-1"):
        agent("a", "Z0", load=-1)
    with pytest.raises(InvalidInputError, match="Agent 1 stands in unknown zone"):
        group_indices_by_zone(["Z0", "nowhere"], line_graph(2), "Agent")


def test_assign_local_work_by_id_service_order_and_capability() -> None:
    g = line_graph(2)
    agents = [agent("b", "Z0", caps=("qc",)), agent("a", "Z0"), agent("c", "Z1")]
    items = [
        item("routine", "Z0"),
        item("stat", "Z0", priority=2),
        item("qc_only", "Z0", priority=2, deadline=1.0, cap="qc"),
        item("far", "Z1", cap="qc"),
    ]
    taken, left = assign_local_work(
        agents, group_indices_by_zone([a.zone for a in agents], g, "Agent"),
        items, group_indices_by_zone([w.zone for w in items], g, "Work item"),
    )
    # "a" (first by id) cannot do qc: it takes the STAT item; "b" takes the qc item (earlier
    # deadline beats the routine one); "c" cannot do the qc item in its zone
    assert taken == {1: 1, 0: 2}
    assert left == [[0], [3]]


def test_pick_weighted() -> None:
    assert pick_weighted([3, 5, 7], [1.0, 2.0, 2.0], 0.0, greedy=True) == 5  # tie -> first
    assert pick_weighted([3, 5], [1.0, 3.0], 0.24, greedy=False) == 3
    assert pick_weighted([3, 5], [1.0, 3.0], 0.26, greedy=False) == 5


@pytest.mark.parametrize("cls", PARAM_RECORDS, ids=lambda c: c.__name__)
def test_params_reject_unknown_keys_and_bad_values(cls: type) -> None:
    defaults = attrs.asdict(cls())
    assert cls.from_mapping(defaults) == cls()
    with pytest.raises(InvalidInputError, match=r"Unknown .* parameter 'nosuch'"):
        cls.from_mapping({"nosuch": 1})
    numeric = next(k for k, v in defaults.items() if isinstance(v, int | float))
    with pytest.raises(InvalidInputError, match=f"Parameter {numeric}=-1"):
        cls.from_mapping({numeric: -1})


def test_seeded_rng_is_keyed_and_checked() -> None:
    assert seeded_rng(3, 4).random() == seeded_rng(3, 4).random()
    assert seeded_rng(3, 4).random() != seeded_rng(3, 5).random()
    with pytest.raises(InvalidInputError, match=">= 0"):
        seeded_rng(-1)
