"""The action contract: constants, validation, and that it imports nothing heavy."""

from __future__ import annotations

import subprocess
import sys

import pytest

from labtrust_gym.envs import action_contract as ac
from labtrust_gym.errors import InvalidInputError


def test_indices_are_the_published_contract() -> None:
    assert (
        ac.ACTION_NOOP,
        ac.ACTION_TICK,
        ac.ACTION_QUEUE_RUN,
        ac.ACTION_MOVE,
        ac.ACTION_OPEN_DOOR,
        ac.ACTION_START_RUN,
    ) == (0, 1, 2, 3, 4, 5)
    assert ac.NUM_ACTIONS == 6
    assert [ac.ACTION_INDEX_BY_NAME[n] for n in ac.ACTION_NAMES] == list(range(6))


def test_import_pulls_no_numpy_gymnasium_or_engine() -> None:
    code = (
        "import sys\n"
        "from labtrust_gym.envs.action_contract import ACTION_NOOP, ACTION_START_RUN\n"
        "import labtrust_gym.envs\n"
        "heavy = [m for m in ('numpy', 'gymnasium', 'pettingzoo', 'labtrust_gym.engine') "
        "if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        (3, 3),
        ({"action_index": 5}, 5),
        ({"action_type": "MOVE", "args": {"to_zone": "Z_SORTING"}}, 3),
        ({"action_index": 0, "action_type": "NOOP"}, 0),
        ({"action_type": "RELEASE_RESULT", "args": {"result_id": "R_S1"}}, 1),
    ],
)
def test_action_index_of(action: object, expected: int) -> None:
    assert ac.action_index_of(action) == expected


@pytest.mark.parametrize("bad", [-1, 2.5, "3", {"args": {}}, None])
def test_invalid_actions_are_refused_with_a_message(bad: object) -> None:
    with pytest.raises(InvalidInputError, match=r"[Aa]ction"):
        ac.action_index_of(bad)


def test_the_catalog_size_bounds_indices_and_entry_names_resolve_later() -> None:
    assert ac.action_index_of(40) == 40  # a lab's catalog goes beyond the bare 0..5
    with pytest.raises(InvalidInputError, match=r"out of range; use 0\.\.56"):
        ac.action_index_of(57, num_actions=57)
    assert ac.action_index_of({"entry": "MOVE@Z_SORTING"}) == -1  # the env resolves names
    with pytest.raises(InvalidInputError, match="entry"):
        ac.validate_action_dict({"entry": 3})


def test_catalog_names_and_lookup() -> None:
    entries = [
        ac.CatalogEntry(0, "NOOP", "NOOP", None, "bare", ""),
        ac.CatalogEntry(1, "MOVE@Z_SORTING", "MOVE", "Z_SORTING", "zone", "to_zone=Z_SORTING"),
    ]
    cat = ac.ActionCatalog(entries)
    assert len(cat) == 2 and cat[1].target == "Z_SORTING" and "MOVE@Z_SORTING" in cat
    assert cat.index("MOVE@Z_SORTING") == 1 and cat.of_type("MOVE") == [1]
    assert ac.split_entry_name(cat[1].name) == ("MOVE", "Z_SORTING")
    assert ac.entry_name("MOVE", "Z_SORTING") == "MOVE@Z_SORTING"
    with pytest.raises(InvalidInputError, match="Did you mean 'MOVE@Z_SORTING'"):
        cat.index("MOVE@Z_SORTIN")
    assert cat.to_list()[1]["args"] == "to_zone=Z_SORTING"


def test_action_dict_typos_are_named() -> None:
    with pytest.raises(InvalidInputError, match=r"reason_cod.*Did you mean 'reason_code'"):
        ac.validate_action_dict({"action_index": 1, "reason_cod": "X"}, agent_id="ops_0")
    with pytest.raises(InvalidInputError, match="token_refs"):
        ac.validate_action_dict({"action_index": 3, "token_refs": "T1"})
    with pytest.raises(InvalidInputError, match="args"):
        ac.validate_action_dict({"action_index": 3, "args": ["Z_SORTING"]})
    ac.validate_action_dict(ac.noop_action())  # the canonical no-op is valid
