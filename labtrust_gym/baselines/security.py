"""Scripted threat agents: the adversary (``adversarial_disruption``) and the insider
(``insider_key_misuse``).

They act through the env like any agent and record every attempt; the outcome (ACCEPTED or
BLOCKED with its reason code) is read from the env's infos after the step, so metrics report what
the engine actually did, never what the script hoped for. An attempt that is ACCEPTED but later
flagged by an invariant violation (a door held open) counts as *detected*.

Both act from the episode seed: the order of their attacks, the adversary's pace and the
insider's timing are drawn from an RNG seeded by the seed, so attack metrics vary by seed (the
same seed gives the same episode). Attacks are explicit events (they are out-of-role or forged on
purpose, so they cannot be catalog entries); positioning moves are catalog entries.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Mapping
from typing import Any

from .scripted import NOOP, _act

#: The adversary's attacks, tried in this order (cycling) once ``attack_start_step`` is reached.
ADVERSARY_PLAN: tuple[str, ...] = (
    "wrong_device_queue",
    "door_held_open",
    "restricted_entry_no_token",
    "restricted_entry_expired_token",
)

#: The insider's misuses, one per scheduled attack step (order shuffled by the seed).
INSIDER_PLAN: tuple[str, ...] = (
    "forged_signature",
    "replayed_event",
    "revoked_key",
    "out_of_role_action",
    "token_self_mint",
)

#: Secret of the insider's old (revoked) key; public: the lab is a benchmark fixture.
INSIDER_SECRET = b"labtrust-insider-demo"
REVOKED_KEY_ID = "KEY_INSIDER_OLD"


class AttemptLog:
    """Attempts of one threat agent: step, attack, status, reason code, detected."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.attempts: list[dict[str, Any]] = []
        self._pending: dict[str, Any] | None = None

    def begin(self, step: int, attack: str) -> None:
        self._pending = {"step": step, "kind": self.kind, "attack": attack}

    def resolve(self, info: Mapping[str, Any] | None) -> None:
        if self._pending is None:
            return
        result = (info or {}).get("step_result")
        attempt = self._pending
        self._pending = None
        if not result:  # never issued (e.g. dropped by a risk injection): not an attempt
            return
        attempt["status"] = result["status"]
        attempt["reason_code"] = result.get("blocked_reason_code")
        attempt["detected"] = attempt["status"] == "BLOCKED" or any(
            v.get("status") == "VIOLATION" for v in result.get("violations") or ()
        )
        self.attempts.append(attempt)

    def mark_detected_since(self, step: int, violations: list[Mapping[str, Any]]) -> None:
        """A later invariant violation flags the most recent accepted, undetected attempt."""
        if not violations:
            return
        for attempt in reversed(self.attempts):
            if attempt["status"] == "ACCEPTED" and not attempt["detected"]:
                attempt["detected"] = True
                attempt["detected_step"] = step
                return


class AdversaryAgent:
    """Walks to the pre-analytics/airlock area and tries the attacks of :data:`ADVERSARY_PLAN`
    (order, pace and start drawn from the episode seed)."""

    def __init__(self, agent_id: str, start_step: int, every: int = 3, seed: int = 0) -> None:
        rng = random.Random(f"adversary:{agent_id}:{seed}")
        self.agent_id = agent_id
        self.start_step = start_step + rng.randrange(0, 4)
        self.every = every + rng.choice((-1, 0, 1))
        self.plan = list(ADVERSARY_PLAN)
        rng.shuffle(self.plan)
        self.log = AttemptLog("adversary")
        self.next_attack = 0

    def act(self, engine: Any, t: int) -> dict[str, Any]:
        if t < self.start_step:
            return NOOP
        plan = self.plan
        zone = engine.zone_ids[int(engine.agent_zone[engine.agent_index[self.agent_id]])]
        attack = plan[self.next_attack % len(plan)]
        door_open = bool(engine.query("door_state(D_AIRLOCK_OUTER)").get("open"))
        if attack == "door_held_open" and door_open:
            # Already open (held open by an earlier attempt): go on with the plan.
            self.next_attack += 1
            attack = plan[self.next_attack % len(plan)]
        # Positioning moves are not attempts: reach the zone the next attack needs first.
        if attack == "wrong_device_queue":
            need = zone
        elif attack == "door_held_open":
            need = "Z_PREANALYTICS"
        else:
            need = "Z_AIRLOCK"
        if zone != need:
            if need == "Z_AIRLOCK" and zone == "Z_PREANALYTICS" and not door_open:
                return _act("OPEN_DOOR", {"door_id": "D_AIRLOCK_OUTER"})
            nxt = engine.query(f"next_hop({zone}, {need})")
            return _act("MOVE", {"to_zone": nxt}) if nxt else NOOP
        if need == "Z_AIRLOCK" and not engine.query("door_state(D_AIRLOCK_INNER)").get("open"):
            # Positioning, not an attempt: with the inner door open, only the token stands
            # between the adversary and the restricted zone (the control these attacks probe).
            return _act("OPEN_DOOR", {"door_id": "D_AIRLOCK_INNER"})
        if (t - self.start_step) % self.every:
            return NOOP
        self.next_attack += 1
        self.log.begin(t, attack)
        if attack == "wrong_device_queue":
            # Out-of-role and not co-located: a coagulation analyzer for any waiting specimen.
            waiting = engine.query("specimens(accepted)") or engine.query("specimens(arrived)")
            specimen = waiting[0] if waiting else "S0001"
            return _act("QUEUE_RUN", {"device_id": "DEV_COAG_B1", "specimen_id": specimen})
        if attack == "door_held_open":
            return _act("OPEN_DOOR", {"door_id": "D_AIRLOCK_OUTER"})
        if attack == "restricted_entry_no_token":
            return _act("MOVE", {"to_zone": "Z_RESTRICTED_BIOHAZARD"})
        return _act("MOVE", {"to_zone": "Z_RESTRICTED_BIOHAZARD"}, token_refs=["TOK_ADV_EXPIRED"])


