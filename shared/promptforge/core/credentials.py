"""Provider credentials: resolved per (provider, credential name), never logged, never in a task.

Sources, field by field (a later one wins):

1. the secrets file (``PROMPTFORGE_SECRETS_FILE``), a JSON object of
   ``{provider: {"api_key": "...", "base_url": "..."}}``; in the cloud runtime the same
   object can come from Secret Manager through :meth:`Credentials.from_mapping`;
2. the ``PROMPTFORGE_<PROVIDER>_API_KEY`` and ``PROMPTFORGE_<PROVIDER>_BASE_URL`` settings.

So an environment key replaces the file's key but keeps the file's base URL. A base URL
without any key is a keyless endpoint (a local vLLM or Ollama server). No error message
here ever quotes a key: a bad entry is named by provider and field only.
"""

from __future__ import annotations

import json
import logging
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from promptforge.errors import CredentialsError, MissingCredential
from promptforge.providers.registry import SUPPORTED_PROVIDERS
from promptforge.settings import Settings

log = logging.getLogger(__name__)

_ENTRY_FIELDS = frozenset({"api_key", "base_url"})


@dataclass(frozen=True)
class ProviderEndpoint:
    """Where and as whom to call a provider. ``repr`` never shows the key."""

    base_url: str | None
    api_key: SecretStr


class Credentials:
    """Looks up provider endpoints; built once from settings."""

    def __init__(self, endpoints: dict[tuple[str, str], ProviderEndpoint]) -> None:
        self._endpoints = endpoints

    @classmethod
    def from_settings(cls, settings: Settings) -> Credentials:
        """Credentials from the secrets file, then the ``PROMPTFORGE_<PROVIDER>_*`` settings."""
        entries: dict[str, tuple[str | None, str | None]] = {}
        if settings.secrets_file is not None:
            entries.update(_read_secrets_file(settings.secrets_file))
        for provider in SUPPORTED_PROVIDERS:
            key: SecretStr | None = getattr(settings, f"{provider}_api_key", None)
            base_url: str | None = getattr(settings, f"{provider}_base_url", None)
            file_url, file_key = entries.get(provider, (None, None))
            if key is not None or base_url is not None:
                entries[provider] = (
                    base_url if base_url is not None else file_url,
                    key.get_secret_value() if key is not None else file_key,
                )
        return cls(_endpoints(entries))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str) -> Credentials:
        """Credentials from a secrets object (the secrets file's shape); ``source`` names it."""
        return cls(_endpoints(_parse_entries(data, source)))

    def has(self, provider: str, credential: str = "default") -> bool:
        """Whether a credential is configured."""
        return (provider, credential) in self._endpoints

    def secrets(self) -> list[str]:
        """Every configured key, for log redaction."""
        keys = (e.api_key.get_secret_value() for e in self._endpoints.values())
        return [key for key in keys if key]

    def resolve(self, provider: str, credential: str = "default") -> ProviderEndpoint:
        """The endpoint for a provider, or ``MissingCredential`` saying what to set."""
        try:
            return self._endpoints[(provider, credential)]
        except KeyError:
            raise MissingCredential(
                f"no API key configured for provider {provider!r} (credential {credential!r}); "
                f"set PROMPTFORGE_{provider.upper()}_API_KEY or add it to the secrets file"
            ) from None


def _endpoints(
    entries: Mapping[str, tuple[str | None, str | None]],
) -> dict[tuple[str, str], ProviderEndpoint]:
    return {
        (provider, "default"): ProviderEndpoint(base_url, SecretStr(key or ""))
        for provider, (base_url, key) in entries.items()
        if key or base_url
    }


def _read_secrets_file(path: Path) -> dict[str, tuple[str | None, str | None]]:
    """``provider -> (base_url, api_key)`` from the secrets file."""
    try:
        text = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialsError(f"cannot read secrets file {path}: {type(exc).__name__}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("secrets file %s is readable by others; chmod 600 it", path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        # The position only: the decoder's message never quotes the document.
        raise CredentialsError(
            f"secrets file {path} is not valid JSON (line {exc.lineno}, column {exc.colno})"
        ) from None
    return _parse_entries(data, str(path))


def _parse_entries(data: Any, source: str) -> dict[str, tuple[str | None, str | None]]:
    if not isinstance(data, Mapping):
        raise CredentialsError(
            f"{source}: expected a JSON object of provider -> {{api_key, base_url}}"
        )
    out: dict[str, tuple[str | None, str | None]] = {}
    for provider, entry in data.items():
        if provider not in SUPPORTED_PROVIDERS:
            raise CredentialsError(
                f"{source}: unknown provider {provider!r}; expected one of "
                + ", ".join(SUPPORTED_PROVIDERS)
            )
        if not isinstance(entry, Mapping):
            raise CredentialsError(f"{source}: {provider} must be an object {{api_key, base_url}}")
        unknown = sorted(set(entry) - _ENTRY_FIELDS)
        if unknown:
            raise CredentialsError(
                f"{source}: {provider} has unknown field(s) {', '.join(unknown)}"
            )
        key, base_url = entry.get("api_key"), entry.get("base_url")
        if key is not None and (not isinstance(key, str) or not key.strip()):
            raise CredentialsError(f"{source}: {provider}.api_key must be a non-empty string")
        if base_url is not None and (not isinstance(base_url, str) or not base_url.strip()):
            raise CredentialsError(f"{source}: {provider}.base_url must be a non-empty string")
        if key is None and base_url is None:
            raise CredentialsError(f"{source}: {provider} needs an api_key (or a base_url)")
        out[provider] = (base_url.strip() if base_url else None, key.strip() if key else None)
    return out
