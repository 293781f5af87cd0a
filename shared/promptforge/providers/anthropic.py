"""Anthropic Messages API: build ``POST /v1/messages`` and classify its responses (sans-I/O).

Classification (``reference/providers.md``):

    2xx            SUCCESS (``stop_reason: refusal`` is a safety block: PERMANENT)
    429            RATE_LIMITED, unless the message says a spend limit or the credit
                   balance is reached: PERMANENT ``spend_limit_reached``
    408, 409, 5xx  TRANSIENT (529 ``overloaded_error`` included)
    anything else  PERMANENT, the provider's error type as ``error_code``

Rate-limit headers are read on every response. Their resets are RFC 3339 times,
turned into seconds from the response's ``date`` header (else the injected clock).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from promptforge.clock import Clock, SystemClock
from promptforge.core.messages import Conversation
from promptforge.core.models import GenerationParams
from promptforge.providers._parsing import (
    answered,
    decode_json,
    failure,
    fallback_message,
    not_success,
    snippet,
    usage_count,
)
from promptforge.providers.base import CallOutcome, CallResult, HttpRequest, PromptCall, RateSignals
from promptforge.providers.durations import parse_http_date, parse_retry_after
from promptforge.providers.images import anthropic_content
from promptforge.providers.tools import (
    anthropic_output_config,
    anthropic_tool_calls,
    anthropic_tools,
)

API_VERSION = "2023-06-01"

# Lower-cased phrases of a 429 that no amount of waiting fixes within a batch.
_SPEND_LIMIT_MARKERS = (
    "spend limit",
    "spending limit",
    "usage limits",
    "credit balance",
    "billing",
    "extra usage is required",
)
_TRANSIENT_4XX = frozenset({408, 409})
_MAX_TEMPERATURE = 1.0


class AnthropicAdapter:
    """The Anthropic Messages wire format."""

    name = "anthropic"
    default_base_url = "https://api.anthropic.com"

    def __init__(self, clock: Clock | None = None, default_max_tokens: int = 1024) -> None:
        if default_max_tokens < 1:
            raise ValueError(f"default_max_tokens must be at least 1, got {default_max_tokens}")
        self._clock: Clock = clock or SystemClock()
        self._default_max_tokens = default_max_tokens

    def build_request(self, call: PromptCall) -> HttpRequest:
        """``POST {base}/v1/messages``; options that :meth:`unsupported` lists are left out.

        System text (the job's option, then a chat line's system messages) goes in
        ``system``; the turns in ``messages``, images as ``image`` blocks
        (``providers.images.anthropic_content``).
        """
        params = call.params
        conversation = Conversation.of(call.prompt, params.system)
        body: dict[str, Any] = {
            "model": call.model,
            "max_tokens": (
                params.max_tokens if params.max_tokens is not None else self._default_max_tokens
            ),
            "messages": [
                {"role": turn.role, "content": anthropic_content(turn.content)}
                for turn in conversation.turns
            ],
        }
        if conversation.system is not None:
            body["system"] = conversation.system
        if params.temperature is not None and params.temperature <= _MAX_TEMPERATURE:
            body["temperature"] = params.temperature
        if params.top_p is not None:
            body["top_p"] = params.top_p
        if params.stop is not None:
            body["stop_sequences"] = list(params.stop)
        output_config = (
            anthropic_output_config(params.response_format) if params.response_format else None
        )
        if output_config is not None:
            body["output_config"] = output_config
        if params.tools is not None:
            body.update(anthropic_tools(params.tools))
        return HttpRequest(
            method="POST",
            url=f"{call.base_url.rstrip('/')}/v1/messages",
            headers={
                "x-api-key": call.api_key,
                "anthropic-version": API_VERSION,
                "content-type": "application/json",
            },
            json=body,
        )

    def unsupported(self, params: GenerationParams) -> list[str]:
        """``seed`` (absent from Messages), ``temperature`` above 1, and a ``response_format``
        other than a JSON schema (structured outputs take only that)."""
        names: list[str] = []
        if params.temperature is not None and params.temperature > _MAX_TEMPERATURE:
            names.append("temperature")
        if params.seed is not None:
            names.append("seed")
        if (
            params.response_format is not None
            and anthropic_output_config(params.response_format) is None
        ):
            names.append("response_format")
        return names

    def parse_response(self, status: int, headers: dict[str, str], body: bytes) -> CallResult:
        """Classify one response; never raises on a malformed body."""
        signals = self._signals(headers)
        if 200 <= status < 300:
            return _parse_success(status, body, signals)
        error_type, message = _error_fields(status, body)
        if status == 429:
            if any(marker in message.lower() for marker in _SPEND_LIMIT_MARKERS):
                return failure(
                    CallOutcome.PERMANENT, status, "spend_limit_reached", message, signals
                )
            return failure(CallOutcome.RATE_LIMITED, status, error_type, message, signals)
        if status >= 500 or status in _TRANSIENT_4XX:
            return failure(CallOutcome.TRANSIENT, status, error_type, message, signals)
        return failure(CallOutcome.PERMANENT, status, error_type, message, signals)

    def _signals(self, headers: dict[str, str]) -> RateSignals:
        """The ``anthropic-ratelimit-*`` and ``retry-after`` headers as ``RateSignals``."""
        now = parse_http_date(headers.get("date")) or self._clock.now()

        def number(bucket: str, part: str) -> int | None:
            return _header_int(headers.get(f"anthropic-ratelimit-{bucket}-{part}"))

        def reset(bucket: str) -> float | None:
            moment = _rfc3339(headers.get(f"anthropic-ratelimit-{bucket}-reset"))
            return None if moment is None else max(0.0, (moment - now).total_seconds())

        reset_tokens = reset("tokens")
        if reset_tokens is None:
            split = [r for r in (reset("input-tokens"), reset("output-tokens")) if r is not None]
            reset_tokens = max(split) if split else None
        return RateSignals(
            limit_requests=number("requests", "limit"),
            remaining_requests=number("requests", "remaining"),
            reset_requests=reset("requests"),
            limit_tokens=number("tokens", "limit"),
            remaining_tokens=number("tokens", "remaining"),
            reset_tokens=reset_tokens,
            limit_input_tokens=number("input-tokens", "limit"),
            remaining_input_tokens=number("input-tokens", "remaining"),
            limit_output_tokens=number("output-tokens", "limit"),
            remaining_output_tokens=number("output-tokens", "remaining"),
            retry_after=parse_retry_after(headers.get("retry-after"), now),
        )


def _parse_success(status: int, body: bytes, signals: RateSignals) -> CallResult:
    """A 2xx Messages response: text blocks joined, usage summed."""
    data = decode_json(body)
    content = data.get("content") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(content, list):
        message = f"2xx response without a content list: {snippet(body)}"
        return failure(CallOutcome.TRANSIENT, status, "malformed_response", message, signals)
    text = "".join(
        block["text"]
        for block in content
        if isinstance(block, dict)
        and block.get("type") == "text"
        and isinstance(block.get("text"), str)
    )
    usage = data.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    input_tokens = (
        usage_count(usage.get("input_tokens"))
        + usage_count(usage.get("cache_creation_input_tokens"))
        + usage_count(usage.get("cache_read_input_tokens"))
    )
    output_tokens = usage_count(usage.get("output_tokens"))
    stop_reason = data.get("stop_reason")
    finish_reason = stop_reason if isinstance(stop_reason, str) else None
    result = answered(
        status,
        text,
        finish_reason,
        input_tokens,
        output_tokens,
        signals,
        tool_calls=anthropic_tool_calls(content),
    )
    if finish_reason == "refusal":
        why = "Anthropic declined the prompt (stop_reason: refusal)"
        return not_success(result, CallOutcome.PERMANENT, "safety_block", why)
    return result


def _error_fields(status: int, body: bytes) -> tuple[str, str]:
    """``(error.type, error.message)`` of an error body, or a fallback built from the status."""
    data = decode_json(body)
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        kind, message = error.get("type"), error.get("message")
        if isinstance(kind, str) and kind:
            return kind, message if isinstance(message, str) and message else kind
    return f"http_{status}", fallback_message(status, body)


def _header_int(value: str | None) -> int | None:
    """An integer header value, ``None`` when absent or unreadable."""
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def _rfc3339(value: str | None) -> datetime | None:
    """An RFC 3339 time as aware UTC, ``None`` when absent or unreadable."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
