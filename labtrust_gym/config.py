"""Where policy lives, and lab profiles.

Policy is **layered** (docs/policy_layers.md). Lowest first:

1. the policy shipped with the package (``labtrust_gym/policy`` in a wheel, or the source
   checkout's ``policy/`` for an editable install) — always the base;
2. every plugin's policy directory (hook ``labtrust_policy_dirs``); two plugins shipping the same
   file is an error naming both;
3. the user's directory: ``LABTRUST_POLICY_DIR`` (the policy directory itself, any name; a
   missing path is an error), else the nearest ancestor of the working directory holding a
   ``policy/`` directory — or, where a function takes a ``root``, that root.

A file is read from the highest layer that has it, so a layer holds only what it changes.
``policy_path(root, *parts)`` resolves through the layers above the shipped policy with ``root``
as the user layer (``root`` may be a repo root containing ``policy/`` or a policy directory);
:func:`policy_layers` returns the whole stack for listing a merged directory or fingerprinting.

A lab profile (``policy/lab_profiles/<id>.v0.1.yaml``, from any layer) selects the partner, the
domain, the providers and extension packages; ``labtrust --profile ID`` makes it the active
profile for every command.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from labtrust_gym.errors import ConfigError, PolicyError, did_you_mean

POLICY_DIR_ENV = "LABTRUST_POLICY_DIR"
_PACKAGE_DIR = Path(__file__).resolve().parent


class PolicyNote(UserWarning):
    """Something in a policy file was accepted but deserves the user's attention."""


def _shipped_root() -> Path:
    if (_PACKAGE_DIR / "policy").is_dir():  # installed wheel
        return _PACKAGE_DIR
    return _PACKAGE_DIR.parent  # source checkout / editable install


def _user_root() -> Path | None:
    """``LABTRUST_POLICY_DIR``, else the nearest ancestor of the working directory holding
    ``policy/``, else None."""
    env_dir = os.environ.get(POLICY_DIR_ENV)
    if env_dir:
        path = Path(env_dir).expanduser()
        if not path.is_dir():
            raise ConfigError(
                f"{POLICY_DIR_ENV}={env_dir!r} is not a directory; point it at a policy directory "
                "(one holding lab_profiles/, schemas/, …) or unset it."
            )
        return path.resolve()
    cwd = Path.cwd().resolve()
    for candidate in (cwd, *cwd.parents):
        if (candidate / "policy").is_dir():
            return candidate
    return None


def get_repo_root() -> Path:
    """The user's policy root: ``LABTRUST_POLICY_DIR``, else the nearest ancestor of the working
    directory holding ``policy/``, else the root of the policy shipped with the package.

    Pass it to :func:`policy_path`, which resolves through every policy layer."""
    return _user_root() or _shipped_root()


def policy_dir(root: Path | str | None = None) -> Path:
    """The policy directory under ``root`` (a repo root or the policy directory itself)."""
    base = Path(root) if root is not None else get_repo_root()
    nested = base / "policy"
    return nested if nested.is_dir() else base


def policy_path(root: Path | str | None, *parts: str) -> Path:
    """The file ``policy/<parts>`` from the highest layer that has it, with ``root`` (default:
    :func:`get_repo_root`) as the user layer. A path no layer has is returned under ``root``'s
    policy directory (where a user would add it); with no ``parts``, that directory itself."""
    layers = policy_layers(root)
    return layers.path(*parts) if parts else layers.top.path


# --------------------------------------------------------------------------------------------
# Policy layers
# --------------------------------------------------------------------------------------------


@attrs.frozen
class PolicyLayer:
    """One policy directory of the stack: ``shipped``, ``plugin`` (with its name) or ``user``."""

    kind: str
    path: Path
    plugin: str | None = None

    def describe(self) -> str:
        if self.kind == "plugin":
            return f"plugin {self.plugin}"
        return "shipped" if self.kind == "shipped" else f"user {self.path}"


