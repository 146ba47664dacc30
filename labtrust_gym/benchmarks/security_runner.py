"""Security suite providers: ``register_security_suite_provider(provider_id, provider)``, and the
built-in ``default`` provider.

A provider offers ``load_suite(policy_root, partner_id) -> dict`` and
``run_suite(policy_root, repo_root, ...) -> list[dict]``; it may be registered as an instance, a
class or a zero-argument factory (resolved once, then checked for both methods). A lab profile
selects one with ``security_suite_provider_id``. Replacing the default provider can weaken the
evidence a run produces, so overrides should be audited: the output records the provider id.

The default provider runs ``policy/security/attack_suite.v0.1.yaml``: engine scenarios and
allow-listed callables (``labtrust_gym.security.attack_suite``) and episode attacks (a benchmark
episode, here). :func:`run_security_suite` writes ``attack_results.json`` and the controls x
risks coverage table (``coverage.md``, ``coverage.json``).
"""

from __future__ import annotations

import inspect
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labtrust_gym.errors import PluginError
from labtrust_gym.plugins import registry
from labtrust_gym.security.attack_suite import (
    VERDICTS,
    AttackSetupError,
    Observation,
    attack_callable,
    coverage,
    coverage_markdown,
    describe_expected,
    judge,
    kind_of,
    load_allowlist,
    load_suite,
    run_callable_attack,
    run_engine_attack,
    select_attacks,
)
from labtrust_gym.security.criteria import evaluate

RESULTS_FORMAT = "labtrust-attack-results/0.1"
RESULTS_SCHEMA = ("schemas", "attack_results.v0.1.schema.json")


def register_security_suite_provider(
    provider_id: str, provider: Any, *, replace: bool = False
) -> None:
    """Register a security suite provider (instance, class or factory)."""
    registry("security_suite_providers").register(provider_id, provider, replace=replace)


def get_security_suite_provider(provider_id: str) -> Any:
    """The resolved provider instance registered as ``provider_id``."""
    return registry("security_suite_providers").get(provider_id)


def list_security_suite_providers() -> list[str]:
    """Registered security suite provider ids, sorted."""
    return registry("security_suite_providers").ids()


# --------------------------------------------------------------------------------------------
# The default provider
# --------------------------------------------------------------------------------------------


