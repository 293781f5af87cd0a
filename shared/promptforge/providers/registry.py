"""Which providers PromptForge speaks, and the adapter for each, imported on first use."""

from __future__ import annotations

import importlib
from typing import cast

from promptforge.providers.base import ProviderAdapter

SUPPORTED_PROVIDERS: tuple[str, ...] = ("openai", "anthropic", "gemini", "mistral")

# provider -> (module, class); modules load lazily so one provider's import cost or
# breakage never touches the others.
_ADAPTERS: dict[str, tuple[str, str]] = {
    "openai": ("promptforge.providers.openai", "OpenAIAdapter"),
    "anthropic": ("promptforge.providers.anthropic", "AnthropicAdapter"),
    "gemini": ("promptforge.providers.gemini", "GeminiAdapter"),
    "mistral": ("promptforge.providers.mistral", "MistralAdapter"),
}


def get_adapter(provider: str) -> ProviderAdapter:
    """A new adapter for ``provider``; ``KeyError`` naming the supported ones if unknown."""
    try:
        module_name, class_name = _ADAPTERS[provider]
    except KeyError:
        supported = ", ".join(SUPPORTED_PROVIDERS)
        raise KeyError(f"unknown provider {provider!r}; supported: {supported}") from None
    adapter_class = getattr(importlib.import_module(module_name), class_name)
    return cast(ProviderAdapter, adapter_class())
