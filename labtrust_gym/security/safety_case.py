"""Safety case providers: ``register_safety_case_provider(provider_id, provider)``, and the
built-in ``default`` provider.

A provider offers ``load_claims(policy_root) -> dict`` and ``build_safety_case(policy_root) ->
dict``; instance, class or zero-argument factory, resolved once and checked for both methods.
A lab profile selects one with ``safety_case_provider_id``. ``build_safety_case`` may accept the
keyword ``evidence_dirs`` (directories to read evidence from); the CLI passes it when accepted.

The default provider reads ``policy/safety_case/claims.v0.1.yaml``: every claim lists its
evidence — attacks (verdicts in any ``attack_results.json`` under the evidence directories),
tests (pytest node ids, looked up in JUnit XML reports there) and artifacts (files there, with
optional criteria on their JSON). A claim is ``supported`` only when every item exists and
passed; ``unsupported`` when some item exists but failed; else ``no-evidence``. Every evidence
file read is listed with its SHA-256.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from labtrust_gym.plugins import registry

CLAIMS_REL = "safety_case/claims.v0.1.yaml"
CLAIMS_SCHEMA = ("schemas", "claims.v0.1.schema.json")
CASE_FORMAT = "labtrust-safety-case/0.1"
STATUSES = ("supported", "unsupported", "no-evidence")


def register_safety_case_provider(
    provider_id: str, provider: Any, *, replace: bool = False
) -> None:
    """Register a safety case provider (instance, class or factory)."""
    registry("safety_case_providers").register(provider_id, provider, replace=replace)


def get_safety_case_provider(provider_id: str) -> Any:
    """The resolved provider instance registered as ``provider_id``."""
    return registry("safety_case_providers").get(provider_id)


def list_safety_case_providers() -> list[str]:
    """Registered safety case provider ids, sorted."""
    return registry("safety_case_providers").ids()


# --------------------------------------------------------------------------------------------
# Evidence
# --------------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Evidence:
    """What the evidence directories hold: attack verdicts, test outcomes, files."""

    def __init__(self, dirs: Iterable[str | Path]) -> None:
        self.dirs = [Path(d) for d in dirs]
        self.files: list[dict[str, Any]] = []
        self.attacks: dict[str, list[str]] = {}
        self.tests: dict[str, list[str]] = {}
        for d in self.dirs:
            if not d.is_dir():
                from labtrust_gym.errors import InvalidInputError

                raise InvalidInputError(f"--evidence {str(d)!r} is not a directory.")
            for path in sorted(d.rglob("attack_results.json")):
                self._read_attacks(d, path)
            for path in sorted(d.rglob("*.xml")):
                self._read_junit(d, path)

    def _record(self, base: Path, path: Path, kind: str) -> None:
        self.files.append(
            {"path": path.relative_to(base).as_posix(), "kind": kind, "sha256": _sha256(path)}
        )

    def _read_attacks(self, base: Path, path: Path) -> None:
        try:
            doc = json.loads(path.read_bytes())
            attacks = doc["attacks"]
        except (ValueError, KeyError, TypeError):
            return
        self._record(base, path, "attack_results")
        for a in attacks:
            if isinstance(a, dict) and isinstance(a.get("attack_id"), str):
                self.attacks.setdefault(a["attack_id"], []).append(str(a.get("verdict")))

    def _read_junit(self, base: Path, path: Path) -> None:
        import xml.etree.ElementTree as ET

        try:
            root = ET.parse(path).getroot()
        except (ET.ParseError, OSError):
            return
        cases = list(root.iter("testcase"))
        if not cases:
            return
        self._record(base, path, "junit")
        for case in cases:
            ident = f"{case.get('classname', '')}::{case.get('name', '')}"
            if case.find("failure") is not None or case.find("error") is not None:
                outcome = "failed"
            elif case.find("skipped") is not None:
                outcome = "skipped"
            else:
                outcome = "passed"
            self.tests.setdefault(ident, []).append(outcome)

    def find(self, rel: str) -> tuple[Path | None, str]:
        """The artifact ``rel``: at that path in the first evidence directory holding it, else
        the one file anywhere under them whose path ends with ``rel``. Returns the path (None
        when there is none, or several) and where it was found (or why not)."""
        for d in self.dirs:
            if (d / rel).is_file():
                return d / rel, (d / rel).relative_to(d).as_posix()
        matches = [(d, p) for d in self.dirs for p in sorted(d.rglob(rel)) if p.is_file()]
        if len(matches) == 1:
            d, p = matches[0]
            return p, p.relative_to(d).as_posix()
        if matches:
            where = ", ".join(p.relative_to(d).as_posix() for d, p in matches)
            return None, f"ambiguous: {where}"
        return None, "not found"


def junit_id(node_id: str) -> str:
    """``tests/a/test_b.py::TestC::test_d[x]`` -> ``tests.a.test_b.TestC::test_d[x]`` (how
    pytest's JUnit XML names a test: classname and name)."""
    path, _, rest = node_id.partition("::")
    parts = rest.split("::")
    module = path.removesuffix(".py").replace("/", ".")
    return ".".join([module, *parts[:-1]]) + "::" + parts[-1]


def _status_of(outcomes: list[str] | None) -> str:
    """``passed`` / ``failed`` / ``missing`` for all occurrences of one evidence item."""
    if not outcomes:
        return "missing"
    if any(o in ("failed", "error") for o in outcomes):
        return "failed"
    if all(o == "passed" for o in outcomes):
        return "passed"
    return "missing"  # skipped: never evidence


# --------------------------------------------------------------------------------------------
# The default provider
# --------------------------------------------------------------------------------------------


def load_claims(policy_root: Any, partner_id: str | None = None) -> dict[str, Any]:
    """The claims file (partner overlay merged), schema-validated, claim ids unique."""
    from labtrust_gym.config import get_active_profile, get_repo_root, policy_path
    from labtrust_gym.errors import PolicyError
    from labtrust_gym.fileio import validate_with_schema

    from .partners import load_overlaid

    root = policy_root if policy_root is not None else get_repo_root()
    path = get_active_profile().resolve_path("safety_claims_path", root)
    doc = load_overlaid(root, path, CLAIMS_REL, partner_id)
    validate_with_schema(doc, policy_path(root, *CLAIMS_SCHEMA), what=f"Claims {str(path)!r}")
    ids = [c["claim_id"] for c in doc["claims"]]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise PolicyError(f"Claims {str(path)!r}: duplicate claim ids {dupes}.")
    return dict(doc)


def evaluate_claim(claim: Mapping[str, Any], ev: Evidence) -> dict[str, Any]:
    from .criteria import describe, evaluate

    spec = claim["evidence"]
    items: dict[str, list[dict[str, Any]]] = {"attacks": [], "tests": [], "artifacts": []}
    for attack_id in spec.get("attacks") or ():
        verdicts = ev.attacks.get(attack_id)
        items["attacks"].append(
            {
                "id": attack_id,
                "status": _status_of(verdicts),
                "verdicts": sorted(set(verdicts or [])),
            }
        )
    for node in spec.get("tests") or ():
        items["tests"].append({"id": node, "status": _status_of(ev.tests.get(junit_id(node)))})
    for art in spec.get("artifacts") or ():
        path, where = ev.find(art["path"])
        entry: dict[str, Any] = {
            "path": art["path"],
            "found": where,
            "status": "missing",
            "sha256": None,
        }
        if path is not None:
            entry["sha256"] = _sha256(path)
            checks = art.get("criteria") or ()
            try:
                results = evaluate(json.loads(path.read_bytes()), checks) if checks else []
            except ValueError:
                results = [
                    {
                        "metric": "(file)",
                        "op": "==",
                        "value": "JSON",
                        "observed": None,
                        "missing": True,
                        "ok": False,
                    }
                ]
            entry["criteria"] = results
            entry["status"] = "passed" if all(r["ok"] for r in results) else "failed"
            entry["failed_criteria"] = [describe(r) for r in results if not r["ok"]]
        items["artifacts"].append(entry)
    flat = [(kind, i) for kind, group in items.items() for i in group]
    failed = [
        f"{k[:-1]} {i.get('id', i.get('path'))} failed" for k, i in flat if i["status"] == "failed"
    ]
    missing = [
        f"{k[:-1]} {i.get('id', i.get('path'))} has no evidence"
        for k, i in flat
        if i["status"] == "missing"
    ]
    status = "unsupported" if failed else ("no-evidence" if missing or not flat else "supported")
    return {
        "claim_id": claim["claim_id"],
        "statement": claim["statement"],
        "risk_ids": list(claim.get("risk_ids") or []),
        "status": status,
        "evidence": items,
        "reasons": failed + missing,
    }


def build_safety_case(
    policy_root: Any,
    evidence_dirs: Iterable[str | Path] | None = None,
    *,
    partner_id: str | None = None,
) -> dict[str, Any]:
    """Every claim with its status from the evidence in ``evidence_dirs`` (none: every claim is
    ``no-evidence``)."""
    from labtrust_gym.config import get_repo_root, policy_fingerprint

    root = policy_root if policy_root is not None else get_repo_root()
    doc = load_claims(root, partner_id)
    ev = Evidence(evidence_dirs or ())
    claims = [evaluate_claim(c, ev) for c in doc["claims"]]
    return {
        "format": CASE_FORMAT,
        "case_id": doc["case_id"],
        "policy_fingerprint": policy_fingerprint(root),
        "partner_id": partner_id,
        "evidence_files": ev.files,
        "summary": {
            "claims": len(claims),
            **{s: sum(1 for c in claims if c["status"] == s) for s in STATUSES},
        },
        "claims": claims,
    }


def safety_case_markdown(case: Mapping[str, Any]) -> str:
    lines = [
        f"# Safety case `{case.get('case_id', '?')}`",
        "",
        "A claim is **supported** only when every attack, test and artifact it cites exists and "
        "passed; **unsupported** when cited evidence failed; **no-evidence** otherwise.",
        "",
        "| claim | status | attacks | tests | artifacts | statement |",
        "|---|---|---|---|---|---|",
    ]
    for c in case["claims"]:
        ev = c.get("evidence") or {}
        cells = []
        for kind in ("attacks", "tests", "artifacts"):
            group = ev.get(kind) or []
            ok = sum(1 for i in group if i.get("status") == "passed")
            cells.append(f"{ok}/{len(group)}" if group else "-")
        statement = str(c.get("statement", "")).replace("|", "\\|")
        lines.append(f"| {c['claim_id']} | {c['status']} | {' | '.join(cells)} | {statement} |")
    lines += ["", "## Why a claim is not supported", ""]
    unsupported = [c for c in case["claims"] if c["status"] != "supported"]
    for c in unsupported:
        lines.append(f"- **{c['claim_id']}** ({c['status']}): " + "; ".join(c.get("reasons") or []))
    if not unsupported:
        lines.append("Every claim is supported.")
    files = case.get("evidence_files") or []
    lines += ["", "## Evidence files", ""]
    lines += [f"- `{f['path']}` ({f['kind']}) sha256 `{f['sha256']}`" for f in files] or ["(none)"]
    return "\n".join(lines) + "\n"


class DefaultSafetyCaseProvider:
    """The built-in provider (registered as ``default``)."""

    def load_claims(self, policy_root: Any, partner_id: str | None = None) -> dict[str, Any]:
        return load_claims(policy_root, partner_id)

    def build_safety_case(
        self,
        policy_root: Any,
        evidence_dirs: Iterable[str | Path] | None = None,
        *,
        partner_id: str | None = None,
    ) -> dict[str, Any]:
        return build_safety_case(policy_root, evidence_dirs, partner_id=partner_id)
