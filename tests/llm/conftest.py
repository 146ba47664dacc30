"""LLM test fixtures: a clean LLM environment, the scripted chat server process, fake backends."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from labtrust_gym.llm.contract import LLMRequest, LLMResponse, build_response
from labtrust_gym.llm.settings import ENV_VARS, LLMSettings

SERVER = Path(__file__).with_name("chat_server.py")
ANSWER_SCHEMA = {
    "type": "object",
    "required": ["action"],
    "properties": {"action": {"type": "string"}, "reason": {"type": "string"}},
}

needs_openai = pytest.mark.skipif(
    __import__("importlib.util").util.find_spec("openai") is None,
    reason="the 'openai' package is not installed (pip install 'labtrust-gym[llm]')",
)


@pytest.fixture(autouse=True)
def _no_llm_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's LLM variables never leak into a test."""
    for variables in ENV_VARS.values():
        for variable in variables:
            monkeypatch.delenv(variable, raising=False)


@pytest.fixture(scope="session")
def chat_server() -> Iterator[str]:
    """Base URL of a scripted chat-completions server running in its own process."""
    process = subprocess.Popen(
        [sys.executable, str(SERVER)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("PORT "), line
    try:
        yield f"http://127.0.0.1:{int(line.split()[1])}/v1"
    finally:
        process.terminate()
        process.wait(timeout=10)


def request(text: str = "What next?", **fields: object) -> LLMRequest:
    fields.setdefault("answer_schema", ANSWER_SCHEMA)
    return LLMRequest(
        system_prompt="You run a hospital lab.",
        messages=[{"role": "user", "content": text}],
        seed=7,
        **fields,  # type: ignore[arg-type]
    )


class EchoBackend:
    """A deterministic in-process backend: answers {"action": <user text>}."""

    backend_id = "echo"

    def __init__(self, settings: LLMSettings | None = None) -> None:
        self.settings = settings
        self.calls = 0

    def configure(self, settings: LLMSettings) -> EchoBackend:
        return EchoBackend(settings)

    def complete(self, req: LLMRequest) -> LLMResponse:
        self.calls += 1
        text = req.messages[-1].content
        if text == "fail":
            from labtrust_gym.errors import LLMBackendError

            raise LLMBackendError("scripted failure", kind="server_error", backend_id="echo")
        body = text if text.startswith("{") else json.dumps({"action": text})
        return build_response(req, body, backend_id="echo", model="echo-1", prompt_tokens=3,
                              completion_tokens=2, latency_s=0.25 * self.calls,
                              finish_reason="stop")
