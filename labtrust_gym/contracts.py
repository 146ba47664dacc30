"""What plugin objects must be and return, checked where they enter the platform.

The plugin table (:data:`labtrust_gym.plugins.KINDS`) names, per extension kind, a *resolver*
(what the registered object must be: a callable, a task class, a provider with its methods —
checked once, when its id is first resolved) and a *contract* (what it must return);
``Registry.get`` hands out the registered object wrapped by :func:`checked`, so every caller —
the env building a domain adapter, the runner calling an aggregator, a command asking a provider
for its suite — gets a value that has the documented shape, or a :class:`PluginError` that names
the registration (id, plugin, distribution), what came back and what was expected.

``get`` returns a *checked view*, not the registered object itself, and the view is meant to be
invisible to a correct plugin: ``view.__wrapped__`` is the object; a function view keeps its
signature and compares equal to the function; a provider view passes ``isinstance`` for the
provider's class and reads/writes its attributes; a class stays a class (a subclass whose call
returns a checked instance of the registered class itself, so ``issubclass`` works and instances
are exactly the plugin's type); every view pickles (as a view again), copies and deep-copies.
Only identity differs: ``get(...) is obj`` is False — compare with ``==`` or ``__wrapped__``.
A wrong value never travels on to fail later somewhere unrelated (after every episode ran, or
inside the results writer).

This module sits beside ``plugins`` at the bottom of the house: it imports only ``errors``.
"""

from __future__ import annotations

import copyreg
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
    """A *checked view* of ``obj``: whatever it returns is checked against ``contract``.

    ``where`` names the registration in messages (``"Metrics aggregator 'x' (plugin …)"``),
    ``fix`` says what the user can do. The view is transparent (see the module doc of each
    kind): ``__wrapped__`` is ``obj``; a function keeps its signature, name and docstring and
    compares equal to ``obj``; a provider passes ``isinstance`` checks for ``obj``'s class; a
    class stays a class (``issubclass`` works; calling it returns a genuine instance of ``obj``,
    checked); every view pickles, copies and deep-copies (as a view again). Only ``is`` tells a
    view from ``obj``.
    """
    if isinstance(contract, MethodsReturn):
        return CheckedProvider(obj, contract, where, fix)
    if isinstance(obj, type):
        view = _class_view(obj, contract, where, fix)
        if view is not None:
            return view
    return CheckedCallable(obj, contract, where, fix)


def _rebuild(obj: Any, name: str, where: str, fix: str) -> Any:
    """Unpickling a view: the same view of ``obj`` (``name`` is the contract's, see CONTRACTS)."""
    return checked(obj, CONTRACTS[name], where, fix)


def _reduce(obj: Any, contract: Contract, where: str, fix: str) -> tuple[Any, tuple[Any, ...]]:
    name = next((n for n, c in CONTRACTS.items() if c is contract), None)
    if name is None:  # a contract of its own: the object itself travels, unchecked
        return _identity, (obj,)
    return _rebuild, (obj, name, where, fix)


def _identity(obj: Any) -> Any:
    return obj


def _verify(value: Any, contract: Returns, where: str, fix: str) -> Any:
    problem = contract.check(value)
    if problem is not None:
        raise PluginError(f"{where} returned {problem}; expected {contract.expected}. {fix}")
    return value


def _is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


class _View:
    """What every instance view shares: equality, hashing, pickling and repr of the wrapped
    object (kept in ``__dict__`` so no lookup goes through a view's ``__getattr__``)."""

    def __eq__(self, other: object) -> bool:
        other = other.__dict__.get("__wrapped__") if isinstance(other, _View) else other
        return bool(self.__dict__["__wrapped__"] == other)

    def __hash__(self) -> int:
        return hash(self.__dict__["__wrapped__"])

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _reduce(self.__dict__["__wrapped__"], *self.__dict__["_labtrust_view"])

    def __repr__(self) -> str:
        return f"checked({self.__dict__['__wrapped__']!r})"


class CheckedCallable(_View):
    """A checked view of a function (or any callable that is not a class)."""

    def __init__(self, wrapped: Any, contract: Returns, where: str, fix: str) -> None:
        self.__dict__.update(_labtrust_view=(contract, where, fix))
        functools.update_wrapper(self, wrapped, updated=())  # sets __wrapped__, name, doc …

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        contract, where, fix = self.__dict__["_labtrust_view"]
        return _verify(self.__dict__["__wrapped__"](*args, **kwargs), contract, where, fix)

    def __getattr__(self, name: str) -> Any:
        # only reached for names not set on the view; dunders (pickle, copy probe them) and a
        # half-built view (no __wrapped__ yet) must not recurse into the wrapped object
        wrapped = self.__dict__.get("__wrapped__")
        if wrapped is None or _is_dunder(name):
            raise AttributeError(name)
        return getattr(wrapped, name)



class CheckedProvider(_View):
    """A checked view of a provider object: its contract methods check their return values;
    every other attribute is the provider's (read and written through); ``isinstance`` sees the
    provider's class."""

    def __init__(self, provider: Any, contract: MethodsReturn, where: str, fix: str) -> None:
        self.__dict__.update(__wrapped__=provider, _labtrust_view=(contract, where, fix))

    def __getattr__(self, name: str) -> Any:
        wrapped = self.__dict__.get("__wrapped__")
        if wrapped is None or _is_dunder(name):
            raise AttributeError(name)
        attr = getattr(wrapped, name)
        contract, where, fix = self.__dict__["_labtrust_view"]
        returns = contract.methods.get(name)
        if returns is None or not callable(attr):
            return attr
        method = attr
        label = f"{where}: its {name}()"

        @functools.wraps(method)
        def call(*args: Any, **kwargs: Any) -> Any:
            return _verify(method(*args, **kwargs), returns, label, fix)

        return call

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.__dict__["__wrapped__"], name, value)

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # isinstance(view, ProviderClass) holds
        return type(self.__dict__["__wrapped__"])



