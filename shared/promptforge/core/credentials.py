"""Provider credentials: resolved per (provider, credential name), never logged, never in a task."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from promptforge.settings import Settings


@dataclass(frozen=True)
class ProviderEndpoint:
    """Where and as whom to call a provider. ``repr`` never shows the key."""

    base_url: str | None
    api_key: SecretStr


class MissingCredential(LookupError):
    """No credential is configured for a provider."""


class Credentials:
    """Looks up provider endpoints; built once from settings."""

    def __init__(self, endpoints: dict[tuple[str, str], ProviderEndpoint]) -> None:
        self._endpoints = endpoints

    @classmethod
    def from_settings(cls, settings: Settings) -> Credentials:
        """Credentials from the secrets file, then the ``PROMPTFORGE_<PROVIDER>_*`` settings."""
        endpoints: dict[tuple[str, str], ProviderEndpoint] = {}
        if settings.secrets_file is not None:
            endpoints.update(_read_secrets_file(settings.secrets_file))
        for provider in ("openai", "anthropic", "gemini", "mistral"):
            key: SecretStr | None = getattr(settings, f"{provider}_api_key")
            base_url: str | None = getattr(settings, f"{provider}_base_url")
            if key is not None:
                endpoints[(provider, "default")] = ProviderEndpoint(base_url, key)
            elif base_url is not None and (provider, "default") in endpoints:
                old = endpoints[(provider, "default")]
                endpoints[(provider, "default")] = ProviderEndpoint(base_url, old.api_key)
        return cls(endpoints)

    def has(self, provider: str, credential: str = "default") -> bool:
        """Whether a credential is configured."""
        return (provider, credential) in self._endpoints

    def secrets(self) -> list[str]:
        """Every configured key, for log redaction."""
        return [e.api_key.get_secret_value() for e in self._endpoints.values()]

    def resolve(self, provider: str, credential: str = "default") -> ProviderEndpoint:
        """The endpoint for a provider, or ``MissingCredential`` saying what to set."""
        try:
            return self._endpoints[(provider, credential)]
        except KeyError:
            raise MissingCredential(
                f"no API key configured for provider {provider!r} (credential {credential!r}); "
                f"set PROMPTFORGE_{provider.upper()}_API_KEY or add it to the secrets file"
            ) from None


def _read_secrets_file(path: Path) -> dict[tuple[str, str], ProviderEndpoint]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of provider -> {{api_key, base_url}}")
    out: dict[tuple[str, str], ProviderEndpoint] = {}
    for provider, entry in data.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("api_key"), str):
            raise ValueError(f"{path}: provider {provider!r} needs an 'api_key' string")
        out[(provider, "default")] = ProviderEndpoint(
            entry.get("base_url"), SecretStr(entry["api_key"])
        )
    return out
