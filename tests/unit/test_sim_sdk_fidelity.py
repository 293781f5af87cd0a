"""The official SDKs, pointed at the simulator, parse its answers and raise their own errors.

Each SDK is optional: a test is skipped when its SDK is not installed. SDK retries are
off, so an over-limit call surfaces as the SDK's rate-limit error at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from promptforge.local.server import BackgroundServer
from promptforge.simulator.config import LimitSpec, SimulatorConfig
from promptforge.simulator.server import create_app
from promptforge.simulator.text import complete, prompt_tokens

pytestmark = pytest.mark.anyio

PROMPT = "Name three prime numbers."


def _one_per_minute(provider: str, **kwargs: Any) -> SimulatorConfig:
    """Only one request a minute for ``provider``, so the second call is a 429."""
    spec = LimitSpec(rpm=1, tpm=100_000, **kwargs)
    return SimulatorConfig(latency_median=0.0, seed=11, limits={provider: spec})


@asynccontextmanager
async def simulator(config: SimulatorConfig, only: str | None = None) -> AsyncIterator[str]:
    async with BackgroundServer(create_app(config, only)) as server:
        yield server.url


async def test_openai_sdk_parses_usage_and_raises_rate_limit_error() -> None:
    openai = pytest.importorskip("openai")
    async with (
        simulator(_one_per_minute("openai")) as url,
        openai.AsyncOpenAI(api_key="sk-test", base_url=f"{url}/v1", max_retries=0) as client,
    ):
        raw = await client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": PROMPT}],
            max_completion_tokens=16,
        )
        completion = raw.parse()
        with pytest.raises(openai.RateLimitError) as caught:
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}]
            )
    assert raw.headers["x-ratelimit-limit-requests"] == "1"
    assert completion.choices[0].message.content == complete(11, PROMPT, 16, 120).text
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == prompt_tokens([PROMPT])
    assert completion.usage.completion_tokens == 16
    error = caught.value
    assert error.status_code == 429
    assert error.code == "rate_limit_exceeded"
    assert error.type == "requests"
    assert error.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert "x-ratelimit-reset-requests" in error.response.headers


async def test_openai_sdk_sees_a_dropped_connection_as_a_connection_error() -> None:
    openai = pytest.importorskip("openai")
    config = SimulatorConfig(latency_median=0.0, drop_rate=1.0)
    async with (
        simulator(config) as url,
        openai.AsyncOpenAI(api_key="sk-test", base_url=f"{url}/v1", max_retries=0) as client,
    ):
        with pytest.raises(openai.APIConnectionError):
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}]
            )


async def test_anthropic_sdk_parses_usage_and_raises_rate_limit_and_overloaded_errors() -> None:
    anthropic = pytest.importorskip("anthropic")
    async with (
        simulator(_one_per_minute("anthropic")) as url,
        anthropic.AsyncAnthropic(api_key="sk-ant-test", base_url=url, max_retries=0) as client,
    ):
        message = await client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=1000,
            messages=[{"role": "user", "content": PROMPT}],
        )
        with pytest.raises(anthropic.RateLimitError) as caught:
            await client.messages.create(
                model="claude-haiku-4-5",
                max_tokens=1000,
                messages=[{"role": "user", "content": PROMPT}],
            )
    assert message.stop_reason == "end_turn"
    assert message.content[0].text == complete(11, PROMPT, 1000, 120).text
    assert message.usage.input_tokens == prompt_tokens([PROMPT])
    assert message.usage.output_tokens == complete(11, PROMPT, 1000, 120).tokens
    error = caught.value
    assert error.status_code == 429
    assert error.body["error"]["type"] == "rate_limit_error"
    headers = error.response.headers
    assert int(headers["retry-after"]) >= 1
    assert headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert headers["request-id"] == error.request_id

    overloaded = SimulatorConfig(latency_median=0.0, overloaded_rate=1.0)
    async with (
        simulator(overloaded) as url,
        anthropic.AsyncAnthropic(api_key="sk-ant-test", base_url=url, max_retries=0) as client,
    ):
        with pytest.raises(anthropic.OverloadedError):
            await client.messages.create(
                model="claude-haiku-4-5",
                max_tokens=10,
                messages=[{"role": "user", "content": PROMPT}],
            )


async def test_google_genai_sdk_parses_usage_and_raises_client_error_429() -> None:
    genai = pytest.importorskip("google.genai")
    errors = pytest.importorskip("google.genai.errors")
    types = pytest.importorskip("google.genai.types")
    async with simulator(_one_per_minute("gemini")) as url:
        client = genai.Client(
            api_key="AIza-test",
            http_options=types.HttpOptions(
                base_url=url, retry_options=types.HttpRetryOptions(attempts=1)
            ),
        )
        try:
            async with client.aio as aclient:
                response = await aclient.models.generate_content(
                    model="gemini-2.5-flash",
                    contents=PROMPT,
                    config=types.GenerateContentConfig(max_output_tokens=12),
                )
                with pytest.raises(errors.ClientError) as caught:
                    await aclient.models.generate_content(model="gemini-2.5-flash", contents=PROMPT)
        finally:
            client.close()
    assert response.text == complete(11, PROMPT, 12, 120).text
    assert response.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    usage = response.usage_metadata
    assert usage.prompt_token_count == prompt_tokens([PROMPT])
    assert usage.candidates_token_count == 12
    assert usage.total_token_count == usage.prompt_token_count + 12
    error = caught.value
    assert error.code == 429
    assert error.status == "RESOURCE_EXHAUSTED"
    details = {d["@type"].rsplit(".", 1)[1]: d for d in error.details["error"]["details"]}
    violation = details["QuotaFailure"]["violations"][0]
    assert violation["quotaId"] == "GenerateRequestsPerMinutePerProjectPerModel"
    assert details["RetryInfo"]["retryDelay"].endswith("s")


async def test_mistral_sdk_parses_usage_and_raises_sdk_error_429() -> None:
    pytest.importorskip("mistralai")
    sdk = pytest.importorskip("mistralai.client")
    sdk_errors = pytest.importorskip("mistralai.client.errors")
    config = _one_per_minute("mistral", burst_seconds=1.0)
    async with (
        simulator(config, only="mistral") as url,
        sdk.Mistral(api_key="test-key", server_url=url) as client,
    ):
        response = await client.chat.complete_async(
            model="mistral-small-latest",
            messages=[{"role": "user", "content": PROMPT}],
            max_tokens=20,
        )
        with pytest.raises(sdk_errors.SDKError) as caught:
            await client.chat.complete_async(
                model="mistral-small-latest", messages=[{"role": "user", "content": PROMPT}]
            )
    assert response.choices[0].message.content == complete(11, PROMPT, 20, 120).text
    assert response.choices[0].finish_reason == "length"
    assert response.usage.prompt_tokens == prompt_tokens([PROMPT])
    assert response.usage.completion_tokens == 20
    error = caught.value
    assert error.status_code == 429
    assert '"code":"1300"' in error.body
    assert error.raw_response.headers["x-ratelimit-remaining-req-minute"] == "0"
