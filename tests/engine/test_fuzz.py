"""The standing fuzz suite of the engine contract (issue 13).

Arbitrary JSON-like shapes (and some that are not JSON at all), Unicode edge cases with lone
surrogates in keys and values, huge and non-finite numbers, unknown agents, time jumps, signed
and unsigned labs, well-signed, mis-signed and replayed events. After every step:

* ``step`` returned (never raised) a StepResult with status ACCEPTED or BLOCKED;
* BLOCKED: its reason code is in the registry, the simulation state (``snapshot()``, time
  included) is unchanged, and exactly one refusal record was chained;
* ACCEPTED: its emits are in the emits vocabulary and its record (if not NOOP) was chained;

and at the end the in-memory log verifies. CI runs a bounded, derandomised number of examples
(seconds); set ``HYPOTHESIS_PROFILE=nightly`` for a long random run (see docs/engine.md).
"""

from __future__ import annotations

import copy
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labtrust_gym.engine.golden import base_state
from labtrust_gym.engine.hashchain import verify_chain
from labtrust_gym.engine.signing import derive_keypair, mac_sign, open_session, sign_event

from .helpers import assert_views_consistent, make_engine
from .test_blocked_property import ACTIONS, AGENTS

settings.register_profile(
    "fuzz-ci",
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "fuzz-nightly",
    max_examples=3000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ = settings.get_profile(
    "fuzz-nightly" if os.environ.get("HYPOTHESIS_PROFILE") == "nightly" else "fuzz-ci"
)

IDS = [
    "S1",
    "Z_SORTING",
    "Z_AIRLOCK",
    "Z_RESTRICTED_BIOHAZARD",
    "D_AIRLOCK_INNER",
    "DEV_CENTRIFUGE_1",
    "RESTRICTED_ENTRY",
    "RELEASE_OVERRIDE",
    "runner_0",
    "TOK-0001",
]

text = st.text(st.characters(exclude_categories=()), max_size=6)  # lone surrogates included
keys = st.one_of(text, st.sampled_from(["zone_id", "to_zone", "specimen_id", "device_id"]))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    text,
    st.sampled_from(IDS),
)
json_like = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(keys, inner, max_size=3),
        st.dictionaries(st.integers(0, 3), inner, max_size=1),  # non-string keys
        st.tuples(inner),  # not JSON
    ),
    max_leaves=8,
)
times = st.one_of(
    st.sampled_from([0, 0, 0, 1, 10, 600, 86_400, 86_401, 1e15 - 1, -5]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**64), max_value=2**64),
)
plausible_args = st.dictionaries(
    st.sampled_from(
        [
            "to_zone",
            "door_id",
            "specimen_id",
            "device_id",
            "token_type",
            "scope",
            "token_id",
            "holder_agent_id",
            "agent_id",
            "duration_s",
            "zone_id",
        ]
    ),
    st.one_of(
        st.sampled_from(IDS),
        json_like,
        st.fixed_dictionaries({"zone_id": st.sampled_from(IDS)}, optional={"x": text}),
    ),
    max_size=3,
)
clean_args = st.dictionaries(
    st.sampled_from(
        [
            "to_zone",
            "door_id",
            "specimen_id",
            "device_id",
            "token_type",
            "scope",
            "holder_agent_id",
            "agent_id",
            "duration_s",
            "zone_id",
        ]
    ),
    st.one_of(
        st.sampled_from(IDS),
        st.integers(-1, 700),
        st.fixed_dictionaries({"zone_id": st.sampled_from(IDS)}),
    ),
    max_size=3,
)
auth = st.sampled_from(["sign", "sign", "sign", "replay", "forge", "session", "mac", "mac"])
# mostly well-formed events (so every stage is reached), some hostile ones
wellformed = st.fixed_dictionaries(
    {
        "dt": st.sampled_from([0, 0, 0, 0, 1, 10, 600]),
        "agent_id": st.sampled_from(AGENTS),
        "action_type": st.sampled_from(ACTIONS),
        "args": clean_args,
        "auth": auth,
    },
    optional={"token_refs": st.lists(st.sampled_from(IDS), max_size=2)},
)
hostile = st.fixed_dictionaries(
    {
        "dt": times,
        "agent_id": st.one_of(st.sampled_from(AGENTS), text),
        "action_type": st.one_of(st.sampled_from(ACTIONS), text),
        "args": st.one_of(plausible_args, json_like),
    },
    optional={
        "extra": st.dictionaries(keys, json_like, max_size=2),
        "token_refs": st.one_of(st.lists(st.sampled_from(IDS), max_size=2), json_like),
        "event_id": st.one_of(text, json_like),
        "auth": auth,
    },
)
events = st.one_of(wellformed, wellformed, hostile)
labs = st.sampled_from(["unsigned", "ed25519", "session"])


