"""The providers PromptForge speaks: the one list every other place reads.

``PROVIDERS`` names each provider and where its adapter lives; ``SUPPORTED_PROVIDERS``
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
from dataclasses import dataclass
from typing import cast

from promptforge.providers.base import ProviderAdapter

__all__ = ["PROVIDERS", "SUPPORTED_PROVIDERS", "ProviderEntry", "get_adapter"]


@dataclass(frozen=True)
class ProviderEntry:
    """One provider: its name (as a job and a secret spell it) and its adapter class."""

    name: str
    module: str
    adapter_class: str


PROVIDERS: tuple[ProviderEntry, ...] = (
    ProviderEntry("openai", "promptforge.providers.openai", "OpenAIAdapter"),
    ProviderEntry("anthropic", "promptforge.providers.anthropic", "AnthropicAdapter"),
    ProviderEntry("gemini", "promptforge.providers.gemini", "GeminiAdapter"),
    ProviderEntry("mistral", "promptforge.providers.mistral", "MistralAdapter"),
)

SUPPORTED_PROVIDERS: tuple[str, ...] = tuple(entry.name for entry in PROVIDERS)

# Adapter modules load lazily so one provider's import cost or breakage never touches
# the others.
_BY_NAME = {entry.name: entry for entry in PROVIDERS}


def get_adapter(provider: str) -> ProviderAdapter:
    """A new adapter for ``provider``; ``KeyError`` naming the supported ones if unknown."""
    try:
        entry = _BY_NAME[provider]
    except KeyError:
        supported = ", ".join(SUPPORTED_PROVIDERS)
        raise KeyError(f"unknown provider {provider!r}; supported: {supported}") from None
    adapter_class = getattr(importlib.import_module(entry.module), entry.adapter_class)
    return cast(ProviderAdapter, adapter_class())
