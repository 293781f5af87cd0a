"""Gemini generateContent: build the request and classify its responses (sans-I/O).

Classification (``reference/providers.md``):

    2xx   SUCCESS, unless blocked: ``promptFeedback.blockReason``, a blocking
          ``finishReason`` (SAFETY, RECITATION, …) or no candidate at all is PERMANENT
    429   RATE_LIMITED (``daily_quota_exhausted`` when a ``PerDay`` quota is hit);
          PERMANENT when prepayment credits are depleted or the quota is zero
    408, 499, 5xx   TRANSIENT
    anything else   PERMANENT, the error ``status`` (``INVALID_ARGUMENT``, …) as ``error_code``

Gemini sends no rate-limit headers: a 429's ``RetryInfo`` and ``QuotaFailure``
details are all it teaches.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

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
from promptforge.providers.durations import (
    parse_go_duration,
    parse_retry_after,
    retry_delay_in_message,
)
from promptforge.providers.images import gemini_parts
from promptforge.providers.tools import gemini_tool_calls, gemini_tools

# Finish reasons that mean the candidate was withheld, not finished.
BLOCKING_FINISH_REASONS = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)
MAX_STOP_SEQUENCES = 5

_CREDITS_DEPLETED = "prepayment credits are depleted"
_TRANSIENT_4XX = frozenset({408, 499})
_ZERO_LIMIT_IN_MESSAGE = re.compile(r"\blimit: 0(?![\d.])")
_GEMINI_ROLES = {"user": "user", "assistant": "model"}
"""Chat roles as Gemini names them (system text goes in ``systemInstruction``)."""


class GeminiAdapter:
    """The Gemini API ``generateContent`` wire format."""

    name = "gemini"
    default_base_url = "https://generativelanguage.googleapis.com"

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock: Clock = clock or SystemClock()

    def build_request(self, call: PromptCall) -> HttpRequest:
        """``POST {base}/v1beta/models/{model}:generateContent``; unmappable options left out.

        Turns go in ``contents`` (Gemini calls the assistant ``model``), system text (the
        job's option, then a chat line's system messages) in ``systemInstruction``; images
        as ``inline_data`` or ``file_data`` parts (``providers.images.gemini_parts``).
        """
        params = call.params
        conversation = Conversation.of(call.prompt, params.system)
        body: dict[str, Any] = {
            "contents": [
                {"role": _GEMINI_ROLES[turn.role], "parts": gemini_parts(turn.content)}
                for turn in conversation.turns
            ]
        }
        if conversation.system is not None:
            body["systemInstruction"] = {"parts": [{"text": conversation.system}]}
        config = _generation_config(params)
        if config:
            body["generationConfig"] = config
        if params.tools is not None:
            body.update(gemini_tools(params.tools))
        model_id = quote(call.model.removeprefix("models/"), safe="-._~")
        return HttpRequest(
            method="POST",
            url=f"{call.base_url.rstrip('/')}/v1beta/models/{model_id}:generateContent",
            headers={"x-goog-api-key": call.api_key, "content-type": "application/json"},
            json=body,
        )

    def unsupported(self, params: GenerationParams) -> list[str]:
        """More than five stop sequences; a ``response_format`` that maps to no Gemini config."""
        names: list[str] = []
        if params.stop is not None and len(params.stop) > MAX_STOP_SEQUENCES:
            names.append("stop")
        if params.response_format is not None and _format_config(params.response_format) is None:
            names.append("response_format")
        return names

    def parse_response(self, status: int, headers: dict[str, str], body: bytes) -> CallResult:
        """Classify one response; never raises on a malformed body."""
        if 200 <= status < 300:
            return _parse_success(status, body)
        error = _error_object(body)
        code = _str(error.get("status")) or f"http_{status}"
        message = _str(error.get("message")) or fallback_message(status, body)
        details = error.get("details")
        details = [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []
        violations = _quota_violations(details)
        retry_after = _retry_delay(details, message)
        if retry_after is None:
            retry_after = parse_retry_after(headers.get("retry-after"), self._clock.now())
        signals = RateSignals(
            retry_after=retry_after,
            limit_requests=_per_minute_value(violations, "Requests"),
            limit_input_tokens=_per_minute_value(violations, "InputTokens"),
            daily_quota_exhausted=status == 429
            and any("PerDay" in _str(v.get("quotaId")) for v in violations),
        )
        if status == 429:
            if _CREDITS_DEPLETED in message.lower():
                return failure(CallOutcome.PERMANENT, status, "credits_depleted", message, signals)
            if _zero_quota(violations, message):
                return failure(CallOutcome.PERMANENT, status, "quota_zero", message, signals)
            return failure(CallOutcome.RATE_LIMITED, status, code, message, signals)
        if status >= 500 or status in _TRANSIENT_4XX:
            return failure(CallOutcome.TRANSIENT, status, code, message, signals)
        return failure(CallOutcome.PERMANENT, status, code, message, signals)


def _generation_config(params: GenerationParams) -> dict[str, Any]:
    """``generationConfig`` with only the options that are set."""
    config: dict[str, Any] = {}
    if params.max_tokens is not None:
        config["maxOutputTokens"] = params.max_tokens
    if params.temperature is not None:
        config["temperature"] = params.temperature
    if params.top_p is not None:
        config["topP"] = params.top_p
    if params.stop is not None and len(params.stop) <= MAX_STOP_SEQUENCES:
        config["stopSequences"] = list(params.stop)
    if params.seed is not None:
        config["seed"] = params.seed
    if params.response_format is not None:
        config.update(_format_config(params.response_format) or {})
    return config


def _format_config(response_format: dict[str, Any]) -> dict[str, Any] | None:
    """An OpenAI-style ``response_format`` as ``generationConfig`` keys; ``None`` if unmappable."""
    kind = response_format.get("type")
    if kind == "text":
        return {}
    if kind == "json_object":
        return {"responseMimeType": "application/json"}
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if isinstance(schema, dict):
            return {"responseMimeType": "application/json", "responseJsonSchema": schema}
    return None


def _parse_success(status: int, body: bytes) -> CallResult:
    """A 2xx generateContent response: blocked or text, with usage either way."""
    data = decode_json(body)
    if not isinstance(data, dict):
        message = f"2xx response that is not a JSON object: {snippet(body)}"
        return failure(CallOutcome.TRANSIENT, status, "malformed_response", message)
    usage = data.get("usageMetadata")
    usage = usage if isinstance(usage, dict) else {}
    input_tokens = usage_count(usage.get("promptTokenCount"))
    output_tokens = usage_count(usage.get("candidatesTokenCount")) + usage_count(
        usage.get("thoughtsTokenCount")
    )

    def blocked(code: str, message: str, finish_reason: str | None = None) -> CallResult:
        billed = answered(status, None, finish_reason, input_tokens, output_tokens)
        return not_success(billed, CallOutcome.PERMANENT, code, message)

    feedback = data.get("promptFeedback")
    block_reason = _str(feedback.get("blockReason")) if isinstance(feedback, dict) else ""
    if block_reason:
        return blocked("safety_block", f"Gemini blocked the prompt: blockReason {block_reason}")
    candidates = data.get("candidates")
    if not isinstance(candidates, list) or not candidates or not isinstance(candidates[0], dict):
        return blocked("blocked", "Gemini returned no candidate and no block reason")
    candidate: dict[str, Any] = candidates[0]
    finish_reason = _str(candidate.get("finishReason")) or None
    if finish_reason in BLOCKING_FINISH_REASONS:
        message = f"Gemini withheld the response: finishReason {finish_reason}"
        return blocked("safety_block", message, finish_reason)
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    text = "".join(
        part["text"]
        for part in (parts if isinstance(parts, list) else [])
        if isinstance(part, dict) and isinstance(part.get("text"), str) and not part.get("thought")
    )
    return answered(
        status,
        text,
        finish_reason,
        input_tokens,
        output_tokens,
        tool_calls=gemini_tool_calls(parts if isinstance(parts, list) else []),
    )


def _error_object(body: bytes) -> dict[str, Any]:
    """The ``error`` object of a Google error body (also when wrapped in a list), or ``{}``."""
    data = decode_json(body)
    if isinstance(data, list) and data:
        data = data[0]
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else {}


def _quota_violations(details: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every violation of every ``google.rpc.QuotaFailure`` detail."""
    violations: list[dict[str, Any]] = []
    for detail in details:
        if _str(detail.get("@type")).endswith("google.rpc.QuotaFailure"):
            found = detail.get("violations")
            if isinstance(found, list):
                violations.extend(v for v in found if isinstance(v, dict))
    return violations


