"""Provider API keys from Secret Manager: read once per instance, kept secret, never logged.

Secret ids are ``{prefix}-{provider}-api-key`` (``promptforge-openai-api-key``, ...),
version ``latest``. A provider without a secret is simply not configured: its jobs
fail their prompts with ``missing_credential``, saying which secret to create. Keys are
read at cold start; a rotated key takes effect on new instances.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from google.api_core import exceptions as google_exceptions
from pydantic import SecretStr

from promptforge.core.credentials import Credentials, ProviderEndpoint
from promptforge.gcp.settings import GcpSettings
from promptforge.providers.registry import SUPPORTED_PROVIDERS

log = logging.getLogger(__name__)


class SecretReader(Protocol):
    """The one Secret Manager call used (``SecretManagerServiceAsyncClient`` has it)."""

    async def access_secret_version(self, *, name: str) -> Any:
        """The secret version's payload."""
        ...


def secret_id(prefix: str, provider: str) -> str:
    """The Secret Manager id of a provider's key."""
    return f"{prefix}-{provider}-api-key"


async def read_provider_keys(
    client: SecretReader,
    project: str,
    prefix: str,
    providers: tuple[str, ...] = SUPPORTED_PROVIDERS,
) -> dict[str, SecretStr]:
    """The latest key of every provider that has a secret."""
    names = {
        provider: f"projects/{project}/secrets/{secret_id(prefix, provider)}/versions/latest"
        for provider in providers
    }
    values = await asyncio.gather(*(_read(client, name) for name in names.values()))
    keys: dict[str, SecretStr] = {}
    for provider, value in zip(names, values, strict=True):
        if value is None:
            log.info("no secret %s: %s is not configured", secret_id(prefix, provider), provider)
        else:
            keys[provider] = value
    return keys


async def credentials_from_secret_manager(
    settings: GcpSettings, client: SecretReader
) -> Credentials:
    """Provider endpoints: keys from Secret Manager, base URLs from settings."""
    keys = await read_provider_keys(client, settings.gcp_project, settings.secret_prefix)
    endpoints = {
        (provider, "default"): ProviderEndpoint(getattr(settings, f"{provider}_base_url"), key)
        for provider, key in keys.items()
    }
    return Credentials(endpoints)


async def _read(client: SecretReader, name: str) -> SecretStr | None:
    try:
        response = await client.access_secret_version(name=name)
    except (google_exceptions.NotFound, google_exceptions.FailedPrecondition):
        return None  # no such secret, or its latest version is disabled
    value = bytes(response.payload.data).decode("utf-8").strip()
    return SecretStr(value) if value else None