#: One view metaclass per metaclass of a viewed class (type, ABCMeta, …), created on demand.
_VIEW_METAS: dict[type, type] = {}


def _view_meta(meta: type) -> type:
    """A subclass of ``meta`` whose classes construct the *viewed* class and check the result,
    and pickle as views (copyreg: pickle consults it before treating a class as a global)."""
    found = _VIEW_METAS.get(meta)
    if found is not None:
        return found

    def __call__(cls: Any, *args: Any, **kwargs: Any) -> Any:  # the view classes' call
        contract, where, fix = cls.__dict__["_labtrust_view"]
        return _verify(cls.__dict__["__wrapped__"](*args, **kwargs), contract, where, fix)

    view_meta = type(f"Checked{meta.__name__}", (meta,), {"__call__": __call__})
    view_meta.__module__ = __name__
    copyreg.pickle(view_meta, _reduce_class_view)
    _VIEW_METAS[meta] = view_meta
    return view_meta


def _reduce_class_view(view: Any) -> tuple[Any, tuple[Any, ...]]:
    return _reduce(view.__dict__["__wrapped__"], *view.__dict__["_labtrust_view"])


def _class_view(cls: type, contract: Returns, where: str, fix: str) -> type | None:
    """A checked view of the class ``cls``: a subclass (so ``issubclass``, class attributes and
    classmethods work) whose call returns ``cls(...)`` itself, checked. None when ``cls`` cannot
    be subclassed (then the caller wraps it as a callable)."""
    namespace = {
        "__wrapped__": cls,
        "_labtrust_view": (contract, where, fix),
        "__module__": cls.__module__,
        "__qualname__": cls.__qualname__,
        "__doc__": cls.__doc__,
        "__slots__": (),
    }
    try:
        view: type = _view_meta(type(cls))(cls.__name__, (cls,), namespace)
    except TypeError:  # a final class, or a metaclass that refuses
        return None
    return view


# --------------------------------------------------------------------------------------------
# What a registered object must be (the plugin table's resolvers: run once, when an id is first
# resolved; a resolver returns the object to use or raises PluginError)
# --------------------------------------------------------------------------------------------


def require_callable(kind_label: str) -> Callable[[str, Any], Any]:
    """Resolver of a callable registration (factories, handlers, aggregators, loaders)."""

    def check(ident: str, obj: Any) -> Any:
        if not callable(obj):
            raise PluginError(
                f"{kind_label.capitalize()} {ident!r} must be callable, got {type(obj).__name__}."
            )
        return obj

    return check


#: The task contract, named (not imported): the core sits below the benchmarks layer that
#: defines it, just as it names its built-in plugins by module path.
TASK_BASE = "labtrust_gym.benchmarks.tasks.BenchmarkTask"


def check_task_class(ident: str, obj: Any) -> Any:
    """Resolver of a task: a class deriving from :data:`TASK_BASE`."""
    bases = getattr(obj, "__mro__", ()) if isinstance(obj, type) else ()
    if not any(f"{base.__module__}.{base.__qualname__}" == TASK_BASE for base in bases):
        shown = obj.__name__ if isinstance(obj, type) else type(obj).__name__ + " instance"
        raise PluginError(f"Task {ident!r} must be a class deriving from {TASK_BASE}, got {shown}.")
    return obj


def provider_resolver(kind_label: str, methods: tuple[str, ...]) -> Callable[[str, Any], Any]:
    """Providers may be an instance, a class or a zero-argument factory returning one."""

    title = kind_label[:1].upper() + kind_label[1:]  # "LLM backend", not "Llm backend"

    def has_methods(candidate: Any) -> bool:
        return all(callable(getattr(candidate, m, None)) for m in methods)

    def resolve(ident: str, obj: Any) -> Any:
        candidate = obj
        if isinstance(obj, type) or (callable(obj) and not has_methods(obj)):
            try:
                candidate = obj()
            except Exception as exc:
                raise PluginError(
                    f"{title} {ident!r}: calling {obj!r} to build the provider "
                    f"failed: {type(exc).__name__}: {exc}."
                ) from exc
        missing = [m for m in methods if not callable(getattr(candidate, m, None))]
        if missing:
            raise PluginError(
                f"{title} {ident!r} lacks required method(s) "
                f"{', '.join(missing)}; it must provide {', '.join(methods)}."
            )
        return candidate

    return resolve


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
# The contract of each extension kind (named by the plugin table; CONTRACTS names them all so a
# checked view pickles as a reference to its contract)
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

CONTRACTS: dict[str, Contract] = {
    "domain_adapter": DOMAIN_ADAPTER,
    "coordination_method": COORDINATION_METHOD,
    "metrics": METRICS,
    "benchmark_pack": BENCHMARK_PACK,
    "security_suite_provider": SECURITY_SUITE_PROVIDER,
    "safety_case_provider": SAFETY_CASE_PROVIDER,
}
