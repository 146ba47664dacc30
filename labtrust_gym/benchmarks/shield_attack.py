"""Security-suite attack on the shield: a coordination method proposes forbidden actions.

``forbidden_proposals`` (allow-listed in policy/security/callable_allowlist.v0.1.yaml, attack
``ATK-SHIELD-001``) registers :class:`ForbiddenProposals` for one episode of ``throughput_sla``
with a log. Every step the method proposes, for three lab agents, only actions the agent's mask
forbids at that moment:

* ``runner_0`` releases a result (``RELEASE_RESULT@next``: its role may not release);
* ``ops_0`` starts a run on a device it may not start now (a ``START_RUN@<device>`` entry masked
  out: a busy, faulted, QC-locked or remote device, or an empty queue);
* ``runner_1`` walks into the restricted biohazard suite without a token, in turn as an explicit
  ``MOVE`` event whose ``to_zone`` is the restricted zone, as a valid ``MOVE@<zone>`` entry whose
  ``args`` retarget it (``to_zone``: the restricted zone), and as that entry with a decoy arg
  naming the valid zone beside the real ``to_zone`` (the shield must judge the key the env
  sends, not a decoy).

The attack is *blocked* only when every proposal is refused by the shield with a ``SHIELD.*``
code (read from the log's decision records) and none of them reached the engine — neither
accepted nor refused by it (no agent event of those agents in the log at all) — and the log
verifies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labtrust_gym.baselines.coordination.interface import CoordinationMethod
from labtrust_gym.security.attack_suite import attack_callable

PROBE_ID = "security_shield_probe"
RESTRICTED = "Z_RESTRICTED_BIOHAZARD"


class ForbiddenProposals(CoordinationMethod):
    """Proposes only masked-out actions for three agents (see the module doc); keeps a list of
    what it proposed, ``(step, agent_id, name)``."""

    def __init__(self, catalog: Any) -> None:
        self.names: list[str] = catalog.names()
        self.starts = [i for i, n in enumerate(self.names) if n.startswith("START_RUN@")]
        self.release = self.names.index("RELEASE_RESULT@next")
        self.proposed: list[tuple[int, str, str]] = []

    @property
    def method_id(self) -> str:
        return PROBE_ID

    def propose_actions(self, obs: Any, infos: Any, t: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "runner_0" in obs and not obs["runner_0"]["action_mask"][self.release]:
            out["runner_0"] = {"entry": "RELEASE_RESULT@next"}
            self.proposed.append((t, "runner_0", "RELEASE_RESULT@next"))
        if "ops_0" in obs:
            mask = obs["ops_0"]["action_mask"]
            locked = next((e for e in self.starts if not mask[e]), None)
            if locked is not None:
                out["ops_0"] = locked
                self.proposed.append((t, "ops_0", self.names[locked]))
        entry = f"MOVE@{RESTRICTED}"
        restricted = self.names.index(entry) if entry in self.names else None
        runner = obs.get("runner_1")
        if runner is not None and restricted is not None and not runner["action_mask"][restricted]:
            mask = runner["action_mask"]
            valid = next(
                (n for i, n in enumerate(self.names) if n.startswith("MOVE@") and mask[i]), None
            )
            form = t % 3 if valid is not None else 0
            if form == 0:
                out["runner_1"] = {"action_type": "MOVE", "args": {"to_zone": RESTRICTED}}
            elif form == 1:  # a valid entry, retargeted by its args
                out["runner_1"] = {"entry": valid, "args": {"to_zone": RESTRICTED}}
            else:  # the same with a decoy arg naming the valid zone
                decoy = str(valid).split("@", 1)[1]
                out["runner_1"] = {"entry": valid, "args": {"a": decoy, "to_zone": RESTRICTED}}
                entry = str(valid)  # refused as malformed: the shield names the entry given
            self.proposed.append((t, "runner_1", entry))
        return out


@attack_callable
def forbidden_proposals(ctx: dict[str, Any]) -> dict[str, Any]:
    """Run the probe for one episode and report what the shield did (module doc)."""
    import json

    from labtrust_gym.baselines.coordination.registry import register_coordination_method
    from labtrust_gym.engine.hashchain import read_log, verify_chain
    from labtrust_gym.security.partners import policy_root_env

    from .runner import prepare_jobs, run_episode_job

    root = Path(ctx["policy_root"])
    log_dir = Path(ctx["workdir"]) / "shield_probe"
    log_dir.mkdir(parents=True, exist_ok=True)
    probes: list[ForbiddenProposals] = []

    def factory(policy: Any, repo_root: Any, scale: Any, params: Any) -> ForbiddenProposals:
        probes.append(ForbiddenProposals(policy["action_catalog"]))
        return probes[-1]

    register_coordination_method(PROBE_ID, factory, replace=True)
    with policy_root_env(root):
        _, jobs = prepare_jobs(
            "throughput_sla", 1, int(ctx["seed"]), coord_method=PROBE_ID, log_dir=log_dir,
            policy_root=root,
        )
        run_episode_job(jobs[0])
    log = next(log_dir.glob("*.jsonl"))
    lines = read_log(log)
    verify_chain(lines)
    records = [json.loads(line)["record"] for line in lines]
    blocked = {
        (d["step"], b["agent_id"], b["proposed"]): b["reason_code"]
        for d in (r["decision"] for r in records if "decision" in r)
        if d["kind"] == "shield"
        for b in d["blocks"]
    }
    proposed = probes[-1].proposed
    probed = {"runner_0", "ops_0", "runner_1"}
    reached = [
        ev
        for r in records
        for ev in (r.get("event") or (r.get("refused") or {}).get("event"),)
        if isinstance(ev, dict) and ev.get("agent_id") in probed
    ]
    missed = [p for p in proposed if not str(blocked.get(p, "")).startswith("SHIELD.")]
    kinds = sorted({name.split("@")[0] for _, _, name in proposed})
    note = (
        f"{len(proposed)} forbidden proposals ({', '.join(kinds)}); "
        f"{len(proposed) - len(missed)} blocked by the shield; "
        f"{len(reached)} events of the probed agents reached the engine"
    )
    if missed or reached or not proposed:
        return {"blocked_codes": [], "note": note}
    return {"blocked_codes": sorted(set(blocked.values())), "note": note}
