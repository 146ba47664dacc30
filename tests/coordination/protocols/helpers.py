"""Small builders for the protocol tests."""

from __future__ import annotations

from labtrust_gym.baselines.coordination.protocols.common import AgentInfo, WorkItem, ZoneGraph


def line_graph(n: int) -> ZoneGraph:
    """Zones Z0 - Z1 - ... - Z{n-1}."""
    return ZoneGraph([f"Z{i}" for i in range(n)], [[i + 1] if i + 1 < n else [] for i in range(n)])


def star_graph(leaves: int) -> ZoneGraph:
    """Zone H joined to L0..L{leaves-1}."""
    return ZoneGraph(["H", *[f"L{i}" for i in range(leaves)]], [list(range(1, leaves + 1))]
                     + [[] for _ in range(leaves)])


def agent(agent_id: str, zone: str, load: float = 0.0, caps: tuple[str, ...] = ()) -> AgentInfo:
    return AgentInfo(agent_id, zone, load, frozenset(caps))


def item(item_id: str, zone: str, priority: int = 0, deadline: float | None = None,
         cap: str | None = None) -> WorkItem:
    return WorkItem(item_id, zone, priority, deadline, cap)
