"""The request/response contract: canonical hashing, validation, answer parsing."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labtrust_gym.errors import InvalidInputError
from labtrust_gym.llm.contract import (
    LLMRequest,
    LLMResponse,
    Message,
    SamplingParams,
    build_response,
    parse_answer,
    sha256_hex,
)
from tests.llm.conftest import ANSWER_SCHEMA, request

#: The hash of ``request()`` — a replay file's keys depend on it: change it only on purpose
#: (and bump REQUEST_FORMAT).
GOLDEN_HASH = "dcf0d81d6dadf6e2cf435759f44f692b03b786c7fed3bc92f963712fc3aa8e17"


def test_request_hash_is_sha256_of_canonical_json() -> None:
    req = request()
    canonical = json.dumps(req.to_dict(), sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False)
    assert req.request_hash == sha256_hex(canonical) == GOLDEN_HASH


@pytest.mark.parametrize("seed", ["1", "12345"])
def test_request_hash_is_stable_across_processes(seed: str) -> None:
    code = ("from tests.llm.conftest import request; "
            "print(request(metadata={'agent': 'ops_0', 'tags': {'b': 1, 'a': [1.5, None]}})"
            ".request_hash)")
    env = {**os.environ, "PYTHONHASHSEED": seed}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True, timeout=60).stdout.strip()
    assert out == request(metadata={"tags": {"a": [1.5, None], "b": 1}, "agent": "ops_0"}
                          ).request_hash


def test_everything_in_the_request_feeds_the_hash() -> None:
    base = request()
    variants = [
        request("other text"),
        request(metadata={"step": 1}),
        request(model="m"),
        request(sampling={"temperature": 0.5}),
        request(answer_schema=None),
        LLMRequest(messages=base.messages, answer_schema=ANSWER_SCHEMA, seed=8,
                   system_prompt=base.system_prompt),
    ]
    hashes = {v.request_hash for v in variants} | {base.request_hash}
    assert len(hashes) == len(variants) + 1
    assert request(sampling={"temperature": 0}).request_hash == base.request_hash  # 0 == 0.0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=8,
)


@given(metadata=st.dictionaries(st.text(max_size=6), json_values, max_size=4))
def test_dict_order_never_changes_the_hash(metadata: dict[str, object]) -> None:
    reversed_metadata = dict(reversed(list(metadata.items())))
    first, second = request(metadata=metadata), request(metadata=reversed_metadata)
    assert first.request_hash == second.request_hash
    assert LLMRequest.from_dict(first.to_dict()) == first


def test_request_is_detached_from_the_callers_dicts() -> None:
    schema = {"type": "object"}
    req = request(answer_schema=schema)
    schema["type"] = "array"
    assert req.answer_schema == {"type": "object"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"messages": []}, "at least one user message"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "not one of system, user, assistant"),
        ({"messages": [{"role": "user", "content": "x"}], "answer_schema": {"type": "nope"}},
         "not a valid JSON Schema"),
        ({"messages": [Message("user", "x")], "metadata": {"x": {1, 2}}}, "must be JSON data"),
        ({"messages": [Message("user", "x")], "metadata": {"x": float("nan")}}, "JSON data"),
        ({"messages": [Message("user", "x")], "sampling": {"temp": 1}}, "Unknown sampling"),
        ({"messages": [Message("user", "x")], "seed": "7"}, "seed must be an int"),
    ],
)
def test_malformed_requests_fail_at_construction(fields: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        LLMRequest(**fields)  # type: ignore[arg-type]


def test_sampling_ranges_are_checked() -> None:
    with pytest.raises(InvalidInputError, match=r"temperature=3\.0 is outside"):
        SamplingParams(temperature=3)
    with pytest.raises(InvalidInputError, match="max_tokens must be at least 1"):
        SamplingParams(max_tokens=0)
    assert SamplingParams(stop="END").stop == ("END",)


@pytest.mark.parametrize(
    ("text", "answer", "error"),
    [
        ('{"action": "MOVE"}', {"action": "MOVE"}, None),
        ('```json\n{"action": "MOVE"}\n```', {"action": "MOVE"}, None),
        ('```\n{"action": "MOVE"}\n```', {"action": "MOVE"}, None),
        ('Sure! {"action": "MOVE"}', None, "not valid JSON: Expecting value at line 1 column 1"),
        ('{"action": 3}', None, "does not match the answer schema at action: 3 is not of type"),
        ('{"reason": "x"}', None, "at (top level): 'action' is a required property"),
        ("", None, "not valid JSON"),
    ],
)
def test_parse_answer(text: str, answer: object, error: str | None) -> None:
    parsed, problem = parse_answer(text, ANSWER_SCHEMA)
    assert parsed == answer
    assert (problem is None) if error is None else (problem is not None and error in problem)


def test_answer_hash_is_of_the_answer_not_its_spelling() -> None:
    req = request()
    compact = build_response(req, '{"action":"MOVE"}', backend_id="b", model="m")
    spaced = build_response(req, '{ "action" : "MOVE" }\n', backend_id="b", model="m")
    assert compact.answer_hash == spaced.answer_hash
    bad = build_response(req, "MOVE", backend_id="b", model="m")
    assert not bad.valid and bad.answer_hash == sha256_hex("MOVE")
    free = build_response(request(answer_schema=None), "MOVE", backend_id="b", model="m")
    assert free.valid and free.answer is None and free.answer_hash == sha256_hex("MOVE")


def test_response_round_trips_through_its_dict() -> None:
    response = build_response(request(), '{"action": "MOVE"}', backend_id="b", model="m",
                              prompt_tokens=10, completion_tokens=3, latency_s=0.123456789,
                              finish_reason="stop")
    again = LLMResponse.from_dict(json.loads(json.dumps(response.to_dict())))
    assert again == response and again.to_dict() == response.to_dict()
    with pytest.raises(InvalidInputError, match="Malformed LLM response"):
        LLMResponse.from_dict({"text": "x"})
    with pytest.raises(InvalidInputError, match="prompt_tokens must be a count"):
        LLMResponse.from_dict({**response.to_dict(), "prompt_tokens": -1})
