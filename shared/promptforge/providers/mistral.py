"""Mistral La Plateforme chat completions: OpenAI's wire format with Mistral's names.

What is Mistral's own (``reference/providers.md``):

- the body says ``max_tokens`` and ``random_seed``;
- rate-limit headers (seen in the wild, parsed when present, never relied on):
  ``x-ratelimit-{limit,remaining}-req-minute`` and ``-tokens-minute``; the ``-month``
  variants are not per-minute limits and only serve to spot an exhausted monthly quota;
- a 429 is ``{"object":"error","message":"Rate limit exceeded","type":"rate_limited",
  "code":"1300"}``: RATE_LIMITED, unless the monthly token quota is at zero, which no
  amount of waiting within a batch fixes: PERMANENT ``quota_exhausted``.
"""

from __future__ import annotations

from promptforge.clock import Clock
from promptforge.providers._chat_completions import (
    ChatCompletionsAdapter,
    ProviderErrorBody,
    header_int,
)
from promptforge.providers._parsing import failure
from promptforge.providers.base import CallOutcome, CallResult, RateSignals


class MistralAdapter(ChatCompletionsAdapter):
    """Mistral's chat-completions endpoint."""

    def __init__(
        self,
        *,
        name: str = "mistral",
        default_base_url: str = "https://api.mistral.ai",
        clock: Clock | None = None,
    ) -> None:
        super().__init__(
            name=name,
            default_base_url=default_base_url,
            max_tokens_field="max_tokens",
            seed_field="random_seed",
            clock=clock,
        )

    def _rate_signals(self, headers: dict[str, str]) -> RateSignals:
        """The per-minute request and token headers."""
        return RateSignals(
            limit_requests=header_int(headers, "x-ratelimit-limit-req-minute"),
            remaining_requests=header_int(headers, "x-ratelimit-remaining-req-minute"),
            limit_tokens=header_int(headers, "x-ratelimit-limit-tokens-minute"),
            remaining_tokens=header_int(headers, "x-ratelimit-remaining-tokens-minute"),
        )

    def _rate_limited(
        self, status: int, error: ProviderErrorBody, headers: dict[str, str], signals: RateSignals
    ) -> CallResult:
        """Rate limited, unless the monthly token quota is used up."""
        monthly = header_int(headers, "x-ratelimit-remaining-tokens-month")
        if monthly is not None and monthly <= 0:
            message = f"monthly token quota exhausted ({error.message})"
            return failure(CallOutcome.PERMANENT, status, "quota_exhausted", message, signals)
        return super()._rate_limited(status, error, headers, signals)