def _per_minute_value(violations: list[dict[str, Any]], kind: str) -> int | None:
    """``quotaValue`` of the per-minute quota whose ``quotaId`` names ``kind``."""
    for violation in violations:
        quota_id = _str(violation.get("quotaId"))
        if "PerMinute" in quota_id and kind in quota_id:
            value = _quota_value(violation)
            if value is not None:
                return value
    return None


def _zero_quota(violations: list[dict[str, Any]], message: str) -> bool:
    """A quota of zero (the model is not available on this tier): waiting never helps."""
    if any(_quota_value(v) == 0 for v in violations):
        return True
    return bool(_ZERO_LIMIT_IN_MESSAGE.search(message))


def _quota_value(violation: dict[str, Any]) -> int | None:
    """A violation's ``quotaValue`` (a string of digits on the wire)."""
    value = violation.get("quotaValue")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _retry_delay(details: list[dict[str, Any]], message: str) -> float | None:
    """Seconds to wait from the body: ``RetryInfo.retryDelay``, else "Please retry in 1.56s."."""
    for detail in details:
        if _str(detail.get("@type")).endswith("google.rpc.RetryInfo"):
            delay = parse_go_duration(_str(detail.get("retryDelay")))
            if delay is not None:
                return delay
    return retry_delay_in_message(message)


def _str(value: Any) -> str:
    """``value`` if it is a string, else ``""``."""
    return value if isinstance(value, str) else ""