def insider_lab_options() -> dict[str, Any]:
    """Lab additions of ``insider_key_misuse``: the insider, strict signatures, keys."""
    from labtrust_gym.engine.signing import derive_keypair

    _, old_pub = derive_keypair("insider_0", secret=INSIDER_SECRET + b":old")
    return {
        "extra_agents": [{"agent_id": "insider_0", "role": "insider", "zone_id": "Z_SORTING"}],
        "strict_signatures": True,
        # stale chemistry specimens: the lab's legitimate token work (stability overrides minted
        # by ops, approved by qc and the supervisor, consumed by the run) beside the misuse
        "stale_specimens": {"count": 3, "age_s": 16000},
        "keys": [
            {
                "key_id": REVOKED_KEY_ID,
                "agent_id": "insider_0",
                "public_key_b64": old_pub,
                "status": "revoked",
            },
        ],
    }


class InsiderAgent:
    """Around each scheduled step (jittered by the seed, and taken with probability 0.75) tries
    one misuse of :data:`INSIDER_PLAN` (order shuffled by the seed); otherwise idles.

    The env signs honest events for every agent with a key (the insider included); a misuse
    carries its own ``key_id``/``signature``, which the env passes through untouched.
    """

    def __init__(self, agent_id: str, attack_steps: tuple[int, ...], seed: int = 0) -> None:
        rng = random.Random(f"insider:{agent_id}:{seed}")
        self.agent_id = agent_id
        steps = sorted({max(1, s + rng.randrange(-2, 3)) for s in attack_steps})
        self.attack_steps = tuple(steps)  # planned (the metrics' reference)
        # an insider does not take every chance: each planned step is used with p = 0.75
        self._used = frozenset(s for s in steps if rng.random() < 0.75) or frozenset(steps[:1])
        self.plan = list(INSIDER_PLAN)
        rng.shuffle(self.plan)
        self.log = AttemptLog("insider")
        self.next_attack = 0

    def act(self, engine: Any, t: int) -> dict[str, Any]:
        if t not in self._used:
            return NOOP
        attack = self.plan[self.next_attack % len(self.plan)]
        self.next_attack += 1
        self.log.begin(t, attack)
        junk = base64.b64encode(b"\x00" * 64).decode("ascii")
        if attack == "forged_signature":
            return _act("TICK", key_id=f"KEY_BENCH_{self.agent_id}", signature=junk)
        if attack == "revoked_key":
            return _act("TICK", key_id=REVOKED_KEY_ID, signature=junk)
        if attack == "replayed_event":
            replay = _last_signed_event(engine, self.agent_id)
            if replay is not None:
                return _act(
                    replay["action_type"],
                    replay.get("args") or {},
                    key_id=replay["key_id"],
                    signature=replay["signature"],
                )
            return _act("TICK", key_id=f"KEY_BENCH_{self.agent_id}", signature=junk)
        if attack == "token_self_mint":
            # A stability override the insider's role may not mint (validly signed by the env):
            # it would let a stale specimen be analysed without the two approvals.
            queued = engine.query("specimens(queued)") or engine.query("specimens(accepted)")
            scope = {"specimen_id": queued[0] if queued else "S0001"}
            return _act("MINT_TOKEN", {"token_type": "STABILITY_OVERRIDE", "scope": scope})
        # out_of_role_action: a supervisor-only kill switch, validly signed by the env.
        return _act("KILL_SWITCH")


def _last_signed_event(engine: Any, not_agent: str) -> dict[str, Any] | None:
    """The most recent signed event of another agent in the engine's episode log."""
    import json

    try:
        lines = engine.episode_log_lines()
    except Exception:  # the log is not recorded: nothing to replay
        return None
    for line in reversed(lines):
        event = json.loads(line)["record"].get("event")  # refusal records hold none
        if event is not None and event.get("signature") and event.get("agent_id") != not_agent:
            return dict(event)
    return None


def threat_agents(env: Any, task: Any, seed: int) -> dict[str, Any]:
    """The task's threat scripts, one per agent whose role is ``adversary`` or ``insider``,
    acting from the episode seed (hospital_lab's ``DomainEnv.threat_agents`` names this)."""
    threats: dict[str, Any] = {}
    for aid, role in zip(env.possible_agents, env.domain.agent_roles, strict=True):
        if role == "adversary":
            threats[aid] = AdversaryAgent(aid, task.attack_start_step or 0, seed=seed)
        elif role == "insider":
            threats[aid] = InsiderAgent(aid, tuple(task.insider_attack_steps), seed=seed)
    return threats
