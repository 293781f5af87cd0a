"""The provider simulator over real HTTP: shapes, 429s, faults and stats, per provider."""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import httpx
import pytest

from promptforge.embedded.server import BackgroundServer
from promptforge.providers.gemini import GeminiAdapter
from promptforge.sim.providers.config import LimitSpec, SimulatorConfig
from promptforge.sim.providers.server import create_app
from promptforge.sim.providers.text import complete, count_tokens, prompt_key, prompt_tokens

pytestmark = pytest.mark.anyio

OPENAI = "/v1/chat/completions"
MISTRAL = "/mistral/v1/chat/completions"
ANTHROPIC = "/v1/messages"
GEMINI = "/v1beta/models/gemini-2.5-flash:generateContent"
OPENAI_AUTH = {"Authorization": "Bearer sk-test"}
ANTHROPIC_AUTH = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}
GEMINI_AUTH = {"x-goog-api-key": "AIza-test"}


def chat(prompt: str, model: str = "gpt-4o-mini", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": prompt}], **extra}


def messages(prompt: str, max_tokens: int = 200) -> dict[str, Any]:
    return {
        "model": "claude-haiku-4-5",
        "max_tokens": max_tokens,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": prompt}],
    }


def contents(prompt: str, **config: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
    if config:
        body["generationConfig"] = config
    return body


@asynccontextmanager
async def serve(
    config: SimulatorConfig, only: str | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        BackgroundServer(create_app(config, only)) as server,
        httpx.AsyncClient(base_url=server.url, timeout=5.0) as client,
    ):
        yield client


def quiet(**kwargs: Any) -> SimulatorConfig:
    """No latency, so tests run fast."""
    return SimulatorConfig(latency_median=0.0, **kwargs)


async def test_openai_success_shape_usage_and_headers() -> None:
    async with serve(quiet(seed=5)) as client:
        response = await client.post(OPENAI, headers=OPENAI_AUTH, json=chat("Hello there"))
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert body["model"] == "gpt-4o-mini"
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["content"] == complete(5, "Hello there", None, 120).text
    usage = body["usage"]
    assert usage["prompt_tokens"] == prompt_tokens(["Hello there"])
    assert usage["completion_tokens"] == count_tokens(choice["message"]["content"])
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["prompt_tokens_details"]["cached_tokens"] == 0
    headers = response.headers
    assert headers["x-request-id"].startswith("req_")
    assert headers["x-ratelimit-limit-requests"] == "500"
    assert headers["x-ratelimit-remaining-requests"] == "499"
    assert headers["x-ratelimit-reset-requests"] == "120ms"
    assert headers["x-ratelimit-limit-tokens"] == "200000"
    assert int(headers["x-ratelimit-remaining-tokens"]) == 200_000 - usage["prompt_tokens"]


async def test_openai_max_completion_tokens_truncates_with_length() -> None:
    async with serve(quiet()) as client:
        response = await client.post(
            OPENAI, headers=OPENAI_AUTH, json=chat("Write an essay", max_completion_tokens=7)
        )
    body = response.json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 7


async def test_openai_rpm_429_body_and_headers() -> None:
    config = quiet(limits={"openai": LimitSpec(rpm=2, tpm=100_000)})
    async with serve(config) as client:
        for _ in range(2):
            ok = await client.post(OPENAI, headers=OPENAI_AUTH, json=chat("a"))
            assert ok.status_code == 200
        response = await client.post(OPENAI, headers=OPENAI_AUTH, json=chat("a"))
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["type"] == "requests"
    assert error["code"] == "rate_limit_exceeded"
    assert error["param"] is None
    assert re.fullmatch(
        r"Rate limit reached for gpt-4o-mini in organization org-sim on requests per min "
        r"\(RPM\): Limit 2, Used 2, Requested 1\. Please try again in (\d+\.?\d*s)\. "
        r"Visit https://platform\.openai\.com/account/rate-limits to learn more\.",
        error["message"],
    )
    assert response.headers["x-ratelimit-remaining-requests"] == "0"
    assert re.fullmatch(r"\d+(\.\d+)?s", response.headers["x-ratelimit-reset-requests"])


async def test_openai_tpm_429_and_request_too_large() -> None:
    config = quiet(limits={"openai": LimitSpec(rpm=100, tpm=1000)})
    async with serve(config) as client:
        first = await client.post(
            OPENAI, headers=OPENAI_AUTH, json=chat("b", max_completion_tokens=700)
        )
        refused = await client.post(
            OPENAI, headers=OPENAI_AUTH, json=chat("b", max_completion_tokens=700)
        )
        huge = await client.post(
            OPENAI, headers=OPENAI_AUTH, json=chat("c", max_completion_tokens=5000)
        )
    assert first.status_code == 200
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["type"] == "tokens"
    assert (
        "on tokens per min (TPM): Limit 1000, Used 700, Requested 700. Please try again in"
        in (error["message"])
    )
    assert refused.headers["x-ratelimit-remaining-tokens"] == "300"
    assert huge.status_code == 429
    assert huge.json()["error"]["message"].startswith(
        "Request too large for gpt-4o-mini in organization org-sim on tokens per min (TPM): "
        "Limit 1000, Requested 5000."
    )


async def test_openai_auth_and_validation_errors() -> None:
    async with serve(quiet(api_keys=frozenset({"sk-good"}))) as client:
        missing = await client.post(OPENAI, json=chat("x"))
        wrong = await client.post(
            OPENAI, headers={"Authorization": "Bearer sk-badkey123"}, json=chat("x")
        )
        no_messages = await client.post(
            OPENAI, headers={"Authorization": "Bearer sk-good"}, json={"model": "gpt-4o"}
        )
        stats = (await client.get("/_sim/stats")).json()["openai"]
    assert missing.status_code == 401
    assert missing.json()["error"]["type"] == "invalid_request_error"
    assert "You didn't provide an API key" in missing.json()["error"]["message"]
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_api_key"
    assert no_messages.status_code == 400
    assert no_messages.json()["error"]["param"] == "messages"
    assert (stats["requests"], stats["rejected"], stats["successes"]) == (3, 3, 0)


async def test_mistral_success_and_429_under_its_prefix() -> None:
    config = quiet(limits={"mistral": LimitSpec(rpm=60, tpm=100_000, burst_seconds=1.0)})
    async with serve(config) as client:
        ok = await client.post(
            MISTRAL, headers=OPENAI_AUTH, json=chat("hi", "mistral-small-latest", max_tokens=9)
        )
        refused = await client.post(
            MISTRAL, headers=OPENAI_AUTH, json=chat("hi", "mistral-small-latest")
        )
    assert ok.status_code == 200
    body = ok.json()
    assert body["object"] == "chat.completion"
    assert re.fullmatch(r"[0-9a-f]{32}", body["id"])
    assert body["choices"][0]["finish_reason"] == "length"
    assert "refusal" not in body["choices"][0]["message"]
    assert body["usage"]["completion_tokens"] == 9
    total = body["usage"]["total_tokens"]
    assert ok.headers["x-ratelimit-limit-req-minute"] == "60"
    assert ok.headers["x-ratelimit-remaining-req-minute"] == "59"
    assert ok.headers["x-ratelimit-limit-tokens-minute"] == "100000"
    assert ok.headers["x-ratelimit-remaining-tokens-minute"] == str(100_000 - total)
    assert ok.headers["x-ratelimit-tokens-query-cost"] == str(total)
    # One request per second: the second, at once, is refused.
    assert refused.status_code == 429
    assert refused.json() == {
        "object": "error",
        "message": "Rate limit exceeded",
        "type": "rate_limited",
        "param": None,
        "code": "1300",
    }
    assert "x-ratelimit-remaining-tokens-minute" in refused.headers


async def test_single_provider_mode_serves_mistral_at_the_sdk_path() -> None:
    async with serve(quiet(), only="mistral") as client:
        ok = await client.post(OPENAI, headers=OPENAI_AUTH, json=chat("hi", "mistral-large-latest"))
        unauthorised = await client.post(OPENAI, json=chat("hi", "mistral-large-latest"))
        other = await client.post(ANTHROPIC, headers=ANTHROPIC_AUTH, json=messages("hi"))
        stats = (await client.get("/_sim/stats")).json()
    assert ok.status_code == 200
    assert "x-ratelimit-limit-req-minute" in ok.headers
    assert unauthorised.status_code == 401
    assert unauthorised.json()["message"] == "Unauthorized"
    assert other.status_code == 404
    assert stats["mistral"]["successes"] == 1
    assert stats["openai"]["requests"] == 0


async def test_anthropic_success_shape_and_headers() -> None:
    async with serve(quiet()) as client:
        response = await client.post(ANTHROPIC, headers=ANTHROPIC_AUTH, json=messages("Hi", 5))
    assert response.status_code == 200
    body = response.json()
    assert body["type"] == "message"
    assert body["role"] == "assistant"
    assert body["id"].startswith("msg_")
    assert body["content"][0]["type"] == "text"
    assert body["stop_reason"] == "max_tokens"
    assert body["usage"]["output_tokens"] == 5
    assert body["usage"]["input_tokens"] == prompt_tokens(["Be brief.", "Hi"])
    headers = response.headers
    assert headers["request-id"].startswith("req_")
    assert headers["anthropic-ratelimit-requests-limit"] == "1000"
    assert headers["anthropic-ratelimit-requests-remaining"] == "999"
    assert headers["anthropic-ratelimit-input-tokens-limit"] == "450000"
    assert headers["anthropic-ratelimit-output-tokens-limit"] == "90000"
    assert headers["anthropic-ratelimit-output-tokens-remaining"] == "90000"  # to the thousand
    assert "anthropic-ratelimit-tokens-limit" in headers
    reset = datetime.fromisoformat(headers["anthropic-ratelimit-requests-reset"])
    # The header is whole seconds (RFC 3339 without fraction): it may round to just before now.
    assert timedelta(seconds=-1) <= reset - datetime.now(UTC) < timedelta(seconds=5)
    assert "retry-after" not in headers


async def test_anthropic_429_body_retry_after_and_output_tokens_limit() -> None:
    spec = LimitSpec(rpm=1000, tpm=2000, input_tpm=1000, output_tpm=500, burst_seconds=60.0)
    async with serve(quiet(limits={"anthropic": spec})) as client:
        ok = await client.post(ANTHROPIC, headers=ANTHROPIC_AUTH, json=messages("long", 400))
        refused = await client.post(ANTHROPIC, headers=ANTHROPIC_AUTH, json=messages("long", 400))
    assert ok.status_code == 200
    assert refused.status_code == 429
    body = refused.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "rate_limit_error"
    assert body["request_id"] == refused.headers["request-id"]
    assert body["error"]["message"].startswith(
        "This request would exceed your organization's rate limit of 500 output tokens per minute"
    )
    used = ok.json()["usage"]["output_tokens"]
    wait = (400 - (500 - used)) / (500 / 60)
    assert int(refused.headers["retry-after"]) == max(1, math.ceil(wait))
    assert refused.headers["x-should-retry"] == "true"
    reset = datetime.fromisoformat(refused.headers["anthropic-ratelimit-output-tokens-reset"])
    assert reset > datetime.now(UTC)


async def test_anthropic_auth_and_version_errors() -> None:
    async with serve(quiet()) as client:
        missing = await client.post(
            ANTHROPIC, headers={"anthropic-version": "2023-06-01"}, json=messages("x")
        )
        no_version = await client.post(ANTHROPIC, headers={"x-api-key": "k"}, json=messages("x"))
        no_max = await client.post(
            ANTHROPIC,
            headers=ANTHROPIC_AUTH,
            json={"model": "m", "messages": [{"role": "user", "content": "x"}]},
        )
    assert missing.status_code == 401
    assert missing.json()["error"] == {
        "type": "authentication_error",
        "message": "x-api-key header is required",
    }
    assert no_version.status_code == 400
    assert no_version.json()["error"]["type"] == "invalid_request_error"
    assert no_max.json()["error"]["message"] == "max_tokens: Field required"


async def test_gemini_success_shape() -> None:
    async with serve(quiet()) as client:
        response = await client.post(
            GEMINI, headers=GEMINI_AUTH, json=contents("Hi", maxOutputTokens=4)
        )
        by_query = await client.post(f"{GEMINI}?key=AIza-test", json=contents("Hi"))
    assert response.status_code == 200
    body = response.json()
    candidate = body["candidates"][0]
    assert candidate["content"]["role"] == "model"
    assert candidate["finishReason"] == "MAX_TOKENS"
    assert count_tokens(candidate["content"]["parts"][0]["text"]) == 4
    usage = body["usageMetadata"]
    assert usage == {
        "promptTokenCount": prompt_tokens(["Hi"]),
        "candidatesTokenCount": 4,
        "totalTokenCount": prompt_tokens(["Hi"]) + 4,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens(["Hi"])}],
    }
    assert body["modelVersion"] == "gemini-2.5-flash"
    assert not any(name.startswith("x-ratelimit") for name in response.headers)
    assert by_query.status_code == 200
    assert by_query.json()["candidates"][0]["finishReason"] == "STOP"


