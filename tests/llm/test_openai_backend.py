"""``openai_compatible`` end to end against a scripted chat-completions server process."""

from __future__ import annotations

import json
import sys
import urllib.request
import uuid
from typing import Any

import pytest

from labtrust_gym.errors import LLMBackendError, LLMConfigError, LLMNetworkDisabledError
from labtrust_gym.llm.openai_backend import OpenAICompatibleBackend, retry_after_seconds
from labtrust_gym.llm.registry import create_llm_backend
from labtrust_gym.llm.settings import LLMSettings
from tests.llm.conftest import ANSWER_SCHEMA, needs_openai, request


def server_log(base_url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/log", timeout=5) as reply:
        log: list[dict[str, Any]] = json.loads(reply.read())
    return log


def sent_for(base_url: str, model: str) -> list[dict[str, Any]]:
    return [entry for entry in server_log(base_url) if entry["body"].get("model") == model]


def backend(base_url: str, behaviour: str, **settings: Any) -> tuple[Any, str, list[float]]:
    """A backend for a fresh scripted model; returns it, the model name and its recorded sleeps."""
    model = f"{behaviour}:{uuid.uuid4().hex[:8]}"
    sleeps: list[float] = []
    settings.setdefault("allow_network", True)
    settings.setdefault("max_retries", 2)
    configured = OpenAICompatibleBackend(sleep=sleeps.append).configure(
        LLMSettings(base_url=base_url, model=model, api_key="sk-test", **settings)
    )
    return configured, model, sleeps


@needs_openai
def test_answer_is_parsed_with_tokens_and_the_request_is_sent_as_asked(chat_server: str) -> None:
    llm, model, sleeps = backend(chat_server, "ok")
    req = request(sampling={"temperature": 0.2, "max_tokens": 64, "top_p": 0.9})
    response = llm.complete(req)
    assert response.valid and response.answer == {"action": "TICK", "reason": "scripted"}
    assert (response.backend_id, response.model, response.finish_reason) == (
        "openai_compatible", model, "stop")
    assert response.prompt_tokens == 7 and response.completion_tokens == 4  # words, scripted
    assert response.request_hash == req.request_hash and response.latency_s > 0
    assert sleeps == []
    (sent,) = sent_for(chat_server, model)
    body = sent["body"]
    assert sent["authorization"] == "Bearer sk-test"
    assert body["messages"] == [
        {"role": "system", "content": "You run a hospital lab."},
        {"role": "user", "content": "What next?"},
    ]
    assert (body["temperature"], body["max_tokens"], body["top_p"], body["seed"]) == (
        0.2, 64, 0.9, 7)
    assert body["response_format"] == {
        "type": "json_schema", "json_schema": {"name": "answer", "schema": ANSWER_SCHEMA}}


@needs_openai
def test_response_format_can_be_json_object_or_omitted(chat_server: str) -> None:
    llm, model, _ = backend(chat_server, "ok", response_format="json_object")
    llm.complete(request())
    assert sent_for(chat_server, model)[0]["body"]["response_format"] == {"type": "json_object"}
    llm, model, _ = backend(chat_server, "ok", response_format="none")
    llm.complete(request())
    assert "response_format" not in sent_for(chat_server, model)[0]["body"]


@needs_openai
def test_fenced_answer_is_accepted_and_missing_usage_is_none(chat_server: str) -> None:
    llm, _, _ = backend(chat_server, "fenced")
    assert llm.complete(request()).answer == {"action": "TICK", "reason": "scripted"}
    llm, _, _ = backend(chat_server, "nousage")
    response = llm.complete(request())
    assert response.valid and response.prompt_tokens is None and response.completion_tokens is None


@needs_openai
def test_malformed_json_is_a_parse_error_not_an_exception(chat_server: str) -> None:
    llm, model, _ = backend(chat_server, "malformed")
    response = llm.complete(request())
    assert not response.valid and response.answer is None
    assert response.parse_error is not None and response.parse_error.startswith("not valid JSON")
    assert response.text == '{"action": "TICK", ' and response.repairs == 0
    assert len(sent_for(chat_server, model)) == 1


@needs_openai
def test_repair_attempt_shows_the_model_its_error(chat_server: str) -> None:
    llm, model, _ = backend(chat_server, "malformed-once", repair_attempts=1)
    response = llm.complete(request())
    assert response.valid and response.repairs == 1
    first, second = sent_for(chat_server, model)
    assert second["body"]["messages"][:2] == first["body"]["messages"]
    assert second["body"]["messages"][2] == {"role": "assistant", "content": '{"action": "TICK", '}
    assert "not valid JSON" in second["body"]["messages"][3]["content"]
    assert response.completion_tokens == 2 + 4  # both round-trips are counted (words)
    llm, model, _ = backend(chat_server, "malformed", repair_attempts=2)
    response = llm.complete(request())
    assert not response.valid and response.repairs == 2 and len(sent_for(chat_server, model)) == 3


@needs_openai
def test_slow_reply_times_out_after_the_retries(chat_server: str) -> None:
    llm, model, sleeps = backend(chat_server, "slow", timeout_s=0.3, max_retries=1)
    with pytest.raises(LLMBackendError) as info:
        llm.complete(request())
    assert (info.value.kind, info.value.attempts) == ("timeout", 2)
    assert "after 2 attempt(s)" in str(info.value) and "0.3 s" in str(info.value)
    assert sleeps == [0.5]  # backoff_base_s before the one retry
    assert len(sent_for(chat_server, model)) == 2


@needs_openai
def test_429_waits_what_retry_after_says_then_succeeds(chat_server: str) -> None:
    llm, model, sleeps = backend(chat_server, "429-once")
    assert llm.complete(request()).valid
    assert sleeps == [1.0]
    assert len(sent_for(chat_server, model)) == 2


@needs_openai
def test_429_asking_too_long_fails_at_once(chat_server: str) -> None:
    llm, model, sleeps = backend(chat_server, "429-long", max_retry_after_s=60)
    with pytest.raises(LLMBackendError, match="retry after 3600 s") as info:
        llm.complete(request())
    assert info.value.kind == "rate_limit" and sleeps == []
    assert len(sent_for(chat_server, model)) == 1


@needs_openai
def test_500_is_retried_with_exponential_backoff(chat_server: str) -> None:
    llm, model, sleeps = backend(chat_server, "500-once")
    assert llm.complete(request()).valid and sleeps == [0.5]
    llm, model, sleeps = backend(chat_server, "500-always", max_retries=3, backoff_max_s=1.5)
    with pytest.raises(LLMBackendError, match="HTTP 500") as info:
        llm.complete(request())
    assert (info.value.kind, info.value.attempts) == ("server_error", 4)
    assert sleeps == [0.5, 1.0, 1.5]  # doubling, capped, no jitter
    assert len(sent_for(chat_server, model)) == 4


@needs_openai
def test_401_fails_at_once_with_advice(chat_server: str) -> None:
    llm, _model, sleeps = backend(chat_server, "401")
    with pytest.raises(LLMBackendError, match="API key") as info:
        llm.complete(request())
    assert (info.value.kind, info.value.attempts) == ("auth", 1) and sleeps == []


@needs_openai
def test_refused_connection_is_reported_with_the_url() -> None:
    import socket

    with socket.socket() as probe:  # a loopback port with nobody listening
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    llm = OpenAICompatibleBackend(sleep=lambda _s: None).configure(
        LLMSettings(base_url=url, model="ok", allow_network=True, max_retries=1))
    with pytest.raises(LLMBackendError, match=r"cannot connect to http://127\.0\.0\.1") as info:
        llm.complete(request())
    assert (info.value.kind, info.value.attempts) == ("connection", 2)


def test_network_is_refused_without_allow_network(chat_server: str) -> None:
    settings = LLMSettings(base_url=chat_server, model="ok:never-sent")
    with pytest.raises(LLMNetworkDisabledError, match="--allow-network"):
        create_llm_backend("openai_compatible", settings)
    with pytest.raises(LLMNetworkDisabledError, match=chat_server):
        OpenAICompatibleBackend(settings).complete(request())  # even when built directly


def test_configuration_errors_come_before_any_call(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(LLMConfigError, match="LABTRUST_LLM_MODEL"):
        create_llm_backend("openai_compatible", allow_network=True)
    monkeypatch.setitem(sys.modules, "openai", None)  # as if the llm extra were not installed
    with pytest.raises(LLMConfigError, match=r"pip install 'labtrust-gym\[llm\]'"):
        create_llm_backend("openai_compatible", allow_network=True, model="m")


@needs_openai
def test_settings_come_from_the_environment(
    chat_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = f"ok:{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("OPENAI_BASE_URL", chat_server)
    monkeypatch.setenv("LABTRUST_LLM_MODEL", model)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    llm = create_llm_backend("openai_compatible", allow_network=True)
    assert llm.complete(request()).model == model
    assert sent_for(chat_server, model)[0]["authorization"] == "Bearer sk-from-env"


def test_retry_after_parses_seconds_and_http_dates() -> None:
    assert retry_after_seconds({"retry-after": "2"}) == 2.0
    assert retry_after_seconds({"retry-after": "0.5"}) == 0.5
    assert retry_after_seconds({}) is None and retry_after_seconds(None) is None
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    far = retry_after_seconds({"retry-after": "Fri, 01 Jan 2100 00:00:00 GMT"})
    assert far is not None and far > 1e9