def _rel_parts(parts: tuple[str, ...]) -> tuple[str, ...] | None:
    """``parts`` as a normalised relative path inside a layer, or None if it is absolute or
    climbs out with ``..`` (plain string work: this runs on every policy lookup)."""
    out: list[str] = []
    for part in parts:
        text = os.fspath(part)
        if os.path.isabs(text):
            return None
        for piece in text.split("/"):
            if piece == "..":
                if not out:
                    return None
                out.pop()
            elif piece not in ("", "."):
                out.append(piece)
    return tuple(out)


@attrs.frozen
class PolicyLayers:
    """The policy stack, highest layer first; the last one is the shipped policy."""

    layers: tuple[PolicyLayer, ...]
    #: A hashable identity of the stack (for caches keyed by the effective policy).
    key: tuple[str, ...] = attrs.field(init=False)

    @key.default
    def _key(self) -> tuple[str, ...]:
        return tuple(str(layer.path) for layer in self.layers)

    @property
    def top(self) -> PolicyLayer:
        return self.layers[0]

    def find(self, *parts: str) -> tuple[Path, PolicyLayer] | None:
        """The highest layer's ``parts`` (file or directory) and that layer, or None.

        Directories are not merged: the highest layer holding the directory wins (use
        :meth:`listing` for a merged directory). A path that is absolute or climbs out of the
        layers with ``..`` is never found."""
        found = self._locate(parts)
        return (Path(found[1]), self.layers[found[0]]) if found is not None else None

    def _locate(self, parts: tuple[str, ...]) -> tuple[int, str] | None:
        rel = _rel_parts(parts)
        if rel is None:
            return None
        for index, base in enumerate(self.key):
            candidate = os.path.join(base, *rel)  # os.path: this runs on every policy lookup
            if os.path.exists(candidate):
                return index, candidate
        return None

    def locate(self, *parts: str) -> str:
        """:meth:`path` as a string (cheaper; used where policy files are looked up often)."""
        found = self._locate(parts)
        return found[1] if found is not None else os.path.join(self.key[0], *parts)

    def path(self, *parts: str) -> Path:
        """The highest layer's ``parts``; if no layer has it, where the top layer would."""
        return Path(self.locate(*parts))

    def listing(self, *dir_parts: str, suffix: str = "") -> dict[str, tuple[Path, PolicyLayer]]:
        """Files directly in ``dir_parts`` merged over every layer: ``{name: (path, layer)}``."""
        merged: dict[str, tuple[Path, PolicyLayer]] = {}
        for layer in reversed(self.layers):  # lowest first; higher layers overwrite
            directory = layer.path.joinpath(*dir_parts)
            if directory.is_dir():
                for entry in sorted(directory.iterdir()):
                    if entry.is_file() and entry.name.endswith(suffix):
                        merged[entry.name] = (entry, layer)
        return dict(sorted(merged.items()))

    def files(self) -> dict[str, tuple[Path, PolicyLayer]]:
        """Every file of the merged policy: ``{relative posix path: (path, layer)}``, sorted."""
        merged: dict[str, tuple[Path, PolicyLayer]] = {}
        for layer in reversed(self.layers):
            for rel, path in _layer_files(layer.path):
                merged[rel] = (path, layer)
        return dict(sorted(merged.items()))


def _layer_files(base: Path) -> Iterator[tuple[str, Path]]:
    for path in base.rglob("*"):
        rel = path.relative_to(base).as_posix()
        if path.is_file() and "__pycache__" not in rel and not rel.startswith("."):
            yield rel, path


_LAYERS_CACHE: dict[tuple[str | None, tuple[tuple[str, Path], ...]], PolicyLayers] = {}


