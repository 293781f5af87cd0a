"""Sans-I/O provider interface: build a request, parse a response into a ``CallResult``.

Nothing here performs I/O. ``providers/http.py`` sends an ``HttpRequest`` with httpx
and hands the status, headers and body back to the adapter's ``parse_response``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Protocol

from promptforge.core.messages import Prompt
from promptforge.core.models import GenerationParams


class CallOutcome(enum.StrEnum):
    """How the worker must treat a provider call."""

    SUCCESS = "success"
    RATE_LIMITED = "rate_limited"  # flow control: retry later, never counts as a retry
    TRANSIENT = "transient"  # 5xx, 529, timeouts: retry, counts against max_retries
    PERMANENT = "permanent"  # fail the prompt now with the provider's reason


@dataclass(frozen=True)
class RateSignals:
    """Rate-limit facts a response carried, in one shape for every provider.

    Limits are per minute; ``reset_*`` and ``retry_after`` are seconds from the
    response. ``daily_quota_exhausted`` means: pause until the daily reset, do not probe.
    """

    limit_requests: int | None = None
    limit_tokens: int | None = None
    remaining_requests: int | None = None
    remaining_tokens: int | None = None
    reset_requests: float | None = None
    reset_tokens: float | None = None
    limit_input_tokens: int | None = None
    remaining_input_tokens: int | None = None
    limit_output_tokens: int | None = None
    remaining_output_tokens: int | None = None
    retry_after: float | None = None
    daily_quota_exhausted: bool = False


@dataclass(frozen=True)
class HttpRequest:
    """A provider request, ready to send. ``headers`` may hold the credential: never log it."""

    method: str
    url: str
    headers: dict[str, str]
    json: dict[str, Any]


@dataclass(frozen=True)
class CallResult:
    """One provider call, classified."""

    outcome: CallOutcome
    text: str | None = None
    finish_reason: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    status: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    signals: RateSignals = field(default_factory=RateSignals)
    tool_calls: tuple[dict[str, Any], ...] = ()
    """The tools the model called, each ``{name, arguments}`` (``providers.tools``)."""

    @property
    def tokens_used(self) -> int:
        """Input plus output tokens, as result lines report them."""
        return self.input_tokens + self.output_tokens


class ProviderAdapter(Protocol):
    """One provider's wire format."""

    name: str
    default_base_url: str

    def build_request(
        self,
        *,
        base_url: str,
        api_key: str,
        model: str,
        prompt: Prompt,
        params: GenerationParams,
    ) -> HttpRequest:
        """The HTTP request for one prompt: a text, or chat messages (``core/messages.py``)."""
        ...

    def parse_response(self, status: int, headers: dict[str, str], body: bytes) -> CallResult:
        """Classify a response; ``headers`` keys are lower-case."""
        ...

    def unsupported(self, params: GenerationParams) -> list[str]:
        """Names of the options in ``params`` this provider cannot honour (422 at init)."""
        ...
