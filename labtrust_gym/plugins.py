"""How plugins get in: one pluggy ``PluginManager`` and the registries that view it.

Three ways in, one path:

1. a pip package declaring one of the per-kind entry-point groups (``labtrust_gym.tasks`` …, value
   ``module:attr``) — each entry point becomes a small plugin object whose object is imported
   only when first resolved;
2. a pip package declaring the pluggy group ``labtrust_gym`` whose value is a module of
   ``@hookimpl`` functions;
3. a runtime ``register_*(id, obj)`` call, which also becomes a small plugin object.

Built-in plugins are module paths in :data:`BUILTIN_PLUGINS`, registered first. Every problem
(import failure, bad hook signature, misspelled hook, malformed entry point, conflicting ids) is
recorded as a :class:`PluginProblem` naming the plugin, its distribution, version and entry point;
the other plugins keep working. ``LABTRUST_STRICT_PLUGINS=1`` (or ``--strict-plugins``) turns any
problem into an error. ``LABTRUST_DISABLE_PLUGINS=a,b`` blocks plugins by name, entry-point name
or distribution name.

The records kept here (problems, plugin infos, registrations) are defined in
:mod:`labtrust_gym.plugin_records`; what a registered object must be and return (resolvers and
contracts) in :mod:`labtrust_gym.contracts`. Both are importable from this module too.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import re
import types
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

from labtrust_gym import contracts, hookspecs
from labtrust_gym.errors import (
    DuplicateRegistrationError,
    PluginError,
    PluginLoadError,
    UnknownIdError,
    did_you_mean,
)
from labtrust_gym.plugin_records import (
    EntryPointRef,
    PluginInfo,
    PluginProblem,
    Registration,
    dist_of,
    identity_of,
    normalize_dist,
)
from labtrust_gym.plugin_records import Source as Source  # re-exported, as PluginProblem …

if TYPE_CHECKING:  # real or light (labtrust_gym.entry_points) entry points, duck-typed
    from importlib.metadata import EntryPoint

#: Built-in plugins, registered first and in this order. Module paths, imported on load.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "labtrust_gym.engine.builtin_plugin",
    "labtrust_gym.benchmarks.builtin_plugin",
    "labtrust_gym.baselines.coordination.builtin_plugin",
    "labtrust_gym.llm.builtin_plugin",
    "labtrust_gym.cli.plugins_cmd",
    "labtrust_gym.cli.list_cmd",
    "labtrust_gym.cli.engine_cmd",
    "labtrust_gym.cli.benchmark_cmd",
    "labtrust_gym.cli.security_cmd",
    "labtrust_gym.cli.evidence_cmd",
    "labtrust_gym.cli.study_cmd",
)

#: The pluggy entry-point group whose values are modules of hookimpls.
PLUGIN_GROUP = "labtrust_gym"

# --------------------------------------------------------------------------------------------
# Extension kinds
# --------------------------------------------------------------------------------------------

#: The task contract, named (not imported): see labtrust_gym.contracts.TASK_BASE.
TASK_BASE = contracts.TASK_BASE


@dataclass(frozen=True)
class KindSpec:
    """One extension point: its registry name, hook, entry-point group, validator and the
    contract of what the registered object returns (checked on every call, see contracts)."""

    kind: str
    label: str
    hook: str
    group: str
    resolve: Callable[[str, Any], Any]
    returns: contracts.Contract | None = None


KINDS: dict[str, KindSpec] = {
    spec.kind: spec
    for spec in (
        KindSpec(
            "domains",
            "domain",
            "labtrust_register_domains",
            "labtrust_gym.domains",
            contracts.require_callable("domain factory"),
            contracts.DOMAIN_ADAPTER,
        ),
        KindSpec(
            "coordination_methods",
            "coordination method",
            "labtrust_register_coordination_methods",
            "labtrust_gym.coordination_methods",
            contracts.require_callable("coordination method factory"),
            contracts.COORDINATION_METHOD,
        ),
        KindSpec(
            "tasks",
            "task",
            "labtrust_register_tasks",
            "labtrust_gym.tasks",
            contracts.check_task_class,
        ),
        KindSpec(
            "invariant_handlers",
            "invariant handler",
            "labtrust_register_invariant_handlers",
            "labtrust_gym.invariant_handlers",
            contracts.require_callable("invariant handler"),
        ),
        KindSpec(
            "security_suite_providers",
            "security suite provider",
            "labtrust_register_security_suite_providers",
            "labtrust_gym.security_suite_providers",
            contracts.provider_resolver("security suite provider", ("load_suite", "run_suite")),
            contracts.SECURITY_SUITE_PROVIDER,
        ),
        KindSpec(
            "safety_case_providers",
            "safety case provider",
            "labtrust_register_safety_case_providers",
            "labtrust_gym.safety_case_providers",
            contracts.provider_resolver(
                "safety case provider", ("load_claims", "build_safety_case")
            ),
            contracts.SAFETY_CASE_PROVIDER,
        ),
        KindSpec(
            "metrics_aggregators",
            "metrics aggregator",
            "labtrust_register_metrics_aggregators",
            "labtrust_gym.metrics_aggregators",
            contracts.require_callable("metrics aggregator"),
            contracts.METRICS,
        ),
        KindSpec(
            "benchmark_pack_loaders",
            "benchmark pack loader",
            "labtrust_register_benchmark_pack_loaders",
            "labtrust_gym.benchmark_pack_loaders",
            contracts.require_callable("benchmark pack loader"),
            contracts.BENCHMARK_PACK,
        ),
        KindSpec(
            "llm_backends",
            "LLM backend",
            "labtrust_register_llm_backends",
            "labtrust_gym.llm_backends",
            contracts.provider_resolver("LLM backend", ("complete", "configure")),
        ),
    )
}


# --------------------------------------------------------------------------------------------
# Manager state
# --------------------------------------------------------------------------------------------


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _iter_entry_points(group: str) -> list[EntryPoint]:
    """Entry points of ``group`` (a seam tests replace with fake entry points)."""
    if not _STATE.installed:  # an isolated manager without installed plugins
        return []
    if _STATE.all_entry_points is None:  # one scan of installed metadata per load
        from labtrust_gym.entry_points import installed_entry_points

        _STATE.all_entry_points = installed_entry_points()  # light: no importlib.metadata
    return list(_STATE.all_entry_points.get(group, ()))


class _PluginState:
    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.loaded = False
        self.strict_override: bool | None = None
        self.problems: list[PluginProblem] = []
        self.infos: dict[str, PluginInfo] = {}
        self.blocked: list[str] = []
        self.generation = 0
        self.registries: dict[str, tuple[int, dict[str, Registration]]] = {}
        self.runtime_plugins: dict[tuple[str, str], str] = {}
        self.all_entry_points: dict[str, list[Any]] | None = None  # {group: entry points}
        self.policy_dirs: tuple[int, list[tuple[str, Path]]] | None = None
        self.installed = True  # load installed entry points (False: built-ins only)

    @property
    def strict(self) -> bool:
        if self.strict_override is not None:
            return self.strict_override
        return _truthy(os.environ.get("LABTRUST_STRICT_PLUGINS"))


_STATE = _PluginState()


def get_plugin_manager() -> pluggy.PluginManager:
    """The one plugin manager (plugins loaded)."""
    load_plugins()
    return _STATE.pm


def reset_plugins() -> None:
    """Forget every plugin and registration (tests use a fresh manager per test)."""
    global _STATE
    strict = _STATE.strict_override
    _STATE = _PluginState()
    _STATE.strict_override = strict


@contextlib.contextmanager
def isolated_plugins(*, installed: bool = True, strict: bool | None = None) -> Iterator[None]:
    """A fresh plugin manager for the ``with`` block; the previous one is restored afterwards.

    ``installed=False`` loads the built-in plugins only (no installed entry points); ``strict``
    sets strict mode inside the block (None: follow ``LABTRUST_STRICT_PLUGINS``).
    """
    global _STATE
    previous = _STATE
    _STATE = _PluginState()
    _STATE.installed = installed
    _STATE.strict_override = strict
    try:
        yield
    finally:
        _STATE = previous


def set_strict(strict: bool | None) -> None:
    """Force strict mode on/off (``None`` = follow ``LABTRUST_STRICT_PLUGINS``)."""
    _STATE.strict_override = strict


def is_strict() -> bool:
    return _STATE.strict


def problems() -> list[PluginProblem]:
    """Problems recorded so far (load, validation, conflicts)."""
    return list(_STATE.problems)


def plugin_infos() -> list[PluginInfo]:
    load_plugins()
    return list(_STATE.infos.values())


def blocked_plugins() -> list[str]:
    load_plugins()
    return list(_STATE.blocked)


def _record(problem: PluginProblem) -> None:
    if problem not in _STATE.problems:
        _STATE.problems.append(problem)


def _report(problem: PluginProblem) -> None:
    """Record a problem; in strict mode it is fatal."""
    _record(problem)
    if _STATE.strict:
        raise PluginLoadError(f"Plugin problem (strict mode): {problem.describe()}")


def _problem_of(plugin: str, cause: str) -> PluginProblem:
    """A problem of a registered plugin, attributed from its recorded info when there is one."""
    info = _STATE.infos.get(plugin)
    return info.problem(cause) if info is not None else PluginProblem(plugin, cause)


def _disabled_names() -> set[str]:
    raw = os.environ.get("LABTRUST_DISABLE_PLUGINS", "")
    return {part.strip() for part in raw.split(",") if part.strip()}


def _is_disabled(disabled: set[str], *names: str | None) -> bool:
    normalized = {normalize_dist(d) for d in disabled}
    return any(n and (n in disabled or normalize_dist(n) in normalized) for n in names)


def _register_plugin(plugin: object, info: PluginInfo) -> bool:
    """Register ``plugin`` with pluggy and validate its hooks; report and drop it on failure."""
    pm = _STATE.pm
    try:
        pm.register(plugin, name=info.name)
    except ValueError as exc:  # already registered under that name or object
        _report(info.problem(f"cannot register: {exc}"))
        return False
    except pluggy.PluginValidationError as exc:
        _report(info.problem(f"invalid hook implementation: {exc}"))
        return False
    unknown = [hc.name for hc in pm.get_hookcallers(plugin) or [] if not hc.has_spec()]
    if unknown:
        pm.unregister(plugin)
        known = [n for n in dir(hookspecs) if n.startswith("labtrust_")]
        hints = "".join(did_you_mean(n, known) for n in unknown)
        _report(info.problem(f"implements unknown hook(s) {', '.join(unknown)}.{hints}"))
        return False
    _STATE.infos[info.name] = info
    _STATE.generation += 1
    return True


def _single_registration_plugin(hook: str, ident: str, value: Any) -> types.SimpleNamespace:
    def impl(register: hookspecs.Register) -> None:
        register(ident, value)

    impl.__name__ = hook
    return types.SimpleNamespace(**{hook: hookspecs.hookimpl(impl)})


def load_plugins() -> list[PluginProblem]:
    """Register built-ins, then every installed entry point; idempotent.

    Returns the problems found (also available from :func:`problems`). In strict mode the first
    problem raises :class:`PluginLoadError`.
    """
    state = _STATE
    if state.loaded:
        return list(state.problems)
    state.loaded = True
    disabled = _disabled_names()

    for module_path in BUILTIN_PLUGINS:
        if _is_disabled(disabled, module_path):
            state.blocked.append(module_path)
            continue
        try:
            module = importlib.import_module(module_path)
        except Exception as exc:
            _report(
                PluginProblem(
                    module_path, f"built-in plugin failed to import: {type(exc).__name__}: {exc}"
                )
            )
            continue
        _register_plugin(module, PluginInfo(module_path, "builtin", "labtrust-gym", _own_version()))

    for ep in _iter_entry_points(PLUGIN_GROUP):
        dist, version = dist_of(ep)
        info = PluginInfo(
            ep.name, "entrypoint", dist, version, f"{PLUGIN_GROUP}: {ep.name} = {ep.value}"
        )
        if _is_disabled(disabled, ep.name, dist):
            state.blocked.append(ep.name)
            continue
        try:
            module = ep.load()
        except Exception as exc:
            _report(info.problem(f"failed to import: {type(exc).__name__}: {exc}"))
            continue
        _register_plugin(module, info)

    for spec in KINDS.values():
        for ep in _iter_entry_points(spec.group):
            dist, version = dist_of(ep)
            name = f"{spec.group}:{ep.name}"
            if _STATE.pm.has_plugin(name):  # same entry-point name from another distribution
                name = f"{name}@{dist or ep.value}"
            info = PluginInfo(
                name, "entrypoint", dist, version, f"{spec.group}: {ep.name} = {ep.value}"
            )
            if _is_disabled(disabled, ep.name, name, dist):
                state.blocked.append(name)
                continue
            if ep.pattern.fullmatch(ep.value) is None or ep.attr is None:
                _report(
                    info.problem(
                        f"malformed entry-point value {ep.value!r}; expected "
                        "'package.module:attribute'"
                    )
                )
                continue
            plugin = _single_registration_plugin(spec.hook, ep.name, EntryPointRef(ep, name))
            _register_plugin(plugin, info)
    return list(state.problems)


def report_problem_from_hook(plugin_name: str, hook: str, exc: BaseException) -> None:
    """Record that ``plugin_name``'s implementation of ``hook`` raised ``exc``."""
    _report(_problem_of(plugin_name, f"hook {hook} raised {type(exc).__name__}: {exc}"))


