"""providers.http.send over httpx.MockTransport: no network, real httpx behaviour."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import httpx
import pytest

from promptforge.core.models import GenerationParams
from promptforge.providers.base import CallOutcome, CallResult, HttpRequest, PromptCall
from promptforge.providers.http import send
from promptforge.providers.openai import OpenAIAdapter

pytestmark = pytest.mark.anyio

API_KEY = "sk-proj-Zr4xq8NVt2LmW0pKs9eYb3"
Handler = (
    Callable[[httpx.Request], httpx.Response]
    | Callable[[httpx.Request], Coroutine[Any, Any, httpx.Response]]
)

COMPLETION = {
    "choices": [{"message": {"role": "assistant", "content": "Paris"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10},
}


class RecordingAdapter(OpenAIAdapter):
    """An OpenAI adapter that keeps the headers ``send`` handed it."""

    def __init__(self) -> None:
        super().__init__()
        self.seen_headers: dict[str, str] = {}

    def parse_response(self, status: int, headers: dict[str, str], body: bytes) -> CallResult:
        self.seen_headers = headers
        return super().parse_response(status, headers, body)


def _request(url: str = "https://api.openai.com") -> HttpRequest:
    return OpenAIAdapter().build_request(
        PromptCall(
            base_url=url,
            api_key=API_KEY,
            model="gpt-4o-mini",
            prompt="Capital of France?",
            params=GenerationParams(max_tokens=5),
        )
    )


async def _send(
    handler: Handler, request: HttpRequest | None = None, deadline: float = 5.0
) -> CallResult:
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        return await send(client, OpenAIAdapter(), request or _request(), timeout=deadline)


def _assert_no_secret(result: CallResult) -> None:
    message = result.error_message or ""
    assert API_KEY not in message
    assert "Bearer" not in message and "Authorization" not in message


async def test_sends_the_request_and_parses_the_response() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=COMPLETION)

    result = await _send(handler)
    assert (result.outcome, result.text, result.input_tokens, result.output_tokens) == (
        CallOutcome.SUCCESS,
        "Paris",
        9,
        1,
    )
    (sent,) = seen
    assert (sent.method, str(sent.url)) == ("POST", "https://api.openai.com/v1/chat/completions")
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert json.loads(sent.content)["max_completion_tokens"] == 5


async def test_response_headers_reach_the_adapter_lower_cased() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        headers = [
            ("X-RateLimit-Limit-Requests", "500"),
            ("X-RateLimit-Remaining-Tokens", "29000"),
            ("X-RateLimit-Reset-Tokens", "6m0s"),
            ("Retry-After-Ms", "250"),
        ]
        return httpx.Response(200, headers=headers, json=COMPLETION)

    adapter = RecordingAdapter()
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        result = await send(client, adapter, _request(), timeout=5.0)
    assert all(name == name.lower() for name in adapter.seen_headers)
    assert adapter.seen_headers["x-ratelimit-limit-requests"] == "500"
    signals = result.signals
    assert (signals.limit_requests, signals.remaining_tokens) == (500, 29000)
    assert (signals.reset_tokens, signals.retry_after) == (360.0, 0.25)


@pytest.mark.parametrize(
    "error", [httpx.ReadTimeout, httpx.ConnectTimeout, httpx.WriteTimeout, httpx.PoolTimeout]
)
async def test_httpx_timeouts_are_transient(error: type[httpx.TimeoutException]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error(f"timed out sending Bearer {API_KEY}", request=request)

    result = await _send(handler)
    assert (result.outcome, result.error_code) == (CallOutcome.TRANSIENT, "timeout")
    assert "api.openai.com/v1/chat/completions" in (result.error_message or "")
    _assert_no_secret(result)


async def test_the_overall_deadline_is_a_timeout() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(30)
        return httpx.Response(200, json=COMPLETION)

    started = time.monotonic()
    result = await _send(handler, deadline=0.05)
    assert time.monotonic() - started < 5
    assert (result.outcome, result.error_code) == (CallOutcome.TRANSIENT, "timeout")
    assert "0.05 s" in (result.error_message or "")


@pytest.mark.parametrize(
    "error",
    [httpx.ConnectError, httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError],
)
async def test_connection_failures_are_transient(error: type[httpx.TransportError]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error(f"connection reset; headers were {dict(request.headers)}", request=request)

    result = await _send(handler)
    assert (result.outcome, result.error_code) == (CallOutcome.TRANSIENT, "connection_error")
    assert error.__name__ in (result.error_message or "")
    _assert_no_secret(result)


async def test_a_request_httpx_refuses_is_permanent_and_quotes_nothing() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.LocalProtocolError(f"Illegal header value b'Bearer {API_KEY}\\n'")

    result = await _send(handler)
    assert (result.outcome, result.error_code) == (CallOutcome.PERMANENT, "invalid_request")
    _assert_no_secret(result)


async def test_an_undecodable_body_is_transient() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-encoding": "gzip"}, content=b"not gzip")

    result = await _send(handler)
    assert (result.outcome, result.error_code) == (CallOutcome.TRANSIENT, "malformed_response")


async def test_a_provider_message_echoing_the_key_is_scrubbed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        error = {"message": f"Incorrect API key provided: {API_KEY}.", "code": "invalid_api_key"}
        return httpx.Response(401, json={"error": error})

    result = await _send(handler)
    assert (result.outcome, result.error_code) == (CallOutcome.PERMANENT, "invalid_api_key")
    assert result.error_message == "Incorrect API key provided: [redacted]."


async def test_a_key_in_the_query_string_stays_out_of_messages() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    base = _request()
    request = HttpRequest(base.method, f"{base.url}?key={API_KEY}", {}, base.json)
    result = await _send(handler, request)
    assert result.outcome is CallOutcome.TRANSIENT
    assert API_KEY not in (result.error_message or "")
    assert "https://api.openai.com/v1/chat/completions" in (result.error_message or "")
