"""Attacks on a run's evidence (kind ``callable``; listed in the policy allow-list).

Each attack builds genuine evidence in its work directory — a small strict-signature episode
whose log is anchored by a *producer* key the verifier trusts — checks that the genuine
evidence verifies (otherwise the attack proves nothing and raises), tampers with it, verifies
again and reports the evidence code the verifier raised (``codes``; empty if it accepted).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from labtrust_gym.errors import EvidenceError

from .attack_suite import attack_callable
from .keys import RunKey, TrustStore

PRODUCER_SEED = b"labtrust-gym/security-suite/producer"
ATTACKER_SEED = b"labtrust-gym/security-suite/attacker"

_LAB: dict[str, Any] = {
    "id": "EVIDENCE-LAB",
    "initial_state": {
        "strict_signatures": True,
        "arrivals": [
            {
                "specimen_id": "S1",
                "t_s": 0,
                "priority": "ROUTINE",
                "panel": "CBC",
                "patient_id": "P1",
            }
        ],
    },
    "signing_keys": [
        {"key_id": f"K_{a}", "agent_id": a}
        for a in ("reception_0", "ops_0", "runner_0", "runner_1", "qc_0", "supervisor_0")
    ],
    "steps": [
        {"agent": "reception_0", "action": "CREATE_ACCESSION", "args": {"specimen_id": "S1"}},
        {"agent": "reception_0", "action": "ACCEPT_SPECIMEN", "args": {"specimen_id": "S1"}},
        {"agent": "ops_0", "action": "MOVE", "args": {"to_zone": "Z_ANALYZER_HALL_B"}},
        {
            "agent": "ops_0",
            "action": "QUEUE_RUN",
            "args": {"device_id": "DEV_HAEM_B1", "specimen_id": "S1"},
        },
        {"agent": "ops_0", "action": "START_RUN", "args": {"device_id": "DEV_HAEM_B1"}},
        {"t": 90, "agent": "runner_0", "action": "TICK"},
        {"agent": "qc_0", "action": "RELEASE_RESULT", "args": {"result_id": "R_S1"}},
        {"agent": "supervisor_0", "action": "TICK"},
    ],
}


def producer() -> tuple[RunKey, TrustStore]:
    key = RunKey.from_seed(PRODUCER_SEED)
    trust = TrustStore()
    trust.add(key.fingerprint, "security suite producer key")
    return key, trust


def signed_episode(workdir: Path, policy_root: Any) -> Path:
    """Run the small strict lab and write its log and anchor (signed by the producer key)."""
    from labtrust_gym.engine.core import HospitalLabEngine
    from labtrust_gym.engine.golden import Signers, build_event, scenario_initial_state

    from .anchor import write_anchor

    eng = HospitalLabEngine(None, {"policy_root": str(policy_root)} if policy_root else {})
    eng.reset(scenario_initial_state(_LAB), deterministic=True, rng_seed=0)
    signers = Signers()
    for n, step in enumerate(_LAB["steps"], start=1):
        signed = {**step, "key_id": f"K_{step['agent']}"}
        res = eng.step(build_event(eng, _LAB, signed, n, signers))
        if res["status"] != "ACCEPTED":
            raise RuntimeError(f"evidence lab step {n} was BLOCKED {res['blocked_reason_code']}")
    log = workdir / "episode.jsonl"
    eng.write_episode_log(log)
    write_anchor(log, eng, producer()[0])
    return log


def rechain(lines: list[bytes], index: int | None, edit: Any) -> list[bytes]:
    """The log with record ``index`` (None: every record, in order) edited by ``edit(record)``
    and every hash recomputed, as a forger who can write the file would do it."""
    import hashlib

    from labtrust_gym.engine.hashchain import GENESIS_HASH, canonical_bytes, line_bytes

    out = []
    prev = GENESIS_HASH
    for i, line in enumerate(lines):
        record = json.loads(line[84:-1])
        if index is None or i == index:
            edit(record)
        record["prev_hash"] = prev
        rec = canonical_bytes(record)
        prev = hashlib.sha256(rec).hexdigest()
        out.append(line_bytes(prev, rec))
    return out


def _write_lines(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(ln + b"\n" for ln in lines))


def _lines(path: Path) -> list[bytes]:
    return [ln for ln in path.read_bytes().split(b"\n") if ln]


def _outcome(check: Any) -> dict[str, Any]:
    try:
        check()
    except EvidenceError as exc:
        return {"codes": [exc.code], "note": str(exc)}
    return {"codes": [], "note": "the verifier accepted the tampered evidence"}


def _tampered_log(ctx: dict[str, Any], tamper: Any) -> dict[str, Any]:
    """Genuine anchored log (which must verify, or the attack proves nothing), then
    ``tamper(log)``, then what the verifier says."""
    from .anchor import verify_log

    log = signed_episode(Path(ctx["workdir"]), ctx.get("policy_root"))
    _key, trust = producer()
    verify_log(log, trust)
    tamper(log)
    return _outcome(lambda: verify_log(log, trust))


def _rewrite(log: Path, edit: Any) -> None:
    """Edit the release record and recompute every hash, as a forger who can write the file."""
    lines = _lines(log)
    index = next(
        i
        for i, ln in enumerate(lines)
        if json.loads(ln[84:-1])["event"]["action_type"] == "RELEASE_RESULT"
    )
    _write_lines(log, rechain(lines, index, edit))


def _reassign_release(record: dict[str, Any]) -> None:
    record["event"]["agent_id"] = "supervisor_0"


def _impersonate(record: dict[str, Any]) -> None:
    record["event"]["agent_id"] = "supervisor_0"
    record["event"]["key_id"] = "K_supervisor_0"  # the signature stays qc_0's


def _reanchor(log: Path, key: RunKey, keys: list[dict[str, Any]] | None = None) -> None:
    """Re-sign the anchor for the log as it now is (``keys`` replaces the listed agent keys)."""
    from labtrust_gym.fileio import atomic_write_json

    from .anchor import anchor_path, build_anchor

    old = json.loads(anchor_path(log).read_bytes())
    lines = _lines(log)
    doc = build_anchor(
        log,
        head_hash=lines[-1][9:73].decode("ascii"),
        length=len(lines),
        strict_signatures=old["strict_signatures"],
        agents=old["agents"],
        keys=old["keys"] if keys is None else keys,
    )
    atomic_write_json(anchor_path(log), key.sign(doc))


def agent_registry() -> list[dict[str, Any]]:
    """The lab agents' genuine public keys, as a verifier who provisioned them holds them."""
    from labtrust_gym.engine.signing import derive_keypair

    return [
        {
            "key_id": k["key_id"],
            "agent_id": k["agent_id"],
            "status": "active",
            "public_key_b64": derive_keypair(k["agent_id"])[1],
        }
        for k in _LAB["signing_keys"]
    ]


