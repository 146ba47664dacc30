"""The five protocol-based coordination methods driven directly on a small lab: collusion hook,
message counts, determinism in the seed, refusal of unknown parameters."""

from __future__ import annotations

from typing import Any

import pytest

from labtrust_gym.baselines.coordination.builtin_plugin import FACTORIES
from labtrust_gym.baselines.coordination.toolkit import LabLayout
from labtrust_gym.benchmarks.builtin_tasks import CoordScale
from labtrust_gym.envs import LabTrustParallelEnv
from labtrust_gym.errors import InvalidInputError

PROTOCOL_METHODS = (
    "market_auction",
    "gossip_consensus",
    "consensus_paxos_lite",
    "swarm_reactive",
    "swarm_stigmergy_priority",
)
#: the methods whose protocol sends messages over the lossy channel
LOSSY = ("gossip_consensus", "consensus_paxos_lite")


def _lab(scale: str = "small_smoke") -> tuple[LabTrustParallelEnv, LabLayout]:
    task = CoordScale()
    task.scale_config = scale
    env = LabTrustParallelEnv(task=task, initial_state=task.get_initial_state(0))
    env.reset(seed=0)
    return env, LabLayout.from_env(env)


@pytest.fixture(scope="module")
def lab() -> tuple[LabTrustParallelEnv, LabLayout]:
    return _lab()


def _build(method_id: str, layout: LabLayout, **params: Any) -> Any:
    return FACTORIES[method_id]({"lab": layout}, None, None, params)


def _drive(
    env: LabTrustParallelEnv, method: Any, steps: int, seed: int = 0,
    method_seed: int | None = None,
) -> list[dict]:
    """Run ``steps`` steps; returns every step's chosen actions (masked-in entries only)."""
    obs, infos = env.reset(seed=seed)
    method.reset(seed if method_seed is None else method_seed, {"lab": method.layout}, None)
    chosen = []
    for t in range(steps):
        acts = method.propose_actions(obs, infos, t)
        for aid, e in acts.items():
            assert obs[aid]["action_mask"][e] == 1, (aid, e)
        chosen.append(dict(sorted(acts.items())))
        obs, _r, _term, _trunc, infos = env.step({a: acts.get(a, 0) for a in env.agents})
    return chosen


@pytest.mark.parametrize("method_id", PROTOCOL_METHODS)
def test_same_seed_same_actions(lab: Any, method_id: str) -> None:
    env, layout = lab
    first = _drive(env, _build(method_id, layout), 30, seed=3)
    second = _drive(env, _build(method_id, layout), 30, seed=3)
    assert first == second
    assert any(first)  # it acts


@pytest.mark.parametrize("method_id", PROTOCOL_METHODS)
def test_unknown_parameter_is_refused(lab: Any, method_id: str) -> None:
    _env, layout = lab
    with pytest.raises(InvalidInputError, match=r"Unknown .* parameter 'bogus'"):
        _build(method_id, layout, bogus=1)


def test_auction_reports_ring_awards_and_welfare_and_can_clear_the_ring(lab: Any) -> None:
    env, layout = lab
    honest = _build("market_auction", layout)
    _drive(env, honest, 40)
    assert honest.coordination_report()["colluder_awards"] == 0
    assert honest.coordination_report()["welfare_loss"] == 0.0
    assert honest.coordination_report()["messages_sent"] > 0
    ring = _build("market_auction", layout)
    ring.set_collusion(layout.agent_ids[:2], scheme="shade", shade=0.9)
    _drive(env, ring, 40)
    report = ring.coordination_report()
    assert report["colluder_awards"] > 0
    assert report["welfare_loss"] != 0.0
    ring.set_collusion([])
    assert ring.collusion is None
    _drive(env, ring, 10)
    assert ring.coordination_report()["colluder_awards"] == 0  # reset, and no ring any more


def test_auction_ring_of_unknown_agents_is_an_error(lab: Any) -> None:
    _env, layout = lab
    method = _build("market_auction", layout)
    with pytest.raises(InvalidInputError, match="Unknown agent 'nobody'"):
        method.set_collusion(["nobody"])
    with pytest.raises(InvalidInputError, match="Unknown collusion scheme"):
        method.set_collusion(layout.agent_ids[:1], scheme="bribe")


@pytest.mark.parametrize("method_id", LOSSY)
def test_lossy_methods_count_messages_sent_and_dropped(lab: Any, method_id: str) -> None:
    env, layout = lab
    method = _build(method_id, layout)
    _drive(env, method, 30)
    report = method.coordination_report()
    assert report["messages_sent"] > report["messages_dropped"] > 0
    lossless = _build(method_id, layout, drop_rate=0.0)
    _drive(env, lossless, 30)
    assert lossless.coordination_report()["messages_dropped"] == 0


def test_paxos_loses_messages_and_then_acts_on_an_older_plan(lab: Any) -> None:
    env, layout = lab
    method = _build("consensus_paxos_lite", layout, drop_rate=0.6)
    _drive(env, method, 30)
    assert method.undecided_steps > 0
    assert method.paxos.safety_violations == 0
    calm = _build("consensus_paxos_lite", layout, drop_rate=0.0, delay_rate=0.0)
    _drive(env, calm, 30)
    assert calm.undecided_steps == 0


@pytest.mark.parametrize("method_id", ["gossip_consensus", "consensus_paxos_lite",
                                       "swarm_reactive", "swarm_stigmergy_priority"])
def test_the_method_seed_drives_its_draws(lab: Any, method_id: str) -> None:
    """Same lab, same env seed: another method seed changes the protocol's draws."""
    env, layout = lab
    params = {"explore": 0.5} if method_id.startswith("swarm") else {}
    reports = []
    for method_seed in (1, 2):
        method = _build(method_id, layout, **params)
        acts = _drive(env, method, 30, seed=0, method_seed=method_seed)
        reports.append((acts, method.coordination_report()))
    assert reports[0] != reports[1]
