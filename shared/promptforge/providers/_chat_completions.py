"""The OpenAI chat-completions wire format, shared by every provider that speaks it.

One wire format, several providers (OpenAI, Mistral, vLLM, Ollama, DeepSeek, xAI): the
request body, the success body and the error body are read here once. A provider module
only says what differs: field names, its rate-limit headers and how to read its 429s.

Classification of a response:

    2xx            SUCCESS; a refusal, or ``content_filter`` with no text, is PERMANENT;
                   ``finish_reason: error`` or a body that is not a completion is TRANSIENT
    429            the provider's ``_rate_limited`` hook (RATE_LIMITED unless it says otherwise)
    408, 409, 5xx  TRANSIENT
    anything else  PERMANENT, with the provider's error code and message
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from typing import Any

from promptforge.clock import Clock, SystemClock
from promptforge.core.models import GenerationParams
from promptforge.providers._parsing import (
    SNIPPET_CHARS,
    answered,
    decode_json,
    failure,
    not_success,
    snippet,
    usage_count,
)
from promptforge.providers.base import CallOutcome, CallResult, HttpRequest, PromptCall, RateSignals
from promptforge.providers.durations import (
    parse_http_date,
    parse_retry_after,
    parse_retry_after_ms,
    retry_delay_in_message,
)
from promptforge.providers.images import chat_content
from promptforge.providers.openai_compat import ChatEndpoint
from promptforge.providers.tools import openai_tool_calls, openai_tools

RESPONSE_FORMAT_TYPES = frozenset({"text", "json_object", "json_schema"})
_TRANSIENT_4XX = frozenset({408, 409})
_MESSAGE_CHARS = 2000
_CONTEXT_LENGTH = re.compile(r"maximum context length|context length exceeded|context window", re.I)


@dataclass(frozen=True)
class ProviderErrorBody:
    """What an error body says: the provider's code and type (if any) and a human message."""

    message: str
    code: str | None = None
    type: str | None = None

    def best_code(self, status: int) -> str:
        """A machine-readable code: the provider's own, else one inferred, else ``http_<status>``.

        Numeric codes (Mistral's ``"1300"``) say less than the type beside them.
        """
        if self.code and not self.code.isdigit():
            return self.code
        if _CONTEXT_LENGTH.search(self.message):
            return "context_length_exceeded"
        return self.type or self.code or f"http_{status}"


class ChatCompletionsAdapter:
    """``POST {base}/v1/chat/completions`` with Bearer auth; subclasses name their fields."""

    def __init__(
        self,
        *,
        name: str,
        default_base_url: str,
        max_tokens_field: str,
        seed_field: str,
        clock: Clock | None = None,
    ) -> None:
        self.name = name
        self.default_base_url = default_base_url
        self._max_tokens_field = max_tokens_field
        self._seed_field = seed_field
        self._clock: Clock = clock or SystemClock()

    def build_request(self, call: PromptCall) -> HttpRequest:
        """The chat-completions request for one prompt; unset options are left out.

        A chat line's messages go as they are, after the job's ``system`` option; image
        parts in the provider's form (``providers.images.chat_content``).
        """
        params = call.params
        endpoint = self._endpoint(call.base_url)
        messages: list[dict[str, Any]] = []
        if params.system is not None:
            messages.append({"role": "system", "content": params.system})
        if isinstance(call.prompt, str):
            messages.append({"role": "user", "content": call.prompt})
        else:
            messages += [
                {"role": m.role, "content": chat_content(self.name, m.content)} for m in call.prompt
            ]
        body: dict[str, Any] = {"model": call.model, "messages": messages}
        if params.max_tokens is not None:
            body[endpoint.max_tokens_field] = params.max_tokens
        if params.temperature is not None:
            body["temperature"] = params.temperature
        if params.top_p is not None:
            body["top_p"] = params.top_p
        if params.stop is not None:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body[self._seed_field] = params.seed
        if params.response_format is not None:
            body["response_format"] = dict(params.response_format)
        if params.tools is not None:
            body.update(openai_tools(params.tools))
        # Local OpenAI-compatible servers often take no key: then no key header at all.
        headers = {"Content-Type": "application/json", **endpoint.key_headers(call.api_key)}
        return HttpRequest("POST", endpoint.url, headers, body)

    def _endpoint(self, base_url: str) -> ChatEndpoint:
        """Where ``base_url`` takes chat completions, how it wants the key and the length cap."""
        return ChatEndpoint(chat_completions_url(base_url), "Authorization", self._max_tokens_field)

    def unsupported(self, params: GenerationParams) -> list[str]:
        """Every option maps onto the body; a ``response_format`` of an unknown shape does not."""
        if params.response_format is not None and not _valid_response_format(
            params.response_format
        ):
            return ["response_format"]
        return []

    def parse_response(self, status: int, headers: dict[str, str], body: bytes) -> CallResult:
        """Classify one response; never raises, whatever the body holds."""
        signals = self._rate_signals(headers)
        retry_after = _header_retry_after(headers, self._clock)
        if retry_after is not None:
            signals = dataclasses.replace(signals, retry_after=retry_after)
        if 200 <= status < 300:
            return parse_success(status, body, signals)
        error = read_error(status, body)
        if status == 429:
            return self._rate_limited(status, error, headers, signals)
        outcome = (
            CallOutcome.TRANSIENT
            if status >= 500 or status in _TRANSIENT_4XX
            else CallOutcome.PERMANENT
        )
        return failure(outcome, status, error.best_code(status), error.message, signals)

    def _rate_signals(self, headers: dict[str, str]) -> RateSignals:
        """The provider's rate-limit headers; ``retry_after`` is filled in by the caller."""
        return RateSignals()

    def _rate_limited(
        self, status: int, error: ProviderErrorBody, headers: dict[str, str], signals: RateSignals
    ) -> CallResult:
        """A 429: flow control, waiting as long as the headers or the message say."""
        return rate_limited(status, error.best_code(status), error.message, signals)


