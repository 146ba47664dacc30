"""``openai_compatible``: any server speaking the OpenAI chat-completions protocol.

vLLM, the llama.cpp server, Ollama and hosted APIs all do. Uses the official ``openai`` client
(the ``llm`` extra), imported only when a backend is configured. The client's own retries are off
(``max_retries=0``): this module retries, so the policy is documented and reproducible —

* timeouts, refused connections, HTTP 5xx/408/409: retry after ``backoff_base_s * 2**(n-1)``
  seconds (capped at ``backoff_max_s``, no jitter), at most ``max_retries`` times;
* HTTP 429: wait what ``Retry-After`` says (seconds or an HTTP date; the backoff delay when the
  header is absent); a wait longer than ``max_retry_after_s`` fails the call at once;
* other HTTP 4xx (bad key, unknown model, bad request): fail at once;
* a malformed answer is not an error: the response carries ``parse_error``. With
  ``repair_attempts`` > 0 the model is shown its answer and the parse error and asked again, at
  most that many times; tokens of every round-trip are summed and ``repairs`` counts them.

Failures raise :class:`~labtrust_gym.errors.LLMBackendError` with ``kind`` and ``attempts``.
Without ``allow_network`` the backend refuses (``LLMNetworkDisabledError``) before any
connection is attempted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from labtrust_gym.errors import LLMBackendError, LLMConfigError, LLMNetworkDisabledError
from labtrust_gym.llm.contract import LLMRequest, LLMResponse, build_response
from labtrust_gym.llm.settings import LLMSettings

BACKEND_ID = "openai_compatible"
#: Sent when no API key is configured; local servers (vLLM, llama.cpp, Ollama) ignore it.
PLACEHOLDER_API_KEY = "no-key-configured"
REPAIR_PROMPT = (
    "Your previous reply could not be used: {error}. Reply again with only the JSON value, "
    "matching the requested schema exactly, and nothing else."
)


def import_openai() -> Any:
    """The ``openai`` module, or an error saying how to install it."""
    try:
        import openai
    except ImportError:
        raise LLMConfigError(
            "The openai_compatible LLM backend needs the 'openai' package: "
            "pip install 'labtrust-gym[llm]' (or pip install openai)."
        ) from None
    return openai


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (a number or an HTTP date), else ``None``."""
    value = (headers or {}).get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    import email.utils  # only on a 429 with a date: keeps `labtrust list` fast

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


@attrs.frozen
class _Reply:
    text: str
    model: str | None
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None


