"""Safety case providers: ``register_safety_case_provider(provider_id, provider)``, and the
built-in ``default`` provider.

A provider offers ``load_claims(policy_root) -> dict`` and ``build_safety_case(policy_root) ->
dict``; instance, class or zero-argument factory, resolved once and checked for both methods.
A lab profile selects one with ``safety_case_provider_id``. ``build_safety_case`` may accept the
keyword ``evidence_dirs`` (directories to read evidence from); the CLI passes it when accepted.

The default provider reads ``policy/safety_case/claims.v0.1.yaml``: every claim lists its
evidence — attacks (verdicts in any ``attack_results.json`` under the evidence directories;
``all_attacks: true`` cites every attack of the suite), tests (pytest node ids, looked up in
JUnit XML reports there) and artifacts (files there, with optional criteria on their JSON). An
``attack_results.json`` counts only when it validates against its schema, its summary matches
its attacks and it was produced under the case's policy fingerprint and partner; a JSON artifact
that records another fingerprint or partner is rejected too. A claim is ``supported`` only when
every item exists and passed; ``unsupported`` when some item failed or its evidence was
rejected (with the reason); else ``no-evidence``. Every evidence file read is listed with its
SHA-256 (for attack results, of the document without its wall-clock ``duration_s``, so the same
evidence gives a byte-identical case).
"""

from __future__ import annotations

import hashlib
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


ATTACK_RESULTS = "attack_results.json"
RESULTS_SCHEMA = ("schemas", "attack_results.v0.1.schema.json")
#: How the digest of an attack_results.json is taken: its only wall-clock field left out, so the
#: same evidence gives the same safety case (docs/security.md, "The official pack").
RESULTS_DIGEST_OF = "canonical JSON without attacks[].duration_s"


def results_digest(doc: Mapping[str, Any]) -> str:
    """SHA-256 of an attack-results document without its per-attack ``duration_s``."""
    from labtrust_gym.fileio import canonical_json

    attacks = doc.get("attacks")
    stable = {
        **doc,
        "attacks": [
            {k: v for k, v in a.items() if k != "duration_s"} if isinstance(a, Mapping) else a
            for a in (attacks if isinstance(attacks, list) else [])
        ],
    }
    return hashlib.sha256(canonical_json(stable).encode("utf-8")).hexdigest()


class Evidence:
    """What the evidence directories hold: attack verdicts, test outcomes, files.

    An ``attack_results.json`` counts only when it is a valid attack-results document
    (``attack_results.v0.1.schema.json``, its summary matching its attacks) produced under this
    case's policy fingerprint and partner; otherwise it is *rejected* with the reason, and every
    attack it names is a rejected item (its claim is ``unsupported``, never supported by it)."""

    def __init__(
        self,
        dirs: Iterable[str | Path],
        *,
        policy_root: Any = None,
        policy_fingerprint: str | None = None,
        partner_id: str | None = None,
    ) -> None:
        self.dirs = [Path(d) for d in dirs]
        self.policy_root = policy_root
        self.fingerprint = policy_fingerprint
        self.partner_id = partner_id
        self.files: list[dict[str, Any]] = []
        self.attacks: dict[str, list[str]] = {}
        self.rejected: dict[str, list[str]] = {}  # attack id -> why its evidence was rejected
        self.rejected_files: dict[Path, str] = {}
        self.tests: dict[str, list[str]] = {}
        for d in self.dirs:
            if not d.is_dir():
                from labtrust_gym.errors import InvalidInputError

                raise InvalidInputError(f"--evidence {str(d)!r} is not a directory.")
            for path in sorted(d.rglob(ATTACK_RESULTS)):
                self._read_attacks(d, path)
            for path in sorted(d.rglob("*.xml")):
                self._read_junit(d, path)

    def _record(self, base: Path, path: Path, kind: str, **extra: Any) -> None:
        entry = {"path": path.relative_to(base).as_posix(), "kind": kind, "sha256": _sha256(path)}
        self.files.append({**entry, **extra})  # extra may replace sha256 (see digest_of)

    def mismatch(self, doc: Any) -> str | None:
        """Why a JSON evidence document does not belong to this case (another policy
        fingerprint or partner), or None."""
        if not isinstance(doc, Mapping):
            return None
        theirs = doc.get("policy_fingerprint", self.fingerprint)
        if self.fingerprint is not None and theirs != self.fingerprint:
            ours = self.fingerprint
            return f"produced under another policy (fingerprint {theirs}; this case: {ours})"
        if "partner_id" in doc and doc["partner_id"] != self.partner_id:
            return f"produced for partner {doc['partner_id']!r} (this case: {self.partner_id!r})"
        return None

    def _attack_results_problem(self, doc: Any) -> str | None:
        from labtrust_gym.config import policy_path
        from labtrust_gym.errors import SchemaValidationError
        from labtrust_gym.fileio import validate_with_schema

        try:
            validate_with_schema(
                doc, policy_path(self.policy_root, *RESULTS_SCHEMA), what="attack results"
            )
        except SchemaValidationError as exc:
            return f"not a valid attack results document ({exc})"
        verdicts = [a["verdict"] for a in doc["attacks"]]
        counts = {v: verdicts.count(v) for v in ("passed", "failed", "error", "skipped")}
        summary = doc["summary"]
        if summary["total"] != len(verdicts) or any(summary[k] != n for k, n in counts.items()):
            return "its summary disagrees with its attacks (edited)"
        return self.mismatch(doc)

    def _read_attacks(self, base: Path, path: Path) -> None:
        from labtrust_gym.errors import EvidenceError

        from .keys import load_evidence_json

        problem: str | None
        try:
            doc = load_evidence_json(path, what="Attack results")
        except EvidenceError as exc:
            doc, problem = None, str(exc)
        else:
            problem = self._attack_results_problem(doc)
        rel = path.relative_to(base).as_posix()
        if problem is None:
            digest = results_digest(doc)
            self._record(base, path, "attack_results", sha256=digest, digest_of=RESULTS_DIGEST_OF)
            for a in doc["attacks"]:
                self.attacks.setdefault(a["attack_id"], []).append(str(a["verdict"]))
            return
        self._record(base, path, "attack_results", rejected=problem)
        self.rejected_files[path.resolve()] = problem
        attacks = doc.get("attacks") if isinstance(doc, Mapping) else None
        for a in attacks if isinstance(attacks, list) else ():
            if isinstance(a, Mapping) and isinstance(a.get("attack_id"), str):
                self.rejected.setdefault(a["attack_id"], []).append(f"{rel}: {problem}")

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