def rate_limited(status: int, code: str, message: str, signals: RateSignals) -> CallResult:
    """A RATE_LIMITED result; ``retry_after`` falls back to the wait stated in ``message``."""
    if signals.retry_after is None:
        signals = dataclasses.replace(signals, retry_after=retry_delay_in_message(message))
    return failure(CallOutcome.RATE_LIMITED, status, code, message, signals)


def parse_success(status: int, body: bytes, signals: RateSignals) -> CallResult:
    """A 2xx chat completion: the first choice's text, its finish reason and the usage."""
    data = decode_json(body)
    choices = data.get("choices") if isinstance(data, dict) else None
    choice = choices[0] if isinstance(choices, list) and choices else None
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(data, dict) or not isinstance(choice, dict) or not isinstance(message, dict):
        why = f"HTTP {status} without a chat completion, {_describe(body)}"
        return failure(CallOutcome.TRANSIENT, status, "malformed_response", why, signals)
    usage = data.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    reason = choice.get("finish_reason")
    text = _content_text(message.get("content"))
    tokens_in = usage_count(usage.get("prompt_tokens"))
    tokens_out = usage_count(usage.get("completion_tokens"))
    finish_reason = reason if isinstance(reason, str) else None
    result = answered(
        status,
        text,
        finish_reason,
        tokens_in,
        tokens_out,
        signals,
        tool_calls=openai_tool_calls(message),
    )
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        return not_success(result, CallOutcome.PERMANENT, "refusal", f"model refused: {refusal}")
    if result.finish_reason == "content_filter" and not result.text:
        why = "the provider's content filter withheld the answer (finish_reason: content_filter)"
        return not_success(result, CallOutcome.PERMANENT, "content_filter", why)
    if result.finish_reason == "error":
        why = "generation stopped on a provider-side error (finish_reason: error)"
        return not_success(result, CallOutcome.TRANSIENT, "generation_error", why)
    if result.text is None and not result.tool_calls:
        why = f"HTTP {status} with no message content (finish_reason: {result.finish_reason})"
        return not_success(result, CallOutcome.TRANSIENT, "empty_response", why)
    return result


def read_error(status: int, body: bytes) -> ProviderErrorBody:
    """The code, type and message of an error body, in any of the shapes seen in the wild.

    ``{"error": {"message", "type", "code"}}`` (OpenAI), a flat ``{"object": "error",
    "message", "type", "code"}`` (Mistral, vLLM), ``{"message"}`` or ``{"detail"}``
    (gateways), ``{"error": "text"}``; anything else becomes a message saying what came back.
    """
    data = decode_json(body)
    if not isinstance(data, dict):
        return ProviderErrorBody(message=f"HTTP {status} with {_describe(body)}")
    inner = data.get("error")
    fields = inner if isinstance(inner, dict) else data
    raw = (
        fields.get("message") or fields.get("detail") or (inner if isinstance(inner, str) else None)
    )
    if not raw:
        message = f"HTTP {status} with {_describe(body)}"
    else:
        message = _clip(raw if isinstance(raw, str) else json.dumps(raw))
    return ProviderErrorBody(
        message=message, code=_text(fields.get("code")), type=_text(fields.get("type"))
    )


def chat_completions_url(base_url: str) -> str:
    """``{base}/v1/chat/completions``; a base that already ends in ``/v1`` is taken as is."""
    base = base_url.rstrip("/")
    base = base.removesuffix("/v1")
    return f"{base}/v1/chat/completions"


def header_int(headers: dict[str, str], name: str) -> int | None:
    """An integer header, ``None`` when absent or unreadable (``"1000.0"`` reads as 1000)."""
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        pass
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


def _header_retry_after(headers: dict[str, str], clock: Clock) -> float | None:
    """``retry-after-ms`` first (more precise), then ``retry-after`` (seconds or HTTP date)."""
    millis = parse_retry_after_ms(headers.get("retry-after-ms"))
    if millis is not None:
        return millis
    value = headers.get("retry-after")
    if not value:
        return None
    now = parse_http_date(headers.get("date")) or clock.now()
    return parse_retry_after(value, now)


def _content_text(content: Any) -> str | None:
    """Message content: a string, or a list of parts whose ``text`` parts are joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, dict)
            and part.get("type") == "text"
            and isinstance(part.get("text"), str)
        )
    return None


def _valid_response_format(response_format: dict[str, Any]) -> bool:
    """``{"type": "text" | "json_object"}`` or ``{"type": "json_schema", "json_schema": {...}}``."""
    kind = response_format.get("type")
    if kind not in RESPONSE_FORMAT_TYPES:
        return False
    return kind != "json_schema" or isinstance(response_format.get("json_schema"), dict)


def _describe(body: bytes) -> str:
    """What came back, for a message: "an empty body" or the start of it."""
    start = snippet(body)
    if not start:
        return "an empty body"
    more = "..." if len(body) > SNIPPET_CHARS else ""
    return f"body {start!r}{more}"


def _clip(message: str) -> str:
    """A provider message, cut to a length an error line can carry."""
    if len(message) <= _MESSAGE_CHARS:
        return message
    return message[:_MESSAGE_CHARS] + "..."


def _text(value: Any) -> str | None:
    """A code or type as a string (``1300`` and ``"1300"`` alike), ``None`` if empty."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str | int):
        return str(value) or None
    return None
