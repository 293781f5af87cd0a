"""Provider keys from Secret Manager: one secret per provider, missing ones simply unconfigured."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pytest
from google.api_core import exceptions as google_exceptions

from promptforge.errors import MissingCredential
from promptforge.gcp.secrets import credentials_from_secret_manager, secret_id
from promptforge.gcp.settings import GcpSettings

pytestmark = pytest.mark.anyio

SECRET = "sk-live-secret-value-0123456789"


@dataclass
class _Payload:
    data: bytes


@dataclass
class _Version:
    payload: _Payload


class FakeSecretManager:
    """Answers ``access_secret_version`` like Secret Manager, from a dict of secret ids."""

    def __init__(self, secrets: dict[str, bytes], disabled: frozenset[str] = frozenset()) -> None:
        self.secrets, self.disabled = secrets, disabled
        self.asked: list[str] = []

    async def access_secret_version(self, *, name: str) -> Any:
        self.asked.append(name)
        secret = name.split("/")[3]
        if secret in self.disabled:
            raise google_exceptions.FailedPrecondition("version is disabled")
        if secret not in self.secrets:
            raise google_exceptions.NotFound("no such secret")
        return _Version(_Payload(self.secrets[secret]))


def _settings(**extra: Any) -> GcpSettings:
    return GcpSettings(
        gcp_project="pf-prod",
        input_bucket="i",
        output_bucket="o",
        worker_url="https://w",
        controller_url="https://c",
        secret_prefix="pf",
        **extra,
    )


async def test_keys_come_from_the_latest_versions_and_never_reach_the_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    manager = FakeSecretManager(
        {secret_id("pf", "openai"): SECRET.encode() + b"\n", secret_id("pf", "mistral"): b"m-key"},
        disabled=frozenset({secret_id("pf", "gemini")}),
    )
    settings = _settings(openai_base_url="http://127.0.0.1:9/v1")
    credentials = await credentials_from_secret_manager(settings, manager)
    assert "projects/pf-prod/secrets/pf-openai-api-key/versions/latest" in manager.asked
    openai = credentials.resolve("openai")
    assert openai.api_key.get_secret_value() == SECRET  # trailing newline stripped
    assert openai.base_url == "http://127.0.0.1:9/v1"
    assert credentials.resolve("mistral").api_key.get_secret_value() == "m-key"
    for provider in ("anthropic", "gemini"):
        with pytest.raises(MissingCredential):
            credentials.resolve(provider)
    assert SECRET not in repr(openai) and SECRET not in caplog.text
    assert "pf-anthropic-api-key" in caplog.text  # says which secret to create


async def test_other_secret_manager_errors_are_not_swallowed() -> None:
    class Broken(FakeSecretManager):
        async def access_secret_version(self, *, name: str) -> Any:
            raise google_exceptions.PermissionDenied("no accessor role")

    with pytest.raises(google_exceptions.PermissionDenied):
        await credentials_from_secret_manager(_settings(), Broken({}))