def policy_layers(root: Path | str | None = None) -> PolicyLayers:
    """The policy stack with ``root`` (default: the user's directory, if any) as the user layer.

    Raises :class:`PolicyError` naming both plugins when two plugins ship the same file."""
    from labtrust_gym.plugins import plugin_policy_dirs

    user_root = os.fspath(root) if root is not None else _user_root()
    plugin_dirs = tuple(plugin_policy_dirs())
    cache_key = (str(user_root) if user_root is not None else None, plugin_dirs)
    cached = _LAYERS_CACHE.get(cache_key)
    if cached is not None:
        return cached
    _check_plugin_conflicts(plugin_dirs)
    shipped = (_shipped_root() / "policy").resolve()
    user = policy_dir(user_root).resolve() if user_root is not None else None
    layers: list[PolicyLayer] = []
    seen = {shipped}
    if user is not None and user not in seen:
        layers.append(PolicyLayer("user", user))
        seen.add(user)
    for name, directory in plugin_dirs:
        if directory not in seen:
            layers.append(PolicyLayer("plugin", directory, name))
            seen.add(directory)
    layers.append(PolicyLayer("shipped", shipped))
    stack = _LAYERS_CACHE[cache_key] = PolicyLayers(tuple(layers))
    return stack


def policy_fingerprint(root: Path | str | None = None, *, exclude: tuple[str, ...] = ()) -> str:
    """``sha256:<hex>`` over every file of the effective (layered) policy: relative path and bytes
    of the file each path resolves to, sorted by path. Equal policies give equal fingerprints
    whatever layers they came from (results, safety cases and pack manifests all record it).

    ``exclude`` lists policy subtrees (relative posix paths such as ``coordination/studies``)
    left out, for fingerprints of what a run reads when the excluded files are its inputs."""
    prefixes = tuple(e.strip("/") + "/" for e in exclude)
    files = policy_layers(root).files()
    return _fingerprint(
        tuple(
            (rel, str(path), path.stat().st_mtime_ns)
            for rel, (path, _l) in files.items()
            if not rel.startswith(prefixes)
        )
    )


@functools.lru_cache(maxsize=8)
def _fingerprint(files: tuple[tuple[str, str, int], ...]) -> str:
    import hashlib

    digest = hashlib.sha256()
    for rel, path, _mtime in files:  # the mtime is part of the cache key only
        digest.update(rel.encode("utf-8") + b"\0")
        digest.update(Path(path).read_bytes() + b"\0")
    return "sha256:" + digest.hexdigest()


def _check_plugin_conflicts(plugin_dirs: tuple[tuple[str, Path], ...]) -> None:
    owner: dict[str, tuple[str, Path]] = {}
    for name, directory in plugin_dirs:
        for rel, _path in _layer_files(directory):
            first = owner.setdefault(rel, (name, directory))
            if first[0] != name and first[1] != directory:
                raise PolicyError(
                    f"Policy file {rel!r} is shipped by two plugins: {first[0]!r} "
                    f"({str(first[1])!r}) and {name!r} ({str(directory)!r}). A file may come from "
                    "one plugin only; uninstall or disable one of them (LABTRUST_DISABLE_PLUGINS)."
                )


# --------------------------------------------------------------------------------------------
# Lab profiles
# --------------------------------------------------------------------------------------------

#: Path-override fields a profile may set, with their defaults relative to the policy dir.
PATH_FIELDS: dict[str, tuple[str, ...]] = {
    "security_suite_path": ("security", "attack_suite.v0.1.yaml"),
    "safety_claims_path": ("safety_case", "claims.v0.1.yaml"),
    "benchmark_pack_path": ("official", "benchmark_pack.v0.1.yaml"),
    "coordination_methods_path": ("coordination", "coordination_methods.v0.1.yaml"),
    "scale_configs_path": ("coordination", "scale_configs.v0.1.yaml"),
    "invariant_registry_path": ("invariants", "invariant_registry.v0.1.yaml"),
}

#: Fields documented by the peer implementation's profile schema that have no effect here; a
#: profile may carry them (a note says so), so profiles written for the peer load unchanged.
PEER_FIELDS: dict[str, str] = {
    "coordination_study_spec_path": (
        "coordination studies are not part of this implementation; the path is kept but not used"
    ),
}


def _str_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _none_is_default(value: Any) -> Any:
    """Converter: the peer's profiles write ``null`` for "the default provider"."""
    return "default" if value is None else value


