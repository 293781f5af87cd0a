"""The retry rules of ``core.retry_policy``: backoff, and the timeout that grows per timeout."""

from __future__ import annotations

import pytest

from promptforge.core.retry_policy import (
    LEASE_SHARE,
    TRANSIENT_BACKOFF_MAX,
    attempt_timeout,
    transient_delay,
)


def test_each_timeout_doubles_the_next_calls_timeout() -> None:
    assert [attempt_timeout(3.0, n, 600.0) for n in range(4)] == [3.0, 6.0, 12.0, 24.0]


def test_the_timeout_stays_inside_the_lease() -> None:
    # The lease must outlast the call, or a second delivery could claim and call again.
    assert attempt_timeout(300.0, 1, 600.0) == 600.0 * LEASE_SHARE
    assert attempt_timeout(300.0, 5, 600.0) == 600.0 * LEASE_SHARE
    assert attempt_timeout(1.0, 3, 4.0) == pytest.approx(3.2)


def test_the_timeout_never_falls_below_the_configured_one() -> None:
    assert attempt_timeout(5.0, 0, 6.0) == 5.0
    assert attempt_timeout(5.0, 2, 6.0) == 5.0  # the lease leaves no room to grow


@pytest.mark.parametrize("attempt", [0, 1, 2, 10])
def test_backoff_is_jittered_and_capped(attempt: int) -> None:
    full = min(TRANSIENT_BACKOFF_MAX, 2.0 * 2.0**attempt)
    for _ in range(50):
        assert full / 2 <= transient_delay(attempt, None) <= full


def test_backoff_waits_at_least_the_providers_retry_after() -> None:
    assert transient_delay(0, 30.0) == 30.0
