"""What plugin objects must return, checked where their values enter the platform.

The plugin table (:data:`labtrust_gym.plugins.KINDS`) names one contract per extension kind;
``Registry.get`` hands out the registered object wrapped by :func:`checked`, so every caller —
the env building a domain adapter, the runner calling an aggregator, a command asking a provider
for its suite — gets a value that has the documented shape, or a :class:`PluginError` that names
the registration (id, plugin, distribution), what came back and what was expected. A wrong value
never travels on to fail later somewhere unrelated (after every episode ran, or inside the
results writer).

This module sits beside ``plugins`` at the bottom of the house: it imports only ``errors``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from os import PathLike
from typing import Any

from labtrust_gym.errors import PluginError

#: A check returns None when the value is fine, else a short description of what is wrong.
Check = Callable[[Any], "str | None"]


@dataclass(frozen=True)
class Returns:
    """Contract of a callable registration: what one call must return."""

    expected: str
    check: Check


@dataclass(frozen=True)
class MethodsReturn:
    """Contract of a provider object: what each of its named methods must return."""

    methods: Mapping[str, Returns]


Contract = Returns | MethodsReturn


def checked(obj: Any, contract: Contract, where: str, fix: str) -> Any:
    """``obj`` wrapped so that whatever it returns is checked against ``contract``.

    ``where`` names the registration in messages (``"Metrics aggregator 'x' (plugin …)"``),
    ``fix`` says what the user can do. A callable keeps its signature (``__wrapped__``)."""
    if isinstance(contract, MethodsReturn):
        return _CheckedProvider(obj, contract, where, fix)

    @functools.wraps(obj)
    def call(*args: Any, **kwargs: Any) -> Any:
        return _verify(obj(*args, **kwargs), contract, where, fix)

    return call


def _verify(value: Any, contract: Returns, where: str, fix: str) -> Any:
    problem = contract.check(value)
    if problem is not None:
        raise PluginError(f"{where} returned {problem}; expected {contract.expected}. {fix}")
    return value


class _CheckedProvider:
    """A provider whose contract methods check their return values; everything else passes
    through to the provider (``__wrapped__``)."""

    def __init__(self, provider: Any, contract: MethodsReturn, where: str, fix: str) -> None:
        self.__wrapped__ = provider
        for name, returns in contract.methods.items():
            method = getattr(provider, name)
            call = self._bind(method, returns, f"{where}: its {name}()", fix)
            setattr(self, name, functools.wraps(method)(call))

    @staticmethod
    def _bind(method: Any, returns: Returns, where: str, fix: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            return _verify(method(*args, **kwargs), returns, where, fix)

        return call

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__wrapped__, name)

    def __repr__(self) -> str:
        return f"checked({self.__wrapped__!r})"


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'…' if len(text) > 60 else ''}"


def has_methods(*names: str, str_attrs: tuple[str, ...] = ()) -> Check:
    """Values with callable ``names`` (and string attributes ``str_attrs``)."""

    def check(value: Any) -> str | None:
        missing = [
            f"a {a!r} string" for a in str_attrs if not isinstance(getattr(value, a, None), str)
        ]
        missing += [f"a {n!r} method" for n in names if not callable(getattr(value, n, None))]
        if not missing:
            return None
        listed = ", ".join(missing[:-1]) + (" and " if len(missing) > 1 else "") + missing[-1]
        return f"a {type(value).__name__}, which lacks {listed}"

    return check


def is_mapping(value: Any) -> str | None:
    return None if isinstance(value, Mapping) else _shown(value)


def is_list_of_mappings(value: Any) -> str | None:
    if not isinstance(value, list):
        return _shown(value)
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            return f"a list whose item {i} is {_shown(item)}"
    return None


def is_pack(value: Any) -> str | None:
    """``(pack_dict, version, path)``."""
    if not (isinstance(value, tuple) and len(value) == 3):
        return _shown(value)
    pack, version, path = value
    if not isinstance(pack, Mapping):
        return f"a tuple whose pack_dict is {_shown(pack)}"
    if not isinstance(version, str | int | float) or isinstance(version, bool):
        return f"a tuple whose version is {_shown(version)}"
    if not isinstance(path, str | PathLike):
        return f"a tuple whose path is {_shown(path)}"
    return None


_MAX_METRIC_DEPTH = 8


def are_metrics(value: Any) -> str | None:
    """``{name: metric}``; a metric is a finite number, a bool, None, or a list or
    string-keyed dict of metrics — exactly what a results file can hold and summarise."""
    if not isinstance(value, Mapping):
        return _shown(value)
    for name, metric in value.items():
        if not isinstance(name, str) or not name:
            return f"a metric named {name!r} (names are non-empty strings)"
        problem = _metric_problem(metric, 0)
        if problem is not None:
            return f"metric {name!r} = {problem}"
    return None


def _metric_problem(value: Any, depth: int) -> str | None:
    if value is None or isinstance(value, bool | int):  # numpy integers are not ints: refused
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value!r}, not a finite number"
    if depth < _MAX_METRIC_DEPTH and isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"a dict with the key {key!r}, which is not a string"
            problem = _metric_problem(item, depth + 1)
            if problem is not None:
                return f"{{{key!r}: {problem}}}"
        return None
    if depth < _MAX_METRIC_DEPTH and isinstance(value, list | tuple):
        for item in value:
            problem = _metric_problem(item, depth + 1)
            if problem is not None:
                return f"[{problem}]"
        return None
    return f"{_shown(value)} (metrics are numbers; convert with int() or float())"


# --------------------------------------------------------------------------------------------
# The contract of each extension kind (named by the plugin table)
# --------------------------------------------------------------------------------------------

DOMAIN_ADAPTER = Returns(
    "a domain adapter with reset, step and query methods (LabTrustEnvAdapter)",
    has_methods("reset", "step", "query"),
)
COORDINATION_METHOD = Returns(
    "a CoordinationMethod (a 'method_id' string and propose_actions(obs, infos, t))",
    has_methods("propose_actions", str_attrs=("method_id",)),
)
METRICS = Returns(
    "a dict {metric name: finite number | bool | None | list or dict of those} "
    "(docs/metrics.md)",
    are_metrics,
)
BENCHMARK_PACK = Returns("a tuple (pack_dict, version, path)", is_pack)
SECURITY_SUITE_PROVIDER = MethodsReturn(
    {
        "load_suite": Returns("a dict (the suite)", is_mapping),
        "run_suite": Returns("a list of dicts (one result per attack)", is_list_of_mappings),
    }
)
SAFETY_CASE_PROVIDER = MethodsReturn(
    {
        "load_claims": Returns("a dict (the claims)", is_mapping),
        "build_safety_case": Returns("a dict (the safety case)", is_mapping),
    }
)