class DefaultSecuritySuiteProvider:
    """Runs the policy's attack suite; registered as ``default`` by the built-in plugin."""

    def load_suite(self, policy_root: Any, partner_id: str | None = None) -> dict[str, Any]:
        return load_suite(policy_root, partner_id)

    def run_suite(
        self,
        policy_root: Any,
        repo_root: Any = None,
        *,
        partner_id: str | None = None,
        full: bool = False,
        seed: int = 0,
        attack_ids: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """One result per selected attack: ``attack_id, title, risk_id, control_id, kind,
        smoke, expected, observed, verdict, reason, duration_s``."""
        from labtrust_gym.config import get_repo_root

        root = next((r for r in (policy_root, repo_root) if r is not None), None) or get_repo_root()
        suite = self.load_suite(root, partner_id)
        allowlist = load_allowlist(root, partner_id)
        return [
            run_attack(attack, suite, root, seed, allowlist)
            for attack in select_attacks(suite, full=full, only=attack_ids)
        ]


def run_attack(
    attack: Mapping[str, Any],
    suite: Mapping[str, Any],
    root: Any,
    seed: int,
    allowlist: list[str],
) -> dict[str, Any]:
    """Run one attack and judge it; failures to carry it out are ``error``, never a crash."""
    kind = kind_of(attack)
    start = time.perf_counter()
    obs = Observation()
    try:
        if kind == "engine":
            obs = run_engine_attack(attack, suite, root, seed)
        elif kind == "episode":
            obs = _run_episode_attack(attack, root, seed)
        else:
            with tempfile.TemporaryDirectory(prefix="labtrust_attack_") as work:
                context = {"policy_root": str(root), "seed": seed, "workdir": work}
                obs = run_callable_attack(attack, allowlist, context)
                obs.note = obs.note.replace(work, "<workdir>")  # results stay deterministic
        verdict, reason = judge(attack["expected_outcome"], obs)
    except _Skip as exc:
        verdict, reason = "skipped", str(exc)
    except AttackSetupError as exc:
        verdict, reason = "error", str(exc)
    except Exception as exc:  # a broken attack is reported, the suite goes on
        verdict, reason = "error", f"{type(exc).__name__}: {exc}"
    return {
        "attack_id": attack["attack_id"],
        "title": attack["title"],
        "risk_id": attack["risk_id"],
        "control_id": attack["control_id"],
        "kind": kind,
        "smoke": bool(attack.get("smoke")),
        "expected": dict(attack["expected_outcome"]),
        "observed": obs.as_dict(),
        "verdict": verdict,
        "reason": reason,
        "duration_s": round(time.perf_counter() - start, 6),
    }


class _Skip(Exception):
    """The attack needs something that is not installed (verdict ``skipped``)."""


def _run_episode_attack(attack: Mapping[str, Any], root: Any, seed: int) -> Observation:
    from labtrust_gym.security.partners import policy_root_env

    from .runner import run_benchmark

    spec = attack["episode"]
    for kind, ident in (
        ("tasks", spec["task"]),
        ("coordination_methods", spec.get("coord_method")),
    ):
        if ident is not None and ident not in registry(kind):
            raise _Skip(
                f"{registry(kind).spec.label} {ident!r} is not registered (install the plugin "
                "that provides it); a skipped attack is not evidence"
            )
    with policy_root_env(root):
        doc = run_benchmark(
            spec["task"],
            int(spec.get("episodes", 1)),
            seed,
            None,
            coord_method=spec.get("coord_method"),
            scale=spec.get("scale"),
            injection=spec.get("injection"),
            policy_root=Path(root),
        )
    obs = Observation()
    blocked_sets, invariant_sets = [], []
    for ep in doc["episodes"]:
        m = ep["metrics"]
        blocked = {k for k, v in (m.get("blocked_by_reason_code") or {}).items() if v}
        invariants = {k for k, v in (m.get("violations_by_invariant_id") or {}).items() if v}
        blocked_sets.append(blocked)
        invariant_sets.append(invariants)
        for result in evaluate(m, spec.get("criteria") or ()):
            obs.criteria.append({**result, "seed": ep["seed"]})
    # a code counts only when every episode shows it
    obs.blocked_codes = sorted(set.intersection(*blocked_sets))
    obs.codes = list(obs.blocked_codes)
    obs.invariants = sorted(set.intersection(*invariant_sets))
    obs.note = f"{len(doc['episodes'])} episode(s) of {spec['task']}"
    return obs


@attack_callable
def edited_results_summary(ctx: dict[str, Any]) -> dict[str, Any]:
    """Write a results file, improve its stored summary, and ask the summariser to read it."""
    import json

    from labtrust_gym.errors import EvidenceError
    from labtrust_gym.fileio import atomic_write_json
    from labtrust_gym.security.partners import policy_root_env

    from .results import read_results
    from .runner import run_benchmark
    from .summary import check_summary

    root = Path(ctx["policy_root"])
    path = Path(ctx["workdir"]) / "results.json"
    with policy_root_env(root):
        run_benchmark("throughput_sla", 2, int(ctx["seed"]), path, policy_root=root)
    check_summary(read_results(path, policy_root=root), str(path))  # the genuine file passes
    edited = json.loads(path.read_bytes())
    edited["summary"]["throughput"]["mean"] += 10.0
    atomic_write_json(path, edited)
    try:
        check_summary(read_results(path, policy_root=root), str(path))
    except EvidenceError as exc:
        return {"codes": [exc.code], "note": str(exc)}
    return {"codes": [], "note": "the edited summary was accepted"}


# --------------------------------------------------------------------------------------------
# Running a provider and writing its outputs
# --------------------------------------------------------------------------------------------


def call_with_supported(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a provider method with the keyword arguments it accepts (a plugin written against
    the bare contract ``run_suite(policy_root, repo_root)`` still works)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return fn(*args, **kwargs)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return fn(*args, **kwargs)
    return fn(*args, **{k: v for k, v in kwargs.items() if k in params})


def _check_results(provider_id: str, results: Any) -> list[dict[str, Any]]:
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        raise PluginError(
            f"Security suite provider {provider_id!r}: run_suite returned "
            f"{type(results).__name__}; it must return a list of dicts."
        )
    for r in results:
        if not isinstance(r.get("attack_id"), str) or r.get("verdict") not in VERDICTS:
            raise PluginError(
                f"Security suite provider {provider_id!r}: every result needs an attack_id and a "
                f"verdict in {VERDICTS}; got {dict(r)!r:.200}."
            )
    return results


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    counts = {v: sum(1 for r in results if r["verdict"] == v) for v in VERDICTS}
    return {
        "total": len(results),
        **counts,
        "all_passed": bool(results) and counts["passed"] == len(results),
    }


def run_security_suite(
    out_dir: Path,
    *,
    full: bool = False,
    seed: int = 0,
    partner_id: str | None = None,
    attack_ids: list[str] | None = None,
    policy_root: Path | None = None,
    provider_id: str | None = None,
) -> dict[str, Any]:
    """Run the profile's security suite provider and write ``attack_results.json``,
    ``coverage.json`` and ``coverage.md`` into ``out_dir``; return the results document."""
    from labtrust_gym.config import get_active_profile, get_repo_root, policy_path
    from labtrust_gym.fileio import (
        atomic_write_json,
        atomic_write_text,
        ensure_output_dir,
        validate_with_schema,
    )

    from .results import policy_fingerprint
    from .runner import check_seeds

    check_seeds(seed, 1)  # the runner's rule: 0 .. 2**63 - 1
    ensure_output_dir(out_dir, label="--out")
    root = policy_root if policy_root is not None else get_repo_root()
    chosen = provider_id or get_active_profile().security_suite_provider_id
    provider = get_security_suite_provider(chosen)
    suite = call_with_supported(provider.load_suite, root, partner_id)
    results = _check_results(
        chosen,
        call_with_supported(
            provider.run_suite,
            root,
            root,
            partner_id=partner_id,
            full=full,
            seed=seed,
            attack_ids=attack_ids,
        ),
    )
    cov = coverage(suite, results) if _has_matrix(suite) else None
    doc = {
        "format": RESULTS_FORMAT,
        "provider_id": chosen,
        "suite_id": suite.get("suite_id"),
        "selection": "only" if attack_ids else ("full" if full else "smoke"),
        "seed": seed,
        "partner_id": partner_id,
        "policy_fingerprint": policy_fingerprint(root),
        "summary": summarize(results),
        "attacks": results,
    }
    validate_with_schema(doc, policy_path(root, *RESULTS_SCHEMA), what="attack results")
    atomic_write_json(out_dir / "attack_results.json", doc)
    if cov is not None:
        atomic_write_json(out_dir / "coverage.json", cov)
        atomic_write_text(out_dir / "coverage.md", coverage_markdown(cov))
    return doc


def _has_matrix(suite: Mapping[str, Any]) -> bool:
    return all(isinstance(suite.get(k), list) for k in ("risks", "controls", "attacks"))


def without_durations(doc: Mapping[str, Any]) -> dict[str, Any]:
    """``doc`` minus the per-attack wall-clock durations (for deterministic comparisons)."""
    return {
        **doc,
        "attacks": [{k: v for k, v in a.items() if k != "duration_s"} for a in doc["attacks"]],
    }


def describe_result(result: Mapping[str, Any]) -> str:
    """One line per attack for the terminal."""
    label = {"passed": "PASS", "failed": "FAIL", "error": "ERROR", "skipped": "SKIP"}
    expected = result.get("expected")
    want = describe_expected(expected) if isinstance(expected, Mapping) else ""
    return (
        f"{label.get(result['verdict'], result['verdict'])}  {result['attack_id']}  "
        f"{result.get('title', '')}  [{want}]"
    )


__all__ = [
    "DefaultSecuritySuiteProvider",
    "describe_result",
    "get_security_suite_provider",
    "list_security_suite_providers",
    "register_security_suite_provider",
    "run_security_suite",
    "without_durations",
]
