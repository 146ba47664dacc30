"""The LabTrustError family: every user-facing failure is one of these.

Messages say what was wrong and what to do. The CLI prints ``str(error)`` on one line and exits
with ``error.exit_code`` (2 for user errors); tracebacks appear only with ``--debug``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class LabTrustError(Exception):
    """Base class of every error a user of LabTrust-Gym should see."""

    exit_code: int = 2


class ConfigError(LabTrustError):
    """A configuration problem: policy root, lab profile, CLI option values."""


class PolicyError(ConfigError):
    """A policy file is missing, unreadable or does not match its schema."""


class InvalidInputError(LabTrustError):
    """User-supplied input (an initial state, an option, a file) is malformed."""


class SchemaValidationError(LabTrustError):
    """A document failed validation against one of the JSON Schemas in ``policy/schemas``."""


class ChainIntegrityError(LabTrustError):
    """An audit hash chain does not verify."""


class EvidenceError(ChainIntegrityError):
    """Evidence (a log anchor, a receipt bundle, a results summary, a signature) does not hold.

    ``code`` is the evidence reason code (``policy/reason_codes/evidence_code_registry``), so a
    security attack can compare what was detected with what it expected.
    """

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


class PluginError(LabTrustError):
    """A plugin could not be loaded, validated or resolved."""


class PluginLoadError(PluginError):
    """A plugin failed to import, has an invalid hook implementation or a malformed value."""


class DuplicateRegistrationError(PluginError):
    """Two different objects were registered under the same id of one extension kind."""


class ResourceError(LabTrustError):
    """The machine failed the command, not its input: the disk is full, a file grew past its size
    limit, a worker process died. Exit code 1 (the input may be fine; retrying can succeed)."""

    exit_code = 1


class UnknownIdError(LabTrustError, LookupError):
    """An id (task, method, domain, …) that no plugin registered."""

    def __init__(
        self, message: str, *, kind: str = "", requested: str = "", known: Iterable[str] = ()
    ):
        super().__init__(message)
        self.kind = kind
        self.requested = requested
        self.known = tuple(known)

    @classmethod
    def for_id(cls, kind: str, requested: str, known: Iterable[str]) -> UnknownIdError:
        """Build ``Unknown task 'x'. Known: a, b. Did you mean 'y'?``."""
        known_list = sorted(known)
        listing = ", ".join(known_list) if known_list else "(none registered)"
        message = (
            f"Unknown {kind} {requested!r}. Known: {listing}.{did_you_mean(requested, known_list)}"
        )
        return cls(message, kind=kind, requested=requested, known=known_list)

    def __str__(self) -> str:  # LookupError would otherwise repr() the message
        return str(self.args[0]) if self.args else ""


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """Return `` Did you mean 'x'?`` for the closest candidate, or an empty string."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" Did you mean {matches[0]!r}?" if matches else ""


# --------------------------------------------------------------------------------------------
# LLM backends (labtrust_gym.llm). ``error_kind`` is the key metrics count errors under.
# --------------------------------------------------------------------------------------------


class LLMError(LabTrustError):
    """An LLM backend could not answer a request (the caller decides whether to count it)."""

    error_kind: str = "error"


class LLMConfigError(LLMError, ConfigError):
    """An LLM backend is misconfigured: no model, no record/replay file, missing extra, …"""

    error_kind = "config"


class LLMNetworkDisabledError(LLMError):
    """A backend that needs the network was used without ``allow_network`` (``--allow-network``)."""

    error_kind = "network_disabled"


class LLMReplayError(LLMError):
    """A replay file is unreadable, altered, or holds no answer for a request hash."""

    error_kind = "replay"


class LLMBackendError(LLMError):
    """A call failed: timeout, rate limit, server error, refused connection, bad response, …

    ``kind`` says which (``timeout``, ``rate_limit``, ``server_error``, ``connection``,
    ``auth``, ``bad_request``, ``bad_response``, ``plugin_error``); ``attempts`` how many HTTP
    attempts were made.
    """

    def __init__(self, message: str, *, kind: str, backend_id: str = "", attempts: int = 1):
        super().__init__(message)
        self.kind = kind
        self.error_kind = kind
        self.backend_id = backend_id
        self.attempts = attempts
