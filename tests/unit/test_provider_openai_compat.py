"""OpenAI-compatible endpoints named by base URL: vLLM, Ollama, DeepSeek, xAI, Azure OpenAI."""

from __future__ import annotations

import httpx
import pytest

from promptforge.core.models import GenerationParams
from promptforge.providers.base import CallOutcome, PromptCall
from promptforge.providers.http import send
from promptforge.providers.openai import OpenAIAdapter
from promptforge.providers.openai_compat import AZURE_API_VERSION, chat_endpoint

AZURE_DEPLOYMENT = "https://res.openai.azure.com/openai/deployments/gpt4o-prod"

# base URL -> (request URL, key header, max-tokens field)
ENDPOINTS = {
    "https://api.openai.com": (
        "https://api.openai.com/v1/chat/completions",
        "Authorization",
        "max_completion_tokens",
    ),
    "https://api.openai.com/v1/": (
        "https://api.openai.com/v1/chat/completions",
        "Authorization",
        "max_completion_tokens",
    ),
    "http://127.0.0.1:8000/v1": (  # vLLM
        "http://127.0.0.1:8000/v1/chat/completions",
        "Authorization",
        "max_tokens",
    ),
    "http://localhost:11434": (  # Ollama
        "http://localhost:11434/v1/chat/completions",
        "Authorization",
        "max_tokens",
    ),
    "https://api.deepseek.com": (
        "https://api.deepseek.com/v1/chat/completions",
        "Authorization",
        "max_tokens",
    ),
    "https://api.x.ai/v1": ("https://api.x.ai/v1/chat/completions", "Authorization", "max_tokens"),
    "https://gateway.example.com/llm/v1/chat/completions": (  # a full URL is used as is
        "https://gateway.example.com/llm/v1/chat/completions",
        "Authorization",
        "max_tokens",
    ),
    AZURE_DEPLOYMENT: (
        f"{AZURE_DEPLOYMENT}/chat/completions?api-version={AZURE_API_VERSION}",
        "api-key",
        "max_completion_tokens",
    ),
    f"{AZURE_DEPLOYMENT}/?api-version=2025-04-01-preview": (
        f"{AZURE_DEPLOYMENT}/chat/completions?api-version=2025-04-01-preview",
        "api-key",
        "max_completion_tokens",
    ),
    "https://res.openai.azure.com/openai/v1": (
        "https://res.openai.azure.com/openai/v1/chat/completions",
        "api-key",
        "max_completion_tokens",
    ),
    # An API-management gateway in front of Azure keeps the deployments path.
    "https://apim.example.com/openai/deployments/gpt4o": (
        f"https://apim.example.com/openai/deployments/gpt4o/chat/completions"
        f"?api-version={AZURE_API_VERSION}",
        "api-key",
        "max_completion_tokens",
    ),
}


@pytest.mark.parametrize("base_url", ENDPOINTS)
def test_base_url_decides_url_key_header_and_max_tokens_field(base_url: str) -> None:
    url, header, field = ENDPOINTS[base_url]
    endpoint = chat_endpoint(base_url)
    assert (endpoint.url, endpoint.key_header, endpoint.max_tokens_field) == (url, header, field)

    request = OpenAIAdapter().build_request(
        PromptCall(
            base_url=base_url,
            api_key="secret-key-42",
            model="m",
            prompt="hi",
            params=GenerationParams(max_tokens=50),
        )
    )
    assert request.url == url
    assert request.json[field] == 50
    other = ({"max_tokens", "max_completion_tokens"} - {field}).pop()
    assert other not in request.json
    if header == "Authorization":
        assert request.headers["Authorization"] == "Bearer secret-key-42"
        assert "api-key" not in request.headers
    else:
        assert request.headers["api-key"] == "secret-key-42"
        assert "Authorization" not in request.headers


def test_a_keyless_local_server_gets_no_key_header() -> None:
    request = OpenAIAdapter().build_request(
        PromptCall(
            base_url="http://localhost:11434",
            api_key="",
            model="llama3",
            prompt="hi",
            params=GenerationParams(),
        )
    )
    assert set(request.headers) == {"Content-Type"}


def test_a_forced_max_tokens_field_wins_over_the_base_url() -> None:
    adapter = OpenAIAdapter(max_tokens_field="max_tokens")
    request = adapter.build_request(
        PromptCall(
            base_url="https://api.openai.com",
            api_key="k",
            model="gpt-4o",
            prompt="hi",
            params=GenerationParams(max_tokens=9),
        )
    )
    assert request.json["max_tokens"] == 9
    assert "max_completion_tokens" not in request.json


@pytest.mark.anyio
async def test_azure_api_key_is_scrubbed_from_transport_errors() -> None:
    """The ``api-key`` header counts as a secret, as ``Authorization`` does."""
    secret = "azure-secret-0123456789"

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"refused request with api-key {request.headers['api-key']}")

    adapter = OpenAIAdapter()
    request = adapter.build_request(
        PromptCall(
            base_url=AZURE_DEPLOYMENT,
            api_key=secret,
            model="gpt-4o",
            prompt="hi",
            params=GenerationParams(),
        )
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
        result = await send(client, adapter, request, timeout=5)
    assert result.outcome is CallOutcome.TRANSIENT
    assert result.error_message is not None and "api-key" in result.error_message
    assert secret not in result.error_message
