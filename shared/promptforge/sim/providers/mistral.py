"""Mistral Chat Completions: OpenAI's request shape, Mistral's bodies and headers.

Limits are per organisation: requests per second (a small request bucket) and tokens
per minute, charged at the request's actual prompt plus completion tokens. Headers are
the ``x-ratelimit-*-minute`` family seen in the wild; errors use Mistral's
``{"object": "error", ...}`` body, and a missing key gets the gateway's 401.
"""

from __future__ import annotations

import uuid
from typing import Any

from promptforge.sim.providers.limits import Cost, LimitCheck, LimitKind
from promptforge.sim.providers.openai import ChatFailure, parse_chat
from promptforge.sim.providers.text import Completion
from promptforge.sim.providers.wire import (
    CallContext,
    Caller,
    ProviderWire,
    Reply,
    SimRequest,
    WireError,
    bearer_key,
    key_accepted,
    limit_headers,
    named_views,
)

_HEADER_NAMES = {LimitKind.REQUESTS: "req", LimitKind.TOKENS: "tokens"}


def _error(message: str, kind: str, code: str | None) -> Any:
    return {"object": "error", "message": message, "type": kind, "param": None, "code": code}


class MistralWire(ProviderWire):
    """Mistral's wire format."""

    name = "mistral"

    def _headers(self, ctx: CallContext) -> dict[str, str]:
        return {"mistral-correlation-id": ctx.request_id, "x-kong-request-id": ctx.request_id}

    def _fail(self, ctx: CallContext) -> ChatFailure:
        def fail(status: int, message: str, param: str | None, code: str | None) -> WireError:
            return WireError(
                Reply(status, _error(message, "invalid_request_error", code), self._headers(ctx))
            )

        return fail

    def authenticate(self, caller: Caller, ctx: CallContext) -> None:
        """401 ``{"message": "Unauthorized", "request_id"}`` for a missing or bad key."""
        key = bearer_key(caller.headers)
        if key is None or not key_accepted(key, caller.api_keys):
            body = {"message": "Unauthorized", "request_id": uuid.uuid4().hex}
            raise WireError(Reply(401, body, self._headers(ctx)))

    def parse(self, body: bytes, path_model: str | None, ctx: CallContext) -> SimRequest:
        """A chat completion request with ``max_tokens``."""
        return parse_chat(body, ("max_tokens",), self._fail(ctx), "mistral")

    def cost(self, request: SimRequest, completion: Completion) -> Cost:
        """The tokens the call really uses, prompt and completion."""
        return Cost(tokens=request.input_tokens + completion.tokens)

    def _limit_headers(self, decision: LimitCheck, cost: int) -> dict[str, str]:
        views = named_views(decision, _HEADER_NAMES)
        headers = limit_headers("x-ratelimit-{field}-{name}-minute", views)
        headers["x-ratelimit-tokens-query-cost"] = str(cost)
        return headers

    def success(
        self, request: SimRequest, completion: Completion, decision: LimitCheck, ctx: CallContext
    ) -> Reply:
        """A Mistral ``chat.completion``."""
        body = {
            "id": uuid.uuid4().hex,
            "object": "chat.completion",
            "created": ctx.created,
            "model": request.model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": completion.text,
                        "tool_calls": None,
                        "prefix": False,
                    },
                    "finish_reason": "length" if completion.truncated else "stop",
                }
            ],
            "usage": {
                "prompt_tokens": request.input_tokens,
                "completion_tokens": completion.tokens,
                "total_tokens": request.input_tokens + completion.tokens,
            },
        }
        cost = request.input_tokens + completion.tokens
        return Reply(200, body, {**self._headers(ctx), **self._limit_headers(decision, cost)})

    def rate_limited(
        self, request: SimRequest, completion: Completion, decision: LimitCheck, ctx: CallContext
    ) -> Reply:
        """429 ``rate_limited``, code ``1300``."""
        cost = self.cost(request, completion).tokens
        headers = {**self._headers(ctx), **self._limit_headers(decision, cost)}
        return Reply(429, _error("Rate limit exceeded", "rate_limited", "1300"), headers)

    def server_error(self, ctx: CallContext) -> Reply:
        """503 ``service_unavailable``."""
        body = _error("Service unavailable.", "service_unavailable", None)
        return Reply(503, body, self._headers(ctx))
