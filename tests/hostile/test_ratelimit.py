"""The per-key token buckets, on a hand-moved clock, and the 429 the API builds from them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptforge.api.app import check_rate
from promptforge.api.throttle import DEFAULT_LIMITS, INIT, RESULTS, STATUS, Limit, RateLimiter
from promptforge.errors import TooManyRequests


class Clock:
    """Monotonic seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _allowed(limiter: RateLimiter, endpoint: str, key: str) -> bool:
    decision = limiter.take(endpoint, key)
    assert decision is not None
    return decision.allowed


def test_a_burst_then_the_sustained_rate() -> None:
    clock = Clock()
    limiter = RateLimiter({"e": Limit(per_minute=60, burst=3)}, clock)
    assert [_allowed(limiter, "e", "k") for _ in range(4)] == [True, True, True, False]
    refused = limiter.take("e", "k")
    assert refused is not None and not refused.allowed
    assert refused.retry_after == pytest.approx(1.0) and refused.retry_after_seconds == 1
    clock.now += 0.5
    assert not _allowed(limiter, "e", "k")
    clock.now += 0.5
    assert _allowed(limiter, "e", "k")
    clock.now += 3600  # idle for an hour: back to a full burst, not more
    assert [_allowed(limiter, "e", "k") for _ in range(4)] == [True, True, True, False]


def test_buckets_are_per_key_and_per_endpoint() -> None:
    limiter = RateLimiter({"a": Limit(60, 1), "b": Limit(60, 1)}, Clock())
    assert _allowed(limiter, "a", "k1")
    assert not _allowed(limiter, "a", "k1")
    assert _allowed(limiter, "a", "k2")
    assert _allowed(limiter, "b", "k1")
    assert limiter.take("unlimited", "k1") is None


def test_a_clock_that_steps_back_never_mints_tokens() -> None:
    clock = Clock()
    limiter = RateLimiter({"e": Limit(60, 1)}, clock)
    assert _allowed(limiter, "e", "k")
    clock.now -= 100
    assert not _allowed(limiter, "e", "k")


def test_memory_stays_bounded_and_idle_buckets_go_first() -> None:
    clock = Clock()
    limiter = RateLimiter({"e": Limit(60, 2)}, clock, max_buckets=3)
    for key in ("a", "b", "c"):
        limiter.take("e", key)
    clock.now += 10  # a, b, c are full again: forgetting them changes nothing
    limiter.take("e", "busy")
    limiter.take("e", "busy")
    assert len(limiter._buckets) == 1
    for key in ("d", "e", "f", "g"):
        limiter.take("e", key)
    assert len(limiter._buckets) <= 3


@settings(max_examples=200, deadline=None)
@given(
    per_minute=st.integers(1, 1000),
    burst=st.integers(1, 50),
    gaps=st.lists(st.floats(0, 5, allow_nan=False), min_size=1, max_size=200),
)
def test_never_more_than_burst_plus_rate_times_time(
    per_minute: int, burst: int, gaps: list[float]
) -> None:
    clock = Clock()
    limiter = RateLimiter({"e": Limit(per_minute, burst)}, clock)
    start, allowed = clock.now, 0
    for gap in gaps:
        clock.now += gap
        decision = limiter.take("e", "k")
        assert decision is not None
        allowed += decision.allowed
        if not decision.allowed:
            assert 0 < decision.retry_after <= 60 / per_minute + 1e-9
        assert allowed <= burst + (clock.now - start) * per_minute / 60 + 1e-6


def test_the_429_names_the_limit_and_when_to_retry() -> None:
    clock = Clock()
    limiter = RateLimiter({INIT: Limit(per_minute=4, burst=1)}, clock)
    check_rate(limiter, INIT, "key-1")
    with pytest.raises(TooManyRequests) as caught:
        check_rate(limiter, INIT, "key-1")
    error = caught.value
    assert (error.status, error.code) == (429, "rate_limited")
    assert error.headers == {"Retry-After": "15"}
    assert "4 a minute" in error.message and "retry after 15 s" in error.message
    assert error.body()["error"]["details"] == {
        "limit_per_minute": 4,
        "burst": 1,
        "retry_after": 15,
    }


def test_the_defaults_rank_endpoints_like_the_seed() -> None:
    """PromptLoop: status polled most, results listed less, creating least (per minute)."""
    init, status, results = (DEFAULT_LIMITS[e] for e in (INIT, STATUS, RESULTS))
    assert status.per_minute > results.per_minute > init.per_minute
    assert status.per_minute >= 60 * 10 / 5  # ten jobs polled every 5 s by one key
