"""OpenAI Chat Completions, and any server that speaks it (vLLM, Ollama, DeepSeek, xAI).

The wire format lives in ``_chat_completions``; this module adds what is OpenAI's own
(``reference/providers.md``):

- the six ``x-ratelimit-*`` headers, resets as Go durations (``6m0s``), on every response;
- 429s: ``insufficient_quota`` (and other billing codes) and "Request too large" are
  PERMANENT; a rate limit waits ``retry-after-ms``, else ``retry-after``, else the
  "Please try again in 644ms" of the message; a per-day limit sets ``daily_quota_exhausted``.

Any OpenAI-compatible endpoint is reached by its base URL: ``openai_compat`` derives the
request URL, the key header and the max-tokens field from it (OpenAI and Azure OpenAI get
``max_completion_tokens``, vLLM, Ollama, DeepSeek, xAI and the like ``max_tokens``). A fixed
field can still be forced::

    OpenAIAdapter(name="openai_compatible", max_tokens_field="max_tokens")
"""

from __future__ import annotations

import dataclasses

from promptforge.clock import Clock
from promptforge.providers._chat_completions import (
    ChatCompletionsAdapter,
    ProviderErrorBody,
    header_int,
    rate_limited,
)
from promptforge.providers._parsing import failure
from promptforge.providers.base import CallOutcome, CallResult, RateSignals
from promptforge.providers.durations import parse_go_duration
from promptforge.providers.openai_compat import ChatEndpoint, chat_endpoint

MAX_TOKENS_FIELDS = ("max_completion_tokens", "max_tokens")
# 429 codes that waiting does not fix: the account has no money or credit left.
_QUOTA_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached", "billing_not_active"})
# "... on requests per day (RPD)", "... on tokens per day (TPD)".
_DAILY_MARKERS = ("per day", "(rpd)", "(tpd)")


class OpenAIAdapter(ChatCompletionsAdapter):
    """OpenAI's wire format, for OpenAI and every endpoint that speaks it."""

    def __init__(
        self,
        *,
        name: str = "openai",
        default_base_url: str = "https://api.openai.com",
        max_tokens_field: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        if max_tokens_field is not None and max_tokens_field not in MAX_TOKENS_FIELDS:
            raise ValueError(
                f"max_tokens_field must be one of {', '.join(MAX_TOKENS_FIELDS)}, "
                f"got {max_tokens_field!r}"
            )
        super().__init__(
            name=name,
            default_base_url=default_base_url,
            max_tokens_field=max_tokens_field or MAX_TOKENS_FIELDS[0],
            seed_field="seed",
            clock=clock,
        )
        self._forced_max_tokens_field = max_tokens_field

    def _endpoint(self, base_url: str) -> ChatEndpoint:
        """By the base URL (``openai_compat``), unless a max-tokens field was forced."""
        endpoint = chat_endpoint(base_url)
        if self._forced_max_tokens_field is None:
            return endpoint
        return dataclasses.replace(endpoint, max_tokens_field=self._forced_max_tokens_field)

    def _rate_signals(self, headers: dict[str, str]) -> RateSignals:
        """``x-ratelimit-{limit,remaining}-{requests,tokens}`` and ``-reset-*`` durations."""
        return RateSignals(
            limit_requests=header_int(headers, "x-ratelimit-limit-requests"),
            limit_tokens=header_int(headers, "x-ratelimit-limit-tokens"),
            remaining_requests=header_int(headers, "x-ratelimit-remaining-requests"),
            remaining_tokens=header_int(headers, "x-ratelimit-remaining-tokens"),
            reset_requests=parse_go_duration(headers.get("x-ratelimit-reset-requests")),
            reset_tokens=parse_go_duration(headers.get("x-ratelimit-reset-tokens")),
        )

    def _rate_limited(
        self, status: int, error: ProviderErrorBody, headers: dict[str, str], signals: RateSignals
    ) -> CallResult:
        """Quota exhaustion and oversize requests are permanent; the rest is flow control."""
        code = error.code or "rate_limit_exceeded"
        if code in _QUOTA_CODES or error.type in _QUOTA_CODES:
            return failure(CallOutcome.PERMANENT, status, code, error.message, signals)
        lowered = error.message.lower()
        if "request too large" in lowered:
            return failure(
                CallOutcome.PERMANENT, status, "request_too_large", error.message, signals
            )
        if any(marker in lowered for marker in _DAILY_MARKERS):
            signals = dataclasses.replace(signals, daily_quota_exhausted=True)
        return rate_limited(status, code, error.message, signals)
