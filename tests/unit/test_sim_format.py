"""The simulator's generated text and the formats its headers use."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime

import pytest

from promptforge.sim.providers.anthropic import AnthropicWire
from promptforge.sim.providers.limits import BucketView, LimitCheck, LimitKind
from promptforge.sim.providers.text import complete, count_tokens, prompt_key, prompt_tokens
from promptforge.sim.providers.wire import CallContext, go_duration, rfc3339


def test_same_seed_and_prompt_give_the_same_answer_others_differ() -> None:
    first = complete(1, "Summarise the report", None, 100)
    assert complete(1, "Summarise the report", None, 100) == first
    assert complete(2, "Summarise the report", None, 100).text != first.text
    assert complete(1, "Summarise the memo", None, 100).text != first.text


def test_token_counts_match_the_text_at_four_characters_a_token() -> None:
    for i in range(50):
        answer = complete(0, f"prompt {i}", None, 80)
        assert answer.tokens >= 1
        assert count_tokens(answer.text) == answer.tokens
        assert len(answer.text) == 4 * answer.tokens


def test_lengths_spread_around_the_mean() -> None:
    lengths = [complete(3, f"q{i}", None, 120).tokens for i in range(400)]
    assert 105 < statistics.mean(lengths) < 135
    assert statistics.pstdev(lengths) > 30  # a distribution, not a constant
    assert min(lengths) < 80 < 160 < max(lengths)


def test_max_tokens_caps_the_answer_and_marks_it_truncated() -> None:
    full = complete(0, "tell me everything", None, 200)
    capped = complete(0, "tell me everything", 10, 200)
    assert full.tokens > 10
    assert not full.truncated
    assert capped.tokens == 10
    assert capped.truncated
    assert full.text.startswith(capped.text[:-1])
    generous = complete(0, "tell me everything", 10_000, 200)
    assert generous == full


def test_prompt_tokens_count_text_and_per_message_overhead() -> None:
    assert count_tokens("") == 0
    assert count_tokens("abcde") == 2
    assert prompt_tokens(["abcd"]) == 1 + 3 + 3
    assert prompt_tokens(["abcd", "abcdefgh"]) == (1 + 3) + (2 + 3) + 3


def test_prompt_key_is_a_short_sha256() -> None:
    assert prompt_key("hello") == "2cf24dba5fb0a30e"
    assert len(prompt_key("x" * 1000)) == 16


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0.0, "0s"),
        (0.012, "12ms"),
        (0.0004, "1ms"),
        (0.644, "644ms"),
        (1.0, "1s"),
        (8.41, "8.41s"),
        (9.816, "9.816s"),
        (86.4, "1m26.4s"),
        (360.0, "6m0s"),
        (3600.0, "1h0m0s"),
        (3725.5, "1h2m5.5s"),
    ],
)
def test_go_durations(seconds: float, expected: str) -> None:
    assert go_duration(seconds) == expected


def test_rfc3339_rounds_up_to_whole_seconds_in_utc() -> None:
    assert rfc3339(datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)) == "2026-03-01T12:00:05Z"
    assert rfc3339(datetime(2026, 3, 1, 12, 0, 5, 1, tzinfo=UTC)) == "2026-03-01T12:00:06Z"


def test_anthropic_states_token_limits_rounded_and_the_tightest_as_tokens() -> None:
    views = {
        LimitKind.REQUESTS: BucketView(50, 49, 1.2),
        LimitKind.INPUT_TOKENS: BucketView(40_000, 12_600, 30.5),
        LimitKind.OUTPUT_TOKENS: BucketView(8_000, 7_499, 0.2),
    }
    ctx = CallContext("req", datetime(2026, 1, 1, 12, tzinfo=UTC))
    headers = AnthropicWire()._limit_headers(LimitCheck(True, 0.0, None, views), ctx)
    assert headers == {
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "49",  # requests: exact
        "anthropic-ratelimit-requests-reset": "2026-01-01T12:00:02Z",
        "anthropic-ratelimit-input-tokens-limit": "40000",
        "anthropic-ratelimit-input-tokens-remaining": "13000",  # tokens: to the thousand
        "anthropic-ratelimit-input-tokens-reset": "2026-01-01T12:00:31Z",
        "anthropic-ratelimit-output-tokens-limit": "8000",
        "anthropic-ratelimit-output-tokens-remaining": "7000",
        "anthropic-ratelimit-output-tokens-reset": "2026-01-01T12:00:01Z",
        # the token limit nearest to exhaustion (input: 31 % left against output's 94 %)
        "anthropic-ratelimit-tokens-limit": "40000",
        "anthropic-ratelimit-tokens-remaining": "13000",
        "anthropic-ratelimit-tokens-reset": "2026-01-01T12:00:31Z",
    }