@attack_callable
def truncated_log(ctx: dict[str, Any]) -> dict[str, Any]:
    return _tampered_log(ctx, lambda log: _write_lines(log, _lines(log)[:-2]))


@attack_callable
def rewritten_log(ctx: dict[str, Any]) -> dict[str, Any]:
    return _tampered_log(ctx, lambda log: _rewrite(log, _reassign_release))


@attack_callable
def reanchored_rewrite(ctx: dict[str, Any]) -> dict[str, Any]:
    def tamper(log: Path) -> None:
        _rewrite(log, _reassign_release)
        _reanchor(log, RunKey.from_seed(ATTACKER_SEED))

    return _tampered_log(ctx, tamper)


@attack_callable
def fabricated_event(ctx: dict[str, Any]) -> dict[str, Any]:
    """The run signer itself (trusted) rewrites an event: only the agents' signatures stop it."""

    def tamper(log: Path) -> None:
        _rewrite(log, _impersonate)
        _reanchor(log, producer()[0])

    return _tampered_log(ctx, tamper)


@attack_callable
def swapped_key(ctx: dict[str, Any]) -> dict[str, Any]:
    """The run signer fabricates an agent's event, signs it with a fresh key of its own, swaps
    that key into the anchor under the agent's key id and re-anchors: every signature in the
    log verifies against the anchor. A verifier holding the agents' key registry refuses it."""
    from labtrust_gym.engine.signing import derive_keypair, sign_event

    from .anchor import verify_log

    registry = agent_registry()
    log = signed_episode(Path(ctx["workdir"]), ctx.get("policy_root"))
    key, trust = producer()
    verify_log(log, trust, keys=registry)  # the genuine log verifies against the registry
    fresh, fresh_pub = derive_keypair("supervisor_0", secret=ATTACKER_SEED)

    seq = 0

    def forge(record: dict[str, Any]) -> None:  # the release becomes the supervisor's, and
        nonlocal seq  # every supervisor event is renumbered and re-signed with the fresh key
        event = record.get("event") or {}
        if event.get("action_type") == "RELEASE_RESULT":
            event["agent_id"], event["key_id"] = "supervisor_0", "K_supervisor_0"
        if event.get("agent_id") == "supervisor_0":
            seq += 1
            event["seq"] = seq
            event["signature"] = sign_event(event, fresh)

    _write_lines(log, rechain(_lines(log), None, forge))
    anchored = json.loads((log.parent / (log.name + ".anchor.json")).read_bytes())["keys"]
    swapped = [
        {**k, "public_key_b64": fresh_pub} if k["key_id"] == "K_supervisor_0" else k
        for k in anchored
    ]
    _reanchor(log, key, swapped)
    try:
        verify_log(log, trust)
        without = "without the registry the forgery verifies (run-signer-only keys); "
    except EvidenceError as exc:
        without = f"even without the registry it is refused ({exc.code}); "
    outcome = _outcome(lambda: verify_log(log, trust, keys=registry))
    outcome["note"] = without + outcome["note"]
    return outcome