def _cited_attacks(spec: Mapping[str, Any], suite_attacks: list[str]) -> list[str]:
    """The attacks a claim cites: its ``attacks`` list, and with ``all_attacks: true`` every
    attack of the suite (an attack a smoke run did not select is then missing, not failed)."""
    cited = list(spec.get("attacks") or ())
    if spec.get("all_attacks"):
        cited += [a for a in suite_attacks if a not in cited]
    return cited


def _artifact(art: Mapping[str, Any], ev: Evidence) -> dict[str, Any]:
    from labtrust_gym.errors import EvidenceError

    from .criteria import describe, evaluate
    from .keys import load_evidence_json

    path, where = ev.find(art["path"])
    entry: dict[str, Any] = {"path": art["path"], "found": where, "status": "missing"}
    entry["sha256"] = None
    if path is None:
        return entry
    entry["sha256"] = _sha256(path)
    rejected = ev.rejected_files.get(path.resolve())
    checks = art.get("criteria") or ()
    try:
        json_file = bool(checks) or path.suffix == ".json"
        doc = load_evidence_json(path, what="Artifact") if json_file else None
    except EvidenceError as exc:
        rejected = rejected or str(exc)
        doc = None
    rejected = rejected or ev.mismatch(doc)
    if rejected is not None:
        entry["status"], entry["rejected"] = "rejected", rejected
        return entry
    results = evaluate(doc, checks) if checks else []
    entry["criteria"] = results
    entry["status"] = "passed" if all(r["ok"] for r in results) else "failed"
    entry["failed_criteria"] = [describe(r) for r in results if not r["ok"]]
    return entry


def evaluate_claim(
    claim: Mapping[str, Any], ev: Evidence, suite_attacks: list[str] | None = None
) -> dict[str, Any]:
    """The claim with each evidence item's status and the claim's: ``supported`` when every
    item passed; ``unsupported`` when an item failed or its evidence was rejected (another
    policy or partner, not a valid document); ``no-evidence`` otherwise."""
    spec = claim["evidence"]
    items: dict[str, list[dict[str, Any]]] = {"attacks": [], "tests": [], "artifacts": []}
    for attack_id in _cited_attacks(spec, list(suite_attacks or ())):
        verdicts = ev.attacks.get(attack_id)
        item = {
            "id": attack_id,
            "status": _status_of(verdicts),
            "verdicts": sorted(set(verdicts or [])),
        }
        if attack_id in ev.rejected:
            item["status"], item["rejected"] = "rejected", "; ".join(ev.rejected[attack_id])
        items["attacks"].append(item)
    for node in spec.get("tests") or ():
        items["tests"].append({"id": node, "status": _status_of(ev.tests.get(junit_id(node)))})
    for art in spec.get("artifacts") or ():
        items["artifacts"].append(_artifact(art, ev))
    flat = [
        (kind[:-1], i.get("id", i.get("path")), i) for kind, group in items.items() for i in group
    ]
    failed = [f"{k} {name} failed" for k, name, i in flat if i["status"] == "failed"]
    failed += [
        f"{k} {name}: evidence rejected: {i['rejected']}"
        for k, name, i in flat
        if i["status"] == "rejected"
    ]
    missing = [f"{k} {name} has no evidence" for k, name, i in flat if i["status"] == "missing"]
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
    ``no-evidence``). Evidence must belong to this case: attack results of another policy
    fingerprint or partner are rejected (see :class:`Evidence`)."""
    from labtrust_gym.config import get_repo_root, policy_fingerprint

    from .attack_suite import load_suite

    root = policy_root if policy_root is not None else get_repo_root()
    doc = load_claims(root, partner_id)
    fingerprint = policy_fingerprint(root)
    ev = Evidence(
        evidence_dirs or (),
        policy_root=root,
        policy_fingerprint=fingerprint,
        partner_id=partner_id,
    )
    needs_suite = any(c["evidence"].get("all_attacks") for c in doc["claims"])
    suite = [a["attack_id"] for a in load_suite(root, partner_id)["attacks"]] if needs_suite else []
    claims = [evaluate_claim(c, ev, suite) for c in doc["claims"]]
    return {
        "format": CASE_FORMAT,
        "case_id": doc["case_id"],
        "policy_fingerprint": fingerprint,
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
        "passed; **unsupported** when cited evidence failed or was rejected (another policy or "
        "partner, not a valid document); **no-evidence** otherwise.",
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
    lines += [
        f"- `{f['path']}` ({f['kind']}) sha256 `{f['sha256']}`"
        + (f" of the {f['digest_of']}" if f.get("digest_of") else "")
        + (f" — **rejected**: {f['rejected']}" if f.get("rejected") else "")
        for f in files
    ] or ["(none)"]
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
