"""A plugin invariant handler's return value is checked: anything but None or a
``(bool, str | None, dict | None)`` tuple is a recorded INV.HANDLER_ERROR naming the handler."""

from __future__ import annotations

from typing import Any

import pytest

from labtrust_gym.engine.golden import base_state
from labtrust_gym.engine.invariants_runtime import register_invariant_handler
from labtrust_gym.plugins import reset_plugins

from .helpers import make_engine

_RETURNS: dict[str, Any] = {}


def _handler(env: Any, event: Any, params: dict[str, Any]) -> Any:
    return _RETURNS["value"]


@pytest.fixture()
def plugin_lab():
    reset_plugins()
    register_invariant_handler("test_plugin", "returns", _handler)
    st = base_state()
    st["extra_invariants"] = [
        {
            "invariant_id": "INV-PLUGIN-RET",
            "severity": "low",
            "scope": {"action_types": ["TICK"]},
            "logic_template": {"type": "test_plugin", "parameters": {"check": "returns"}},
            "reason_code": "INV.HANDLER_ERROR",
        }
    ]
    yield st
    reset_plugins()


@pytest.mark.parametrize(
    "value",
    [
        "garbage",
        [True],
        (True,),
        (True, None),
        (True, None, None, None),
        ("yes", None, None),
        (1, None, None),
        (True, 5, None),
        (True, None, [1]),
        {"passed": True},
        0,
        True,
        [True, None, None],
    ],
)
def test_malformed_handler_output_is_a_handler_error(plugin_lab: Any, value: Any) -> None:
    _RETURNS["value"] = value
    eng = make_engine(plugin_lab)
    res = eng.step({"t_s": 0, "agent_id": "runner_0", "action_type": "TICK", "args": {}})
    assert res["status"] == "ACCEPTED"
    assert [(v["invariant_id"], v["reason_code"]) for v in res["violations"]] == [
        ("INV-PLUGIN-RET", "INV.HANDLER_ERROR")
    ]
    details = eng.violation_log[-1]["details"]
    assert details["handler"] == "test_plugin.returns"
    assert details["plugin"] == "runtime:invariant_handlers:test_plugin.returns"
    assert (
        "expected None or a (passed: bool, reason_code: str | None, details: dict | None)"
        in (details["error"])
    )


@pytest.mark.parametrize("value", [None, (True, None, None), (True, "INV.HANDLER_ERROR", {"n": 1})])
def test_well_formed_passing_output_is_a_pass(plugin_lab: Any, value: Any) -> None:
    _RETURNS["value"] = value
    eng = make_engine(plugin_lab)
    res = eng.step({"t_s": 0, "agent_id": "runner_0", "action_type": "TICK", "args": {}})
    assert res["violations"] == []


def test_a_raising_handler_is_a_handler_error(plugin_lab: Any) -> None:
    _RETURNS.clear()  # the handler raises KeyError
    eng = make_engine(plugin_lab)
    res = eng.step({"t_s": 0, "agent_id": "runner_0", "action_type": "TICK", "args": {}})
    assert [v["reason_code"] for v in res["violations"]] == ["INV.HANDLER_ERROR"]
    assert eng.violation_log[-1]["details"]["error"].startswith("raised KeyError")


def test_well_formed_failure_is_a_violation_with_its_code(plugin_lab: Any) -> None:
    _RETURNS["value"] = (False, "ZONE.NOT_ADJACENT", {"why": "test"})
    eng = make_engine(plugin_lab)
    res = eng.step({"t_s": 0, "agent_id": "runner_0", "action_type": "TICK", "args": {}})
    assert [v["reason_code"] for v in res["violations"]] == ["ZONE.NOT_ADJACENT"]