async def test_gemini_429_per_minute_and_per_day() -> None:
    config = quiet(limits={"gemini": LimitSpec(rpm=1, tpm=100_000, rpd=2)})
    async with serve(config) as client:
        assert (
            await client.post(GEMINI, headers=GEMINI_AUTH, json=contents("a"))
        ).status_code == 200
        per_minute = await client.post(GEMINI, headers=GEMINI_AUTH, json=contents("a"))
    assert per_minute.status_code == 429
    error = per_minute.json()["error"]
    assert (error["code"], error["status"]) == (429, "RESOURCE_EXHAUSTED")
    delay = re.search(r"Please retry in (\d+(\.\d+)?)s\.$", error["message"])
    assert delay is not None
    assert 55 < float(delay.group(1)) <= 60
    types = [detail["@type"].rsplit(".", 1)[1] for detail in error["details"]]
    assert types == ["Help", "QuotaFailure", "RetryInfo"]
    violation = error["details"][1]["violations"][0]
    assert violation["quotaId"] == "GenerateRequestsPerMinutePerProjectPerModel"
    assert violation["quotaValue"] == "1"
    assert error["details"][2]["retryDelay"] == f"{int(float(delay.group(1)))}s"

    daily = quiet(limits={"gemini": LimitSpec(rpm=1000, tpm=100_000, rpd=1)})
    async with serve(daily) as client:
        await client.post(GEMINI, headers=GEMINI_AUTH, json=contents("a"))
        per_day = await client.post(GEMINI, headers=GEMINI_AUTH, json=contents("a"))
    violation = per_day.json()["error"]["details"][1]["violations"][0]
    assert "PerDay" in violation["quotaId"]


