"""The provider registry: one adapter per supported provider, imported on demand."""

from __future__ import annotations

import pytest

from promptforge.providers.mistral import MistralAdapter
from promptforge.providers.openai import OpenAIAdapter
from promptforge.providers.registry import SUPPORTED_PROVIDERS, get_adapter


def test_supported_providers_are_the_four_of_the_contract() -> None:
    assert SUPPORTED_PROVIDERS == ("openai", "anthropic", "gemini", "mistral")


@pytest.mark.parametrize("provider", SUPPORTED_PROVIDERS)
def test_every_supported_provider_has_an_adapter(provider: str) -> None:
    adapter = get_adapter(provider)
    assert adapter.name == provider
    assert adapter.default_base_url.startswith("https://")
    assert callable(adapter.build_request) and callable(adapter.parse_response)


def test_adapter_classes() -> None:
    assert type(get_adapter("openai")) is OpenAIAdapter
    assert type(get_adapter("mistral")) is MistralAdapter
    assert type(get_adapter("anthropic")).__name__ == "AnthropicAdapter"
    assert type(get_adapter("gemini")).__name__ == "GeminiAdapter"


@pytest.mark.parametrize("provider", ["cohere", "OpenAI", ""])
def test_unknown_provider_is_a_key_error_naming_the_supported_ones(provider: str) -> None:
    with pytest.raises(KeyError, match="supported: openai, anthropic, gemini, mistral"):
        get_adapter(provider)
