"""OpenAI Chat Completions: ``POST /v1/chat/completions``.

TPM is charged at max(max tokens, prompt tokens) when the request starts, never
adjusted. Every reply carries ``x-ratelimit-*`` headers with Go-style reset durations;
a 429's ``type`` says which limit ("requests" or "tokens"), its message says when to
come back; a request larger than the whole TPM gets the permanent "Request too large".
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from promptforge.sim.providers.images import SimImage, data_uri_payload, image_tokens
from promptforge.sim.providers.limits import Cost, LimitCheck, LimitKind, Refusal
from promptforge.sim.providers.text import Completion
from promptforge.sim.providers.wire import (
    CallContext,
    Caller,
    ProviderWire,
    Reply,
    SimRequest,
    WireError,
    bearer_key,
    content_text,
    go_duration,
    key_accepted,
    limit_headers,
    load_json,
    named_views,
    optional_int,
    random_id,
)

ORGANIZATION = "org-sim"
_HEADER_NAMES = {LimitKind.REQUESTS: "requests", LimitKind.TOKENS: "tokens"}
_RATE_LIMITS_URL = "https://platform.openai.com/account/rate-limits"
_NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization "
    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password "
    "field (with blank username) if you're accessing the API from your browser and are "
    "prompted for a username and password. You can obtain an API key from "
    "https://platform.openai.com/account/api-keys."
)
_BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
    "sent was not valid JSON. If you have trouble figuring out how to fix this, please "
    "contact us through our help center at help.openai.com.)"
)
_LIMIT_NAMES = {
    LimitKind.REQUESTS: ("requests", "requests per min (RPM)"),
    LimitKind.ACCELERATION: ("requests", "requests per min (RPM)"),
    LimitKind.REQUESTS_PER_DAY: ("requests", "requests per day (RPD)"),
    LimitKind.TOKENS: ("tokens", "tokens per min (TPM)"),
    LimitKind.INPUT_TOKENS: ("tokens", "input tokens per min (TPM)"),
    LimitKind.OUTPUT_TOKENS: ("tokens", "output tokens per min (TPM)"),
}

# fail(status, message, param, code) -> the provider's error for a refused request.
ChatFailure = Callable[[int, str, str | None, str | None], WireError]


def parse_chat(
    body: bytes, max_token_fields: tuple[str, ...], fail: ChatFailure, provider: str = "openai"
) -> SimRequest:
    """Parse an OpenAI-style chat request (shared with Mistral): text, image parts (priced
    by ``provider``'s rule) and a ``response_format`` JSON schema."""
    try:
        data = load_json(body)
    except ValueError:
        raise fail(400, _BAD_JSON, None, None) from None
    if not isinstance(data, dict):
        raise fail(400, _BAD_JSON, None, None)
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise fail(400, "you must provide a model parameter", None, None)
    messages = data.get("messages")
    if messages is None:
        raise fail(
            400, "Missing required parameter: 'messages'.", "messages", "missing_required_parameter"
        )
    if not isinstance(messages, list) or not messages:
        raise fail(400, "[] is too short - 'messages'", "messages", None)
    texts: list[str] = []
    prompt = ""
    images = 0
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message:
            raise fail(400, "Missing required parameter: 'messages[].role'.", "messages", None)
        if message["role"] not in _CHAT_ROLES:
            raise fail(400, _bad_role(message["role"]), f"messages[{index}].role", "invalid_value")
        text = content_text(message.get("content"))
        texts.append(text)
        images += _image_tokens(message.get("content"), f"messages[{index}]", provider, fail)
        if message["role"] == "user":
            prompt = text
    max_tokens = next(
        (v for f in max_token_fields if (v := optional_int(data.get(f))) is not None), None
    )
    return SimRequest(
        model=model,
        prompt=prompt,
        messages=tuple(texts),
        max_tokens=max_tokens,
        tool_call=_forced_function(data.get("tool_choice")),
        image_tokens=images,
        schema=_response_schema(data.get("response_format")),
        follow_up=any(isinstance(m, dict) and m.get("role") == "assistant" for m in messages),
    )


def _image_tokens(content: object, where: str, provider: str, fail: ChatFailure) -> int:
    """The tokens of a content's ``image_url`` parts; a 400 for one with no URL.

    OpenAI's part is ``{"image_url": {"url", "detail"?}}``; Mistral takes that or the URL
    as a plain string.
    """
    if not isinstance(content, list):
        return 0
    tokens = 0
    for index, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") != "image_url":
            continue
        image = part.get("image_url")
        if provider == "mistral" and isinstance(image, str):
            image = {"url": image}
        url = image.get("url") if isinstance(image, dict) else None
        if not isinstance(url, str) or not url:
            param = f"{where}.content[{index}].image_url"
            raise fail(
                400,
                f"Invalid type for '{param}': expected an object with a url.",
                param,
                "invalid_type",
            )
        payload = data_uri_payload(url)
        if payload is None and not url.startswith(("https://", "http://")):
            raise fail(
                400, f"Invalid image URL: {url[:40]!r}.", f"{where}.content", "invalid_value"
            )
        detail = image.get("detail") if isinstance(image, dict) else None
        found = SimImage.of(payload or url, inline=payload is not None, detail=detail)
        tokens += image_tokens(provider, found)
    return tokens


def _response_schema(response_format: object) -> dict[str, Any] | None:
    """The schema of ``{"type": "json_schema", "json_schema": {"schema": ...}}``, if any."""
    if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
        return None
    spec = response_format.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    return schema if isinstance(schema, dict) else None


def _forced_function(choice: object) -> str | None:
    """The function name of ``{"type": "function", "function": {"name": ...}}``, if any."""
    function = choice.get("function") if isinstance(choice, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    return name if isinstance(name, str) else None


_CHAT_ROLES = ("system", "assistant", "user", "function", "tool", "developer")


def _bad_role(role: object) -> str:
    """OpenAI's words for a role it does not know."""
    return (
        f"Invalid value: {role!r}. Supported values are: 'system', 'assistant', 'user', "
        "'function', 'tool', and 'developer'."
    )


def _message(request: SimRequest, completion: Completion) -> dict[str, Any]:
    """The answer's message: the text, or a call of the function the request forces (its
    ``arguments`` hold the prompt, so a test can tell the calls apart)."""
    message: dict[str, Any] = {"role": "assistant", "content": completion.text}
    if request.tool_call is not None:
        arguments = json.dumps({"query": request.prompt})
        function = {"name": request.tool_call, "arguments": arguments}
        call = {"id": f"call_{random_id(24)}", "type": "function", "function": function}
        message.update(content=None, tool_calls=[call])
    return {**message, "refusal": None, "annotations": []}


def _error(message: str, kind: str, param: str | None, code: str | None) -> Any:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


class OpenAIWire(ProviderWire):
    """OpenAI's wire format."""

    name = "openai"

    def new_request_id(self) -> str:
        """``req_`` and 32 hex digits."""
        return f"req_{uuid.uuid4().hex}"

    def _headers(self, ctx: CallContext) -> dict[str, str]:
        return {
            "x-request-id": ctx.request_id,
            "openai-organization": ORGANIZATION,
            "openai-processing-ms": str(ctx.processing_ms),
            "openai-version": "2020-10-01",
        }

    def _fail(self, ctx: CallContext) -> ChatFailure:
        def fail(status: int, message: str, param: str | None, code: str | None) -> WireError:
            body = _error(message, "invalid_request_error", param, code)
            return WireError(Reply(status, body, self._headers(ctx)))

        return fail

    def authenticate(self, caller: Caller, ctx: CallContext) -> None:
        """401 ``invalid_request_error`` without a key, ``invalid_api_key`` with a bad one."""
        key = bearer_key(caller.headers)
        if key is None:
            raise self._fail(ctx)(401, _NO_KEY, None, None)
        if not key_accepted(key, caller.api_keys):
            shown = f"{key[:3]}*{key[-4:]}" if len(key) > 8 else "*"
            message = (
                f"Incorrect API key provided: {shown}. You can find your API key at "
                "https://platform.openai.com/account/api-keys."
            )
            raise self._fail(ctx)(401, message, None, "invalid_api_key")

    def parse(self, body: bytes, path_model: str | None, ctx: CallContext) -> SimRequest:
        """A chat completion request; ``max_completion_tokens`` wins over ``max_tokens``."""
        return parse_chat(body, ("max_completion_tokens", "max_tokens"), self._fail(ctx))

    def cost(self, request: SimRequest, completion: Completion) -> Cost:
        """max(max tokens, prompt tokens), charged up front."""
        return Cost(tokens=max(request.max_tokens or 0, request.input_tokens))

    def _limit_headers(self, decision: LimitCheck) -> dict[str, str]:
        views = named_views(decision, _HEADER_NAMES)
        return limit_headers("x-ratelimit-{field}-{name}", views, go_duration)

    def success(
        self, request: SimRequest, completion: Completion, decision: LimitCheck, ctx: CallContext
    ) -> Reply:
        """A ``chat.completion`` object with full usage details."""
        body = {
            "id": f"chatcmpl-{random_id(29)}",
            "object": "chat.completion",
            "created": ctx.created,
            "model": request.model,
            "choices": [
                {
                    "index": 0,
                    "message": _message(request, completion),
                    "logprobs": None,
                    "finish_reason": "tool_calls"
                    if request.tool_call
                    else "length"
                    if completion.truncated
                    else "stop",
                }
            ],
            "usage": {
                "prompt_tokens": request.input_tokens,
                "completion_tokens": completion.tokens,
                "total_tokens": request.input_tokens + completion.tokens,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": 0,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
            "service_tier": "default",
            "system_fingerprint": "fp_sim0000001",
        }
        return Reply(200, body, {**self._headers(ctx), **self._limit_headers(decision)})

    def rate_limited(
        self, request: SimRequest, completion: Completion, decision: LimitCheck, ctx: CallContext
    ) -> Reply:
        """429 ``rate_limit_exceeded`` with the limit, usage and wait in the message."""
        refusal = decision.refusal or Refusal(LimitKind.REQUESTS, 0, 0, 1)
        kind, label = _LIMIT_NAMES[refusal.kind]
        where = f"for {request.model} in organization {ORGANIZATION} on {label}"
        if refusal.too_large:
            message = (
                f"Request too large {where}: Limit {refusal.limit}, Requested "
                f"{refusal.requested}. The input or output tokens must be reduced in order "
                f"to run successfully. Visit {_RATE_LIMITS_URL} to learn more."
            )
        else:
            message = (
                f"Rate limit reached {where}: Limit {refusal.limit}, Used {refusal.used}, "
                f"Requested {refusal.requested}. Please try again in "
                f"{go_duration(decision.retry_after)}. Visit {_RATE_LIMITS_URL} to learn more."
            )
        body = _error(message, kind, None, "rate_limit_exceeded")
        return Reply(429, body, {**self._headers(ctx), **self._limit_headers(decision)})

    def server_error(self, ctx: CallContext) -> Reply:
        """500 ``server_error``."""
        message = "The server had an error while processing your request. Sorry about that!"
        return Reply(500, _error(message, "server_error", None, None), self._headers(ctx))
