"""gossip_consensus checks its runtime invariants explicitly (not with ``assert``, which
``python -O`` strips): a participant without a role is a ConfigError naming the agent."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from labtrust_gym.baselines.coordination.methods.gossip_consensus import GossipConsensus
from labtrust_gym.errors import ConfigError


def test_a_participant_without_a_role_is_a_config_error_naming_it() -> None:
    method = SimpleNamespace(
        rows=[0],
        layout=SimpleNamespace(agent_role=[None], agent_ids=["runner_9"]),
        router=SimpleNamespace(entry_for=None),
    )
    view = SimpleNamespace(zone=[0])
    with pytest.raises(ConfigError, match="'runner_9' takes part but has no role"):
        GossipConsensus._work_here(method, view, [])  # type: ignore[arg-type]
