"""The codes of a prompt's error line that PromptForge itself gives, and which a retry could fix.

Where each line of ``errors.jsonl`` comes from:

- an **input error** (``invalid_json``, ``duplicate_prompt_id``, ``line_too_long``,
  ``missing_field`` …: every ``LineError`` of ``core.jsonl`` and the chat and template
  rules it applies) is recorded under its line's key (``Outcome.line_key``): the line never
  became a prompt, and running it again fails the same way. :func:`is_input_error`.
- a **prompt error** is recorded under the prompt's key by the worker or the cancel sweep:
  the codes below, or a provider's own refusal code (``invalid_request``,
  ``content_filter`` …: permanent, the same request is refused again).

``RETRYABLE_CODES`` is the one classification ``POST /v1/jobs/{id}/retry`` uses by default
(``core.retry``): the failures a new attempt of the same request could end otherwise.
"""

from __future__ import annotations

from promptforge.core.models import Outcome, OutcomeKind
from promptforge.core.spend import BUDGET_EXCEEDED  # the cost cap kept the prompt from running

TIMEOUT = "timeout"
"""The provider did not answer in time, on every attempt allowed (``core.worker``)."""
RETRIES_EXHAUSTED = "retries_exhausted"
"""Transient failures (5xx, overload, dropped connections) used up ``max_retries``."""
CANCELLED = "cancelled"
"""The job was cancelled before the prompt ran (``core.cancel``)."""
MISSING_CREDENTIAL = "missing_credential"
"""No credential was configured for the provider (the operator may have added it since)."""
ANSWER_TOO_LARGE = "answer_too_large"
"""The answer was too large to store: the same request gives the same answer again."""
SCHEMA_MISMATCH = "schema_mismatch"
"""The answer did not match the ``response_format`` schema after its schema retries."""

RETRYABLE_CODES = frozenset(
    {TIMEOUT, RETRIES_EXHAUSTED, CANCELLED, MISSING_CREDENTIAL, BUDGET_EXCEEDED, SCHEMA_MISMATCH}
)
"""Prompt errors a retry could fix: what ``retry`` re-runs when no ``codes`` are given."""


def is_input_error(outcome: Outcome) -> bool:
    """Whether an error line is an input line that never became a prompt (never re-run)."""
    return outcome.kind is OutcomeKind.ERROR and not outcome.key.startswith(Outcome.prompt_key(""))


def error_code(outcome: Outcome) -> str:
    """The ``error.code`` of an error line (``provider_error`` if it has none)."""
    error = outcome.record.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) and code else "provider_error"
