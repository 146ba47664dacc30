"""Checked views (labtrust_gym.contracts) are invisible to correct plugins: equality,
signatures, isinstance/issubclass, pickling and copying behave as for the registered object."""

from __future__ import annotations

import copy
import inspect
import pickle
from collections.abc import Mapping
from typing import Any

import pytest

from labtrust_gym.baselines.coordination.interface import CoordinationMethod
from labtrust_gym.baselines.coordination.registry import register_coordination_method
from labtrust_gym.benchmarks.metrics import compute_episode_metrics, get_metrics_aggregator
from labtrust_gym.benchmarks.security_runner import (
    DefaultSecuritySuiteProvider,
    get_security_suite_provider,
)
from labtrust_gym.contracts import CheckedCallable, CheckedProvider
from labtrust_gym.errors import PluginError
from labtrust_gym.plugins import registry


class ClassMethod(CoordinationMethod):
    """A coordination method registered as its own factory (the class)."""

    kind = "class-registered"

    def __init__(self, policy: Any, repo_root: Any, scale_config: Any, params: Any) -> None:
        self.params = dict(params or {})

    @property
    def method_id(self) -> str:
        ident: str = self.params.get("id", "class_method")  # a test passes a bad one
        return ident

    def propose_actions(self, obs: Mapping[str, Any], infos: Mapping[str, Any], t: int) -> Any:
        return {}


def test_a_function_view_equals_the_function_and_pickles() -> None:
    view = get_metrics_aggregator("default")
    assert view == compute_episode_metrics and compute_episode_metrics == view
    assert hash(view) == hash(compute_episode_metrics)
    assert view.__wrapped__ is compute_episode_metrics and view is not compute_episode_metrics
    assert inspect.signature(view) == inspect.signature(compute_episode_metrics)
    assert view.__name__ == "compute_episode_metrics"
    for clone in (pickle.loads(pickle.dumps(view)), copy.deepcopy(view), copy.copy(view)):
        assert isinstance(clone, CheckedCallable) and clone == view  # still a checked view


def test_an_unpickled_view_still_checks() -> None:
    from labtrust_gym.benchmarks.metrics import register_metrics_aggregator

    register_metrics_aggregator("bad_metrics", bad_metrics)
    view = pickle.loads(pickle.dumps(registry("metrics_aggregators").get("bad_metrics")))
    with pytest.raises(PluginError, match=r"Metrics aggregator 'bad_metrics'.*metric 'x'"):
        view([])


def bad_metrics(step_results_per_step: Any, **context: Any) -> dict[str, Any]:
    return {"x": "not a number"}


def test_a_provider_view_is_an_instance_of_the_provider_class_and_copies() -> None:
    view = get_security_suite_provider("default")
    assert isinstance(view, DefaultSecuritySuiteProvider)
    assert view == view.__wrapped__
    for clone in (pickle.loads(pickle.dumps(view)), copy.deepcopy(view), copy.copy(view)):
        assert isinstance(clone, DefaultSecuritySuiteProvider)
        assert clone.__wrapped__ is not None and callable(clone.run_suite)
    view.marker = 7  # attributes are the provider's
    assert view.__wrapped__.marker == 7 and view.marker == 7
    for half_built in (object.__new__(CheckedProvider), object.__new__(CheckedCallable)):
        with pytest.raises(AttributeError):
            half_built.anything  # noqa: B018 - a view without __wrapped__: no RecursionError


def test_a_class_factory_stays_a_class_and_its_instances_are_checked() -> None:
    register_coordination_method("class_method", ClassMethod)
    view = registry("coordination_methods").get("class_method")
    assert isinstance(view, type) and issubclass(view, CoordinationMethod)
    assert issubclass(view, ClassMethod) and view.__wrapped__ is ClassMethod
    assert view.kind == "class-registered" and view.__name__ == "ClassMethod"
    method = view({}, None, None, {})
    assert type(method) is ClassMethod and method.method_id == "class_method"
    assert pickle.loads(pickle.dumps(method)).params == {}  # instances are the plugin's own type
    clone = pickle.loads(pickle.dumps(view))
    assert issubclass(clone, ClassMethod) and type(clone({}, None, None, {})) is ClassMethod
    assert copy.deepcopy(view) is view  # classes are atomic to copy
    with pytest.raises(PluginError, match=r"Coordination method 'class_method'.*'method_id'"):
        view({}, None, None, {"id": 5})  # method_id is not a string: named, not a traceback
