"""Operator settings refuse combinations that would break a guarantee, saying which and why."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

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
