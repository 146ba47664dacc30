"""How a backend is configured for a run: :class:`LLMSettings` and where its values come from.

Precedence, highest first: explicit values (CLI options, API keyword arguments), then
environment variables, then the active lab profile's ``llm:`` section, then the defaults.

===========================  ====================================  =============================
setting                      environment                           lab profile ``llm:`` key
===========================  ====================================  =============================
``base_url``                 ``LABTRUST_LLM_BASE_URL``,            ``base_url``
                             else ``OPENAI_BASE_URL``
``model``                    ``LABTRUST_LLM_MODEL``                ``model``
``api_key``                  ``LABTRUST_LLM_API_KEY``,             ``api_key_env`` (the *name*
                             else ``OPENAI_API_KEY``               of a variable to read)
``timeout_s``                ``LABTRUST_LLM_TIMEOUT_S``            ``timeout_s``
``max_retries``              ``LABTRUST_LLM_MAX_RETRIES``          ``max_retries``
===========================  ====================================  =============================

``allow_network`` comes from the caller only (``--allow-network``), never from the environment or
a profile: a run reaches the network only when someone asked for it on that run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import attrs

from labtrust_gym.errors import LLMConfigError, did_you_mean

#: Environment variables read for each setting, first match wins.
ENV_VARS: dict[str, tuple[str, ...]] = {
    "base_url": ("LABTRUST_LLM_BASE_URL", "OPENAI_BASE_URL"),
    "model": ("LABTRUST_LLM_MODEL",),
    "api_key": ("LABTRUST_LLM_API_KEY", "OPENAI_API_KEY"),
    "timeout_s": ("LABTRUST_LLM_TIMEOUT_S",),
    "max_retries": ("LABTRUST_LLM_MAX_RETRIES",),
}

RESPONSE_FORMATS = ("json_schema", "json_object", "none")


def _non_negative(_inst: Any, attr: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise LLMConfigError(f"LLM setting {attr.name} must be >= 0, got {value!r}.")


def _positive(_inst: Any, attr: attrs.Attribute[Any], value: float) -> None:
    if value <= 0:
        raise LLMConfigError(f"LLM setting {attr.name} must be > 0, got {value!r}.")


def _at_most(limit: int) -> Any:
    def check(_inst: Any, attr: attrs.Attribute[Any], value: int) -> None:
        if value > limit:
            raise LLMConfigError(f"LLM setting {attr.name} must be <= {limit}, got {value!r}.")

    return check


def _check_names(names: Any) -> None:
    known = [a.name for a in attrs.fields(LLMSettings)]
    for key in names:
        if key not in known:
            raise LLMConfigError(
                f"Unknown LLM setting {key!r}.{did_you_mean(key, known)} Known: {', '.join(known)}."
            )


def _identifier(_inst: Any, attr: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise LLMConfigError(f"LLM setting {attr.name} must be a backend id, got {value!r}.")


def _boolean(_inst: Any, attr: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, bool):
        raise LLMConfigError(f"LLM setting {attr.name} must be true or false, got {value!r}.")


def _one_of(choices: tuple[str, ...]) -> Any:
    def check(_inst: Any, attr: attrs.Attribute[Any], value: str) -> None:
        if value not in choices:
            raise LLMConfigError(
                f"LLM setting {attr.name}={value!r} is not one of {', '.join(choices)}."
            )

    return check


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise LLMConfigError(f"Expected a number, got {value!r}.")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise LLMConfigError(f"Expected a number, got {value!r}.") from None


def _to_int(value: Any) -> int:
    number = _to_float(value)
    if not number.is_integer():
        raise LLMConfigError(f"Expected a whole number, got {value!r}.")
    return int(number)


def _optional_text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise LLMConfigError(f"Expected a string, got {value!r}.")
    return value


@attrs.frozen(kw_only=True)
class LLMSettings:
    """Everything a built-in backend needs to know for one run.

    :param backend_id: the backend to use when the caller names none.
    :param base_url: an OpenAI-compatible endpoint, e.g. ``http://127.0.0.1:8000/v1``
        (``None``: the ``openai`` client's default, the hosted OpenAI API).
    :param model: the model name sent with every request that does not name one.
    :param api_key: sent as a bearer token (a placeholder when unset: local servers ignore it).
    :param allow_network: without it, a network backend refuses before any connection.
    :param timeout_s: per HTTP attempt.
    :param max_retries: retries after the first attempt (timeouts, 429, 5xx, refused connections).
    :param backoff_base_s: first retry delay; doubles per retry, no jitter (reproducible).
    :param backoff_max_s: cap on one backoff delay.
    :param max_retry_after_s: longest ``Retry-After`` honoured; a longer one fails the call.
    :param response_format: ``json_schema`` (send the answer schema), ``json_object`` or
        ``none`` (for servers that reject ``response_format``).
    :param repair_attempts: extra round-trips asking the model to fix a malformed answer (0-2).
    :param record_path: the JSONL file the ``record`` backend appends to.
    :param record_wraps: the backend ``record`` wraps.
    :param replay_path: the JSONL file the ``replay`` backend answers from.
    """

    backend_id: str = attrs.field(default="openai_compatible", validator=_identifier)
    base_url: str | None = attrs.field(default=None, converter=_optional_text)
    model: str | None = attrs.field(default=None, converter=_optional_text)
    api_key: str | None = attrs.field(default=None, converter=_optional_text, repr=False)
    allow_network: bool = attrs.field(default=False, validator=_boolean)
    timeout_s: float = attrs.field(default=60.0, converter=_to_float, validator=_positive)
    max_retries: int = attrs.field(default=3, converter=_to_int, validator=_non_negative)
    backoff_base_s: float = attrs.field(
        default=0.5, converter=_to_float, validator=_non_negative
    )
    backoff_max_s: float = attrs.field(
        default=30.0, converter=_to_float, validator=_non_negative
    )
    max_retry_after_s: float = attrs.field(
        default=120.0, converter=_to_float, validator=_non_negative
    )
    response_format: str = attrs.field(default="json_schema", validator=_one_of(RESPONSE_FORMATS))
    repair_attempts: int = attrs.field(
        default=0,
        converter=_to_int,
        validator=[_non_negative, _at_most(2)],
    )
    record_path: str | None = attrs.field(default=None, converter=_optional_text)
    record_wraps: str = attrs.field(default="openai_compatible", validator=_identifier)
    replay_path: str | None = attrs.field(default=None, converter=_optional_text)

    def backoff_delay(self, retry: int) -> float:
        """Delay before retry number ``retry`` (1-based): base * 2**(retry-1), capped."""
        return float(min(self.backoff_max_s, self.backoff_base_s * 2 ** (retry - 1)))

    def evolve(self, **changes: Any) -> LLMSettings:
        """A copy with ``changes`` applied (unknown names are an error with a suggestion)."""
        _check_names(changes)
        return attrs.evolve(self, **changes)

    @classmethod
    def resolve(
        cls,
        overrides: Mapping[str, Any] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        profile: Any = None,
    ) -> LLMSettings:
        """Settings from ``overrides`` > environment > lab profile ``llm:`` section > defaults.

        ``profile`` defaults to the active lab profile; ``environ`` to ``os.environ``. Unknown
        override keys are an error with a suggestion.
        """
        env = environ if environ is not None else os.environ
        values: dict[str, tuple[Any, str]] = {}  # name -> (value, where it came from)
        if profile is None:
            from labtrust_gym.config import get_active_profile

            profile = get_active_profile()
        where = f"lab profile {getattr(profile, 'profile_id', '?')!r} (llm.{{}})"
        for key, value in (getattr(profile, "llm", None) or {}).items():
            if key == "api_key_env":
                if env.get(str(value)):
                    values["api_key"] = (env[str(value)], f"environment variable {value}")
            elif value is not None:
                values[key] = (value, where.format(key))
        for name, variables in ENV_VARS.items():
            found = next((v for v in variables if env.get(v)), None)
            if found is not None:
                values[name] = (env[found], f"environment variable {found}")
        _check_names(overrides or {})
        for key, value in (overrides or {}).items():
            if value is not None:
                values[key] = (value, f"option {key}")
        for key, (value, source) in values.items():
            try:
                cls(**{key: value})
            except LLMConfigError as exc:
                raise LLMConfigError(f"LLM setting {key} from {source}: {exc}") from None
        return cls(**{key: value for key, (value, _source) in values.items()})
