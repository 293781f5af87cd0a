"""Anthropic Messages: ``POST /v1/messages``.

Requests, input tokens and output tokens have separate buckets; output is charged at
``max_tokens`` when the request starts and the unused part is given back when it
completes. Headers: ``anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-
{limit,remaining,reset}`` (RFC 3339 resets, token remaining rounded to the thousand),
``retry-after`` on 429, ``request-id`` always. Errors: ``{"type": "error", "error":
{"type", "message"}, "request_id"}``; 529 ``overloaded_error`` when overloaded.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta
from typing import Any

from promptforge.sim.providers.images import SimImage, image_tokens
from promptforge.sim.providers.limits import BucketView, Cost, LimitCheck, LimitKind
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
    key_accepted,
    limit_headers,
    load_json,
    named_views,
    optional_int,
    random_id,
    rfc3339,
)

ORGANIZATION_ID = "5a1b7c3e-0d4f-4e8a-9b6c-51d0a7e2f00d"
_DOCS = "For details, refer to: https://docs.claude.com/en/api/rate-limits."
_SALES = (
    "You may also contact sales at https://claude.com/contact-sales to discuss your "
    "options for a rate limit increase."
)
_LIMIT_LABELS = {
    LimitKind.REQUESTS: "requests per minute",
    LimitKind.REQUESTS_PER_DAY: "requests per day",
    LimitKind.TOKENS: "tokens per minute",
    LimitKind.INPUT_TOKENS: "input tokens per minute",
    LimitKind.OUTPUT_TOKENS: "output tokens per minute",
}
_HEADER_NAMES = {
    LimitKind.REQUESTS: "requests",
    LimitKind.INPUT_TOKENS: "input-tokens",
    LimitKind.OUTPUT_TOKENS: "output-tokens",
}
_TOKEN_KINDS = (LimitKind.TOKENS, LimitKind.INPUT_TOKENS, LimitKind.OUTPUT_TOKENS)


_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")


def _output_schema(output_config: object) -> dict[str, Any] | None:
    """The schema of ``output_config.format`` ``{"type": "json_schema", "schema"}``, if any."""
    fmt = output_config.get("format") if isinstance(output_config, dict) else None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return None
    schema = fmt.get("schema")
    return schema if isinstance(schema, dict) else None


def _error(kind: str, message: str, request_id: str) -> Any:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}


def _rounded(view: BucketView) -> BucketView:
    return replace(view, remaining=round(view.remaining / 1000) * 1000)


class AnthropicWire(ProviderWire):
    """Anthropic's wire format."""

    name = "anthropic"

    def new_request_id(self) -> str:
        """``req_011C`` and 20 base62 characters."""
        return f"req_011C{random_id(20)}"

    def _headers(self, ctx: CallContext) -> dict[str, str]:
        return {"request-id": ctx.request_id, "anthropic-organization-id": ORGANIZATION_ID}

    def _reply(self, status: int, kind: str, message: str, ctx: CallContext) -> Reply:
        headers = self._headers(ctx)
        if status == 429 or status >= 500:
            headers["x-should-retry"] = "true"
        return Reply(status, _error(kind, message, ctx.request_id), headers)

    def _invalid(self, message: str, ctx: CallContext) -> WireError:
        return WireError(self._reply(400, "invalid_request_error", message, ctx))

    def authenticate(self, caller: Caller, ctx: CallContext) -> None:
        """401 ``authentication_error`` without a good key; 400 without ``anthropic-version``.

        The key comes in ``x-api-key`` or, as recent SDKs send it, ``Authorization: Bearer``.
        """
        key = caller.headers.get("x-api-key", "").strip() or bearer_key(caller.headers)
        if not key:
            message = "x-api-key header is required"
            raise WireError(self._reply(401, "authentication_error", message, ctx))
        if not key_accepted(key, caller.api_keys):
            raise WireError(self._reply(401, "authentication_error", "invalid x-api-key", ctx))
        if not caller.headers.get("anthropic-version"):
            raise self._invalid("anthropic-version: header is required", ctx)

    def parse(self, body: bytes, path_model: str | None, ctx: CallContext) -> SimRequest:
        """A Messages request: ``model``, ``max_tokens`` and ``messages`` are required."""
        try:
            data = load_json(body)
        except ValueError:
            raise self._invalid("Invalid JSON in request body", ctx) from None
        if not isinstance(data, dict):
            raise self._invalid("Input should be a valid dictionary", ctx)
        for field in ("model", "max_tokens", "messages"):
            if field not in data:
                raise self._invalid(f"{field}: Field required", ctx)
        max_tokens = optional_int(data["max_tokens"])
        if max_tokens is None or max_tokens < 1:
            raise self._invalid("max_tokens: Input should be greater than or equal to 1", ctx)
        messages = data["messages"]
        if not isinstance(messages, list) or not messages:
            raise self._invalid("messages: at least one message is required", ctx)
        texts = [content_text(data["system"])] if data.get("system") else []
        prompt = ""
        images = 0
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
                raise self._invalid("messages: roles must be 'user' or 'assistant'", ctx)
            text = content_text(message.get("content"))
            texts.append(text)
            images += self._image_tokens(message.get("content"), index, ctx)
            if message["role"] == "user":
                prompt = text
        return SimRequest(
            str(data["model"]),
            prompt,
            tuple(texts),
            max_tokens,
            image_tokens=images,
            schema=_output_schema(data.get("output_config")),
            follow_up=any(m["role"] == "assistant" for m in messages),
        )

    def _image_tokens(self, content: object, index: int, ctx: CallContext) -> int:
        """The tokens of a content's ``image`` blocks (``source`` base64 or url), else a 400."""
        if not isinstance(content, list):
            return 0
        tokens = 0
        for number, block in enumerate(content):
            if not isinstance(block, dict) or block.get("type") != "image":
                continue
            where = f"messages.{index}.content.{number}.image.source"
            source = block.get("source")
            kind = source.get("type") if isinstance(source, dict) else None
            if kind == "base64" and isinstance(source, dict):
                if source.get("media_type") not in _IMAGE_TYPES:
                    raise self._invalid(
                        f"{where}.base64.media_type: Input should be 'image/jpeg', "
                        "'image/png', 'image/gif' or 'image/webp'",
                        ctx,
                    )
                image = SimImage.of(str(source.get("data", "")), inline=True)
            elif kind == "url" and isinstance(source, dict) and source.get("url"):
                image = SimImage.of(str(source["url"]), inline=False)
            else:
                raise self._invalid(
                    f"{where}: Input tag {kind!r} found using 'type' does not "
                    "match any of the expected tags: 'base64', 'url'",
                    ctx,
                )
            tokens += image_tokens("anthropic", image)
        return tokens

    def cost(self, request: SimRequest, completion: Completion) -> Cost:
        """Input tokens, and output at ``max_tokens``, up front."""
        output = request.max_tokens or 0
        return Cost(
            tokens=request.input_tokens + output,
            input_tokens=request.input_tokens,
            output_tokens=output,
        )

    def unused(self, request: SimRequest, completion: Completion) -> Cost:
        """Output tokens reserved by ``max_tokens`` but not generated."""
        spare = max(0, (request.max_tokens or 0) - completion.tokens)
        return Cost(tokens=spare, output_tokens=spare)

    def _limit_headers(self, decision: LimitCheck, ctx: CallContext) -> dict[str, str]:
        views = named_views(decision, _HEADER_NAMES)
        token_views = [decision.views[k] for k in _TOKEN_KINDS if k in decision.views]
        if token_views:
            views.append(("tokens", min(token_views, key=lambda v: v.remaining / v.limit)))
        # Token limits state what remains rounded to the thousand; requests exactly.
        stated = [(name, view if name == "requests" else _rounded(view)) for name, view in views]
        return limit_headers(
            "anthropic-ratelimit-{name}-{field}",
            stated,
            lambda seconds: rfc3339(ctx.now + timedelta(seconds=seconds)),
        )

    def success(
        self, request: SimRequest, completion: Completion, decision: LimitCheck, ctx: CallContext
    ) -> Reply:
        """A ``message`` object."""
        body = {
            "id": f"msg_01{random_id(22)}",
            "type": "message",
            "role": "assistant",
            "model": request.model,
            "content": [{"type": "text", "text": completion.text}],
            "stop_reason": "max_tokens" if completion.truncated else "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": request.input_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": completion.tokens,
                "service_tier": "standard",
            },
        }
        return Reply(200, body, {**self._headers(ctx), **self._limit_headers(decision, ctx)})

    def rate_limited(
        self, request: SimRequest, completion: Completion, decision: LimitCheck, ctx: CallContext
    ) -> Reply:
        """429 ``rate_limit_error`` with ``retry-after`` in whole seconds."""
        refusal = decision.refusal
        if refusal is None or refusal.kind is LimitKind.ACCELERATION:
            message = "This request would exceed your account's rate limit. Please try again later."
        else:
            label = _LIMIT_LABELS[refusal.kind]
            advice = (
                "Please try again later."
                if refusal.kind in (LimitKind.REQUESTS, LimitKind.REQUESTS_PER_DAY)
                else "Please reduce the prompt length or the maximum tokens requested, "
                "or try again later."
            )
            message = (
                f"This request would exceed your organization's rate limit of "
                f"{refusal.limit:,} {label} (org: {ORGANIZATION_ID}, model: {request.model}). "
                f"{_DOCS} You can see the response headers for current usage. {advice} {_SALES}"
            )
        reply = self._reply(429, "rate_limit_error", message, ctx)
        reply.headers.update(self._limit_headers(decision, ctx))
        reply.headers["retry-after"] = str(max(1, math.ceil(decision.retry_after)))
        return reply

    def server_error(self, ctx: CallContext) -> Reply:
        """500 ``api_error``."""
        return self._reply(500, "api_error", "Internal server error", ctx)

    def overloaded(self, ctx: CallContext) -> Reply | None:
        """529 ``overloaded_error``."""
        return self._reply(529, "overloaded_error", "Overloaded", ctx)