def _own_version() -> str:
    from labtrust_gym import __version__

    return __version__


# --------------------------------------------------------------------------------------------
# Registries
# --------------------------------------------------------------------------------------------


def _describe_provider(plugin: str) -> str:
    info = _STATE.infos.get(plugin)
    if info is None:
        return f"plugin {plugin!r}"
    extra = (
        f", distribution {info.distribution} {info.version or ''}".rstrip()
        if (info.distribution and info.source != "builtin")
        else ""
    )
    return f"plugin {plugin!r} ({info.source}{extra})"


class Registry:
    """A view of the plugin manager for one extension kind."""

    def __init__(self, kind: str) -> None:
        if kind not in KINDS:
            raise UnknownIdError.for_id("extension kind", kind, KINDS)
        self.spec = KINDS[kind]

    # ---- building ----------------------------------------------------------------------
    def _build(self) -> dict[str, Registration]:
        load_plugins()
        state = _STATE
        cached = state.registries.get(self.spec.kind)
        if cached is not None and cached[0] == state.generation:
            return cached[1]
        records: dict[str, Registration] = {}
        caller = getattr(state.pm.hook, self.spec.hook)
        for impl in caller.get_hookimpls():
            plugin_name = impl.plugin_name
            replace = bool(getattr(impl.plugin, "_labtrust_replace", False))

            def register(
                ident: str,
                value: Any,
                *,
                _plugin: str = plugin_name,
                _replace: bool = bool(replace),
            ) -> None:
                self._collect(records, ident, value, _plugin, _replace)

            try:
                impl.function(**{name: register for name in impl.argnames})
            except PluginError:  # strict-mode problems raised by our own callback
                raise
            except Exception as exc:
                report_problem_from_hook(plugin_name, self.spec.hook, exc)
        state.registries[self.spec.kind] = (state.generation, records)
        return records

    def _collect(
        self, records: dict[str, Registration], ident: str, value: Any, plugin: str, replace: bool
    ) -> None:
        if not isinstance(ident, str) or not ident:
            _report(
                _problem_of(
                    plugin,
                    f"registered a {self.spec.label} with an invalid id "
                    f"{ident!r}; ids are non-empty strings",
                )
            )
            return
        existing = records.get(ident)
        if existing is None or replace:
            records[ident] = Registration(self.spec.kind, ident, value, plugin, replace)
            return
        if existing.replace or identity_of(existing.value) == identity_of(value):
            return  # an identical re-registration, or a deliberate runtime override, wins
        problem = _problem_of(
            plugin,
            f"{self.spec.label} id {ident!r} is already provided by "
            f"{_describe_provider(existing.plugin)}; this registration from "
            f"{_describe_provider(plugin)} is ignored",
        )
        if _STATE.strict:
            raise DuplicateRegistrationError(f"Plugin problem (strict mode): {problem.describe()}")
        _report(problem)

    # ---- public API --------------------------------------------------------------------
    def ids(self) -> list[str]:
        """Registered ids, sorted."""
        return sorted(self._build())

    def registrations(self) -> list[Registration]:
        return [self._build()[k] for k in self.ids()]

    def __contains__(self, ident: object) -> bool:
        return ident in self._build()

    def get(self, ident: str) -> Any:
        """Resolve ``ident``: import it if lazy, validate it, return the object."""
        records = self._build()
        record = records.get(ident)
        if record is None:
            raise UnknownIdError.for_id(self.spec.label, ident, records)
        return self._resolve(record)

    def _resolve(self, record: Registration) -> Any:
        if record.is_resolved:
            return record.resolved
        value = record.value
        if isinstance(value, EntryPointRef):
            try:
                value = value.entry_point.load()
            except Exception as exc:
                problem = _problem_of(
                    record.plugin, f"failed to import: {type(exc).__name__}: {exc}"
                )
                _record(problem)
                raise PluginLoadError(
                    f"Cannot load {self.spec.label} {record.ident!r}: {problem.describe()}. "
                    "Fix or uninstall the plugin, or block it with LABTRUST_DISABLE_PLUGINS."
                ) from exc
        record.loaded = value
        try:
            resolved = self.spec.resolve(record.ident, value)
        except PluginError as exc:
            _record(_problem_of(record.plugin, str(exc)))
            raise PluginLoadError(
                f"{exc} Provided by {_describe_provider(record.plugin)}."
            ) from exc
        if self.spec.returns is not None:
            resolved = contracts.checked(
                resolved,
                self.spec.returns,
                f"{self.spec.label[:1].upper()}{self.spec.label[1:]} {record.ident!r} "
                f"({self.provider(record.ident)})",
                f"Fix the plugin or select another {self.spec.label}.",
            )
        record.resolved = resolved
        record.is_resolved = True
        return resolved

    def provider(self, ident: str) -> str:
        """Who provides ``ident``, for messages: the object, its plugin and distribution."""
        record = self._build().get(ident)
        if record is None:
            return "not registered"
        value = record.value
        if isinstance(value, EntryPointRef):
            name = value.entry_point.value
        else:
            qualname = getattr(value, "__qualname__", type(value).__qualname__)
            name = f"{getattr(value, '__module__', '?')}.{qualname}"
        return f"{name}, from {_describe_provider(record.plugin)}"

    def register(self, ident: str, obj: Any, *, replace: bool = False) -> None:
        """Runtime registration (the ``register_*`` functions of the public API).

        Registering the same object twice is a no-op. A different object under a taken id raises
        :class:`DuplicateRegistrationError` naming both providers unless ``replace=True``.
        """
        if not isinstance(ident, str) or not ident:
            raise PluginError(f"A {self.spec.label} id must be a non-empty string, got {ident!r}.")
        records = self._build()
        existing = records.get(ident)
        if existing is not None and not replace:
            same = existing.value is obj
            if not same and existing.lazy:
                try:
                    self._resolve(existing)
                    same = existing.loaded is obj
                except PluginError:
                    same = False
            if same:
                return
            raise DuplicateRegistrationError(
                f"{self.spec.label[:1].upper()}{self.spec.label[1:]} {ident!r} is already "
                f"registered by "
                f"{_describe_provider(existing.plugin)}; refusing to register {obj!r} over it. "
                "Pick another id or pass replace=True to override."
            )
        key = (self.spec.kind, ident)
        previous = _STATE.runtime_plugins.pop(key, None)
        if previous is not None:
            old = _STATE.pm.get_plugin(previous)
            if old is not None:
                _STATE.pm.unregister(old)
                _STATE.infos.pop(previous, None)
        plugin = _single_registration_plugin(self.spec.hook, ident, obj)
        plugin._labtrust_replace = replace
        name = f"runtime:{self.spec.kind}:{ident}"
        _STATE.runtime_plugins[key] = name
        if not _register_plugin(plugin, PluginInfo(name, "runtime")):
            raise PluginError(f"Could not register {self.spec.label} {ident!r} at runtime.")


    def unregister(self, ident: str) -> None:
        """Undo a runtime :meth:`register` of ``ident`` (other plugins' ids cannot be removed)."""
        name = _STATE.runtime_plugins.pop((self.spec.kind, ident), None)
        if name is None:
            raise PluginError(
                f"{self.spec.label.capitalize()} {ident!r} was not registered at run time; only "
                "runtime registrations can be removed."
            )
        plugin = _STATE.pm.get_plugin(name)
        if plugin is not None:
            _STATE.pm.unregister(plugin)
        _STATE.infos.pop(name, None)
        _STATE.generation += 1


