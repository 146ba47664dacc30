"""docs/coordination_protocols.md states every parameter with its default and every counter."""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import numpy as np
import pytest

from labtrust_gym.baselines.coordination.protocols import (
    AuctionParams,
    Collusion,
    GossipNetwork,
    GossipParams,
    LossyChannel,
    PaxosLite,
    PaxosParams,
    PheromoneField,
    StigmergyParams,
    SwarmParams,
    run_auction,
    swarm_step,
)
from labtrust_gym.baselines.coordination.protocols.synthetic import make_scene

DOC = (Path(__file__).resolve().parents[3] / "docs" / "coordination_protocols.md").read_text(
    encoding="utf-8"
)


def _section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}.*?(?=^## |\Z)", DOC, re.MULTILINE | re.DOTALL)
    assert match, f"docs/coordination_protocols.md lacks a '## {title}' section"
    return match.group(0)


PARAMS = [
    ("Contract net", AuctionParams),
    ("Gossip", GossipParams),
    ("Paxos-lite", PaxosParams),
    ("Swarm", SwarmParams),
    ("Stigmergy", StigmergyParams),
]


@pytest.mark.parametrize(("title", "cls"), PARAMS, ids=[t for t, _ in PARAMS])
def test_every_parameter_and_default_is_documented(title: str, cls: type) -> None:
    text = _section(title)
    for name, default in attrs.asdict(cls()).items():
        assert f"| `{name}` | `{default!r}` |" in text, f"{title}: row for {name}={default!r}"


def _counters() -> dict[str, set[str]]:
    scene = make_scene(60, 30, seed=0)
    agents, items, graph = scene.agents, scene.items, scene.graph
    ring = Collusion({a.agent_id for a in agents[::5]})
    gossip = GossipNetwork([a.agent_id for a in agents], len(graph.zone_ids))
    zones = [graph.index[a.zone] for a in agents]
    return {
        "Contract net": set(run_auction(agents, items, graph, collusion=ring).counters),
        "Gossip": set(gossip.step(0, zones, np.zeros(len(graph.zone_ids))).counters),
        "Paxos-lite": set(PaxosLite.for_agents([a.agent_id for a in agents]).run_step(
            0, "v").counters),
        "Swarm": set(swarm_step(agents, items, graph).counters),
        "Stigmergy": set(PheromoneField(graph).step(agents, items, 0).counters),
        "Lossy channel": set(LossyChannel().counters()),
    }


@pytest.mark.parametrize("title", ["Contract net", "Gossip", "Paxos-lite", "Swarm", "Stigmergy",
                                   "Lossy channel"])
def test_every_counter_is_documented(title: str) -> None:
    text = _section(title)
    missing = sorted(name for name in _counters()[title] if f"`{name}`" not in text)
    assert not missing, f"{title}: counters not documented: {missing}"
