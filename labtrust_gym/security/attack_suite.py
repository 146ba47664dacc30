"""The attack suite as data: loading, checking, selecting, engine scenarios, verdicts, coverage.

``policy/security/attack_suite.v0.1.yaml`` (schema beside it) lists risks, controls and attacks;
the file's header comment documents the format. This module runs the two kinds that need only
the engine layer — engine scenarios and allow-listed callables — and judges every verdict; the
default provider (``labtrust_gym.benchmarks.security_runner``) adds episode attacks, which need
the benchmark runner.

A verdict is ``passed`` only when the expected outcome is observed exactly (the reason code,
emit or invariant id compared as strings); ``failed`` when something else was observed;
``error`` when the attack could not be carried out (a set-up step was refused, the callable
raised); ``skipped`` when it needs something not installed. Only ``passed`` is evidence.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from labtrust_gym.errors import PolicyError, UnknownIdError

from .criteria import describe as describe_criterion

SUITE_REL = "security/attack_suite.v0.1.yaml"
SUITE_SCHEMA = ("schemas", "attack_suite.v0.1.schema.json")
ALLOWLIST_REL = "security/callable_allowlist.v0.1.yaml"
ALLOWLIST_SCHEMA = ("schemas", "callable_allowlist.v0.1.schema.json")
VERDICTS = ("passed", "failed", "error", "skipped")
KINDS = ("engine", "episode", "callable")

AttackFn = Callable[[dict[str, Any]], Mapping[str, Any]]


def attack_callable(fn: AttackFn) -> AttackFn:
    """Mark ``fn`` as a security-suite attack; only marked functions named in the policy
    allow-list can be run by an attack of kind ``callable``."""
    fn.labtrust_attack = True  # type: ignore[attr-defined]
    return fn


# --------------------------------------------------------------------------------------------
# Loading and checking
# --------------------------------------------------------------------------------------------


def suite_file(root: Path | str | None) -> Path:
    """The suite file: the active profile's ``security_suite_path`` override, else the default."""
    from labtrust_gym.config import get_active_profile

    return get_active_profile().resolve_path("security_suite_path", root)


def load_allowlist(root: Path | str | None, partner_id: str | None = None) -> list[str]:
    """Dotted names an attack of kind ``callable`` may name."""
    from labtrust_gym.config import policy_path
    from labtrust_gym.fileio import validate_with_schema

    from .partners import load_overlaid

    path = policy_path(root, ALLOWLIST_REL)
    doc = load_overlaid(root, path, ALLOWLIST_REL, partner_id)
    validate_with_schema(doc, policy_path(root, *ALLOWLIST_SCHEMA), what=f"{str(path)!r}")
    return [c["name"] for c in doc["callables"]]


