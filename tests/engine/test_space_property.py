"""Property: whatever moves agents try, zones never hold more than their capacity, occupancy is
the count of agents in each zone, and no doorway is crossed both ways (by different agents) or
beyond its lanes at one instant; a refused move changes nothing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from labtrust_gym.engine.core import HospitalLabEngine
from labtrust_gym.engine.initial_state import default_initial_state

AGENTS = [
    ("r0", "runner", "Z_SORTING"),
    ("r1", "runner", "Z_SORTING"),
    ("r2", "runner", "Z_PREANALYTICS"),
    ("r3", "runner", "Z_ANALYZER_HALL_A"),
    ("o0", "ops", "Z_ANALYZER_HALL_A"),
    ("o1", "ops", "Z_ALIQUOT"),
]


@settings(max_examples=80, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.integers(0, len(AGENTS) - 1), st.integers(0, 3), st.booleans()),
        max_size=60,
    )
)
def test_space_is_never_overcommitted(steps: list[tuple[int, int, bool]]) -> None:
    state = default_initial_state(n_specimens=0)
    state["agents"] = [{"agent_id": a, "role": r, "zone_id": z} for a, r, z in AGENTS]
    state["zone_capacity"] = {"Z_SORTING": 2, "Z_PREANALYTICS": 2, "Z_ANALYZER_HALL_A": 2,
                              "Z_ALIQUOT": 1, "Z_CENTRIFUGE_BAY": 1}
    eng = HospitalLabEngine()
    eng.reset(state)
    t = 0
    crossings: dict[tuple[str, str], set[str]] = {}
    for who, pick, next_instant in steps:
        if next_instant:
            t += 10
            crossings = {}
        agent = AGENTS[who][0]
        here = eng.agents[agent].zone_id
        nbrs = sorted(eng.policy.neighbors[here])
        to = nbrs[pick % len(nbrs)]
        before = eng.snapshot()
        ev = {"t_s": t, "agent_id": agent, "action_type": "MOVE", "args": {"to_zone": to}}
        res = eng.step(ev)
        if res["status"] == "BLOCKED":
            after = eng.snapshot()
            before.pop("now_s")
            after.pop("now_s")
            assert before == after
            continue
        crossings.setdefault((here, to), set()).add(agent)
        counts = [0] * len(eng.zone_ids)
        for rec in eng.agents.values():
            counts[eng.zone_index[rec.zone_id]] += 1
        assert counts == eng.zone_occupancy
        assert all(o <= c for o, c in zip(counts, eng.zone_capacity, strict=True))
        for (a, b), movers in crossings.items():
            back = crossings.get((b, a), set())
            assert not back or (movers == back and len(movers) == 1)  # a lone agent's return
            assert len(movers) <= 1 or eng.edge_lanes[eng.policy.edges[a][b][0]] >= len(movers)