def _lab(kind: str) -> dict[str, Any]:
    st_ = base_state()
    st_["arrivals"] = [
        {"specimen_id": "S1", "t_s": 5, "priority": "STAT", "panel": "CBC", "patient_id": "P1"}
    ]
    if kind != "unsigned":
        st_["strict_signatures"] = True
        st_["signature_mode"] = kind
        st_["keys"] = [
            {
                "key_id": f"K_{a['agent_id']}",
                "agent_id": a["agent_id"],
                "status": "active",
                "public_key_b64": derive_keypair(a["agent_id"])[1],
            }
            for a in st_["agents"]
        ]
    return st_


class _Agents:
    """The honest agents' side: sequence numbers, sessions, the last signed event."""

    def __init__(self, eng: Any) -> None:
        self.eng = eng
        self.seq: dict[str, int] = {}
        self.sessions: dict[str, tuple[str, bytes]] = {}
        self.last: dict[str, Any] | None = None

    def authenticate(self, ev: dict[str, Any], how: str) -> dict[str, Any]:
        agent = ev.get("agent_id")
        if not isinstance(agent, str) or agent == "nobody":
            return ev
        if how == "replay" and self.last is not None:
            return copy.deepcopy(self.last)
        if how == "forge":
            ev.update(key_id=f"K_{agent}", seq=10**9, signature="AAAA")
            return ev
        seq = self.seq[agent] = self.seq.get(agent, 0) + 1
        try:
            priv = derive_keypair(agent)[0]
            if how == "mac" and agent in self.sessions:
                sid, key = self.sessions[agent]
                mac_sign(ev, sid, seq, key)
            elif how == "session" and self.eng.auth.mode == "session":
                self.sessions[agent] = open_session(
                    ev,
                    f"K_{agent}",
                    seq,
                    priv,
                    b"fuzz%d" % seq,
                    self.eng.auth.session_public_key_b64,
                )
            else:
                ev.update(key_id=f"K_{agent}", seq=seq)
                ev["signature"] = sign_event(ev, priv)
        except (TypeError, ValueError):  # the fuzzed event cannot even be signed: send as is
            return ev
        self.last = copy.deepcopy(ev)
        return ev


@FUZZ
@given(labs, st.lists(events, min_size=1, max_size=12))
def test_engine_contract_holds_for_any_event(lab: str, seq: list[dict[str, Any]]) -> None:
    eng = make_engine(_lab(lab))
    agents = _Agents(eng)
    emits_vocab = set(eng.policy.emits)
    for e in seq:
        dt = e["dt"]
        t = eng.now_s + dt if type(dt) in (int, float) and abs(dt) < 1e16 else dt
        ev: dict[str, Any] = {
            "t_s": t,
            "agent_id": e["agent_id"],
            "action_type": e["action_type"],
            "args": e["args"],
        }
        for k in ("token_refs", "event_id"):
            if k in e:
                ev[k] = e[k]
        for k, v in (e.get("extra") or {}).items():
            ev.setdefault(k, v)
        if "auth" in e:
            ev = agents.authenticate(ev, e["auth"])
        before = eng.snapshot()
        length = eng.chain_head()["length"]
        frozen = eng.chain_frozen
        res = eng.step(ev)
        assert res["status"] in ("ACCEPTED", "BLOCKED")
        if res["status"] == "BLOCKED":
            code = res["blocked_reason_code"]
            assert code in eng.policy.reason_codes, code
            assert eng.snapshot() == before, f"BLOCKED {code} changed the simulation"
            assert eng.chain_head()["length"] == length + (0 if frozen else 1)
        else:
            assert res["blocked_reason_code"] is None
            assert set(res["emits"]) <= emits_vocab
            grew = eng.chain_head()["length"] - length
            assert grew == (0 if ev["action_type"] == "NOOP" else 1)
        assert res["hashchain"] == eng.chain_head()
    assert_views_consistent(eng)
    if not eng.chain_frozen:
        assert verify_chain(eng.episode_log_lines())["length"] == eng.chain_head()["length"]


@FUZZ
@given(st.integers(1, 400), st.sampled_from([dict, list]))
def test_any_nesting_depth_is_handled(depth: int, kind: type) -> None:
    eng = make_engine(_lab("unsigned"))
    value: Any = "leaf"
    for _ in range(depth):
        value = {"k": value} if kind is dict else [value]
    res = eng.step({"t_s": 0, "agent_id": "ops_0", "action_type": "TICK", "args": {"x": value}})
    limit = eng.policy.engine["max_event_depth"]
    assert (res["status"] == "ACCEPTED") == (depth + 2 <= limit)
    verify_chain(eng.episode_log_lines())
