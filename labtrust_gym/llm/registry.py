"""LLM backends: ``register_llm_backend(backend_id, provider_or_factory)`` and friends.

A thin façade over the plugin manager's ``llm_backends`` registry (hook
``labtrust_register_llm_backends``, entry-point group ``labtrust_gym.llm_backends``). A backend
has ``complete(request) -> LLMResponse`` and ``configure(settings) -> backend``; it may be
registered as an instance, a class or a zero-argument factory, resolved once and checked for both
methods. Built-ins: ``heuristic``, ``openai_compatible``, ``record``, ``replay``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from labtrust_gym.errors import LLMBackendError, LLMError
from labtrust_gym.llm.contract import LLMRequest, LLMResponse
from labtrust_gym.llm.settings import LLMSettings
from labtrust_gym.plugins import registry

KIND = "llm_backends"


@runtime_checkable
class LLMBackend(Protocol):
    """What every LLM backend provides."""

    def complete(self, request: LLMRequest) -> LLMResponse:
        """Answer one request, or raise an :class:`~labtrust_gym.errors.LLMError`."""
        ...

    def configure(self, settings: LLMSettings) -> LLMBackend:
        """A new backend configured by ``settings`` (the registered one stays untouched)."""
        ...


def register_llm_backend(backend_id: str, provider: Any, *, replace: bool = False) -> None:
    """Register an LLM backend (instance, class or zero-argument factory)."""
    registry(KIND).register(backend_id, provider, replace=replace)


def get_llm_backend(backend_id: str) -> LLMBackend:
    """The registered backend ``backend_id``, resolved and checked, not configured."""
    backend: LLMBackend = registry(KIND).get(backend_id)
    return backend


def list_llm_backends() -> list[str]:
    """Registered LLM backend ids, sorted."""
    return registry(KIND).ids()


def create_llm_backend(
    backend_id: str | None = None,
    settings: LLMSettings | None = None,
    **overrides: Any,
) -> LLMBackend:
    """A backend ready for one run: ``get_llm_backend(id).configure(settings)``.

    ``settings`` defaults to :meth:`LLMSettings.resolve` (environment and active lab profile)
    with ``overrides`` applied; ``backend_id`` defaults to ``settings.backend_id``. Configuration
    problems (no model, no replay file, network not allowed, missing ``openai``) are raised here,
    before the run starts.
    """
    if settings is None:
        settings = LLMSettings.resolve(overrides)
    elif overrides:
        settings = settings.evolve(**overrides)
    ident = backend_id or settings.backend_id
    configured = get_llm_backend(ident).configure(settings)
    if not (callable(getattr(configured, "complete", None))):
        raise LLMBackendError(
            f"LLM backend {ident!r}: configure() returned {type(configured).__name__}, which has "
            "no complete(request) method.",
            kind="plugin_error",
            backend_id=ident,
        )
    return configured


def backend_name(backend: Any) -> str:
    """The id a backend calls itself (``backend_id`` attribute), else its class name."""
    name = getattr(backend, "backend_id", None)
    return name if isinstance(name, str) and name else type(backend).__name__


def complete_checked(backend: LLMBackend, request: LLMRequest) -> LLMResponse:
    """``backend.complete(request)`` with the answer checked, and any failure attributed.

    An :class:`LLMError` passes through; any other exception becomes an
    :class:`LLMBackendError` (kind ``plugin_error``) naming the backend; a result that is not an
    :class:`LLMResponse` for this request is kind ``bad_response``. Nothing is swallowed.
    """
    name = backend_name(backend)
    try:
        response = backend.complete(request)
    except LLMError:
        raise
    except Exception as exc:
        raise LLMBackendError(
            f"LLM backend {name!r} raised {type(exc).__name__}: {exc}",
            kind="plugin_error",
            backend_id=name,
        ) from exc
    if not isinstance(response, LLMResponse):
        raise LLMBackendError(
            f"LLM backend {name!r} returned {type(response).__name__}, not an LLMResponse; "
            "build it with labtrust_gym.llm.contract.build_response.",
            kind="bad_response",
            backend_id=name,
        )
    if response.request_hash != request.request_hash:
        raise LLMBackendError(
            f"LLM backend {name!r} answered request {response.request_hash[:12]}… to request "
            f"{request.request_hash[:12]}….",
            kind="bad_response",
            backend_id=name,
        )
    return response