@attack_callable
def deleted_anchor(ctx: dict[str, Any]) -> dict[str, Any]:
    from .anchor import anchor_path

    return _tampered_log(ctx, lambda log: anchor_path(log).unlink())


@attack_callable
def refusal_in_log(ctx: dict[str, Any]) -> dict[str, Any]:
    """An agent tries an action outside its role and is refused; the episode log, written and
    anchored, must still hold the attempt: a refusal record naming the event and the reason.
    Reports the reason codes of the refusal records of that event found in the verified log."""
    from labtrust_gym.engine.core import HospitalLabEngine
    from labtrust_gym.engine.golden import scenario_initial_state

    from .anchor import iter_records, verify_log, write_anchor

    root = ctx.get("policy_root")
    eng = HospitalLabEngine(None, {"policy_root": str(root)} if root else {})
    eng.reset(scenario_initial_state({"id": "REFUSAL-LAB"}), deterministic=True, rng_seed=0)
    attempt = {
        "event_id": "ATTEMPT-1",
        "t_s": 0,
        "agent_id": "runner_0",
        "action_type": "KILL_SWITCH",
        "args": {},
    }
    if eng.step(dict(attempt))["status"] != "BLOCKED":
        raise RuntimeError("the out-of-role attempt was accepted; the attack proves nothing")
    eng.step({"event_id": "AFTER-1", "t_s": 0, "agent_id": "ops_0", "action_type": "TICK"})
    log = Path(ctx["workdir"]) / "refusals.jsonl"
    eng.write_episode_log(log)
    key, trust = producer()
    write_anchor(log, eng, key)
    verify_log(log, trust)  # the refusal record is part of the verified, anchored chain
    codes = [
        str(rec["outcome"]["blocked_reason_code"])
        for _seq, rec in iter_records(_lines(log))
        if (rec.get("refused") or {}).get("event", {}).get("event_id") == attempt["event_id"]
    ]
    note = "refusal record in the anchored log" if codes else "no refusal record in the log"
    return {"codes": codes, "note": note}


def signed_bundle(workdir: Path, policy_root: Any) -> tuple[Path, TrustStore]:
    """A receipt bundle of the small strict lab (with a results file naming its log), exported
    and signed with the producer key; returns the bundle and the trust that accepts it."""
    import hashlib

    from labtrust_gym.fileio import atomic_write_json

    from .receipts import export_receipts

    run = workdir / "run"
    run.mkdir()
    log = signed_episode(run, policy_root)
    anchor = json.loads((run / "episode.jsonl.anchor.json").read_bytes())
    results = {
        "schema_version": "0.3",
        "task": "evidence_lab",
        "policy_fingerprint": "sha256:" + "0" * 64,
        "partner_id": None,
        "episodes": [
            {
                "seed": 0,
                "metrics": {"throughput": 1},
                "log_sha256": hashlib.sha256(log.read_bytes()).hexdigest(),
                "log_anchor": dict(anchor["chain"]),
            }
        ],
    }
    atomic_write_json(run / "results.json", results)
    key, trust = producer()
    bundle = workdir / "bundle"
    export_receipts(run, bundle, trust=trust, key=key)
    return bundle, trust


@attack_callable
def edited_bundle(ctx: dict[str, Any]) -> dict[str, Any]:
    from .receipts import verify_bundle

    bundle, trust = signed_bundle(Path(ctx["workdir"]), ctx.get("policy_root"))
    verify_bundle(bundle, trust)  # genuine first
    receipt = next((bundle / "episodes").rglob("R_S1.json"))
    data = bytearray(receipt.read_bytes())
    data[len(data) // 2] ^= 0x01
    receipt.write_bytes(bytes(data))
    return _outcome(lambda: verify_bundle(bundle, trust))
