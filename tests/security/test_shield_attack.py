"""ATK-SHIELD-001: forbidden proposals of a coordination method are blocked by the shield and
never reach the engine; with the shield switched off the same attack fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from labtrust_gym.benchmarks.shield import Shield
from labtrust_gym.benchmarks.shield_attack import forbidden_proposals
from labtrust_gym.config import get_repo_root


def _ctx(tmp_path: Path) -> dict[str, Any]:
    return {"policy_root": str(get_repo_root()), "seed": 3, "workdir": str(tmp_path)}


def test_every_forbidden_proposal_is_blocked_before_the_engine(tmp_path: Path) -> None:
    out = forbidden_proposals(_ctx(tmp_path))
    # the decoy form (a valid entry, a decoy arg beside the real to_zone) is refused as malformed
    assert out["blocked_codes"] == ["SHIELD.INVALID_ACTION", "SHIELD.MASKED"], out["note"]
    assert "MOVE, RELEASE_RESULT, START_RUN" in out["note"]
    assert out["note"].endswith("; 0 events of the probed agents reached the engine")


def test_without_the_shield_the_attack_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_shield(self: Shield, actions: Any, guarded: Any = None) -> dict[str, Any]:
        self.step_blocks = []
        self.verdicts = {}
        return dict(actions)

    monkeypatch.setattr(Shield, "check", no_shield)
    out = forbidden_proposals(_ctx(tmp_path))
    assert out["blocked_codes"] == []
    assert "; 0 blocked by the shield" in out["note"]
    assert "; 0 events of the probed agents" not in out["note"]  # the engine saw (and refused) them


def test_the_suite_lists_the_attack_as_smoke() -> None:
    from labtrust_gym.security.attack_suite import load_allowlist, load_suite

    suite = load_suite(get_repo_root())
    attack = next(a for a in suite["attacks"] if a["attack_id"] == "ATK-SHIELD-001")
    assert attack["smoke"] and attack["expected_outcome"]["reason_code"] == "SHIELD.MASKED"
    assert attack["callable"]["name"] in load_allowlist(get_repo_root())
