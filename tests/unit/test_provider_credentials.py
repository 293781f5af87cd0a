"""Provider credentials from the secrets file and the environment; never shown, never logged."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from promptforge.core.credentials import Credentials
from promptforge.errors import CredentialsError, MissingCredential
from promptforge.settings import Settings

FILE_KEY = "sk-from-file-0123456789"
ENV_KEY = "sk-from-env-9876543210"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("PROMPTFORGE_"):
            monkeypatch.delenv(name)


def _secrets_file(tmp_path: Path, data: Any, mode: int = 0o600) -> Path:
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    path.chmod(mode)
    return path


def test_secrets_file_gives_keys_and_base_urls(tmp_path: Path) -> None:
    path = _secrets_file(
        tmp_path,
        {
            "openai": {"api_key": FILE_KEY, "base_url": "http://127.0.0.1:9000"},
            "gemini": {"api_key": "AIza-file-key-0123"},
        },
    )
    credentials = Credentials.from_settings(Settings(secrets_file=path))
    openai = credentials.resolve("openai")
    assert openai.api_key.get_secret_value() == FILE_KEY
    assert openai.base_url == "http://127.0.0.1:9000"
    assert credentials.resolve("gemini").base_url is None
    assert credentials.has("gemini") and not credentials.has("anthropic")
    assert sorted(credentials.secrets()) == sorted([FILE_KEY, "AIza-file-key-0123"])
    with pytest.raises(MissingCredential, match="PROMPTFORGE_ANTHROPIC_API_KEY"):
        credentials.resolve("anthropic")


def test_environment_wins_field_by_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _secrets_file(
        tmp_path,
        {
            "openai": {"api_key": FILE_KEY, "base_url": "http://file.example"},
            "mistral": {"api_key": "mistral-file-key-123", "base_url": "http://m.example"},
        },
    )
    monkeypatch.setenv("PROMPTFORGE_SECRETS_FILE", str(path))
    monkeypatch.setenv("PROMPTFORGE_OPENAI_API_KEY", ENV_KEY)  # key only: file's URL stays
    monkeypatch.setenv("PROMPTFORGE_MISTRAL_BASE_URL", "http://env.example")  # URL only
    credentials = Credentials.from_settings(Settings())
    openai = credentials.resolve("openai")
    assert (openai.api_key.get_secret_value(), openai.base_url) == (ENV_KEY, "http://file.example")
    mistral = credentials.resolve("mistral")
    assert mistral.api_key.get_secret_value() == "mistral-file-key-123"
    assert mistral.base_url == "http://env.example"


def test_environment_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTFORGE_ANTHROPIC_API_KEY", ENV_KEY)
    credentials = Credentials.from_settings(Settings())
    assert credentials.resolve("anthropic").api_key.get_secret_value() == ENV_KEY
    assert credentials.resolve("anthropic").base_url is None
    assert credentials.secrets() == [ENV_KEY]


def test_a_base_url_without_a_key_is_a_keyless_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTFORGE_OPENAI_BASE_URL", "http://localhost:11434")
    credentials = Credentials.from_settings(Settings())
    endpoint = credentials.resolve("openai")
    assert endpoint.base_url == "http://localhost:11434"
    assert endpoint.api_key.get_secret_value() == ""
    assert credentials.secrets() == []  # nothing to redact


def test_nothing_configured_means_nothing_resolves() -> None:
    credentials = Credentials.from_settings(Settings())
    for provider in ("openai", "anthropic", "gemini", "mistral"):
        assert not credentials.has(provider)


def test_from_mapping_serves_a_secret_manager_payload() -> None:
    credentials = Credentials.from_mapping(
        {"anthropic": {"api_key": "sk-ant-sm-0123456789"}}, "secret pf-provider-keys"
    )
    assert credentials.resolve("anthropic").api_key.get_secret_value() == "sk-ant-sm-0123456789"


def test_repr_never_shows_a_key(tmp_path: Path) -> None:
    path = _secrets_file(tmp_path, {"openai": {"api_key": FILE_KEY}})
    endpoint = Credentials.from_settings(Settings(secrets_file=path)).resolve("openai")
    assert FILE_KEY not in repr(endpoint) and FILE_KEY not in str(endpoint)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([FILE_KEY], "expected a JSON object"),
        ({"cohere": {"api_key": FILE_KEY}}, "unknown provider 'cohere'"),
        ({"openai": FILE_KEY}, "openai must be an object"),
        ({"openai": {"key": FILE_KEY}}, "unknown field(s) key"),
        ({"openai": {"api_key": 12345678}}, "openai.api_key must be a non-empty string"),
        ({"openai": {"api_key": "  "}}, "openai.api_key must be a non-empty string"),
        ({"openai": {"api_key": FILE_KEY, "base_url": 3}}, "openai.base_url must be"),
        ({"openai": {}}, "openai needs an api_key"),
        ('{"openai": {"api_key": "' + FILE_KEY + '"', "not valid JSON (line 1"),
    ],
)
def test_a_bad_secrets_file_is_refused_without_quoting_it(
    tmp_path: Path, data: Any, message: str
) -> None:
    path = _secrets_file(tmp_path, data)
    with pytest.raises(CredentialsError) as caught:
        Credentials.from_settings(Settings(secrets_file=path))
    assert message in str(caught.value)
    assert str(path) in str(caught.value)
    assert FILE_KEY not in str(caught.value)


def test_a_missing_secrets_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    with pytest.raises(CredentialsError, match="cannot read secrets file"):
        Credentials.from_settings(Settings(secrets_file=path))


def test_a_secrets_file_others_can_read_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _secrets_file(tmp_path, {"openai": {"api_key": FILE_KEY}}, mode=0o644)
    with caplog.at_level(logging.WARNING, logger="promptforge.core.credentials"):
        Credentials.from_settings(Settings(secrets_file=path))
    assert "chmod 600" in caplog.text
    assert FILE_KEY not in caplog.text
