"""Where policy lives, and lab profiles.

The *policy root* is found in this order:

1. ``LABTRUST_POLICY_DIR`` — the policy directory itself (any name); a missing path is an error;
2. the nearest ancestor of the working directory holding a ``policy/lab_profiles/`` directory
   (a checkout or a forker's repo);
3. the policy shipped with the package (``labtrust_gym/policy`` in a wheel, or the source
   checkout's ``policy/`` for an editable install).

``policy_path(root, *parts)`` accepts either a repo root (containing ``policy/``) or a policy
directory, so callers never need to know which one they hold.

A lab profile (``policy/lab_profiles/<id>.v0.1.yaml``) selects the partner, the domain, the
providers and extension packages; ``labtrust --profile ID`` makes it the active profile for every
command.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path, PurePosixPath
from typing import Any

import attrs

from labtrust_gym.errors import ConfigError, PolicyError, did_you_mean

POLICY_DIR_ENV = "LABTRUST_POLICY_DIR"
_PACKAGE_DIR = Path(__file__).resolve().parent


def _shipped_root() -> Path:
    if (_PACKAGE_DIR / "policy").is_dir():  # installed wheel
        return _PACKAGE_DIR
    return _PACKAGE_DIR.parent  # source checkout / editable install


def get_repo_root() -> Path:
    """The policy root: ``LABTRUST_POLICY_DIR``, else the nearest ancestor holding ``policy/``,
    else the policy shipped with the package."""
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
        if (candidate / "policy" / "lab_profiles").is_dir():
            return candidate
    return _shipped_root()


def policy_dir(root: Path | str | None = None) -> Path:
    """The policy directory under ``root`` (a repo root or the policy directory itself)."""
    base = Path(root) if root is not None else get_repo_root()
    nested = base / "policy"
    return nested if nested.is_dir() else base


def policy_path(root: Path | str | None, *parts: str) -> Path:
    """Build a path under the policy directory of ``root``."""
    return policy_dir(root).joinpath(*parts)


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


def _str_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


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


@attrs.frozen(kw_only=True)
class LabProfile:
    """A validated lab profile (``policy/lab_profiles/<id>.v0.1.yaml``)."""

    profile_id: str = attrs.field(validator=_non_empty_str)
    version: str = attrs.field(default="0.1", converter=str)
    description: str = attrs.field(default="", validator=_optional_str)
    partner_id: str | None = attrs.field(default=None, validator=_optional_str)
    domain_id: str = attrs.field(default="hospital_lab", validator=_non_empty_str)
    security_suite_provider_id: str = attrs.field(default="default", validator=_non_empty_str)
    safety_case_provider_id: str = attrs.field(default="default", validator=_non_empty_str)
    metrics_aggregator_id: str = attrs.field(default="default", validator=_non_empty_str)
    benchmark_pack_loader_id: str = attrs.field(default="default", validator=_non_empty_str)
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
    source_path: str | None = attrs.field(default=None, eq=False)

    @classmethod
    def from_mapping(cls, data: Any, *, where: str) -> LabProfile:
        if not isinstance(data, dict):
            raise PolicyError(
                f"{where}: a lab profile must be a mapping, got {type(data).__name__}."
            )
        known = {a.name for a in attrs.fields(cls)} - {"source_path"}
        for key in data:
            if key not in known:
                raise PolicyError(
                    f"{where}: unknown field {key!r}.{did_you_mean(str(key), sorted(known))} "
                    f"Allowed fields: {', '.join(sorted(known))}."
                )
        try:
            return cls(**data, source_path=where)
        except ConfigError as exc:
            raise PolicyError(f"{where}: {exc}") from None
        except TypeError as exc:
            raise PolicyError(f"{where}: {exc}") from None

    def resolve_path(self, field: str, root: Path | str | None = None) -> Path:
        """The file for path field ``field``: the override if safe, else the default.

        An override must be relative and stay under the policy directory; an absolute or
        escaping path is rejected with a warning (an error in strict plugin mode) and the default
        is used.
        """
        if field not in PATH_FIELDS:
            raise ConfigError(
                f"Unknown lab profile path field {field!r}.{did_you_mean(field, PATH_FIELDS)}"
            )
        base = policy_dir(root).resolve()
        default = base.joinpath(*PATH_FIELDS[field])
        override = getattr(self, field)
        if not override:
            return default
        pure = PurePosixPath(override)
        candidate = (base / override).resolve()
        if pure.is_absolute() or Path(override).is_absolute() or not candidate.is_relative_to(base):
            message = (
                f"Lab profile {self.profile_id!r}: {field}={override!r} is outside the policy "
                f"directory {str(base)!r}; using the default {str(default)!r}."
            )
            from labtrust_gym.plugins import is_strict

            if is_strict():
                raise ConfigError(
                    message.replace(
                        "; using the default", "; refusing (strict mode). Default would be"
                    )
                )
            warnings.warn(message, UserWarning, stacklevel=2)
            return default
        return candidate


DEFAULT_PROFILE = LabProfile(profile_id="default", description="Built-in defaults.")


def list_profiles(root: Path | str | None = None) -> list[str]:
    directory = policy_path(root if root is not None else get_repo_root(), "lab_profiles")
    if not directory.is_dir():
        return []
    return sorted(p.name.removesuffix(".v0.1.yaml") for p in directory.glob("*.v0.1.yaml"))


def load_profile(profile_id: str, root: Path | str | None = None) -> LabProfile:
    """Read and validate ``policy/lab_profiles/<profile_id>.v0.1.yaml``."""
    from labtrust_gym.fileio import load_yaml

    base = root if root is not None else get_repo_root()
    path = policy_path(base, "lab_profiles", f"{profile_id}.v0.1.yaml")
    if not path.is_file():
        known = list_profiles(base)
        raise ConfigError(
            f"Unknown lab profile {profile_id!r} (looked for {str(path)!r}). Known: "
            f"{', '.join(known) or '(none)'}.{did_you_mean(profile_id, known)}"
        )
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
    id nobody registers, is a problem. A profile's installed extension packages are loaded first
    (they may register the ids); one that is not installed is a note, since only runs with that
    profile need it."""
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
        for field, kind in PROVIDER_FIELDS.items():
            ident = getattr(profile, field)
            reg = registry(kind)
            if ident not in reg:
                error = UnknownIdError.for_id(reg.spec.label, ident, reg.ids())
                problems.append(f"lab profile {profile_id!r}: {field}: {error}")
    return problems, notes
