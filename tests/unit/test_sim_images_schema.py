"""The simulator takes each provider's image parts and JSON-schema requests as PromptForge's
adapters send them, prices images by each provider's rule, and answers schema requests with
JSON that validates (or, at ``off_schema_rate``, on purpose not, on the first try only)."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from promptforge.core.content import ImagePart, TextPart
from promptforge.core.messages import ChatMessage
from promptforge.core.models import GenerationParams
from promptforge.core.schema_retry import answer_problem
from promptforge.embedded.server import BackgroundServer
from promptforge.providers.anthropic import AnthropicAdapter
from promptforge.providers.base import CallOutcome, CallResult, PromptCall, ProviderAdapter
from promptforge.providers.gemini import GeminiAdapter
from promptforge.providers.mistral import MistralAdapter
from promptforge.providers.openai import OpenAIAdapter
from promptforge.sim.providers.config import LimitSpec, SimulatorConfig
from promptforge.sim.providers.images import SimImage, image_tokens
from promptforge.sim.providers.options import add_simulator_options, config_from_args, describe
from promptforge.sim.providers.server import create_app
from promptforge.sim.providers.text import prompt_tokens
from tests.images import data_uri, png

pytestmark = pytest.mark.anyio

ADAPTERS: dict[str, ProviderAdapter] = {
    "openai": OpenAIAdapter(),
    "mistral": MistralAdapter(),
    "anthropic": AnthropicAdapter(),
    "gemini": GeminiAdapter(),
}
MODELS = {
    "openai": "gpt-4o-mini",
    "mistral": "mistral-small-latest",
    "anthropic": "claude-haiku-4-5-20251001",
    "gemini": "gemini-2.5-flash",
}
SCHEMA = {
    "type": "object",
    "properties": {"label": {"enum": ["cat", "dog"]}, "confidence": {"type": "number"}},
    "required": ["label", "confidence"],
    "additionalProperties": False,
}
JSON_SCHEMA = {"type": "json_schema", "json_schema": {"name": "pet", "schema": SCHEMA}}


def fast(**options: Any) -> SimulatorConfig:
    """No latency, and Mistral past its default one request a second."""
    mistral = LimitSpec(rpm=6000, tpm=10_000_000)
    return SimulatorConfig(latency_median=0.0, limits={"mistral": mistral}, **options)


@asynccontextmanager
async def serve(config: SimulatorConfig) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    async with (
        BackgroundServer(create_app(config)) as server,
        httpx.AsyncClient(timeout=10.0) as client,
    ):
        yield server.url, client


async def call(
    url: str,
    client: httpx.AsyncClient,
    provider: str,
    prompt: tuple[ChatMessage, ...],
    params: GenerationParams,
) -> CallResult:
    adapter = ADAPTERS[provider]
    base = f"{url}/mistral" if provider == "mistral" else url
    request = adapter.build_request(PromptCall(base, "k", MODELS[provider], prompt, params))
    reply = await client.request(
        request.method, request.url, headers=request.headers, json=request.json
    )
    return adapter.parse_response(reply.status_code, dict(reply.headers), reply.content)


def test_each_providers_rule_prices_a_1024_square_image() -> None:
    square = SimImage(1024, 1024)
    assert {p: image_tokens(p, square) for p in ADAPTERS} == {
        "openai": 765,
        "mistral": 4160,
        "anthropic": 1399,
        "gemini": 1032,
    }
    assert image_tokens("openai", SimImage(1024, 1024, "low")) == 85
    assert image_tokens("gemini", SimImage(300, 200)) == 258
    assert SimImage.of(data_uri(png(40, 30)).split(",")[1], inline=True) == SimImage(40, 30)
    assert SimImage.of("https://example.com/a.png", inline=False) == SimImage(1024, 1024)


@pytest.mark.parametrize("provider", ["openai", "mistral", "anthropic", "gemini"])
async def test_image_parts_reach_the_simulator_and_count_as_input_tokens(provider: str) -> None:
    small = data_uri(png(300, 200))
    prompt = (
        ChatMessage(
            "user",
            (TextPart("Which animal?"), ImagePart(small), ImagePart("https://example.com/a.jpg")),
        ),
    )
    async with serve(fast()) as (url, client):
        result = await call(url, client, provider, prompt, GenerationParams())
        stats = (await client.get(f"{url}/_sim/stats")).json()[provider]
        logged = (await client.get(f"{url}/_sim/requests")).json()[-1]
    assert result.outcome is CallOutcome.SUCCESS, result.error_message
    images = image_tokens(provider, SimImage(300, 200)) + image_tokens(
        provider, SimImage(1024, 1024)
    )
    texts = ["Which animal?"]
    assert result.input_tokens == prompt_tokens(texts) + images
    assert stats["image_tokens"] == images and stats["successes"] == 1
    assert logged["provider"] == provider and small.split(",")[1] in str(logged["body"])


@pytest.mark.parametrize(
    ("provider", "path", "body"),
    [
        (
            "anthropic",
            "/v1/messages",
            {
                "model": "claude-haiku-4-5",
                "max_tokens": 10,
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image",
                                "source": {"type": "base64", "media_type": "image/bmp", "data": ""},
                            }
                        ],
                    }
                ],
            },
        ),
        (
            "openai",
            "/v1/chat/completions",
            {
                "model": "gpt-4o-mini",
                "messages": [
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"x": 1}}]}
                ],
            },
        ),
        (
            "gemini",
            "/v1beta/models/gemini-2.5-flash:generateContent",
            {"contents": [{"role": "user", "parts": [{"inline_data": {"mime_type": "text/x"}}]}]},
        ),
    ],
)
async def test_a_malformed_image_part_is_the_providers_400(
    provider: str, path: str, body: dict[str, Any]
) -> None:
    headers = {
        "authorization": "Bearer k",
        "x-api-key": "k",
        "anthropic-version": "2023-06-01",
        "x-goog-api-key": "k",
    }
    async with serve(fast()) as (url, client):
        reply = await client.post(f"{url}{path}", json=body, headers=headers)
        stats = (await client.get(f"{url}/_sim/stats")).json()[provider]
    assert reply.status_code == 400, reply.text
    assert stats["rejected"] == 1


@pytest.mark.parametrize("provider", ["openai", "mistral", "anthropic", "gemini"])
async def test_a_schema_request_gets_json_that_validates_and_a_miss_only_on_the_first_try(
    provider: str,
) -> None:
    params = GenerationParams(response_format=JSON_SCHEMA)
    first = (ChatMessage("user", "Cat or dog?"),)
    async with serve(fast()) as (url, client):
        kept = await call(url, client, provider, first, params)
    async with serve(fast(off_schema_rate=1.0)) as (url, client):
        missed = await call(url, client, provider, first, params)
        follow_up = (
            *first,
            ChatMessage("assistant", missed.text or ""),
            ChatMessage("user", "That did not match the schema; answer again."),
        )
        again = await call(url, client, provider, follow_up, params)
        stats = (await client.get(f"{url}/_sim/stats")).json()[provider]
    for result in (kept, missed, again):
        assert result.outcome is CallOutcome.SUCCESS and result.text is not None
    assert answer_problem(SCHEMA, kept.text or "") is None
    assert answer_problem(SCHEMA, missed.text or "") is not None
    assert answer_problem(SCHEMA, again.text or "") is None
    assert stats["off_schema"] == 1


def test_the_off_schema_rate_is_a_simulator_option_within_0_and_1() -> None:
    parser = argparse.ArgumentParser()
    add_simulator_options(parser)
    config = config_from_args(parser.parse_args(["--off-schema-rate", "0.1"]))
    assert config.off_schema_rate == 0.1
    assert "off-schema 0.1" in describe(config)[-1]
    with pytest.raises(ValueError, match="off_schema_rate"):
        SimulatorConfig(off_schema_rate=1.5)
