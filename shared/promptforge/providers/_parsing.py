"""What every adapter's response parsing shares: decoding, usage figures, failures, messages."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from promptforge.providers.base import CallOutcome, CallResult, RateSignals

SNIPPET_CHARS = 300
"""How much of an unreadable body an error message quotes."""


def decode_json(body: bytes) -> Any:
    """The JSON value of ``body``, ``None`` when it is not JSON."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def snippet(body: bytes) -> str:
    """The start of a body, for a message that has nothing better."""
    return body[:SNIPPET_CHARS].decode("utf-8", errors="replace").strip()


def fallback_message(status: int, body: bytes) -> str:
    """A message for an error body that carries none: the status and the start of the body."""
    start = snippet(body)
    return f"HTTP {status}: {start}" if start else f"HTTP {status}"


def usage_count(value: Any) -> int:
    """A usage figure, 0 when missing, null or not a non-negative integer."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return 0


def failure(
    outcome: CallOutcome,
    status: int,
    code: str,
    message: str,
    signals: RateSignals | None = None,
) -> CallResult:
    """A result that carries no text: how to treat it, the status, a code and a message."""
    return CallResult(
        outcome=outcome,
        status=status,
        error_code=code,
        error_message=message,
        signals=signals or RateSignals(),
    )


def answered(  # noqa: PLR0917 - a billed response's fields, in CallResult's order
    status: int,
    text: str | None,
    finish_reason: str | None,
    input_tokens: int,
    output_tokens: int,
    signals: RateSignals | None = None,
    *,
    tool_calls: tuple[dict[str, Any], ...] = (),
) -> CallResult:
    """A response the provider answered and billed: its text, tool calls, finish reason, usage."""
    return CallResult(
        outcome=CallOutcome.SUCCESS,
        text=text,
        finish_reason=finish_reason,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        status=status,
        signals=signals or RateSignals(),
        tool_calls=tool_calls,
    )


def not_success(result: CallResult, outcome: CallOutcome, code: str, message: str) -> CallResult:
    """A 2xx that is not a usable answer: keep the usage and finish reason, drop the text."""
    return dataclasses.replace(
        result, outcome=outcome, text=None, error_code=code, error_message=message
    )
