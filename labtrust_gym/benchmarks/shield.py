"""The shield: every proposed action is checked against the lab's action catalog and the
proposing agent's truthful action mask before it reaches the env (docs/coordination.md, Shield).

A proposal the mask forbids, or that is not an action of the catalog at all, becomes NOOP with a
``SHIELD.*`` reason code (policy reason-code registry, ``emitted_by: runner``), is counted, and
is kept for the episode log's ``decision`` records. The mask already encodes the trust skeleton's
entry-level checks (role, zone and co-location, restricted zones and their tokens, device state,
queues, token approvals, signing ability, enforcement); what it cannot see — which specimen or
result an explicit event's ``args`` name — stays the engine's to refuse, with its own reason code.

Checks, per agent (cheapest first; a bare integer index costs a range check and one mask read):

* not an index / not an action dict / bad keys or types / unknown entry name →
  ``SHIELD.INVALID_ACTION``
* an index outside the catalog → ``SHIELD.INVALID_INDEX``
* an ``action_type`` no catalog entry issues → ``SHIELD.NOT_IN_CATALOG``
* the chosen entry masked out → ``SHIELD.MASKED``. ``args`` riding along win over the entry's
  own in the env, so the shield judges the entry the env sends: ``TYPE@args[key]`` for the one
  key the action type's entries target by (``to_zone``, ``door_id``, ``device_id`` …, read from
  the catalog), a value naming no entry → ``SHIELD.NOT_IN_CATALOG``; an ``args`` key the engine
  does not declare for the action type (action catalog policy) → ``SHIELD.INVALID_ACTION``. An
  explicit ``action_type`` (judged first, as the env sends it whatever ``entry`` rides along)
  must agree with an ``entry`` or ``action_index`` given too (else ``SHIELD.INVALID_ACTION``) and
  is judged by the entry its target key names, else by whether any entry of that type is valid;
  one missing an argument the engine requires (and the env does not fill: only bare types'
  targets are) is ``SHIELD.INVALID_ACTION``
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from labtrust_gym.domain.actions import (
    ACTION_INDEX_BY_NAME,
    ACTION_NOOP,
    ACTION_TICK,
    action_index_of,
    validate_action_dict,
)
from labtrust_gym.errors import LabTrustError

INVALID_ACTION = "SHIELD.INVALID_ACTION"
INVALID_INDEX = "SHIELD.INVALID_INDEX"
NOT_IN_CATALOG = "SHIELD.NOT_IN_CATALOG"
MASKED = "SHIELD.MASKED"
#: every code the shield gives, in the order metrics list them
SHIELD_CODES = (INVALID_ACTION, INVALID_INDEX, NOT_IN_CATALOG, MASKED)

_INT_TYPES = (int,)


class Shield:
    """Checks one step's proposals of the agents it guards against ``env``'s catalog and masks.

    ``check`` returns the actions to send (blocked ones replaced by ``ACTION_NOOP``) and keeps the
    step's blocks in :attr:`step_blocks` (``[{"agent_id", "proposed", "reason_code"}]``, agent
    order of the proposal) and the blocked agents' verdicts in :attr:`verdicts` (:meth:`verdict`
    answers for any agent); the counters cover the episode.
    """

    def __init__(self, env: Any) -> None:
        self.env = env
        catalog = env.action_catalog
        self.catalog = catalog
        self.k = len(catalog)
        self.names = [e.name for e in catalog]
        self._by_name = {e.name: e.index for e in catalog}
        types: dict[str, list[int]] = {}
        for e in catalog:
            types.setdefault(e.action_type, []).append(e.index)
        self._of_type = {t: tuple(ix) for t, ix in types.items()}
        self._target_key = target_keys(catalog)
        self._arg_names = declared_args(env)
        self._required = declared_args(env, required_only=True)
        #: action types with a bare entry (MOVE, OPEN_DOOR …): the env fills their missing target
        self._bare_types = frozenset(
            e.action_type for e in catalog if e.kind == "bare" and e.target is None
        )
        self.proposals = 0
        self.blocks = 0
        self.by_reason: dict[str, int] = dict.fromkeys(SHIELD_CODES, 0)
        self.step_blocks: list[dict[str, Any]] = []
        self.verdicts: dict[str, dict[str, Any]] = {}

    def check(self, actions: Mapping[str, Any], guarded: Any = None) -> dict[str, Any]:
        """The actions to send: ``actions`` with every blocked proposal of a guarded agent
        (``guarded``: a container of agent ids; None: every agent) replaced by NOOP."""
        out: dict[str, Any] = {}
        self.step_blocks = blocks = []
        self.verdicts = verdicts = {}
        k = self.k
        mask_of = self.env.action_mask
        by_name = self._by_name
        checked = 0
        for aid, act in actions.items():
            if guarded is not None and aid not in guarded:
                out[aid] = act
                continue
            checked += 1
            code: str | None
            e: int | None = None
            if type(act) in _INT_TYPES:  # the hot path: a bare index
                if act == ACTION_NOOP:
                    out[aid] = act
                    continue
                if 0 <= act < k:
                    e = act
                else:
                    code, name = INVALID_INDEX, f"index {act}"
            elif type(act) is dict and len(act) == 1 and type(act.get("entry")) is str:
                e = by_name.get(act["entry"])  # the other hot path: {"entry": name}
            if e is not None:
                try:
                    allowed = e == ACTION_NOOP or mask_of(aid)[e]
                except KeyError:  # not a live agent: the env refuses it, naming the source
                    allowed = True
                if allowed:
                    out[aid] = act
                    continue
                code, name = MASKED, self.names[e]
            elif type(act) not in _INT_TYPES:
                code, name = self._check_other(aid, act)
                if code is None:
                    out[aid] = act
                    continue
            assert code is not None  # every path above either continued or set a code
            out[aid] = ACTION_NOOP
            blocks.append({"agent_id": aid, "proposed": name, "reason_code": code})
            verdicts[aid] = {"verdict": "BLOCKED", "proposed": name, "reason_code": code}
            self.by_reason[code] += 1
        self.proposals += checked
        self.blocks += len(blocks)
        return out

    def verdict(self, agent_id: str, actions: Mapping[str, Any]) -> dict[str, Any]:
        """The shield's verdict on ``agent_id``'s proposal of the last ``check``."""
        got = self.verdicts.get(agent_id)
        if got is not None:
            return got
        if agent_id not in actions:
            return {"verdict": "NONE", "proposed": None}
        act = actions[agent_id]
        if type(act) in _INT_TYPES:
            return {"verdict": "PASS", "proposed": self.names[act] if 0 <= act < self.k else None}
        return {"verdict": "PASS", "proposed": self._check_other(agent_id, act)[1]}

    # ------------------------------------------------------------------ non-index proposals
    def _check_other(self, aid: str, act: Any) -> tuple[str | None, str]:
        """``(reason code or None, proposed action's name)`` of a proposal that is not an int."""
        if not isinstance(act, Mapping):
            try:  # numpy integers and the like: an index
                idx = action_index_of(act)
            except LabTrustError:
                return INVALID_ACTION, f"<{type(act).__name__}>"
            if idx >= self.k:
                return INVALID_INDEX, f"index {idx}"
            return self._masked(aid, idx)
        try:
            validate_action_dict(act, agent_id=aid)
        except LabTrustError:
            return INVALID_ACTION, _label(act)
        atype = act.get("action_type")
        if atype == "NOOP":
            return None, "NOOP"
        if atype:  # the env sends an explicit event whatever entry or index rides along
            return self._explicit(aid, atype, act)
        entry = act.get("entry")
        if entry is not None:
            e = self._by_name.get(entry)
            if e is None:
                return INVALID_ACTION, clean_text(entry)
            given = act.get("action_index")
            if given is not None and given != e:
                return INVALID_ACTION, clean_text(entry)
        else:
            try:
                e = action_index_of(act)
            except LabTrustError:
                return INVALID_ACTION, _label(act)
            if e >= self.k:
                return INVALID_INDEX, f"index {e}"
        args = act.get("args")
        if args:  # args ride along and win over the entry's own: judge where they send it
            code, targeted, name = self._targeted(self.catalog[e].action_type, args)
            if code is not None:
                return code, name or self.names[e]
            if targeted is not None:
                e = targeted
        return self._masked(aid, e)

    def _explicit(self, aid: str, atype: str, act: Mapping[str, Any]) -> tuple[str | None, str]:
        """An explicit ``action_type`` event: the entry its args target, else any of its type."""
        entries = self._of_type.get(atype)
        if entries is None:
            return NOT_IN_CATALOG, clean_text(atype)
        args = act.get("args") or {}
        if self._conflicts(atype, act, args):
            return INVALID_ACTION, clean_text(atype)
        required = self._required.get(atype) if self._required is not None else None
        if required and atype not in self._bare_types and any(
            args.get(k) is None for k in required
        ):  # the env sends it without an argument the engine requires: refused as malformed
            return INVALID_ACTION, clean_text(atype)
        if args:
            code, targeted, name = self._targeted(atype, args)
            if code is not None:
                return code, name or atype
            if targeted is not None:
                return self._masked(aid, targeted)
        mask = self._mask(aid)
        if mask is None or any(mask[e] for e in entries):
            return None, atype
        return MASKED, atype  # a catalog action type: a clean name

    def _conflicts(self, atype: str, act: Mapping[str, Any], args: Mapping[str, Any]) -> bool:
        """Does an ``entry`` or ``action_index`` riding along name another action than the
        explicit event the env sends? (The env ignores them; the proposer meant something else.)
        The index ``action_index_of`` gives the action type (bare MOVE 3, engine events TICK's
        slot) agrees, as does an entry of that type whose target the event's target key names."""
        picks: list[int] = []
        name = act.get("entry")
        if name is not None:
            e = self._by_name.get(name)
            if e is None:
                return True
            picks.append(e)
        idx = act.get("action_index")
        if idx is not None:
            try:
                e = action_index_of(idx, self.k)
            except LabTrustError:
                return True
            if e != ACTION_INDEX_BY_NAME.get(atype, ACTION_TICK):
                picks.append(e)
        key = self._target_key.get(atype)
        for e in picks:
            entry = self.catalog[e]
            if entry.action_type != atype:
                return True
            if entry.target is not None and key is not None and args.get(key) != entry.target:
                return True
        return False

    def _targeted(
        self, atype: str, args: Mapping[str, Any]
    ) -> tuple[str | None, int | None, str | None]:
        """``(reason code, entry, name)`` of the args riding with an ``atype`` event: a key the
        engine does not declare for ``atype`` is invalid; the action type's target key, when
        given, must name one of its entries (which the env then sends)."""
        declared = self._arg_names.get(atype) if self._arg_names is not None else None
        if declared is not None and any(k not in declared for k in args):
            return INVALID_ACTION, None, None
        key = self._target_key.get(atype)
        if key is None or key not in args:
            return None, None, None
        value = args[key]
        if not isinstance(value, str):
            return INVALID_ACTION, None, None
        name = f"{atype}@{value}"
        e = self._by_name.get(name)
        if e is None:
            return NOT_IN_CATALOG, None, clean_text(name)
        return None, e, None

    def _masked(self, aid: str, e: int) -> tuple[str | None, str]:
        name = self.names[e]
        if e == ACTION_NOOP:
            return None, name
        mask = self._mask(aid)
        if mask is None or mask[e]:
            return None, name
        return MASKED, name

    def _mask(self, aid: str) -> Any:
        """The agent's mask; None for an id that is no live agent (the env refuses it with an
        error naming the source: the shield does not hide a method's bug as a NOOP)."""
        try:
            return self.env.action_mask(aid)
        except KeyError:
            return None

    # ------------------------------------------------------------------ metrics
    def metrics(self) -> dict[str, Any]:
        """``shield_proposals``, ``shield_blocks``, ``shield_block_rate`` and
        ``shield_blocks_by_reason`` of the episode (docs/metrics.md, Shield)."""
        rate = self.blocks / self.proposals if self.proposals else 0.0
        return {
            "shield_proposals": self.proposals,
            "shield_blocks": self.blocks,
            "shield_block_rate": round(rate, 6),
            "shield_blocks_by_reason": {c: n for c, n in self.by_reason.items() if n},
        }


def target_keys(catalog: Any) -> dict[str, str]:
    """Per action type, the ``args`` key its targeted entries name their target by (the catalog
    entry's ``args`` text starts ``<key>=<target>``: ``MOVE@Z_SORTING`` → ``to_zone``)."""
    keys: dict[str, str] = {}
    for e in catalog:
        target = e.target
        if not target:
            continue
        key, sep, rest = e.args.partition("=")
        tail = rest[len(target):len(target) + 1]
        if sep and rest.startswith(target) and not (tail.isalnum() or tail == "_"):
            keys.setdefault(e.action_type, key.strip())
    return keys


def declared_args(env: Any, *, required_only: bool = False) -> dict[str, frozenset[str]] | None:
    """Per engine action type, the argument names its policy declares (hospital_lab's action
    catalog; ``required_only``: the required ones); None when the env's domain does not say
    (then no key is judged unknown or missing)."""
    actions = getattr(getattr(getattr(env, "engine", None), "policy", None), "actions", None)
    if not isinstance(actions, Mapping):
        return None
    return {
        at: frozenset(n for n, _t, req in spec["args"] if req or not required_only)
        for at, spec in actions.items()
    }


def clean_text(value: str, limit: int = 128) -> str:
    """``value`` cut to ``limit`` characters, lone surrogates replaced: loggable as JSON."""
    return value[:limit].encode("utf-8", "replace").decode("utf-8")


def _label(act: Mapping[str, Any]) -> str:
    """A short, loggable name of a malformed action dict."""
    for key in ("entry", "action_type"):
        value = act.get(key)
        if isinstance(value, str):
            return clean_text(value)
    idx = act.get("action_index")
    if type(idx) is int:
        return f"index {idx}"
    return "<action dict>"