async def test_gemini_429_with_retry_info_only_names_no_limit() -> None:
    """``quota_failure=False`` (``--no-quota-failure``): the limit is nowhere in the 429,
    and the adapter learns only when to retry."""
    config = quiet(limits={"gemini": LimitSpec(rpm=1, tpm=100_000)}, quota_failure=False)
    async with serve(config) as client:
        await client.post(GEMINI, headers=GEMINI_AUTH, json=contents("a"))
        refused = await client.post(GEMINI, headers=GEMINI_AUTH, json=contents("a"))
    assert refused.status_code == 429
    error = refused.json()["error"]
    types = [detail["@type"].rsplit(".", 1)[1] for detail in error["details"]]
    assert types == ["Help", "RetryInfo"]
    result = GeminiAdapter().parse_response(429, dict(refused.headers), refused.content)
    assert result.signals.limit_requests is None and result.signals.limit_tokens is None
    assert result.signals.retry_after is not None and result.signals.retry_after > 50


async def test_gemini_missing_key_is_permission_denied() -> None:
    async with serve(quiet(api_keys=frozenset({"good"}))) as client:
        missing = await client.post(GEMINI, json=contents("a"))
        wrong = await client.post(GEMINI, headers={"x-goog-api-key": "bad"}, json=contents("a"))
    assert missing.status_code == 403
    assert missing.json()["error"]["status"] == "PERMISSION_DENIED"
    assert wrong.status_code == 400
    assert wrong.json()["error"]["details"][0]["reason"] == "API_KEY_INVALID"