def _add(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a + b


class OpenAICompatibleBackend:
    """The built-in ``openai_compatible`` backend (see the module docstring)."""

    backend_id = BACKEND_ID

    def __init__(
        self,
        settings: LLMSettings | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.settings = settings if settings is not None else LLMSettings()
        self._sleep = sleep
        self._clock = clock
        self._client: Any = None

    def configure(self, settings: LLMSettings) -> OpenAICompatibleBackend:
        backend = OpenAICompatibleBackend(settings, sleep=self._sleep, clock=self._clock)
        backend._check_network()
        if not settings.model:
            raise LLMConfigError(
                "The openai_compatible LLM backend needs a model name: set LABTRUST_LLM_MODEL, "
                "the lab profile's llm.model, or the model setting (e.g. --llm-model)."
            )
        import_openai()
        return backend

    # ---- one request ------------------------------------------------------------------------
    def complete(self, request: LLMRequest) -> LLMResponse:
        self._check_network()
        start = self._clock()
        messages = request.chat_messages()
        reply = self._chat(request, messages)
        response = self._respond(request, reply, 0)
        prompt, completion = reply.prompt_tokens, reply.completion_tokens
        while not response.valid and response.repairs < self.settings.repair_attempts:
            error = response.parse_error
            messages = [
                *messages,
                {"role": "assistant", "content": reply.text},
                {"role": "user", "content": REPAIR_PROMPT.format(error=error)},
            ]
            reply = self._chat(request, messages)
            prompt = _add(prompt, reply.prompt_tokens)
            completion = _add(completion, reply.completion_tokens)
            response = self._respond(request, reply, response.repairs + 1)
        return attrs.evolve(
            response,
            prompt_tokens=prompt,
            completion_tokens=completion,
            latency_s=self._clock() - start,
        )

    def _respond(self, request: LLMRequest, reply: _Reply, repairs: int) -> LLMResponse:
        return build_response(
            request,
            reply.text,
            backend_id=BACKEND_ID,
            model=reply.model,
            prompt_tokens=reply.prompt_tokens,
            completion_tokens=reply.completion_tokens,
            finish_reason=reply.finish_reason,
            repairs=repairs,
        )

    def _check_network(self) -> None:
        if not self.settings.allow_network:
            target = self.settings.base_url or "the openai client's default endpoint"
            raise LLMNetworkDisabledError(
                f"The openai_compatible LLM backend would connect to {target}, but network use "
                "is not allowed for this run: pass --allow-network (allow_network=True) to "
                "permit it, or use the replay backend."
            )

    def _client_for(self, openai: Any) -> Any:
        if self._client is None:
            s = self.settings
            self._client = openai.OpenAI(
                base_url=s.base_url,
                api_key=s.api_key or PLACEHOLDER_API_KEY,
                timeout=s.timeout_s,
                max_retries=0,
            )
        return self._client

    def _arguments(self, request: LLMRequest, messages: list[dict[str, str]]) -> dict[str, Any]:
        sampling = request.sampling
        args: dict[str, Any] = {
            "model": request.model or self.settings.model,
            "messages": messages,
            "temperature": sampling.temperature,
            "max_tokens": sampling.max_tokens,
            "top_p": sampling.top_p,
        }
        if sampling.stop:
            args["stop"] = list(sampling.stop)
        if request.seed is not None:
            args["seed"] = request.seed
        schema = request.answer_schema
        if schema is not None and self.settings.response_format == "json_schema":
            args["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": schema},
            }
        elif schema is not None and self.settings.response_format == "json_object":
            args["response_format"] = {"type": "json_object"}
        return args

    def _chat(self, request: LLMRequest, messages: list[dict[str, str]]) -> _Reply:
        """One chat completion, retried as the module docstring says."""
        openai = import_openai()
        client = self._client_for(openai)
        args = self._arguments(request, messages)
        s = self.settings
        where = s.base_url or "the default endpoint"
        attempt = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            try:
                completion = client.chat.completions.create(**args)
            except openai.APITimeoutError:
                kind, detail = "timeout", f"no answer within {s.timeout_s:g} s"
            except openai.APIConnectionError as exc:
                kind, detail = "connection", f"cannot connect to {where}: {exc}"
            except openai.RateLimitError as exc:
                kind, detail = "rate_limit", "HTTP 429 (rate limited)"
                retry_after = retry_after_seconds(getattr(exc.response, "headers", None))
            except openai.APIStatusError as exc:
                status = exc.status_code
                detail = f"HTTP {status}: {_short(exc)}"
                if status < 500 and status not in (408, 409):
                    kind = "auth" if status in (401, 403) else "bad_request"
                    raise LLMBackendError(
                        f"LLM server {where} refused the request ({detail}); check the model "
                        "name, the API key and the server's supported parameters.",
                        kind=kind,
                        backend_id=BACKEND_ID,
                        attempts=attempt,
                    ) from None
                kind = "server_error"
            except openai.OpenAIError as exc:
                raise LLMBackendError(
                    f"LLM server {where} sent an unusable response: {_short(exc)}",
                    kind="bad_response",
                    backend_id=BACKEND_ID,
                    attempts=attempt,
                ) from None
            else:
                return _unpack(completion, args["model"], where, attempt)
            if attempt > s.max_retries:
                raise LLMBackendError(
                    f"LLM call to {where} failed after {attempt} attempt(s): {detail}.",
                    kind=kind,
                    backend_id=BACKEND_ID,
                    attempts=attempt,
                )
            if retry_after is not None and retry_after > s.max_retry_after_s:
                raise LLMBackendError(
                    f"LLM server {where} asked to retry after {retry_after:g} s, longer than "
                    f"max_retry_after_s={s.max_retry_after_s:g}.",
                    kind=kind,
                    backend_id=BACKEND_ID,
                    attempts=attempt,
                )
            self._sleep(retry_after if retry_after is not None else s.backoff_delay(attempt))


def _short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _unpack(completion: Any, model: str, where: str, attempt: int) -> _Reply:
    choices = getattr(completion, "choices", None) or []
    if not choices or getattr(choices[0], "message", None) is None:
        raise LLMBackendError(
            f"LLM server {where} answered without a choice/message.",
            kind="bad_response",
            backend_id=BACKEND_ID,
            attempts=attempt,
        )
    choice = choices[0]
    usage = getattr(completion, "usage", None)
    return _Reply(
        text=choice.message.content or "",
        model=getattr(completion, "model", None) or model,
        finish_reason=getattr(choice, "finish_reason", None),
        prompt_tokens=getattr(usage, "prompt_tokens", None),
        completion_tokens=getattr(usage, "completion_tokens", None),
    )
