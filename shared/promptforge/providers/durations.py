"""Wait times as providers write them, turned into seconds.

    parse_go_duration("6m0s")              360.0   OpenAI's x-ratelimit-reset-* headers
    parse_retry_after("20", now)            20.0   delta-seconds
    parse_retry_after("Thu, 01 Jan ...")    ...    an HTTP date, counted from ``now``
    parse_retry_after_ms("644")              0.644  OpenAI's retry-after-ms
    retry_delay_in_message("... try again in 1.2s.")  1.2

Every parser returns ``None`` for a value it cannot read: a header is a hint, never a reason
to fail a call.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

_GO_UNIT_SECONDS: dict[str, float] = {
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "\u00b5s": 1e-6,  # micro sign, as Go prints it
    "\u03bcs": 1e-6,  # Greek small letter mu
    "ns": 1e-9,
}
_GO_PART = r"(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h)"
_GO_DURATION = re.compile(rf"(?:{_GO_PART})+")
_GO_COMPONENT = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")

# "Please try again in 644ms." (OpenAI), "Please retry in 1.56s." (Gemini).
_RETRY_PHRASE = re.compile(r"(?:try again|retry) in\s+([0-9.][0-9.a-z\u00b5\u03bc]*)", re.I)
_RETRY_PHRASE_WORDS = re.compile(
    r"(?:try again|retry) in\s+(\d+(?:\.\d+)?)\s*"
    r"(milliseconds?|seconds?|secs?|minutes?|mins?|hours?)\b",
    re.I,
)
_WORD_UNIT_SECONDS = {"mil": 1e-3, "sec": 1.0, "min": 60.0, "hou": 3600.0}


def parse_go_duration(value: str | None) -> float | None:
    """A Go ``time.Duration`` string (``12ms``, ``8.41s``, ``6m0s``, ``1h2m3.5s``) in seconds."""
    if value is None:
        return None
    text = value.strip()
    if text == "0":
        return 0.0
    if not _GO_DURATION.fullmatch(text):
        return None
    return sum(
        float(number) * _GO_UNIT_SECONDS[unit] for number, unit in _GO_COMPONENT.findall(text)
    )


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP date (``Thu, 01 Jan 2026 00:00:00 GMT``) as aware UTC."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """``retry-after``: delta-seconds, or an HTTP date counted from ``now`` (never negative)."""
    if not value:
        return None
    seconds = _non_negative_float(value)
    if seconds is not None:
        return seconds
    moment = parse_http_date(value)
    if moment is None:
        return None
    return max(0.0, (moment - now).total_seconds())


def parse_retry_after_ms(value: str | None) -> float | None:
    """``retry-after-ms`` (milliseconds, possibly fractional) in seconds."""
    if not value:
        return None
    millis = _non_negative_float(value)
    return None if millis is None else millis / 1000.0


def retry_delay_in_message(message: str | None) -> float | None:
    """The wait a provider states in prose: "try again in 6m0s", "retry in 1.56s", "20 seconds"."""
    if not message:
        return None
    match = _RETRY_PHRASE.search(message)
    if match is not None:
        seconds = parse_go_duration(match.group(1).rstrip("."))
        if seconds is not None:
            return seconds
    words = _RETRY_PHRASE_WORDS.search(message)
    if words is not None:
        return float(words.group(1)) * _WORD_UNIT_SECONDS[words.group(2).lower()[:3]]
    return None


def _non_negative_float(value: str) -> float | None:
    """A finite number >= 0, ``None`` for anything else."""
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if math.isfinite(number) and number >= 0:
        return number
    return None