def load_suite(policy_root: Path | str | None, partner_id: str | None = None) -> dict[str, Any]:
    """The suite (partner overlay merged), schema-validated and cross-checked."""
    from labtrust_gym.config import get_repo_root, policy_path
    from labtrust_gym.fileio import validate_with_schema

    from .partners import load_overlaid

    root = policy_root if policy_root is not None else get_repo_root()
    path = suite_file(root)
    doc = load_overlaid(root, path, SUITE_REL, partner_id)
    what = f"Attack suite {str(path)!r}" + (f" (partner {partner_id})" if partner_id else "")
    validate_with_schema(doc, policy_path(root, *SUITE_SCHEMA), what=what)
    problems = suite_problems(doc, load_allowlist(root, partner_id))
    if problems:
        shown = "; ".join(f"{p}: {m}" for p, m in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise PolicyError(f"{what}: {shown}{more}. Run `labtrust validate-policy` for the list.")
    return dict(doc)


def kind_of(attack: Mapping[str, Any]) -> str:
    return next(k for k in KINDS if k in attack)


def _duplicates(values: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    dupes = []
    for v in values:
        if v in seen:
            dupes.append(v)
        seen.add(v)
    return dupes


def suite_problems(doc: Mapping[str, Any], allowlist: Iterable[str]) -> list[tuple[str, str]]:
    """``(json path, message)`` for every internal inconsistency of a schema-valid suite."""
    problems: list[tuple[str, str]] = []
    for section, key in (
        ("risks", "risk_id"),
        ("controls", "control_id"),
        ("attacks", "attack_id"),
    ):
        for dupe in _duplicates(item[key] for item in doc[section]):
            problems.append((section, f"duplicate {key} {dupe!r}"))
    risks = {r["risk_id"] for r in doc["risks"]}
    controls = {c["control_id"] for c in doc["controls"]}
    fixtures = doc.get("fixtures") or {}
    allowed = set(allowlist)
    for i, attack in enumerate(doc["attacks"]):
        where = f"attacks/{i}"
        if attack["risk_id"] not in risks:
            problems.append((f"{where}/risk_id", f"unknown risk {attack['risk_id']!r}"))
        if attack["control_id"] not in controls:
            problems.append((f"{where}/control_id", f"unknown control {attack['control_id']!r}"))
        expected = attack["expected_outcome"]
        kind = kind_of(attack)
        if kind == "engine":
            spec = attack["engine"]
            fixture = spec.get("fixture")
            if fixture is not None and fixture not in fixtures:
                problems.append((f"{where}/engine/fixture", f"unknown fixture {fixture!r}"))
            marked = [j for j, s in enumerate(spec["steps"]) if s.get("attack")]
            if len(marked) != 1:
                problems.append(
                    (f"{where}/engine/steps", f"{len(marked)} steps marked attack: true (need 1)")
                )
            elif expected["outcome"] == "blocked" and not (
                {"action", "raw", "repeat"} & set(spec["steps"][marked[0]])
            ):
                problems.append(
                    (f"{where}/engine/steps/{marked[0]}", "a blocked outcome needs an event step")
                )
        elif kind == "episode" and "emit" in expected:
            problems.append(
                (f"{where}/expected_outcome", "episode attacks detect invariant ids, not emits")
            )
        elif kind == "callable" and attack["callable"]["name"] not in allowed:
            problems.append(
                (
                    f"{where}/callable/name",
                    f"{attack['callable']['name']!r} is not in {ALLOWLIST_REL}",
                )
            )
    for name, fx in fixtures.items():
        if any(s.get("attack") for s in fx["steps"]):
            problems.append((f"fixtures/{name}/steps", "fixtures cannot hold the attack step"))
    return problems


def select_attacks(
    suite: Mapping[str, Any], *, full: bool = False, only: Iterable[str] | None = None
) -> list[dict[str, Any]]:
    """The attacks a run covers: ``only`` (ids), else all with ``full``, else the smoke set."""
    attacks = list(suite["attacks"])
    if only:
        by_id = {a["attack_id"]: a for a in attacks}
        for ident in only:
            if ident not in by_id:
                raise UnknownIdError.for_id("attack", ident, by_id)
        wanted = set(only)
        return [a for a in attacks if a["attack_id"] in wanted]
    return attacks if full else [a for a in attacks if a.get("smoke")]


# --------------------------------------------------------------------------------------------
# Observations and verdicts
# --------------------------------------------------------------------------------------------


@dataclass
class Observation:
    """What an attack produced. ``status``/``reason_code`` are the attack step's own outcome
    (None when the attack has no single step, e.g. an episode); the lists cover the attack step
    and everything after it."""

    status: str | None = None
    reason_code: str | None = None
    blocked_codes: list[str] = field(default_factory=list)
    emits: list[str] = field(default_factory=list)
    invariants: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    criteria: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("blocked_codes", "emits", "invariants", "codes"):
            out[key] = sorted(set(out[key]))
        return out

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Observation:
        def strs(key: str) -> list[str]:
            value = data.get(key) or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise TypeError(f"observation field {key!r} must be a list of strings")
            return list(value)

        status, code = data.get("status"), data.get("reason_code")
        if status not in (None, "ACCEPTED", "BLOCKED") or not isinstance(code, str | None):
            raise TypeError("observation status must be ACCEPTED/BLOCKED/None, reason_code a str")
        return cls(
            status=status,
            reason_code=code,
            blocked_codes=strs("blocked_codes"),
            emits=strs("emits"),
            invariants=strs("invariants"),
            codes=strs("codes"),
            note=str(data.get("note") or ""),
        )


def describe_expected(expected: Mapping[str, Any]) -> str:
    if expected["outcome"] == "blocked":
        return f"BLOCKED {expected['reason_code']}"
    for key in ("emit", "invariant_id", "reason_code"):
        if key in expected:
            return f"detected {key.replace('_id', '')} {expected[key]}"
    return str(dict(expected))


def judge(expected: Mapping[str, Any], obs: Observation) -> tuple[str, str]:
    """``(verdict, reason)``: ``passed`` only when the expected outcome is observed exactly and
    every criterion holds."""
    want = describe_expected(expected)
    if expected["outcome"] == "blocked":
        code = expected["reason_code"]
        if obs.status is not None:
            ok = obs.status == "BLOCKED" and obs.reason_code == code
            seen = f"{obs.status} {obs.reason_code or ''}".strip()
        else:
            ok = code in obs.blocked_codes
            seen = "blocked " + (", ".join(sorted(set(obs.blocked_codes))) or "nothing")
    else:
        if "emit" in expected:
            ok, pool, label = expected["emit"] in obs.emits, obs.emits, "emits"
        elif "invariant_id" in expected:
            ok, pool, label = (
                expected["invariant_id"] in obs.invariants,
                obs.invariants,
                "invariants",
            )
        else:
            ok, pool, label = expected["reason_code"] in obs.codes, obs.codes, "codes"
        seen = f"{label} " + (", ".join(sorted(set(pool))) or "none")
        if obs.status is not None:
            seen = f"{obs.status} {obs.reason_code or ''}".strip() + f"; {seen}"
    failing = [c for c in obs.criteria if not c["ok"]]
    if ok and not failing:
        return "passed", f"expected {want}; observed {seen}"
    reason = f"expected {want}; observed {seen}"
    if failing:
        reason += "; criteria not met: " + "; ".join(describe_criterion(c) for c in failing)
    return "failed", reason


# --------------------------------------------------------------------------------------------
# Engine scenarios
# --------------------------------------------------------------------------------------------


class AttackSetupError(Exception):
    """The scenario could not reach its attack step (verdict ``error``)."""


def scenario_of(attack: Mapping[str, Any], suite: Mapping[str, Any]) -> dict[str, Any]:
    """The attack's engine scenario with its fixture applied (fixture first)."""
    spec = attack["engine"]
    fixture = (
        (suite.get("fixtures") or {}).get(spec.get("fixture"), {}) if spec.get("fixture") else {}
    )
    state = {**copy.deepcopy(fixture.get("initial_state") or {})}
    state.update(copy.deepcopy(spec.get("initial_state") or {}))
    return {
        "id": attack["attack_id"],
        "initial_state": state,
        "signing_keys": [*(fixture.get("signing_keys") or []), *(spec.get("signing_keys") or [])],
        "steps": [*(fixture.get("steps") or []), *spec["steps"]],
        "seed": spec.get("seed", 0),
    }


def run_engine_attack(
    attack: Mapping[str, Any], suite: Mapping[str, Any], root: Path | str, seed: int = 0
) -> Observation:
    """Run the scenario on a fresh engine. Raises :class:`AttackSetupError` when a set-up step
    is refused (the attack could not be carried out)."""
    from labtrust_gym.engine.core import HospitalLabEngine
    from labtrust_gym.engine.golden import Signers, build_event, scenario_initial_state

    sc = scenario_of(attack, suite)
    signers = Signers()  # sequence numbers and sessions across the scenario's steps
    eng = HospitalLabEngine(None, {"policy_root": str(root)})
    eng.reset(scenario_initial_state(sc), deterministic=True, rng_seed=int(sc["seed"]) + seed)
    eng.drain_system_emits()
    obs = Observation()
    in_window = False
    sent: dict[int, Any] = {}  # events by step number, for `repeat`
    try:
        for n, step in enumerate(sc["steps"], start=1):
            is_attack = bool(step.get("attack"))
            in_window = in_window or is_attack
            if "advance_to" in step:
                eng.advance_to(step["advance_to"])
            elif "corrupt_log_line" in step:
                eng.corrupt_log_line_for_test(step["corrupt_log_line"])
            elif "close_sessions" in step:
                eng.close_sessions()
            else:
                if "repeat" in step:  # the event of that step again, byte for byte (a replay)
                    if int(step["repeat"]) not in sent:
                        raise AttackSetupError(f"step {n} repeats step {step['repeat']}, no event")
                    event = copy.deepcopy(sent[int(step["repeat"])])
                else:
                    event = build_event(eng, sc, step, n, signers)
                    _tamper(event, step, signers)
                    sent[n] = copy.deepcopy(event)
                res = eng.step(event)
                if not in_window and res["status"] != "ACCEPTED":
                    raise AttackSetupError(
                        f"set-up step {n} ({step.get('action')} by {step.get('agent')}) was "
                        f"BLOCKED {res['blocked_reason_code']}; the attack could not be reached"
                    )
                if in_window:
                    _observe(obs, res, is_attack)
            if in_window:
                obs.emits.extend(e["emit"] for e in eng.drain_system_emits())
                obs.criteria.extend(_query_checks(eng, step))
            else:
                eng.drain_system_emits()
    finally:
        eng.close()
    return obs


def _tamper(event: dict[str, Any], step: Mapping[str, Any], signers: Any) -> None:
    """Edit an authenticated event the way the step says: ``tamper_after_sign`` (fields
    changed after signing; mappings updated, not replaced) and ``mac_key_of`` (the MAC
    recomputed with another agent's session key, the session id kept)."""
    from labtrust_gym.engine.signing import mac_sign

    for key, value in (step.get("tamper_after_sign") or {}).items():
        old = event.get(key)
        event[key] = {**old, **value} if isinstance(old, dict) else value
    other = step.get("mac_key_of")
    if other is not None:
        if other not in signers.sessions or "mac" not in event:
            raise AttackSetupError(f"mac_key_of: {other!r} has no open session (or no mac step)")
        del event["mac"]
        mac_sign(event, event["session_id"], event["seq"], signers.sessions[other][1])


def _query_checks(eng: Any, step: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A step's ``queries: {expr: value}`` as criteria judged with the verdict (e.g. the clock
    did not move after a refused event)."""
    from .criteria import holds

    out = []
    for expr, want in (step.get("queries") or {}).items():
        got = eng.query(expr)
        out.append(
            {
                "metric": f"query {expr}",
                "op": "==",
                "value": want,
                "observed": got,
                "missing": False,
                "ok": holds(got, "==", want),
            }
        )
    return out


def _observe(obs: Observation, res: Mapping[str, Any], is_attack: bool) -> None:
    if is_attack:
        obs.status = res["status"]
        obs.reason_code = res["blocked_reason_code"]
    if res["status"] == "BLOCKED":
        obs.blocked_codes.append(res["blocked_reason_code"])
        obs.codes.append(res["blocked_reason_code"])
    obs.emits.extend(res["emits"])
    for v in res["violations"]:
        if v["status"] == "VIOLATION":
            obs.invariants.append(v["invariant_id"])
            obs.codes.append(v["reason_code"])


# --------------------------------------------------------------------------------------------
# Callables
# --------------------------------------------------------------------------------------------


def resolve_callable(name: str, allowlist: Iterable[str]) -> AttackFn:
    """The allow-listed, marked function ``name`` (module path + attribute)."""
    if name not in set(allowlist):
        raise PolicyError(f"Callable {name!r} is not in {ALLOWLIST_REL}; refusing to import it.")
    module_name, _, attr = name.rpartition(".")
    module = importlib.import_module(module_name)
    fn = getattr(module, attr, None)
    if not callable(fn) or not getattr(fn, "labtrust_attack", False):
        raise PolicyError(
            f"{name!r} is not a function marked with @attack_callable; refusing to run it."
        )
    return fn


def run_callable_attack(
    attack: Mapping[str, Any], allowlist: Iterable[str], context: dict[str, Any]
) -> Observation:
    spec = attack["callable"]
    fn = resolve_callable(spec["name"], allowlist)
    out = fn({**context, "params": dict(spec.get("params") or {})})
    if not isinstance(out, Mapping):
        raise TypeError(f"{spec['name']} returned {type(out).__name__}, not a mapping")
    return Observation.from_mapping(out)


# --------------------------------------------------------------------------------------------
# Coverage
# --------------------------------------------------------------------------------------------


def coverage(suite: Mapping[str, Any], results: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Controls x risks: for each cell the suite's attacks, how many ran and how many passed."""
    ran = {r["attack_id"]: r["verdict"] for r in results}
    risks = [r["risk_id"] for r in suite["risks"]]
    controls = [c["control_id"] for c in suite["controls"]]
    cells: dict[str, dict[str, dict[str, Any]]] = {c: {} for c in controls}
    for attack in suite["attacks"]:
        cell = cells[attack["control_id"]].setdefault(
            attack["risk_id"], {"attacks": [], "run": 0, "passed": 0}
        )
        cell["attacks"].append(attack["attack_id"])
        if attack["attack_id"] in ran:
            cell["run"] += 1
            cell["passed"] += ran[attack["attack_id"]] == "passed"
    covered_risks = {r for row in cells.values() for r in row}
    return {
        "controls": controls,
        "risks": risks,
        "cells": cells,
        "controls_without_attacks": [c for c in controls if not cells[c]],
        "risks_without_attacks": [r for r in risks if r not in covered_risks],
    }


def coverage_markdown(cov: Mapping[str, Any]) -> str:
    """The coverage table: a cell reads ``passed/run``, plus ``+k`` attacks not run."""
    risks = cov["risks"]
    lines = [
        "# Security suite coverage: controls x risks",
        "",
        "A cell is `passed/run` for the attacks of that control and risk; `+k` counts attacks of "
        "the suite not run this time (smoke selection); `-` means no attack.",
        "",
        "| control | " + " | ".join(risks) + " |",
        "|---|" + "---|" * len(risks),
    ]
    for control in cov["controls"]:
        row = []
        for risk in risks:
            cell = cov["cells"][control].get(risk)
            if cell is None:
                row.append("-")
                continue
            text = f"{cell['passed']}/{cell['run']}"
            rest = len(cell["attacks"]) - cell["run"]
            row.append(text + (f" +{rest}" if rest else ""))
        lines.append(f"| {control} | " + " | ".join(row) + " |")
    for label, key in (
        ("Controls", "controls_without_attacks"),
        ("Risks", "risks_without_attacks"),
    ):
        if cov[key]:
            lines += ["", f"{label} without any attack: {', '.join(cov[key])}."]
    return "\n".join(lines) + "\n"
