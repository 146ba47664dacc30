"""Every name in docs/public_api.md imports (the seed's contracts stay where plugins expect)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NAMES = re.findall(r"^\| `(labtrust_gym\.[\w.]+)` \|", (REPO / "docs/public_api.md").read_text(),
                   re.MULTILINE)


def test_public_api_lists_names() -> None:
    assert len(NAMES) > 40


@pytest.mark.parametrize("dotted", NAMES)
def test_public_name_imports(dotted: str) -> None:
    module_path, attr = dotted.rsplit(".", 1)
    module = importlib.import_module(module_path)
    assert hasattr(module, attr), f"{module_path} has no {attr}"


def test_action_indices_are_the_seed_contract() -> None:
    from labtrust_gym.envs import action_contract as ac

    assert (ac.ACTION_NOOP, ac.ACTION_TICK, ac.ACTION_QUEUE_RUN, ac.ACTION_MOVE,
            ac.ACTION_OPEN_DOOR, ac.ACTION_START_RUN) == (0, 1, 2, 3, 4, 5)