@pytest.mark.parametrize(
    ("path", "headers", "body", "status"),
    [
        (OPENAI, OPENAI_AUTH, chat("e"), 500),
        (MISTRAL, OPENAI_AUTH, chat("e"), 503),
        (ANTHROPIC, ANTHROPIC_AUTH, messages("e"), 500),
        (GEMINI, GEMINI_AUTH, contents("e"), 503),
    ],
)
async def test_error_rate_one_answers_5xx(
    path: str, headers: dict[str, str], body: Any, status: int
) -> None:
    async with serve(quiet(error_rate=1.0)) as client:
        response = await client.post(path, headers=headers, json=body)
        stats = (await client.get("/_sim/stats")).json()
    assert response.status_code == status
    provider = next(
        name for name in ("openai", "mistral", "anthropic", "gemini") if stats[name]["requests"]
    )
    assert stats[provider]["errors"] == stats[provider]["server_errors"] == 1
    assert stats["calls_per_prompt"] == {}


async def test_faults_follow_the_seed_and_restart_with_a_reset() -> None:
    async def statuses(client: httpx.AsyncClient) -> list[int]:
        return [
            (await client.post(OPENAI, headers=OPENAI_AUTH, json=chat(f"s{i}"))).status_code
            for i in range(16)
        ]

    async with serve(quiet(seed=3, error_rate=0.5)) as client:
        first = await statuses(client)
        await client.post("/_sim/reset")
        second = await statuses(client)
    async with serve(quiet(seed=4, error_rate=0.5)) as client:
        other_seed = await statuses(client)
    assert set(first) == {200, 500}
    assert first == second
    assert other_seed != first


