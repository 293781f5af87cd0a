"""The providers PromptForge speaks: the one list every other place reads.

``ADAPTERS`` names each provider and where its adapter lives; ``SUPPORTED_PROVIDERS``
is their names, in this order. Everything else that lists providers reads it: the
model catalogue, credentials, the init request's check, Secret Manager, the provider
simulator. What cannot read Python is checked against it by a test: the
``PROMPTFORGE_<PROVIDER>_API_KEY`` / ``_BASE_URL`` settings fields
(``tests/unit/test_provider_registry.py``) and Terraform's ``llm_providers``
(``tests/infra/test_terraform_providers.py``). Adding a provider: an entry here, its
adapter module, its two settings fields, its models in ``data/models.json``, and the
Terraform list.
"""

from __future__ import annotations

import importlib
from typing import cast

from promptforge.providers.base import ProviderAdapter

__all__ = ["ADAPTERS", "SUPPORTED_PROVIDERS", "get_adapter"]

ADAPTERS: dict[str, tuple[str, str]] = {
    "openai": ("promptforge.providers.openai", "OpenAIAdapter"),
    "anthropic": ("promptforge.providers.anthropic", "AnthropicAdapter"),
    "gemini": ("promptforge.providers.gemini", "GeminiAdapter"),
    "mistral": ("promptforge.providers.mistral", "MistralAdapter"),
}
"""Each provider (as a job and a secret spell it) and its adapter: module and class.

Adapter modules load on first use, so one provider's import cost or breakage never
touches the others. The module is a whole dotted name so that a function package,
which ships the modules its code names, ships every adapter.
"""

SUPPORTED_PROVIDERS: tuple[str, ...] = tuple(ADAPTERS)
"""The provider names, in the order above."""


def get_adapter(provider: str) -> ProviderAdapter:
    """A new adapter for ``provider``; ``KeyError`` naming the supported ones if unknown."""
    try:
        module_name, class_name = ADAPTERS[provider]
    except KeyError:
        supported = ", ".join(SUPPORTED_PROVIDERS)
        raise KeyError(f"unknown provider {provider!r}; supported: {supported}") from None
    adapter_class = getattr(importlib.import_module(module_name), class_name)
    return cast(ProviderAdapter, adapter_class())