def registry(kind: str) -> Registry:
    """The registry of one extension kind (see :data:`KINDS`)."""
    return Registry(kind)


def registrations_by_plugin() -> dict[str, dict[str, list[str]]]:
    """``{plugin_name: {kind: [ids]}}`` for every registered plugin (for listings)."""
    result: dict[str, dict[str, list[str]]] = {name: {} for name in _STATE.infos}
    for kind in KINDS:
        for record in registry(kind).registrations():
            result.setdefault(record.plugin, {}).setdefault(kind, []).append(record.ident)
    return result


def hooks_of(plugin_name: str) -> list[str]:
    plugin = _STATE.pm.get_plugin(plugin_name)
    if plugin is None:
        return []
    return sorted(hc.name for hc in _STATE.pm.get_hookcallers(plugin) or [])


def doctor() -> list[PluginProblem]:
    """Load every plugin and resolve every registered id; return all problems found."""
    load_plugins()
    for kind in KINDS:
        reg = registry(kind)
        for record in reg.registrations():
            with contextlib.suppress(PluginError):  # _resolve records the problem
                reg._resolve(record)
    return problems()


# --------------------------------------------------------------------------------------------
# Extension packages named by a lab profile
# --------------------------------------------------------------------------------------------


def load_extension_package(name: str, *, profile_id: str | None = None) -> str:
    """Load one ``extension_packages`` entry: an importable module or an installed distribution.

    A module is imported (it may call ``register_*``) and, if it has ``@hookimpl`` functions,
    registered as a plugin. A distribution has its ``labtrust_gym`` entry points resolved eagerly
    so that any problem surfaces now. Returns ``"module"`` or ``"distribution"``. A name that is
    neither raises :class:`PluginLoadError`.
    """
    load_plugins()
    origin = f" (listed in extension_packages of lab profile {profile_id!r})" if profile_id else ""
    if re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*", name):
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is not None:
            try:
                module = importlib.import_module(name)
            except Exception as exc:
                raise PluginLoadError(
                    f"Extension package {name!r}{origin} failed to import: "
                    f"{type(exc).__name__}: {exc}."
                ) from exc
            has_impls = any(
                callable(getattr(module, attr, None))
                and hasattr(getattr(module, attr), f"{hookspecs.PROJECT_NAME}_impl")
                for attr in dir(module)
            )
            if (
                has_impls
                and _STATE.pm.get_plugin(name) is None
                and not _STATE.pm.is_registered(module)
            ) and not _register_plugin(module, PluginInfo(name, "extension")):
                raise PluginLoadError(
                    f"Extension package {name!r}{origin}: {_STATE.problems[-1].describe()}"
                )
            return "module"
    import importlib.metadata as metadata

    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        raise PluginLoadError(
            f"Extension package {name!r}{origin} is not installed: no importable module or "
            f"distribution has that name. Install it (e.g. `pip install {name}`) or remove it "
            "from the profile."
        ) from None
    groups = {spec.group: spec for spec in KINDS.values()}
    found = 0
    for ep in dist.entry_points:
        if ep.group == PLUGIN_GROUP:
            found += 1
            if _STATE.pm.get_plugin(ep.name) is None:
                raise PluginLoadError(
                    f"Extension package {name!r}{origin}: plugin {ep.name!r} is not loaded "
                    f"({_cause_of(ep.name)})."
                )
        elif ep.group in groups:
            found += 1
            registry(groups[ep.group].kind).get(ep.name)
    if not found:
        raise PluginLoadError(
            f"Extension package {name!r}{origin} is installed but declares no labtrust_gym entry "
            "points; see docs/extension_guide.md for the entry-point groups."
        )
    return "distribution"


