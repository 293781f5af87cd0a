"""Gemini ``POST /v1beta/models/{model}:generateContent``.

Limits: requests per minute, input tokens per minute, requests per day. No rate-limit
headers. A 429 is ``RESOURCE_EXHAUSTED`` with ``Help``, ``QuotaFailure`` (whose
``quotaId`` names the limit; ``PerDay`` means wait for the daily reset) and
``RetryInfo`` details, and "Please retry in N s." in the message. A missing key is
Google's 403 ``PERMISSION_DENIED``; a bad one is 400 ``API_KEY_INVALID``.
"""

from __future__ import annotations

import math
from typing import Any

from promptforge.sim.providers.images import SimImage, image_tokens
from promptforge.sim.providers.limits import Cost, LimitCheck, LimitKind, Refusal
from promptforge.sim.providers.text import Completion
from promptforge.sim.providers.wire import (
    CallContext,
    Caller,
    ProviderWire,
    Reply,
    SimRequest,
    WireError,
    key_accepted,
    load_json,
    optional_int,
    random_id,
)

_TYPE = "type.googleapis.com/google.rpc."
_SERVICE = "generativelanguage.googleapis.com"
_RATE_LIMITS = "https://ai.google.dev/gemini-api/docs/rate-limits"
_NO_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)
_BAD_KEY = "API key not valid. Please pass a valid API key."
_REQUESTS_QUOTA = (
    f"{_SERVICE}/generate_requests_per_model",
    "GenerateRequestsPerMinutePerProjectPerModel",
)
_QUOTAS = {
    LimitKind.REQUESTS: _REQUESTS_QUOTA,
    LimitKind.ACCELERATION: _REQUESTS_QUOTA,
    LimitKind.TOKENS: (
        f"{_SERVICE}/generate_content_paid_tier_input_token_count",
        "GenerateContentPaidTierInputTokensPerModelPerMinute",
    ),
    LimitKind.REQUESTS_PER_DAY: (
        f"{_SERVICE}/generate_requests_per_model_per_day",
        "GenerateRequestsPerDayPerProjectPerModel",
    ),
}
_QUOTAS[LimitKind.INPUT_TOKENS] = _QUOTAS[LimitKind.TOKENS]
_QUOTAS[LimitKind.OUTPUT_TOKENS] = (
    f"{_SERVICE}/generate_content_paid_tier_output_token_count",
    "GenerateContentPaidTierOutputTokensPerModelPerMinute",
)


def _status(code: int, status: str, message: str, details: list[Any] | None = None) -> Any:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return {"error": error}