def _none_is_hospital_lab(value: Any) -> Any:
    return "hospital_lab" if value is None else value


def _check_names(_inst: Any, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ConfigError(
                f"Lab profile field {attribute.name!r}: entries must be non-empty "
                f"strings, got {item!r}."
            )


def _non_empty_str(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"Lab profile field {attribute.name!r} must be a non-empty string, got {value!r}."
        )


def _optional_str(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"Lab profile field {attribute.name!r} must be a string, got {value!r}.")


#: Keys of a profile's optional ``llm:`` section (see labtrust_gym.llm.settings; never a key
#: itself: ``api_key_env`` names the environment variable holding it).
LLM_PROFILE_KEYS: dict[str, tuple[type, ...]] = {
    "backend_id": (str,),
    "base_url": (str,),
    "model": (str,),
    "api_key_env": (str,),
    "timeout_s": (int, float),
    "max_retries": (int,),
    "backoff_base_s": (int, float),
    "backoff_max_s": (int, float),
    "max_retry_after_s": (int, float),
    "response_format": (str,),
    "repair_attempts": (int,),
}


def _llm_section(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigError(f"Lab profile field 'llm' must be a mapping, got {value!r}.")
    for key, item in value.items():
        types_ = LLM_PROFILE_KEYS.get(key)
        if types_ is None:
            raise ConfigError(
                f"Lab profile field 'llm': unknown key {key!r}."
                f"{did_you_mean(str(key), LLM_PROFILE_KEYS)} "
                f"Allowed: {', '.join(LLM_PROFILE_KEYS)}."
            )
        if item is not None and (isinstance(item, bool) or not isinstance(item, types_)):
            raise ConfigError(
                f"Lab profile field 'llm.{key}' must be {' or '.join(t.__name__ for t in types_)},"
                f" got {item!r}."
            )
    return dict(value)


def _provider_id() -> Any:
    return attrs.field(
        default="default", converter=_none_is_default, validator=_non_empty_str
    )


@attrs.frozen(kw_only=True)
class LabProfile:
    """A validated lab profile (``policy/lab_profiles/<id>.v0.1.yaml``).

    ``null`` for ``domain_id`` or a provider id means the default. ``peer_fields`` keeps the
    :data:`PEER_FIELDS` the file carried (accepted with a note, not used)."""

    profile_id: str = attrs.field(validator=_non_empty_str)
    version: str = attrs.field(default="0.1", converter=str)
    description: str = attrs.field(default="", validator=_optional_str)
    partner_id: str | None = attrs.field(default=None, validator=_optional_str)
    domain_id: str = attrs.field(
        default="hospital_lab", converter=_none_is_hospital_lab, validator=_non_empty_str
    )
    security_suite_provider_id: str = _provider_id()
    safety_case_provider_id: str = _provider_id()
    metrics_aggregator_id: str = _provider_id()
    benchmark_pack_loader_id: str = _provider_id()
    extension_packages: tuple[str, ...] = attrs.field(
        default=(), converter=_str_tuple, validator=_check_names
    )
    security_suite_path: str | None = attrs.field(default=None, validator=_optional_str)
    safety_claims_path: str | None = attrs.field(default=None, validator=_optional_str)
    benchmark_pack_path: str | None = attrs.field(default=None, validator=_optional_str)
    coordination_methods_path: str | None = attrs.field(default=None, validator=_optional_str)
    scale_configs_path: str | None = attrs.field(default=None, validator=_optional_str)
    invariant_registry_path: str | None = attrs.field(default=None, validator=_optional_str)
    llm: dict[str, Any] | None = attrs.field(default=None, converter=_llm_section, hash=False)
    peer_fields: tuple[tuple[str, Any], ...] = attrs.field(default=(), eq=False)
    source_path: str | None = attrs.field(default=None, eq=False)

    @classmethod
    def from_mapping(cls, data: Any, *, where: str) -> LabProfile:
        if not isinstance(data, dict):
            raise PolicyError(
                f"{where}: a lab profile must be a mapping, got {type(data).__name__}."
            )
        known = {a.name for a in attrs.fields(cls)} - {"source_path", "peer_fields"}
        fields: dict[str, Any] = {}
        peer: list[tuple[str, Any]] = []
        for key, value in data.items():
            if key in PEER_FIELDS:
                peer.append((key, value))
                if value is not None:
                    warnings.warn(
                        f"{where}: field {key!r} is accepted for compatibility but "
                        f"{PEER_FIELDS[key]}.",
                        PolicyNote,
                        stacklevel=2,
                    )
            elif key in known:
                fields[key] = value
            else:
                allowed = sorted(known | set(PEER_FIELDS))
                raise PolicyError(
                    f"{where}: unknown field {key!r}.{did_you_mean(str(key), allowed)} "
                    f"Allowed fields: {', '.join(allowed)}."
                )
        try:
            return cls(**fields, peer_fields=tuple(peer), source_path=where)
        except ConfigError as exc:
            raise PolicyError(f"{where}: {exc}") from None
        except TypeError as exc:
            raise PolicyError(f"{where}: {exc}") from None

    def resolve_path(self, field: str, root: Path | str | None = None) -> Path:
        """The file for path field ``field``: the override if safe, else the default, each
        resolved through the policy layers (``root`` is the user layer, as for policy_path).

        An override must be a relative path that stays inside the layers; an absolute or
        escaping path (``..``, or a symlink leading out of its layer) is rejected with a warning
        (an error in strict plugin mode) and the default is used.
        """
        if field not in PATH_FIELDS:
            raise ConfigError(
                f"Unknown lab profile path field {field!r}.{did_you_mean(field, PATH_FIELDS)}"
            )
        layers = policy_layers(root)
        default = layers.path(*PATH_FIELDS[field])
        override = getattr(self, field)
        if not override:
            return default
        rel = _rel_parts((override,))
        if rel:
            found = layers.find(*rel)
            path, layer = found or (layers.top.path.joinpath(*rel), layers.top)
            resolved = path.resolve()
            if resolved.is_relative_to(layer.path):  # a symlink may not lead out of its layer
                return resolved
        message = (
            f"Lab profile {self.profile_id!r}: {field}={override!r} is outside the policy "
            f"directory {str(layers.top.path)!r} and the layers below it; using the default "
            f"{str(default)!r}."
        )
        from labtrust_gym.plugins import is_strict

        if is_strict():
            raise ConfigError(
                message.replace("; using the default", "; refusing (strict mode). Default would be")
            )
        warnings.warn(message, UserWarning, stacklevel=2)
        return default


DEFAULT_PROFILE = LabProfile(profile_id="default", description="Built-in defaults.")
PROFILE_SUFFIX = ".v0.1.yaml"


def profile_sources(root: Path | str | None = None) -> dict[str, tuple[Path, PolicyLayer]]:
    """Every lab profile of every layer: ``{profile_id: (file, layer it comes from)}``."""
    listing = policy_layers(root).listing("lab_profiles", suffix=PROFILE_SUFFIX)
    return {name.removesuffix(PROFILE_SUFFIX): entry for name, entry in listing.items()}


def list_profiles(root: Path | str | None = None) -> list[str]:
    """Ids of the lab profiles of every layer, sorted."""
    return sorted(profile_sources(root))


def load_profile(profile_id: str, root: Path | str | None = None) -> LabProfile:
    """Read and validate ``policy/lab_profiles/<profile_id>.v0.1.yaml`` (highest layer)."""
    from labtrust_gym.fileio import load_yaml

    sources = profile_sources(root)
    entry = sources.get(profile_id)
    if entry is None:
        layers = policy_layers(root)
        where = "; ".join(str(layer.path / "lab_profiles") for layer in layers.layers)
        known = sorted(sources)
        raise ConfigError(
            f"Unknown lab profile {profile_id!r} (looked in {where}). Known: "
            f"{', '.join(known) or '(none)'}.{did_you_mean(profile_id, known)} Add "
            f"policy/lab_profiles/{profile_id}{PROFILE_SUFFIX} in your working directory (or in "
            f"{POLICY_DIR_ENV})."
        )
    path = entry[0]
    profile = LabProfile.from_mapping(load_yaml(path), where=str(path))
    if profile.profile_id != profile_id:
        raise PolicyError(
            f"{path}: profile_id {profile.profile_id!r} does not match the file name "
            f"({profile_id!r})."
        )
    return profile


_ACTIVE: LabProfile | None = None


def get_active_profile() -> LabProfile:
    """The profile applied with ``--profile`` (or :func:`apply_profile`), else the defaults."""
    return _ACTIVE if _ACTIVE is not None else DEFAULT_PROFILE


def set_active_profile(profile: LabProfile | None) -> None:
    global _ACTIVE
    _ACTIVE = profile


def apply_profile(profile: LabProfile | str, root: Path | str | None = None) -> LabProfile:
    """Make ``profile`` active: load its extension packages, then check the ids it selects.

    The domain, metrics aggregator and benchmark pack loader ids must be registered (an unknown
    one raises with the known ids listed). Security-suite and safety-case provider ids are checked
    by the commands that use them.
    """
    from labtrust_gym.errors import UnknownIdError
    from labtrust_gym.plugins import load_extension_package, load_plugins, registry

    resolved = load_profile(profile, root) if isinstance(profile, str) else profile
    load_plugins()
    for package in resolved.extension_packages:
        load_extension_package(package, profile_id=resolved.profile_id)
    for kind, ident in (
        ("domains", resolved.domain_id),
        ("metrics_aggregators", resolved.metrics_aggregator_id),
        ("benchmark_pack_loaders", resolved.benchmark_pack_loader_id),
    ):
        reg = registry(kind)
        if ident not in reg:
            error = UnknownIdError.for_id(reg.spec.label, ident, reg.ids())
            raise ConfigError(f"Lab profile {resolved.profile_id!r}: {error}")
    set_active_profile(resolved)
    return resolved


#: Profile fields that select a registered id, with the registry kind each names.
PROVIDER_FIELDS: dict[str, str] = {
    "domain_id": "domains",
    "security_suite_provider_id": "security_suite_providers",
    "safety_case_provider_id": "safety_case_providers",
    "metrics_aggregator_id": "metrics_aggregators",
    "benchmark_pack_loader_id": "benchmark_pack_loaders",
}


def profile_problems(root: Path | str | None = None) -> tuple[list[str], list[str]]:
    """``(problems, notes)`` of every lab profile: a profile that does not load, or selects an
    id nobody registers (a provider field, or its ``llm.backend_id``), is a problem. A profile's
    installed extension packages are loaded first (they may register the ids); one that is not
    installed is a note, since only runs with that profile need it."""
    from labtrust_gym.errors import LabTrustError, UnknownIdError
    from labtrust_gym.plugins import load_extension_package, registry

    problems: list[str] = []
    notes: list[str] = []
    for profile_id in list_profiles(root):
        try:
            profile = load_profile(profile_id, root)
        except LabTrustError as exc:
            problems.append(f"lab profile {profile_id!r}: {exc}")
            continue
        for package in profile.extension_packages:
            try:
                load_extension_package(package, profile_id=profile_id)
            except LabTrustError as exc:
                notes.append(f"lab profile {profile_id!r}: {exc}")
        selected = [(f, kind, getattr(profile, f)) for f, kind in PROVIDER_FIELDS.items()]
        backend = (profile.llm or {}).get("backend_id")
        if backend is not None:  # the llm: section selects a backend too
            selected.append(("llm.backend_id", "llm_backends", backend))
        for field, kind, ident in selected:
            reg = registry(kind)
            if ident not in reg:
                error = UnknownIdError.for_id(reg.spec.label, ident, reg.ids())
                problems.append(f"lab profile {profile_id!r}: {field}: {error}")
    return problems, notes
