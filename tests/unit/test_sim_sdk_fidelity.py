"""The official SDKs, pointed at the simulator, parse its answers and raise their own errors.

The SDKs are pinned development dependencies and imported plainly, so a missing SDK fails
the run instead of skipping these tests. SDK retries are off, so an over-limit call
surfaces as the SDK's rate-limit error at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types
from mistralai import client as mistral_client
from mistralai.client import errors as mistral_errors

from promptforge.embedded.server import BackgroundServer
from promptforge.providers.anthropic import AnthropicAdapter
from promptforge.providers.base import CallOutcome
from promptforge.providers.openai import OpenAIAdapter
from promptforge.sim.providers.config import LimitSpec, SimulatorConfig
from promptforge.sim.providers.server import create_app
from promptforge.sim.providers.text import complete, prompt_tokens

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
    async with simulator(_one_per_minute("gemini")) as url:
        client = genai.Client(
            api_key="AIza-test",
            http_options=genai_types.HttpOptions(
                base_url=url, retry_options=genai_types.HttpRetryOptions(attempts=1)
            ),
        )
        try:
            async with client.aio as aclient:
                response = await aclient.models.generate_content(
                    model="gemini-2.5-flash",
                    contents=PROMPT,
                    config=genai_types.GenerateContentConfig(max_output_tokens=12),
                )
                with pytest.raises(genai_errors.ClientError) as caught:
                    await aclient.models.generate_content(model="gemini-2.5-flash", contents=PROMPT)
        finally:
            client.close()
    assert response.text == complete(11, PROMPT, 12, 120).text
    assert response.candidates[0].finish_reason == genai_types.FinishReason.MAX_TOKENS
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
    config = _one_per_minute("mistral", burst_seconds=1.0)
    async with (
        simulator(config, only="mistral") as url,
        mistral_client.Mistral(api_key="test-key", server_url=url) as client,
    ):
        response = await client.chat.complete_async(
            model="mistral-small-latest",
            messages=[{"role": "user", "content": PROMPT}],
            max_tokens=20,
        )
        with pytest.raises(mistral_errors.SDKError) as caught:
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


async def test_openai_sdk_and_promptforge_agree_on_a_request_too_large() -> None:
    """One request above the whole TPM: the SDK's RateLimitError, PromptForge's PERMANENT."""
    config = SimulatorConfig(latency_median=0.0, limits={"openai": LimitSpec(rpm=100, tpm=1000)})
    async with (
        simulator(config) as url,
        openai.AsyncOpenAI(api_key="sk-test", base_url=f"{url}/v1", max_retries=0) as client,
    ):
        with pytest.raises(openai.RateLimitError) as caught:
            await client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": PROMPT}],
                max_completion_tokens=5000,
            )
    error = caught.value
    assert error.code == "rate_limit_exceeded" and error.type == "tokens"
    assert error.message.startswith("Error code: 429") and "Request too large" in error.message
    response = error.response
    headers = {name.lower(): value for name, value in response.headers.items()}
    assert headers["x-ratelimit-limit-tokens"] == "1000"
    result = OpenAIAdapter().parse_response(response.status_code, headers, response.content)
    assert result.outcome is CallOutcome.PERMANENT
    assert result.error_code == "request_too_large"
    assert result.signals.limit_tokens == 1000


async def test_anthropic_sdk_sees_separate_input_and_output_token_limits() -> None:
    """Output tokens are charged at ``max_tokens`` up front, in their own bucket."""
    first = complete(11, PROMPT, 1000, 120)
    assert first.tokens > 60  # the second call below must not fit what is left
    spec = LimitSpec(rpm=100, tpm=100_000, input_tpm=50_000, output_tpm=1_500)
    config = SimulatorConfig(latency_median=0.0, seed=11, limits={"anthropic": spec})
    async with (
        simulator(config) as url,
        anthropic.AsyncAnthropic(api_key="sk-ant-test", base_url=url, max_retries=0) as client,
    ):
        raw = await client.messages.with_raw_response.create(
            model="claude-haiku-4-5",
            max_tokens=1000,
            messages=[{"role": "user", "content": PROMPT}],
        )
        message = await raw.parse()
        with pytest.raises(anthropic.RateLimitError) as caught:
            await client.messages.create(
                model="claude-haiku-4-5",
                max_tokens=1500 - first.tokens + 50,
                messages=[{"role": "user", "content": PROMPT}],
            )
    assert message.usage.output_tokens == first.tokens
    assert raw.headers["anthropic-ratelimit-input-tokens-limit"] == "50000"
    assert raw.headers["anthropic-ratelimit-output-tokens-limit"] == "1500"
    error = caught.value
    assert "output tokens per minute" in error.message
    headers = error.response.headers
    assert headers["anthropic-ratelimit-output-tokens-limit"] == "1500"
    assert int(headers["retry-after"]) >= 1
    signals = (
        AnthropicAdapter()
        .parse_response(429, {k.lower(): v for k, v in headers.items()}, error.response.content)
        .signals
    )
    assert (signals.limit_input_tokens, signals.limit_output_tokens) == (50_000, 1_500)
    assert signals.retry_after == float(headers["retry-after"])
