"""Bad input: events never raise out of step (BLOCKED with a registered reason code); a malformed
initial_state or policy file raises a LabTrustError naming the file/field at reset."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labtrust_gym.engine.core import HospitalLabEngine
from labtrust_gym.engine.golden import base_state
from labtrust_gym.errors import InvalidInputError, LabTrustError, PolicyError, SchemaValidationError

from .helpers import make_engine

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.sampled_from([2**64, -(2**70)])
    | st.floats(allow_nan=True)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=4) | st.integers(0, 2), inner, max_size=3)
    ),
    max_leaves=8,
)
event_like = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "t_s": json_values,
            "agent_id": st.sampled_from(["ops_0", "x", 3]) | json_values,
            "action_type": st.sampled_from(["TICK", "MOVE", "QUEUE_RUN", "MINT_TOKEN"])
            | json_values,
            "args": json_values,
            "token_refs": json_values,
            "reason_code": json_values,
            "event_id": json_values,
            "key_id": json_values,
            "signature": json_values,
        },
    ),
)


@settings(max_examples=200, deadline=None)
@given(event_like)
def test_step_never_raises_and_blocks_garbage(event: Any) -> None:
    eng = make_engine(base_state())
    res = eng.step(event)
    assert res["status"] in ("ACCEPTED", "BLOCKED")
    if res["status"] == "BLOCKED":
        assert res["blocked_reason_code"] in eng.policy.reason_codes


def test_non_serialisable_args_are_malformed_not_crashes() -> None:
    eng = make_engine(base_state())
    res = eng.step({"t_s": 0, "agent_id": "ops_0", "action_type": "TICK", "args": {"x": object()}})
    assert res["blocked_reason_code"] == "EVENT.MALFORMED"
    assert eng.chain_head()["length"] == 1  # a refusal record (digest; the value is not JSON)


def test_step_before_reset_is_an_error() -> None:
    with pytest.raises(InvalidInputError, match="before reset"):
        HospitalLabEngine().step({"t_s": 0})


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda s: s["agents"][0].update(role="wizard"), "agents/0/role"),
        (lambda s: s["agents"][1].update(zone_id="Z_MOON"), "agents/1/zone_id"),
        (lambda s: s["agents"].append(dict(s["agents"][0])), "agents/6/agent_id"),
        (
            lambda s: s.update(
                arrivals=[
                    {
                        "specimen_id": "S1",
                        "t_s": 0,
                        "priority": "STAT",
                        "panel": "XRAY",
                        "patient_id": "P",
                    }
                ]
            ),
            "arrivals/0/panel",
        ),
        (
            lambda s: s.update(
                arrivals=[{"specimen_id": "S1", "t_s": 0, "panel": "CBC", "patient_id": "P"}]
            ),
            "arrivals/0",
        ),
        (
            lambda s: s.update(
                devices=[{"device_id": "D1", "device_type": "TOASTER", "zone_id": "Z_SORTING"}]
            ),
            "devices/0/device_type",
        ),
        (
            lambda s: s.update(qc_failures=[{"device_id": "DEV_NOPE", "t_s": 5}]),
            "qc_failures/0/device_id",
        ),
        (lambda s: s.update(strict_signatures="yes"), "strict_signatures"),
        (lambda s: s.update(agents=[]), "agents"),
        (lambda s: s.update(tokenz=[]), "top level"),
    ],
)
def test_malformed_initial_state_names_the_field(mutate: Any, field: str) -> None:
    st_ = base_state()
    mutate(st_)
    with pytest.raises(InvalidInputError) as info:
        make_engine(st_)
    assert field in str(info.value)
    assert "initial_state" in str(info.value)


def test_initial_state_must_be_a_mapping() -> None:
    with pytest.raises(InvalidInputError, match="mapping"):
        make_engine([1, 2])  # type: ignore[arg-type]


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    from labtrust_gym.config import get_repo_root, policy_dir

    dst = tmp_path / "policy"
    shutil.copytree(policy_dir(get_repo_root()), dst)
    return dst


def _reset_with(policy: Path) -> None:
    HospitalLabEngine(None, {"policy_root": str(policy)}).reset(base_state())


def test_policy_file_with_bad_field_names_file_and_field(policy_copy: Path) -> None:
    f = policy_copy / "equipment" / "equipment.v0.1.yaml"
    f.write_text(f.read_text().replace("capacity: 8", "capacity: eight"))
    with pytest.raises(SchemaValidationError) as info:
        _reset_with(policy_copy)
    msg = str(info.value)
    assert "equipment.v0.1.yaml" in msg and "device_types/0/capacity" in msg


def test_policy_cross_reference_error_names_file_and_field(policy_copy: Path) -> None:
    f = policy_copy / "rbac" / "rbac_policy.v0.1.yaml"
    f.write_text(
        f.read_text().replace(
            "allowed_actions: [NOOP, TICK, MOVE, OPEN_DOOR, CLOSE_DOOR]",
            "allowed_actions: [NOOP, TICK, TELEPORT]",
        )
    )
    with pytest.raises(PolicyError) as info:
        _reset_with(policy_copy)
    assert "rbac_policy.v0.1.yaml" in str(info.value) and "TELEPORT" in str(info.value)


def test_missing_and_unparsable_policy_files(policy_copy: Path) -> None:
    # A layer holds only what it changes: a file missing from it is read from the shipped policy.
    (policy_copy / "tokens" / "token_types.v0.1.yaml").unlink()
    _reset_with(policy_copy)
    shutil.copy(
        policy_copy / "sites" / "sites.v0.1.yaml", policy_copy / "tokens" / "token_types.v0.1.yaml"
    )
    with pytest.raises(LabTrustError, match=r"token_types\.v0\.1\.yaml"):
        _reset_with(policy_copy)
    shutil.copy(
        policy_copy / "sites" / "sites.v0.1.yaml", policy_copy / "tokens" / "token_types.v0.1.yaml"
    )
    (policy_copy / "zones" / "zone_layout.v0.1.yaml").write_text("zones: [unclosed\n")
    with pytest.raises(LabTrustError, match=r"zone_layout\.v0\.1\.yaml"):
        _reset_with(policy_copy)


def test_unknown_query_and_unknown_id_are_errors() -> None:
    eng = make_engine(base_state())
    with pytest.raises(InvalidInputError, match=r"Unknown query 'specimen_stat'.*Did you mean"):
        eng.query("specimen_stat(S1)")
    with pytest.raises(InvalidInputError, match="Unknown device 'DEV_X'"):
        eng.query("queue_head(DEV_X)")
    with pytest.raises(InvalidInputError, match="takes 2 argument"):
        eng.query("next_hop(Z_SORTING)")


def test_values_json_cannot_carry_are_blocked_before_any_change() -> None:
    """Unloggable values are EVENT.MALFORMED wherever they are, declared args included (the
    event is serialised before its args are looked at)."""
    eng = make_engine(base_state())
    before = eng.snapshot()
    bad = [
        ({"t_s": 2**70, "agent_id": "ops_0", "action_type": "TICK"}, "EVENT.MALFORMED"),
        ({"t_s": float("nan"), "agent_id": "ops_0", "action_type": "TICK"}, "EVENT.MALFORMED"),
        (
            {
                "t_s": 0,
                "agent_id": "supervisor_0",
                "action_type": "THROTTLE_AGENT",
                "args": {"agent_id": "ops_0", "duration_s": 2**64},
            },
            "EVENT.MALFORMED",
        ),
        (
            {
                "t_s": 0,
                "agent_id": "supervisor_0",
                "action_type": "THROTTLE_AGENT",
                "args": {"agent_id": "ops_0", "duration_s": float("nan")},
            },
            "EVENT.MALFORMED",
        ),
        (
            {
                "t_s": 0,
                "agent_id": "supervisor_0",
                "action_type": "MINT_TOKEN",
                "args": {
                    "token_type": "RESTRICTED_ENTRY",
                    "scope": {"zone_id": "Z_AIRLOCK", 1: "x"},
                },
            },
            "EVENT.MALFORMED",
        ),
    ]
    for event, code in bad:
        assert eng.step(event)["blocked_reason_code"] == code
    assert eng.snapshot() == before


def test_failed_reset_leaves_no_usable_half_episode() -> None:
    eng = make_engine(base_state())
    bad = base_state()
    bad["agents"][0]["role"] = "wizard"
    with pytest.raises(InvalidInputError):
        eng.reset(bad)
    with pytest.raises(InvalidInputError, match="before reset"):
        eng.step({"t_s": 0, "agent_id": "ops_0", "action_type": "TICK"})
