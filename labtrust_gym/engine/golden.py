"""The golden-scenario runner (``policy/golden/golden_scenarios.v0.1.yaml``).

A scenario is an initial state (merged over a small base lab with no arrivals and critical rate 0)
plus steps. A step is one of:

* an event: ``{t?, agent, action, args?, token_refs?, reason_code?, key_id?, sign_with_agent?,
  seq?, open_session?, mac?, args_from_query?: {arg: [query, field]}}`` or ``{raw: <anything>}``
  sent as-is. With ``key_id`` the event is Ed25519-signed with the next sequence number of its
  agent (``seq`` overrides it); ``open_session: true`` makes it a session handshake and
  ``mac: true`` authenticates a later event with the agent's open session;
* ``{repeat: n}`` sends the event of step ``n`` again, unchanged (a replay);
* ``{advance_to: t}``; ``{corrupt_log_line: index}``; ``{close_sessions: true}``;

each with optional expectations: ``expect: {status?, blocked?, emits?, violations?,
token_consumed?}`` (an event with no ``blocked`` must be ACCEPTED; ``violations`` lists invariant
ids and defaults to none), ``system_emits: [names]`` (clock emits drained after the step),
``queries: {expr: value}`` (equality) and ``query_fields: {expr: {field: value}}`` (subset).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from labtrust_gym.errors import PolicyError

GOLDEN_FILE = ("golden", "golden_scenarios.v0.1.yaml")
GOLDEN_SCHEMA = ("schemas", "golden_scenarios.v0.1.schema.json")


def base_state() -> dict[str, Any]:
    from labtrust_gym.engine.initial_state import DEFAULT_AGENTS

    return {
        "start_t_s": 0,
        "agents": [{"agent_id": a, "role": r, "zone_id": z} for a, r, z in DEFAULT_AGENTS],
        "arrivals": [],
        "critical_rate": 0.0,
    }


def load_scenarios(
    root: Path | str | None = None, path: Path | str | None = None
) -> list[dict[str, Any]]:
    from labtrust_gym.config import get_repo_root, policy_path
    from labtrust_gym.fileio import load_yaml, validate_with_schema

    base = Path(root) if root is not None else get_repo_root()
    p = Path(path) if path is not None else policy_path(base, *GOLDEN_FILE)
    doc = load_yaml(p)
    validate_with_schema(
        doc, policy_path(base, *GOLDEN_SCHEMA), what=f"Golden scenarios {str(p)!r}"
    )
    ids = [s["id"] for s in doc["scenarios"]]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise PolicyError(f"Golden scenarios {str(p)!r}: duplicate scenario ids {dupes}.")
    return list(doc["scenarios"])


def scenario_initial_state(sc: dict[str, Any]) -> dict[str, Any]:
    """The scenario's initial state: :func:`base_state` updated with its ``initial_state``, plus
    an active key for each ``signing_keys`` entry (derived from its agent id)."""
    from labtrust_gym.engine.signing import derive_keypair

    st = base_state()
    st.update(copy.deepcopy(sc.get("initial_state") or {}))
    keys = list(st.get("keys") or [])
    for k in sc.get("signing_keys") or []:
        _priv, pub = derive_keypair(k["agent_id"])
        keys.append({"status": "active", **k, "public_key_b64": pub})
    if keys:
        st["keys"] = keys
    return st


class Signers:
    """The agents' side of authentication in a scenario: per-agent sequence numbers and open
    sessions (a step may override ``seq`` to replay or reorder on purpose)."""

    def __init__(self) -> None:
        self.seq: dict[str, int] = {}
        self.sessions: dict[str, tuple[str, bytes]] = {}

    def next_seq(self, agent: str, step: dict[str, Any]) -> int:
        seq = int(step.get("seq", self.seq.get(agent, 0) + 1))
        self.seq[agent] = max(seq, self.seq.get(agent, 0))
        return seq


def build_event(
    eng: Any, sc: dict[str, Any], step: dict[str, Any], n: int, signers: Signers | None = None
) -> Any:
    """The engine event of scenario step ``n`` (authenticated when the step names a
    ``key_id``; ``signers`` carries sequence numbers and sessions across steps)."""
    if signers is None:
        signers = Signers()
    from labtrust_gym.engine.signing import derive_keypair, mac_sign, open_session, sign_event

    if "raw" in step:
        return copy.deepcopy(step["raw"])
    ev: dict[str, Any] = {
        "event_id": f"{sc['id']}-{n}",
        "t_s": step.get("t", eng.now_s),
        "agent_id": step["agent"],
        "action_type": step["action"],
        "args": copy.deepcopy(step.get("args") or {}),
    }
    for arg, (expr, fld) in (step.get("args_from_query") or {}).items():
        ev["args"][arg] = eng.query(expr)[fld]
    for k in ("token_refs", "reason_code", "key_id"):
        if k in step:
            ev[k] = step[k]
    if step.get("mac"):  # authenticate within the agent's open session
        session_id, key = signers.sessions[step["agent"]]
        mac_sign(ev, session_id, signers.next_seq(step["agent"], step), key)
    elif "key_id" in step:
        signer = step.get("sign_with_agent")
        if signer is None:
            keys = {k["key_id"]: k["agent_id"] for k in sc.get("signing_keys") or []}
            signer = keys.get(step["key_id"], step["agent"])
        priv, _pub = derive_keypair(signer)
        seq = signers.next_seq(step["agent"], step)
        if step.get("open_session"):
            eph = f"golden|{sc['id']}|{n}".encode()
            signers.sessions[step["agent"]] = open_session(
                ev, step["key_id"], seq, priv, eph, eng.auth.session_public_key_b64
            )
        else:
            ev["seq"] = seq
            ev["signature"] = sign_event(ev, priv)
    return ev


def _check(failures: list[str], where: str, what: str, got: Any, want: Any) -> None:
    if got != want:
        failures.append(f"{where}: {what} = {got!r}, expected {want!r}")


def run_scenario(sc: dict[str, Any], root: Path | str | None = None) -> dict[str, Any]:
    """Run one scenario; returns ``{"id", "passed", "failures": [...], "steps": n}``."""
    from labtrust_gym.engine.core import HospitalLabEngine

    cfg: dict[str, Any] = dict(sc.get("engine_config") or {})
    if root is not None:
        cfg.setdefault("policy_root", str(root))
    eng = HospitalLabEngine(None, cfg)
    failures: list[str] = []
    eng.reset(scenario_initial_state(sc), deterministic=True, rng_seed=int(sc.get("seed", 0)))
    seen: set[str] = {e["emit"] for e in eng.drain_system_emits()}
    signers = Signers()
    sent: dict[int, Any] = {}
    for n, step in enumerate(sc["steps"], start=1):
        where = f"{sc['id']} step {n}"
        if "advance_to" in step:
            eng.advance_to(step["advance_to"])
        elif "corrupt_log_line" in step:
            eng.corrupt_log_line_for_test(step["corrupt_log_line"])
        elif "close_sessions" in step:
            eng.close_sessions()
        else:
            if "repeat" in step:  # the event sent at that step again, byte for byte
                ev = copy.deepcopy(sent[int(step["repeat"])])
            else:
                ev = sent[n] = build_event(eng, sc, step, n, signers)
            res = eng.step(copy.deepcopy(ev))
            seen.update(res["emits"])
            exp = step.get("expect") or {}
            blocked = exp.get("blocked")
            _check(failures, where, "status", res["status"], "BLOCKED" if blocked else "ACCEPTED")
            _check(failures, where, "blocked_reason_code", res["blocked_reason_code"], blocked)
            if "emits" in exp:
                _check(failures, where, "emits", res["emits"], exp["emits"])
            _check(
                failures,
                where,
                "violations",
                [v["invariant_id"] for v in res["violations"] if v["status"] == "VIOLATION"],
                exp.get("violations", []),
            )
            if "violation_codes" in exp:
                _check(
                    failures,
                    where,
                    "violation reason codes",
                    [v["reason_code"] for v in res["violations"]],
                    exp["violation_codes"],
                )
            if "token_consumed" in exp:
                _check(
                    failures, where, "token_consumed", res["token_consumed"], exp["token_consumed"]
                )
        emitted = [e["emit"] for e in eng.drain_system_emits()]
        seen.update(emitted)
        if "system_emits" in step:
            _check(failures, where, "system emits", emitted, step["system_emits"])
        for expr, want in (step.get("queries") or {}).items():
            _check(failures, where, expr, eng.query(expr), want)
        for expr, fields in (step.get("query_fields") or {}).items():
            got = eng.query(expr)
            for f, want in fields.items():
                _check(failures, where, f"{expr}.{f}", got.get(f), want)
    eng.close()
    return {
        "id": sc["id"],
        "passed": not failures,
        "failures": failures,
        "steps": len(sc["steps"]),
        "emits_seen": sorted(seen),
    }


def run_golden(
    root: Path | str | None = None, path: Path | str | None = None, only: list[str] | None = None
) -> list[dict[str, Any]]:
    scenarios = load_scenarios(root, path)
    if only:
        known = {s["id"] for s in scenarios}
        missing = [i for i in only if i not in known]
        if missing:
            from labtrust_gym.errors import UnknownIdError

            raise UnknownIdError.for_id("golden scenario", missing[0], known)
        scenarios = [s for s in scenarios if s["id"] in only]
    return [run_scenario(sc, root) for sc in scenarios]


def coverage(scenarios: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Action types used and reason codes expected (blocked or violation) across scenarios."""
    actions: set[str] = set()
    codes: set[str] = set()
    for sc in scenarios:
        for st in sc["steps"]:
            if "action" in st:
                actions.add(st["action"])
            exp = st.get("expect") or {}
            if exp.get("blocked"):
                codes.add(exp["blocked"])
            codes.update(exp.get("violation_codes") or [])
    return {"actions": actions, "reason_codes": codes}
