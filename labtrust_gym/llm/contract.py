"""The request/response contract every LLM backend speaks.

A caller builds an :class:`LLMRequest` (system prompt, messages, a JSON Schema for the answer,
sampling parameters, a seed, a model name, metadata); a backend returns an :class:`LLMResponse`
(text, the parsed answer or a parse error, token counts, latency, backend id, model, finish
reason, request hash, answer hash). Both are frozen ``attrs`` records with ``to_dict`` /
``from_dict`` so they can be recorded and replayed byte for byte.

The request hash is the sha256 of the request's canonical JSON (sorted keys, no whitespace,
UTF-8): stable across processes and ``PYTHONHASHSEED``, never Python's ``hash()``. Everything in
the request, ``metadata`` included, feeds it.

Module scope stays light: ``jsonschema`` is imported only when a request carries a schema.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from labtrust_gym.errors import InvalidInputError
from labtrust_gym.fileio import canonical_json

#: Format tag inside every request dict; changing the request layout changes it (and the hashes).
REQUEST_FORMAT = "labtrust.llm.request.v1"
#: Chat roles a message may have.
ROLES = ("system", "user", "assistant")


def sha256_hex(data: str | bytes) -> str:
    """Hex sha256 of ``data`` (text is UTF-8 encoded)."""
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def _json_data(value: Any, *, what: str) -> Any:
    """A detached copy of ``value`` that is plain JSON data (no NaN, sets or objects)."""
    try:
        return json.loads(canonical_json(value))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"{what} must be JSON data (dicts, lists, str, numbers): {exc}."
        ) from None


def _schema_copy(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidInputError(
            f"LLMRequest.answer_schema must be a JSON Schema object, got {type(value).__name__}."
        )
    copy: dict[str, Any] = _json_data(value, what="LLMRequest.answer_schema")
    return copy


def _metadata_copy(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInputError(
            f"LLMRequest.metadata must be a mapping, got {type(value).__name__}."
        )
    copy: dict[str, Any] = _json_data(value, what="LLMRequest.metadata")
    return copy


# --------------------------------------------------------------------------------------------
# Request
# --------------------------------------------------------------------------------------------


def _check_role(_inst: Any, _attr: Any, value: str) -> None:
    if value not in ROLES:
        raise InvalidInputError(f"Message role {value!r} is not one of {', '.join(ROLES)}.")


def _check_str(_inst: Any, attr: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str):
        raise InvalidInputError(f"{attr.name} must be a string, got {type(value).__name__}.")


@attrs.frozen
class Message:
    """One chat message."""

    role: str = attrs.field(validator=_check_role)
    content: str = attrs.field(validator=_check_str)


def _messages(value: Any) -> tuple[Message, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise InvalidInputError("LLMRequest.messages must be a list of messages.")
    out = []
    for item in value:
        if isinstance(item, Message):
            out.append(item)
        elif isinstance(item, Mapping) and set(item) == {"role", "content"}:
            out.append(Message(item["role"], item["content"]))
        else:
            raise InvalidInputError(
                f"LLMRequest.messages: {item!r} is not a Message or a {{'role', 'content'}} dict."
            )
    return tuple(out)


def _check_messages(_inst: Any, _attr: Any, value: tuple[Message, ...]) -> None:
    if not value:
        raise InvalidInputError("LLMRequest.messages is empty; give at least one user message.")


def _in_range(low: float, high: float) -> Any:
    def check(_inst: Any, attr: attrs.Attribute[Any], value: float) -> None:
        if not low <= value <= high:
            raise InvalidInputError(f"{attr.name}={value!r} is outside [{low}, {high}].")

    return check


def _positive_int(_inst: Any, attr: attrs.Attribute[Any], value: int) -> None:
    if value < 1:
        raise InvalidInputError(f"{attr.name} must be at least 1, got {value!r}.")


def _stop(value: Any) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else tuple(value or ())
    if not all(isinstance(s, str) and s for s in items):
        raise InvalidInputError(f"stop sequences must be non-empty strings, got {value!r}.")
    return items


@attrs.frozen(kw_only=True)
class SamplingParams:
    """Sampling parameters. Numbers are normalised (``0`` and ``0.0`` hash alike)."""

    temperature: float = attrs.field(default=0.0, converter=float, validator=_in_range(0.0, 2.0))
    max_tokens: int = attrs.field(default=512, converter=int, validator=_positive_int)
    top_p: float = attrs.field(default=1.0, converter=float, validator=_in_range(0.0, 1.0))
    stop: tuple[str, ...] = attrs.field(default=(), converter=_stop)

    def to_dict(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "top_p": self.top_p,
            "stop": list(self.stop),
        }


def _sampling(value: Any) -> SamplingParams:
    if isinstance(value, SamplingParams):
        return value
    if isinstance(value, Mapping):
        unknown = set(value) - {"temperature", "max_tokens", "top_p", "stop"}
        if unknown:
            raise InvalidInputError(
                f"Unknown sampling parameter(s) {', '.join(sorted(unknown))}; known: "
                "temperature, max_tokens, top_p, stop."
            )
        return SamplingParams(**value)
    raise InvalidInputError(f"sampling must be SamplingParams or a dict, got {value!r}.")


def _optional_int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"LLMRequest.seed must be an int or None, got {value!r}.")
    return value


def _optional_str(_inst: Any, attr: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        raise InvalidInputError(f"{attr.name} must be a non-empty string or None, got {value!r}.")


@attrs.frozen(kw_only=True)
class LLMRequest:
    """What a caller asks a backend. ``model=None`` means the backend's configured model.

    ``answer_schema`` (a JSON Schema) asks for a JSON answer that the response validates;
    ``None`` asks for free text. ``metadata`` (agent id, step, method, …) is not sent to the
    model but is part of the request hash, so identical prompts at different steps are told
    apart by a replay file.
    """

    messages: tuple[Message, ...] = attrs.field(converter=_messages, validator=_check_messages)
    system_prompt: str = attrs.field(default="", validator=_check_str)
    answer_schema: dict[str, Any] | None = attrs.field(default=None, converter=_schema_copy)
    sampling: SamplingParams = attrs.field(factory=SamplingParams, converter=_sampling)
    seed: int | None = attrs.field(default=None, converter=_optional_int)
    model: str | None = attrs.field(default=None, validator=_optional_str)
    metadata: dict[str, Any] = attrs.field(factory=dict, converter=_metadata_copy)
    _hash: str = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.answer_schema is not None:
            _validator(canonical_json(self.answer_schema))  # a bad schema fails here
        object.__setattr__(self, "_hash", sha256_hex(canonical_json(self.to_dict())))

    @property
    def request_hash(self) -> str:
        """sha256 of the canonical JSON of :meth:`to_dict` (64 hex digits)."""
        return self._hash

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": REQUEST_FORMAT,
            "system_prompt": self.system_prompt,
            "messages": [{"role": m.role, "content": m.content} for m in self.messages],
            "answer_schema": self.answer_schema,
            "sampling": self.sampling.to_dict(),
            "seed": self.seed,
            "model": self.model,
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LLMRequest:
        if not isinstance(data, Mapping) or data.get("format") != REQUEST_FORMAT:
            found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
            raise InvalidInputError(
                f"Not an LLM request of format {REQUEST_FORMAT!r} (found {found!r})."
            )
        fields = {k: v for k, v in data.items() if k != "format"}
        try:
            return cls(**fields)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"Malformed LLM request: {exc}.") from None

    def chat_messages(self) -> list[dict[str, str]]:
        """The messages in chat-completions form, the system prompt first (if any)."""
        head = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        return head + [{"role": m.role, "content": m.content} for m in self.messages]


# --------------------------------------------------------------------------------------------
# Answer parsing
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _validator(schema_json: str) -> Any:
    import jsonschema

    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise InvalidInputError(
            f"LLMRequest.answer_schema is not a valid JSON Schema: {exc.message}."
        ) from None
    return cls(schema)


_FENCE = re.compile(r"^```[A-Za-z]*[ \t]*\n?(.*?)\n?[ \t]*```$", re.DOTALL)


def parse_answer(text: str, schema: Mapping[str, Any]) -> tuple[Any, str | None]:
    """Parse ``text`` as JSON and validate it against ``schema``.

    Returns ``(answer, None)`` or ``(None, reason)``. One Markdown code fence around the JSON
    (```` ```json … ``` ````, common with local models) is tolerated; nothing else is guessed.
    """
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1).strip()
    try:
        value = json.loads(body)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    except RecursionError:
        return None, "not valid JSON: nested too deeply"
    validator = _validator(canonical_json(dict(schema)))
    errors = sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "(top level)"
        return None, f"does not match the answer schema at {where}: {errors[0].message}"
    return value, None


# --------------------------------------------------------------------------------------------
# Response
# --------------------------------------------------------------------------------------------


def _optional_count(_inst: Any, attr: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise InvalidInputError(f"{attr.name} must be a count >= 0 or None, got {value!r}.")


def _seconds(value: Any) -> float:
    """A duration: a finite number >= 0 (ints are made floats; text is refused, not parsed)."""
    import math

    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(f"latency_s must be a number of seconds, got {value!r}.")
    if not math.isfinite(value) or value < 0:
        raise InvalidInputError(f"latency_s must be finite and >= 0, got {value!r}.")
    return float(value)


def _count(_inst: Any, attr: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInputError(f"{attr.name} must be a count >= 0, got {value!r}.")


def _optional_text(_inst: Any, attr: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise InvalidInputError(f"{attr.name} must be a string or None, got {value!r}.")


@attrs.frozen(kw_only=True)
class LLMResponse:
    """What a backend answered to one request.

    ``answer`` is the parsed JSON answer when the request had a schema and the text matched it;
    otherwise ``None`` with ``parse_error`` saying why (free-text requests have neither).
    ``answer_hash`` is the sha256 of the answer's canonical JSON when it parsed, else of the
    text. ``latency_s`` is wall-clock (retries and waits included): keep it out of anything that
    must be byte-identical. ``repairs`` counts repair round-trips made for a malformed answer.
    """

    text: str = attrs.field(validator=_check_str)
    backend_id: str = attrs.field(validator=_check_str)
    request_hash: str = attrs.field(validator=_check_str)
    answer_hash: str = attrs.field(validator=_check_str)
    answer: Any = None
    parse_error: str | None = attrs.field(default=None, validator=_optional_text)
    model: str | None = attrs.field(default=None, validator=_optional_text)
    prompt_tokens: int | None = attrs.field(default=None, validator=_optional_count)
    completion_tokens: int | None = attrs.field(default=None, validator=_optional_count)
    latency_s: float = attrs.field(default=0.0, converter=_seconds)
    finish_reason: str | None = attrs.field(default=None, validator=_optional_text)
    repairs: int = attrs.field(default=0, validator=_count)

    @property
    def valid(self) -> bool:
        """The answer parsed and matched the schema (always true for free-text requests)."""
        return self.parse_error is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "answer": self.answer,
            "parse_error": self.parse_error,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "latency_s": self.latency_s,
            "backend_id": self.backend_id,
            "model": self.model,
            "finish_reason": self.finish_reason,
            "request_hash": self.request_hash,
            "answer_hash": self.answer_hash,
            "repairs": self.repairs,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LLMResponse:
        if not isinstance(data, Mapping):
            raise InvalidInputError(f"Malformed LLM response: {type(data).__name__}, not a dict.")
        try:
            return cls(**data)
        except InvalidInputError as exc:
            raise InvalidInputError(f"Malformed LLM response: {exc}") from None
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"Malformed LLM response: {exc}.") from None


def build_response(
    request: LLMRequest,
    text: str,
    *,
    backend_id: str,
    model: str | None,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
    latency_s: float = 0.0,
    finish_reason: str | None = None,
    repairs: int = 0,
) -> LLMResponse:
    """The response to ``request`` for the model's ``text``: parsed, validated and hashed.

    Backends (built-in and plugins) use this so every backend parses answers the same way.
    """
    answer: Any = None
    error: str | None = None
    if request.answer_schema is not None:
        answer, error = parse_answer(text, request.answer_schema)
    digest = (
        sha256_hex(canonical_json(answer))
        if request.answer_schema is not None and error is None
        else sha256_hex(text)
    )
    return LLMResponse(
        text=text,
        answer=answer,
        parse_error=error,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        latency_s=latency_s,
        backend_id=backend_id,
        model=model,
        finish_reason=finish_reason,
        request_hash=request.request_hash,
        answer_hash=digest,
        repairs=repairs,
    )


def response_problem(request: LLMRequest, response: LLMResponse) -> str | None:
    """Why ``response`` is not what :func:`build_response` makes of its own text for
    ``request`` (its answer, parse error or answer hash differ), or None. A recording is held to
    this, so an answer edited after the fact — or made up by a backend — is refused."""
    rebuilt = build_response(
        request, response.text, backend_id=response.backend_id, model=response.model
    )
    for name in ("answer", "parse_error", "answer_hash"):
        ours, theirs = getattr(rebuilt, name), getattr(response, name)
        if canonical_json(ours) != canonical_json(theirs):
            return (
                f"its {name} ({theirs!r:.60}) is not what its text gives ({ours!r:.60}); the "
                "answer was edited or not built with build_response"
            )
    return None