async def test_overloaded_rate_one_answers_529_on_anthropic_only() -> None:
    async with serve(quiet(overloaded_rate=1.0)) as client:
        anthropic = await client.post(ANTHROPIC, headers=ANTHROPIC_AUTH, json=messages("o"))
        openai = await client.post(OPENAI, headers=OPENAI_AUTH, json=chat("o"))
    assert anthropic.status_code == 529
    assert anthropic.json()["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    assert openai.status_code == 200


async def test_drop_rate_one_closes_the_connection_without_a_response() -> None:
    async with serve(quiet(drop_rate=1.0)) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post(OPENAI, headers=OPENAI_AUTH, json=chat("d"))
        stats = (await client.get("/_sim/stats")).json()["openai"]
    assert (stats["requests"], stats["errors"], stats["dropped"], stats["successes"]) == (
        1,
        1,
        1,
        0,
    )


async def test_timeout_rate_one_hangs_until_the_client_gives_up() -> None:
    async with serve(quiet(timeout_rate=1.0, hang_seconds=30.0)) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post(GEMINI, headers=GEMINI_AUTH, json=contents("t"), timeout=0.3)
        for _ in range(20):  # the server notices the disconnect within its poll interval
            stats = (await client.get("/_sim/stats")).json()["gemini"]
            if stats["timeouts"]:
                break
            await anyio.sleep(0.05)
    assert (stats["timeouts"], stats["errors"], stats["successes"]) == (1, 1, 0)


async def test_a_hang_shorter_than_the_client_timeout_is_a_slow_success() -> None:
    async with serve(quiet(timeout_rate=1.0, hang_seconds=0.2)) as client:
        response = await client.post(OPENAI, headers=OPENAI_AUTH, json=chat("slow"))
    assert response.status_code == 200


async def test_stats_count_calls_per_prompt_and_reset_clears_them() -> None:
    config = quiet(limits={"openai": LimitSpec(rpm=3, tpm=100_000)})
    async with serve(config) as client:
        for prompt in ("p1", "p1", "p2", "p2"):
            await client.post(OPENAI, headers=OPENAI_AUTH, json=chat(prompt))
        await client.post(ANTHROPIC, headers=ANTHROPIC_AUTH, json=messages("p2"))
        stats = (await client.get("/_sim/stats")).json()
        limits = (await client.get("/_sim/limits")).json()
        assert (await client.post("/_sim/reset")).status_code == 200
        after = (await client.get("/_sim/stats")).json()
        again = await client.post(OPENAI, headers=OPENAI_AUTH, json=chat("p1"))
    openai = stats["openai"]
    assert (openai["requests"], openai["successes"], openai["rate_limited"]) == (4, 3, 1)
    assert openai["output_tokens"] > 0
    assert openai["input_tokens"] == 3 * prompt_tokens(["p1"])
    assert stats["calls_per_prompt"] == {prompt_key("p1"): 2, prompt_key("p2"): 2}
    assert stats["attempts_per_prompt"] == {prompt_key("p1"): 2, prompt_key("p2"): 3}
    assert limits["openai"]["spec"]["rpm"] == 3
    assert limits["openai"]["state"]["requests"]["remaining"] == 0
    assert after["openai"]["requests"] == 0
    assert after["calls_per_prompt"] == {}
    assert again.status_code == 200  # buckets are full again


async def test_a_limit_changed_now_holds_until_changed_back() -> None:
    """``POST /_sim/limits``: a storm that lasts until the caller has seen enough of it."""
    config = quiet(limits={"openai": LimitSpec(rpm=1_000, tpm=10_000_000, burst_seconds=1)})
    async with serve(config) as client:
        storm = await client.post("/_sim/limits", json={"limit": "openai:rpm=60"})
        during = [
            (await client.post(OPENAI, headers=OPENAI_AUTH, json=chat(f"s{i}"))).status_code
            for i in range(3)
        ]
        lifted = await client.post("/_sim/limits", json={"limit": "openai:rpm=600000"})
        after = await client.post(OPENAI, headers=OPENAI_AUTH, json=chat("after"))
        wrong = [
            await client.post("/_sim/limits", json=body)
            for body in ({"limit": "nobody:rpm=1"}, {"limit": "openai:rpm=x"}, {"rpm": 1}, [])
        ]
    assert storm.status_code == 200
    assert storm.json()["openai"]["spec"]["rpm"] == 60
    assert storm.json()["openai"]["spec"]["tpm"] == 10_000_000  # other fields kept
    assert during == [200, 429, 429]  # a one-second burst of 60 RPM is one request
    assert lifted.json()["openai"]["spec"]["rpm"] == 600_000
    assert after.status_code == 200
    assert [w.status_code for w in wrong] == [400] * 4
    assert {w.json()["error"]["code"] for w in wrong} == {"invalid_limit"}