def _cause_of(plugin: str) -> str:
    for problem in _STATE.problems:
        if problem.plugin == plugin:
            return problem.cause
    return "blocked or not installed" if plugin in _STATE.blocked else "unknown reason"


def iter_kinds() -> Iterable[KindSpec]:
    return KINDS.values()


# --------------------------------------------------------------------------------------------
# Policy directories shipped by plugins (layers above the shipped policy; see config.py)
# --------------------------------------------------------------------------------------------


def plugin_policy_dirs() -> list[tuple[str, Path]]:
    """``(plugin name, directory)`` for each directory returned from ``labtrust_policy_dirs``,
    sorted, cached until the plugins change. A result that is not a directory is a problem of
    its plugin (fatal in strict mode) and skipped."""
    load_plugins()
    state = _STATE
    if state.policy_dirs is None or state.policy_dirs[0] != state.generation:
        found = []
        for impl in state.pm.hook.labtrust_policy_dirs.get_hookimpls():
            try:
                result = impl.function()
            except Exception as exc:
                report_problem_from_hook(impl.plugin_name, "labtrust_policy_dirs", exc)
                continue
            items = result if isinstance(result, list | tuple) else [result]
            for item in (i for i in items if i is not None):
                path = Path(item).resolve() if isinstance(item, str | os.PathLike) else None
                if path is None or not path.is_dir():
                    cause = f"labtrust_policy_dirs returned {item!r}, which is not a directory"
                    _report(_problem_of(impl.plugin_name, cause))
                    continue
                found.append((impl.plugin_name, path))
        state.policy_dirs = (state.generation, sorted(found))
    return list(state.policy_dirs[1])
