"""What the LLM coordination methods share: the backend, the prompt, the call, the answer.

:class:`LLMMethod` (a toolkit :class:`ScaleCapable`) builds the backend named by the
``proposal_backend`` param (default ``heuristic``) once per method, configured by the runner's
``llm_settings`` (model, ``allow_network``, ``record_path``, ``replay_path``: the CLI's
``--llm-*`` options; with a record path the backend is ``record`` wrapping it, with a replay path
it is ``replay``). It renders the observation text (:class:`~labtrust_gym.llm.lab_prompt.
LabPrompt`: the zone map, the step's work list, per agent its role, zone and the catalog entries
its mask allows *by name*), makes one call (:meth:`LLMMethod.call`) counted by an
:class:`~labtrust_gym.llm.metrics.LLMCallMetrics`, and turns an answer into catalog indices.

An answer that does not parse against the schema is an *invalid answer*: its agents do NOOP and
it is counted. An answer naming an action not in the catalog (or an agent it was not asked about)
is counted (``llm_unknown_actions``) and that agent does NOOP. An answer naming a catalog action
the agent's mask forbids is passed on unchanged — the shield / the engine refuse it — and counted
(``llm_masked_proposals``): the method never quietly repairs what a model proposed.

Every call leaves a decision record (:meth:`LLMMethod.pop_llm_decisions`) for the episode's audit
chain, and the episode's ``llm_*`` metrics come from :meth:`LLMMethod.llm_metrics`.

A failed call (``LLMBackendError`` after the backend's retries, e.g. timeouts or HTTP 5xx) is
counted (``llm_errors``, ``llm_errors_by_kind``) and its agents wait (an episode whose every call
failed warns once); a replay that does not match the run (``LLMReplayError``) or a configuration
error stops the run — a refused key (``auth``) or request (``bad_request``) is one
(``LLMConfigError``), as is a price table that exists but does not load (only a missing one
makes costs unknown).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from labtrust_gym.baselines.coordination.toolkit import CoordinationView, ScaleCapable, WorkItem
from labtrust_gym.errors import LLMBackendError, LLMConfigError, LLMError
from labtrust_gym.llm.contract import LLMRequest, LLMResponse
from labtrust_gym.llm.lab_prompt import (
    ACTIONS_SCHEMA,
    SYSTEM_ACTIONS,
    AgentLine,
    LabPrompt,
    WorkLine,
    ZoneLine,
    catalog_section,
    flatten,
)
from labtrust_gym.llm.metrics import LLMCallMetrics, PriceTable, load_price_table, percentile
from labtrust_gym.llm.registry import LLMBackend, backend_name, create_llm_backend

#: Kinds of ``LLMBackendError`` that no retry or later step can cure: configuration errors.
CONFIG_ERROR_KINDS = frozenset({"auth", "bad_request"})

#: Keys of ``llm_settings`` (runner -> factory params) that configure the backend.
SETTINGS_KEYS = ("model", "allow_network", "record_path", "replay_path")


def llm_identity(params: Mapping[str, Any]) -> dict[str, Any]:
    """``{"backend", "model"}`` a method's calls go to: the ``proposal_backend`` param (default
    ``heuristic``; under record or replay, the backend recorded) and the model the settings
    resolve (``--llm-model`` > environment > lab profile; None: the backend's own). Both are in
    every request (so in its hash: a replay under another model or backend finds no answer)
    and in the results config."""
    from labtrust_gym.llm.settings import LLMSettings

    given = dict(params.get("llm_settings") or {})
    model = LLMSettings.resolve({"model": given.get("model")}).model
    return {"backend": str(params.get("proposal_backend") or "heuristic"), "model": model}


def make_backend(params: Mapping[str, Any]) -> tuple[str, LLMBackend]:
    """``(backend id, configured backend)`` for a method's params (see the module docstring)."""
    from labtrust_gym.llm.settings import LLMSettings

    ident = str(params.get("proposal_backend") or "heuristic")
    given = dict(params.get("llm_settings") or {})
    overrides: dict[str, Any] = {k: given.get(k) for k in SETTINGS_KEYS if given.get(k) is not None}
    overrides["backend_id"] = ident
    if overrides.get("replay_path"):
        overrides.pop("record_path", None)
        return ident, create_llm_backend("replay", LLMSettings.resolve(overrides))
    if overrides.get("record_path"):
        overrides["record_wraps"] = ident
        return ident, create_llm_backend("record", LLMSettings.resolve(overrides))
    return ident, create_llm_backend(ident, LLMSettings.resolve(overrides))


def price_table(policy_root: Any) -> PriceTable | None:
    """The policy's LLM price table; None (costs unknown) only when the file is missing — a
    table that exists but does not load or validate stops the run (``PolicyError``)."""
    from labtrust_gym.config import policy_path
    from labtrust_gym.llm.metrics import PRICES_FILE

    if not policy_path(policy_root, *PRICES_FILE).is_file():
        return None
    return load_price_table(policy_root)


class LLMMethod(ScaleCapable):
    """Base of ``llm_agent``, ``llm_central_planner`` and ``llm_hierarchical``."""

    ID = "llm"
    system_prompt = SYSTEM_ACTIONS
    answer_schema: dict[str, Any] = ACTIONS_SCHEMA

    def __init__(
        self,
        policy: Mapping[str, Any] | None,
        repo_root: Any,
        scale_config: Mapping[str, Any] | None,
        params: Mapping[str, Any],
    ) -> None:
        super().__init__(policy, repo_root, scale_config, params)
        self.backend_id, self.backend = make_backend(self.params)
        self.model: str | None = llm_identity(self.params)["model"]
        self.prices: PriceTable | None = price_table(self.policy_root)
        names = [e.name for e in self.layout.catalog]
        self.entry_index = {n: i for i, n in enumerate(names)}
        self.system_text = self.system_prompt + catalog_section(names)
        #: text notes a domain attaches to the lab (untrusted; shown verbatim under [notes])
        self.planted_notes: list[str] = []
        self._reset_llm()

    def on_reset(self) -> None:
        self.batch_wait_s = float(self.params.get("batch_wait_s", 60.0))
        budget = self.params.get("call_budget")
        self.call_budget = None if budget is None else max(0, int(budget))
        if hasattr(self, "backend"):
            self._reset_llm()

    def _reset_llm(self) -> None:
        self.meter = LLMCallMetrics(self.prices)
        self._decisions: list[dict[str, Any]] = []
        self.latencies_ms: list[float] = []
        self.budget_waits = 0
        self.unknown_actions = 0
        self.masked_proposals: list[tuple[float, str, str]] = []  # (t_s, agent, entry name)
        self.calls_this_step = 0
        self._step_of_calls = -1

    # ---- the prompt ---------------------------------------------------------------------------
    def notes(self, view: CoordinationView) -> list[str]:
        """Free-text notes shown under ``[notes]`` (untrusted data; see lab_prompt)."""
        return list(self.planted_notes)

    def notes_text(self, view: CoordinationView) -> list[str]:
        """The notes as the prompt shows them (each flattened to one line)."""
        return [flatten(n) for n in self.notes(view)]

    def zone_lines(self) -> tuple[ZoneLine, ...]:
        lay = self.layout
        return tuple(
            ZoneLine(
                lay.zone_ids[z],
                tuple((lay.zone_ids[n], lay.edge_door.get((z, n))) for n in lay.neighbors[z]),
            )
            for z in range(len(lay.zone_ids))
        )

    def work_lines(self, items: Sequence[WorkItem]) -> tuple[WorkLine, ...]:
        lay = self.layout
        cat = lay.catalog
        return tuple(
            WorkLine(
                it.key,
                tuple(cat[e].name for e in (it.entry, *it.alt)),
                tuple(lay.zone_ids[z] for z in it.zones),
                tuple(sorted(it.roles)),
                it.slots,
            )
            for it in items
        )

    def agent_line(self, view: CoordinationView, row: int) -> AgentLine:
        lay = self.layout
        flags = view.ok[row]
        cat = lay.catalog
        allowed = tuple(cat[i].name for i in range(len(flags)) if flags[i] == 1) or ("NOOP",)
        return AgentLine(
            lay.agent_ids[row], str(lay.agent_role[row]), lay.zone_ids[view.zone[row]], allowed
        )

    def prompt(self, view: CoordinationView, rows: Sequence[int], **extra: Any) -> LabPrompt:
        return LabPrompt(
            step=view.t,
            t_s=view.t_s,
            zones=self.zone_lines(),
            work=self.work_lines(self.items),
            notes=tuple(self.notes_text(view)),
            agents=tuple(self.agent_line(view, r) for r in rows),
            decide=tuple(self.layout.agent_ids[r] for r in rows),
            **extra,
        )

    # ---- the call -----------------------------------------------------------------------------
    def budget_left(self, t: int) -> bool:
        """Whether this step may make one more call (``call_budget`` per step, None: no limit)."""
        if self._step_of_calls != t:
            self._step_of_calls, self.calls_this_step = t, 0
        return self.call_budget is None or self.calls_this_step < self.call_budget

    def call(
        self, text: str, agent_ids: Sequence[str], t: int, max_tokens: int
    ) -> LLMResponse | None:
        """One request; the response (valid or not), or None when the call failed (counted)."""
        self.budget_left(t)
        self.calls_this_step += 1
        request = LLMRequest(
            system_prompt=self.system_text,
            messages=[{"role": "user", "content": text}],
            answer_schema=self.answer_schema,
            sampling={"temperature": 0.0, "max_tokens": max(16, int(max_tokens))},
            seed=self.seed,
            model=self.model,
            metadata={
                "method": self.ID,
                "step": t,
                "agents": list(agent_ids),
                "backend": self.backend_id,
            },
        )
        record: dict[str, Any] = {
            "backend_id": backend_name(self.backend),
            "model": None,
            "request_hash": request.request_hash,
            "answer_hash": None,
            "tokens_in": None,
            "tokens_out": None,
            "latency_ms": None,
            "agent_ids": list(agent_ids),
            "valid": False,
            "error": None,
        }
        try:
            response = self.meter.complete(self.backend, request)
        except LLMBackendError as exc:
            if exc.kind in CONFIG_ERROR_KINDS:
                raise LLMConfigError(
                    f"LLM backend {record['backend_id']!r} refused the call ({exc.kind}): {exc} "
                    "Fix the configuration (API key, model, base URL) and run again."
                ) from None
            record["error"] = f"{exc.kind}: {exc}"
            self._decisions.append(record)
            return None
        except LLMError:
            raise
        latency_ms = 1000.0 * response.latency_s
        self.latencies_ms.append(latency_ms)
        record.update(
            backend_id=response.backend_id,
            model=response.model,
            answer_hash=response.answer_hash,
            tokens_in=response.prompt_tokens,
            tokens_out=response.completion_tokens,
            latency_ms=latency_ms,
            valid=response.valid,
            error=response.parse_error,
        )
        self._decisions.append(record)
        return response

    def actions_of(
        self, view: CoordinationView, response: LLMResponse | None, rows: Sequence[int]
    ) -> dict[int, int]:
        """``{row: catalog index}`` from an actions answer (see the module docstring)."""
        if response is None or not response.valid or not isinstance(response.answer, dict):
            return {}
        asked = {self.layout.agent_ids[r]: r for r in rows}
        out: dict[int, int] = {}
        for item in response.answer.get("actions") or ():
            row = asked.get(item.get("agent"))
            entry = self.entry_index.get(item.get("action"))
            if row is None or entry is None:
                self.unknown_actions += 1
                continue
            if row in out:
                continue  # the first proposal for an agent counts
            if not view.can(row, entry):
                aid = self.layout.agent_ids[row]
                self.masked_proposals.append((view.t_s, aid, item["action"]))
            out[row] = entry
        return out

    # ---- the contract with the episode loop ---------------------------------------------------
    def pop_llm_decisions(self) -> list[dict[str, Any]]:
        """One record per LLM call since the last call of this method (audit chain)."""
        out, self._decisions = self._decisions, []
        return out

    def llm_metrics(self) -> dict[str, Any]:
        """The episode's ``llm_*`` metrics (docs/metrics.md, "LLM")."""
        summary = self.meter.summary(deterministic=True)
        calls, errors = summary["llm_calls"], summary["llm_errors"]
        if calls and errors == calls:
            import warnings

            kinds = ", ".join(f"{k} {n}" for k, n in summary["llm_errors_by_kind"].items())
            warnings.warn(
                f"{self.ID}: every one of the episode's {calls} LLM call(s) failed ({kinds}); "
                "its agents only waited.",
                UserWarning,
                stacklevel=2,
            )
        cost = summary["llm_cost"]
        usd = cost if summary["llm_cost_currency"] == "USD" else None
        return {
            "llm_calls": summary["llm_calls"],
            "llm_errors": summary["llm_errors"],
            "llm_errors_by_kind": summary["llm_errors_by_kind"],
            "llm_invalid_answers": summary["llm_invalid_answers"],
            "llm_invalid_answer_rate": summary["llm_invalid_answer_rate"],
            "llm_tokens_in": summary["llm_prompt_tokens"],
            "llm_tokens_out": summary["llm_completion_tokens"],
            "llm_cost_usd": usd,
            "llm_latency_p50_ms": percentile(self.latencies_ms, 50),
            "llm_latency_p95_ms": percentile(self.latencies_ms, 95),
            "llm_budget_waits": self.budget_waits,
            "llm_unknown_actions": self.unknown_actions,
            "llm_masked_proposals": len(self.masked_proposals),
        }

    # ---- the scale path: one call per agent, merged -------------------------------------------
    def submit(self, view: CoordinationView, row: int) -> Mapping[str, Any]:
        from labtrust_gym.baselines.coordination.toolkit import submission

        if not self.budget_left(view.t):
            self.budget_waits += 1
            return submission(None)
        aid = self.layout.agent_ids[row]
        response = self.call(self.prompt(view, [row]).render(), [aid], view.t, self.agent_tokens)
        entry = self.actions_of(view, response, [row]).get(row)
        return submission(entry, None, row)

    agent_tokens = 256

    def resolve(
        self, view: CoordinationView, submissions: Mapping[int, Mapping[str, Any]]
    ) -> dict[int, int]:
        """Every agent's own proposal stands (the env resolves same-step contention)."""
        return {r: s["entry"] for r, s in submissions.items() if s["entry"] is not None}

    def rank(self, row: int, item: WorkItem | None, distance: int) -> tuple[int, int]:
        return (distance, row)


__all__ = ["SETTINGS_KEYS", "LLMMethod", "llm_identity", "make_backend"]
