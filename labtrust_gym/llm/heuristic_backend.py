"""``heuristic``: an offline, deterministic LLM backend that answers from the prompt's text alone.

It reads the observation text an LLM coordination method put in the request's last user message
(:class:`~labtrust_gym.llm.lab_prompt.LabPrompt`; nothing else — no env, no engine, no side
channel) and answers in the request's schema with sensible proposals, so an offline run releases
results and its numbers mean something:

* **actions** (``ACTIONS_SCHEMA``): each agent under ``[decide]``, in order, takes the first open
  work item (priority order as listed) its role may do whose action its ``allowed`` list holds;
  otherwise it walks one hop (``MOVE@<zone>``, or ``OPEN_DOOR@<door>`` when the door on that edge
  is closed) towards the nearest zone with work for its role; each agent doing or walking to an
  item uses one of its slots. Anything else: ``NOOP``.
* **assignments** (``ASSIGNMENTS_SCHEMA``): each work key goes to the region (with an agent of an
  eligible role) nearest to where the work is, ties to the region dealt the least so far.

Token counts are estimated as ``ceil(characters / 4)`` (prompt: system prompt + messages; answer:
its text); latency is 0 — both deterministic. The model name is :data:`MODEL`.
"""

from __future__ import annotations

import math
from collections import deque

from labtrust_gym.fileio import canonical_json
from labtrust_gym.llm.contract import LLMRequest, LLMResponse, build_response
from labtrust_gym.llm.lab_prompt import AgentLine, LabPrompt, RegionLine
from labtrust_gym.llm.settings import LLMSettings

MODEL = "labtrust-heuristic-v1"
FAR = 10**6
Rank = tuple[int, int, int]


def estimate_tokens(text: str) -> int:
    """A deterministic token estimate: one token per four characters (rounded up)."""
    return math.ceil(len(text) / 4)


class _Map:
    """The zone graph of a prompt: BFS distances and first hops."""

    def __init__(self, prompt: LabPrompt) -> None:
        self.graph = {z.zone: [n for n, _d in z.neighbors] for z in prompt.zones}
        self.door = {(z.zone, n): d for z in prompt.zones for n, d in z.neighbors}

    def from_zone(self, start: str) -> tuple[dict[str, int], dict[str, str]]:
        """Hops from ``start`` to every reachable zone and the first hop towards it."""
        dist = {start: 0}
        first: dict[str, str] = {}
        queue = deque([start])
        while queue:
            z = queue.popleft()
            for n in self.graph.get(z, ()):
                if n not in dist:
                    dist[n] = dist[z] + 1
                    first[n] = n if z == start else first[z]
                    queue.append(n)
        return dist, first


def plan_actions(prompt: LabPrompt) -> list[dict[str, str]]:
    """The heuristic's action for every agent under ``[decide]`` (see the module docstring)."""
    zmap = _Map(prompt)
    slots = {w.key: w.slots for w in prompt.work}
    agents = {a.agent: a for a in prompt.agents}
    out: list[dict[str, str]] = []
    for aid in prompt.decide:
        agent = agents.get(aid)
        choice = _choose(agent, prompt, slots, zmap) if agent is not None else None
        out.append({"agent": aid, "action": choice or "NOOP"})
    return out


def _choose(agent: AgentLine, prompt: LabPrompt, slots: dict[str, int], zmap: _Map) -> str | None:
    allowed = set(agent.allowed)
    open_work = [
        w for w in prompt.work if slots[w.key] > 0 and (not w.roles or agent.role in w.roles)
    ]
    for w in open_work:
        entry = next((d for d in w.do if d in allowed), None)
        if entry is not None and (not w.at or agent.zone in w.at):
            slots[w.key] -= 1
            return entry
    dist, first = zmap.from_zone(agent.zone)
    best: tuple[int, str, str] | None = None  # (hops, work key, target zone)
    for w in open_work:
        for z in w.at:
            d = dist.get(z)
            if d is not None and d > 0 and (best is None or d < best[0]):
                best = (d, w.key, z)
    if best is None:
        return None
    hop = first[best[2]]
    for entry in (f"MOVE@{hop}", f"OPEN_DOOR@{zmap.door.get((agent.zone, hop))}"):
        if entry in allowed:
            slots[best[1]] -= 1
            return entry
    return None


def plan_assignments(prompt: LabPrompt) -> list[dict[str, object]]:
    """The heuristic hub's region for every work key (see the module docstring)."""
    zmap = _Map(prompt)
    role_of = {a.agent: a.role for a in prompt.agents}
    load = {r.region: 0 for r in prompt.regions}
    out: list[dict[str, object]] = []
    for w in prompt.work:
        able = [
            r
            for r in prompt.regions
            if not w.roles or any(role_of.get(x) in w.roles for x in r.agents)
        ]
        if not able:
            continue
        near: dict[str, int] = {}
        for z in w.at:
            for zone, d in zmap.from_zone(z)[0].items():
                near[zone] = min(d, near.get(zone, d))

        def key(r: RegionLine, near: dict[str, int] = near, anywhere: bool = not w.at) -> Rank:
            hops = min((near.get(z, FAR) for z in r.zones), default=FAR)
            return (0 if anywhere else hops, load[r.region], r.region)

        pick = min(able, key=key)
        load[pick.region] += 1
        out.append({"work": w.key, "region": pick.region})
    return out


class HeuristicBackend:
    """The built-in ``heuristic`` backend (offline; needs no settings)."""

    backend_id = "heuristic"

    def __init__(self, settings: LLMSettings | None = None) -> None:
        self.settings = settings

    def configure(self, settings: LLMSettings) -> HeuristicBackend:
        return HeuristicBackend(settings)

    def complete(self, request: LLMRequest) -> LLMResponse:
        user = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        prompt = LabPrompt.parse(user)
        props = (request.answer_schema or {}).get("properties") or {}
        if "assignments" in props:
            answer: dict[str, object] = {"assignments": plan_assignments(prompt)}
        else:
            answer = {"actions": plan_actions(prompt)}
        text = canonical_json(answer)
        asked = request.system_prompt + "".join(m.content for m in request.messages)
        return build_response(
            request,
            text,
            backend_id=self.backend_id,
            model=MODEL,
            prompt_tokens=estimate_tokens(asked),
            completion_tokens=estimate_tokens(text),
            latency_s=0.0,
            finish_reason="stop",
        )


__all__ = ["MODEL", "HeuristicBackend", "estimate_tokens", "plan_actions", "plan_assignments"]
