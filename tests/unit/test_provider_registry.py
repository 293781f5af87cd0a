"""The provider registry: one adapter per supported provider, imported on demand."""

from __future__ import annotations

import inspect

import pytest

from promptforge.gcp.secrets import read_provider_keys
from promptforge.providers.mistral import MistralAdapter
from promptforge.providers.openai import OpenAIAdapter
from promptforge.providers.registry import SUPPORTED_PROVIDERS, get_adapter
from promptforge.settings import Settings
from promptforge.sim.providers.config import PROVIDERS as SIMULATED
from promptforge.sim.providers.config import SimulatorConfig, default_limits
from promptforge.sim.providers.server import create_app as simulator_app
from promptforge.sim.rates.signals import Style


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


def test_settings_have_a_key_and_a_base_url_field_for_each_provider_and_no_other() -> None:
    # Settings fields must be spelt out for the environment names and the type checker,
    # so the registry cannot generate them: this holds the two lists together.
    per_provider = {
        name.rsplit("_", 2)[0]
        for name in Settings.model_fields
        if name.endswith(("_api_key", "_base_url"))
    }
    assert per_provider == set(SUPPORTED_PROVIDERS)
    for provider in SUPPORTED_PROVIDERS:
        assert {f"{provider}_api_key", f"{provider}_base_url"} <= set(Settings.model_fields)


def test_secret_manager_and_the_simulator_read_the_registry() -> None:
    assert inspect.signature(read_provider_keys).parameters["providers"].default is (
        SUPPORTED_PROVIDERS
    )
    assert SIMULATED is SUPPORTED_PROVIDERS


def test_the_simulators_cover_every_provider() -> None:
    # Per-provider tables cannot be generated from the list; they are held to it here.
    assert set(simulator_app(SimulatorConfig()).state.simulator.wires) == set(SUPPORTED_PROVIDERS)
    assert set(default_limits()) == set(SUPPORTED_PROVIDERS)
    assert {style.value for style in Style} == set(SUPPORTED_PROVIDERS)