def _seconds(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return f"{text}s"


class GeminiWire(ProviderWire):
    """The Gemini API's wire format (``generateContent``)."""

    name = "gemini"

    def __init__(self, *, quota_failure: bool = True) -> None:
        """``quota_failure=False``: 429s carry ``RetryInfo`` only, no ``QuotaFailure``."""
        self.quota_failure = quota_failure

    def _invalid(self, message: str) -> WireError:
        return WireError(Reply(400, _status(400, "INVALID_ARGUMENT", message), {}))

    def authenticate(self, caller: Caller, ctx: CallContext) -> None:
        """``x-goog-api-key`` or ``?key=``: 403 when missing, 400 when not valid."""
        key = (caller.headers.get("x-goog-api-key") or caller.query.get("key") or "").strip()
        if not key:
            raise WireError(Reply(403, _status(403, "PERMISSION_DENIED", _NO_KEY), {}))
        if not key_accepted(key, caller.api_keys):
            details = [
                {
                    "@type": f"{_TYPE}ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": _SERVICE},
                },
                {"@type": f"{_TYPE}LocalizedMessage", "locale": "en-US", "message": _BAD_KEY},
            ]
            raise WireError(Reply(400, _status(400, "INVALID_ARGUMENT", _BAD_KEY, details), {}))

    def parse(self, body: bytes, path_model: str | None, ctx: CallContext) -> SimRequest:
        """``contents`` (required), ``systemInstruction``, ``generationConfig.maxOutputTokens``."""
        try:
            data = load_json(body)
        except ValueError:
            raise self._invalid("Invalid JSON payload received. Unexpected token.") from None
        if not isinstance(data, dict):
            raise self._invalid("Invalid JSON payload received. Expected an object.")
        contents = data.get("contents")
        if not isinstance(contents, list) or not contents:
            raise self._invalid("* GenerateContentRequest.contents: contents is not specified\n")
        texts: list[str] = []
        system = data.get("systemInstruction") or data.get("system_instruction")
        if isinstance(system, dict):
            texts.append(_parts_text(system.get("parts")))
        prompt = ""
        images = 0
        for content in contents:
            if not isinstance(content, dict):
                raise self._invalid("* GenerateContentRequest.contents: invalid content\n")
            if content.get("role", "user") not in ("user", "model"):
                raise self._invalid("Please use a valid role: user, model.")
            text = _parts_text(content.get("parts"))
            texts.append(text)
            images += self._image_tokens(content.get("parts"))
            if content.get("role", "user") == "user":
                prompt = text
        config = data.get("generationConfig") or data.get("generation_config") or {}
        config = config if isinstance(config, dict) else {}
        max_tokens = optional_int(config.get("maxOutputTokens"))
        model = (path_model or "").removeprefix("models/")
        schema = config.get("responseJsonSchema") or config.get("response_json_schema")
        return SimRequest(
            model,
            prompt,
            tuple(texts),
            max_tokens,
            image_tokens=images,
            schema=schema if isinstance(schema, dict) else None,
            follow_up=any(isinstance(c, dict) and c.get("role") == "model" for c in contents),
        )

    def _image_tokens(self, parts: object) -> int:
        """The tokens of ``inline_data`` and ``file_data`` parts (either spelling), else a 400."""
        if not isinstance(parts, list):
            return 0
        tokens = 0
        for part in parts:
            if not isinstance(part, dict):
                continue
            inline = part.get("inline_data") or part.get("inlineData")
            files = part.get("file_data") or part.get("fileData")
            if isinstance(inline, dict):
                mime = inline.get("mime_type") or inline.get("mimeType")
                if not isinstance(mime, str) or not mime.startswith("image/"):
                    raise self._invalid(f"Unsupported MIME type: {mime}")
                image = SimImage.of(str(inline.get("data", "")), inline=True)
            elif isinstance(files, dict):
                uri = files.get("file_uri") or files.get("fileUri")
                if not isinstance(uri, str) or not uri:
                    raise self._invalid("* GenerateContentRequest.contents: file_uri is required")
                image = SimImage.of(uri, inline=False)
            else:
                continue
            tokens += image_tokens("gemini", image)
        return tokens

    def cost(self, request: SimRequest, completion: Completion) -> Cost:
        """Input tokens only: Gemini's TPM counts input."""
        return Cost(tokens=request.input_tokens, input_tokens=request.input_tokens)

    def success(
        self, request: SimRequest, completion: Completion, decision: LimitCheck, ctx: CallContext
    ) -> Reply:
        """A ``GenerateContentResponse``."""
        content: dict[str, Any] = {"role": "model"}
        if completion.text:
            content["parts"] = [{"text": completion.text}]
        body = {
            "candidates": [
                {
                    "content": content,
                    "finishReason": "MAX_TOKENS" if completion.truncated else "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": request.input_tokens,
                "candidatesTokenCount": completion.tokens,
                "totalTokenCount": request.input_tokens + completion.tokens,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": request.input_tokens}],
            },
            "modelVersion": request.model,
            "responseId": random_id(22),
        }
        return Reply(200, body, {})

    def rate_limited(
        self, request: SimRequest, completion: Completion, decision: LimitCheck, ctx: CallContext
    ) -> Reply:
        """429 ``RESOURCE_EXHAUSTED`` with QuotaFailure (unless turned off) and RetryInfo."""
        refusal = decision.refusal or Refusal(LimitKind.REQUESTS, 0, 0, 1)
        metric, quota_id = _QUOTAS[refusal.kind]
        message = (
            "You exceeded your current quota, please check your plan and billing details. "
            f"For more information on this error, head to: {_RATE_LIMITS}. To monitor your "
            "current usage, head to: https://ai.dev/rate-limit. \n"
            f"* Quota exceeded for metric: {metric}, limit: {refusal.limit}, "
            f"model: {request.model}\nPlease retry in {_seconds(decision.retry_after)}."
        )
        quota = {
            "@type": f"{_TYPE}QuotaFailure",
            "violations": [
                {
                    "quotaMetric": metric,
                    "quotaId": quota_id,
                    "quotaDimensions": {"location": "global", "model": request.model},
                    "quotaValue": str(refusal.limit),
                }
            ],
        }
        retry = {"@type": f"{_TYPE}RetryInfo", "retryDelay": f"{math.floor(decision.retry_after)}s"}
        details: list[dict[str, Any]] = [
            {
                "@type": f"{_TYPE}Help",
                "links": [
                    {"description": "Learn more about Gemini API quotas", "url": _RATE_LIMITS}
                ],
            },
            *([quota] if self.quota_failure else []),
            retry,
        ]
        return Reply(429, _status(429, "RESOURCE_EXHAUSTED", message, details), {})

    def server_error(self, ctx: CallContext) -> Reply:
        """503 ``UNAVAILABLE`` (the model is busy)."""
        message = (
            "This model is currently experiencing high demand. Spikes in demand are usually "
            "temporary. Please try again later."
        )
        return Reply(503, _status(503, "UNAVAILABLE", message), {})


def _parts_text(parts: Any) -> str:
    if not isinstance(parts, list):
        return ""
    return "\n".join(str(p["text"]) for p in parts if isinstance(p, dict) and "text" in p)
