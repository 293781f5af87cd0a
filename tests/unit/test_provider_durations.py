"""Provider wait times: Go durations, retry-after (seconds, HTTP date, ms), prose."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from promptforge.providers.durations import (
    parse_go_duration,
    parse_http_date,
    parse_retry_after,
    parse_retry_after_ms,
    retry_delay_in_message,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("12ms", 0.012),
        ("8.41s", 8.41),
        ("6m0s", 360.0),
        ("1h2m3.5s", 3723.5),
        ("0s", 0.0),
        ("0", 0.0),
        ("1.5h", 5400.0),
        ("250us", 0.00025),
        ("250\u00b5s", 0.00025),
        ("3ns", 3e-9),
        (" 20s ", 20.0),
        (".5s", 0.5),
    ],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", [None, "", "12", "-1s", "1d", "6m0", "s", "1.2.3s", "1 s", "abc"])
def test_unreadable_go_durations(text: str | None) -> None:
    assert parse_go_duration(text) is None


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("20", 20.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("Thu, 01 Jan 2026 00:01:00 GMT", 60.0),
        ("Wed, 31 Dec 2025 23:59:00 GMT", 0.0),  # in the past: go now
        (None, None),
        ("", None),
        ("-3", None),
        ("inf", None),
        ("nan", None),
        ("tomorrow", None),
    ],
)
def test_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


@pytest.mark.parametrize(
    ("value", "seconds"), [("644", 0.644), ("1500.5", 1.5005), ("x", None), (None, None)]
)
def test_retry_after_ms(value: str | None, seconds: float | None) -> None:
    got = parse_retry_after_ms(value)
    assert got == (None if seconds is None else pytest.approx(seconds))


def test_http_date() -> None:
    assert parse_http_date("Thu, 01 Jan 2026 00:00:05 GMT") == datetime(
        2026, 1, 1, 0, 0, 5, tzinfo=UTC
    )
    assert parse_http_date("not a date") is None


@pytest.mark.parametrize(
    ("message", "seconds"),
    [
        ("Limit 30000, Used 29937, Requested 385. Please try again in 644ms. Visit", 0.644),
        ("Please try again in 1.2s.", 1.2),
        ("on requests per day (RPD): Limit 200. Please try again in 6m0s. Visit", 360.0),
        ("Quota exceeded. Please retry in 1.56s.", 1.56),
        ("Please try again in 20 seconds.", 20.0),
        ("Try again in 2 minutes", 120.0),
        ("Rate limit exceeded", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_delay_in_message(message: str | None, seconds: float | None) -> None:
    got = retry_delay_in_message(message)
    assert got == (None if seconds is None else pytest.approx(seconds))
