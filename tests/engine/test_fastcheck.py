"""The fast schema check never accepts what jsonschema rejects (it only skips jsonschema when the
document is valid), and it is actually used for the initial_state schema."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from labtrust_gym.config import get_repo_root, policy_path
from labtrust_gym.engine.fastcheck import compile_schema
from labtrust_gym.engine.golden import base_state
from labtrust_gym.engine.initial_state import default_initial_state
from labtrust_gym.fileio import load_json

SCHEMA = load_json(policy_path(get_repo_root(), "schemas", "engine_initial_state.v0.1.schema.json"))
FAST = compile_schema(SCHEMA)
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(-2, 2),
    st.text(max_size=3),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _valid_doc() -> dict[str, Any]:
    doc = default_initial_state(seed=1, n_specimens=3)
    doc["devices"] = [
        {"device_id": "D1", "device_type": "CHEM_ANALYZER", "zone_id": "Z_SORTING", "reagent": 3}
    ]
    doc["tokens"] = [
        {"token_id": "T", "token_type": "RESTRICTED_ENTRY", "scope": {"zone_id": "Z_AIRLOCK"}}
    ]
    doc["keys"] = [
        {"key_id": "K", "agent_id": "ops_0", "public_key_b64": "AA==", "status": "active"}
    ]
    return doc


def test_fast_check_is_available_and_accepts_valid_states() -> None:
    assert FAST is not None
    for doc in (_valid_doc(), base_state(), default_initial_state(seed=4)):
        assert FAST(doc) and VALIDATOR.is_valid(doc)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_fast_check_never_accepts_an_invalid_document(data: st.DataObject) -> None:
    doc = _valid_doc()
    paths = _paths(doc)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths[1:]))
        target = doc
        for p in path[:-1]:
            target = target[p]
        if data.draw(st.booleans()) and isinstance(target, dict):
            target.pop(path[-1], None)
        elif isinstance(target, dict | list):
            target[path[-1]] = data.draw(junk)
        paths = _paths(doc)
    if FAST(copy.deepcopy(doc)):
        assert VALIDATOR.is_valid(doc), next(iter(VALIDATOR.iter_errors(doc))).message


def test_unsupported_keywords_disable_the_fast_path() -> None:
    assert compile_schema({"type": "string", "pattern": "^a"}) is None
    assert compile_schema({"oneOf": [{"type": "string"}]}) is None
