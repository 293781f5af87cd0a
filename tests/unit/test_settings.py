"""Operator settings refuse combinations that would break a guarantee, saying which and why."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from promptforge.cli.main import main
from promptforge.settings import Settings


def test_a_provider_call_must_end_before_its_lease() -> None:
    with pytest.raises(
        ValidationError, match=r"PROMPTFORGE_PROVIDER_TIMEOUT .* PROMPTFORGE_LEASE_SECONDS"
    ):
        Settings(provider_timeout=600, lease_seconds=600)
    assert Settings(provider_timeout=599, lease_seconds=600).provider_timeout == 599


def test_the_defaults_leave_a_slow_completion_time_to_finish() -> None:
    settings = Settings()
    assert 120 < settings.provider_timeout < settings.lease_seconds


def test_a_short_signing_secret_is_refused_with_what_to_set() -> None:
    with pytest.raises(ValidationError, match="PROMPTFORGE_SIGNING_SECRET is 5 bytes"):
        Settings(signing_secret="short")
    assert Settings(signing_secret="x" * 16).signing_secret is not None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PROMPTFORGE_SIGNING_SECRET": "short"}, "PROMPTFORGE_SIGNING_SECRET is 5 bytes"),
        ({"PROMPTFORGE_LEASE_SECONDS": "1"}, "must be shorter than PROMPTFORGE_LEASE_SECONDS"),
        ({"PROMPTFORGE_CONTROL_PERIOD": "-1"}, "PROMPTFORGE_CONTROL_PERIOD: Input should be"),
    ],
)
def test_serve_stops_on_a_bad_setting_with_a_message_not_a_traceback(
    env: dict[str, str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PROMPTFORGE_DATA_DIR", str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["serve", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("promptforge: cannot start: ") and message in err
    assert "Traceback" not in err


def test_a_short_signing_key_file_stops_start_up_with_a_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "signing.key").write_text("abc\n")
    monkeypatch.setenv("PROMPTFORGE_DATA_DIR", str(tmp_path))
    assert main(["serve", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "signing.key holds a signing key of 3 bytes" in err and "Traceback" not in err
