"""Limits named only in 429s expire; charges are learnt from calls several queues start together."""

from __future__ import annotations

import pytest

from promptforge.providers.base import RateSignals
from promptforge.ratecontrol.base import Observation
from promptforge.ratecontrol.budget import charge_ratio
from promptforge.ratecontrol.controller import ControllerState, initial_state, named_max_age, step
from tests.unit._rate_calls import CFG, LIMITED, OK, P, full_period
from tests.unit._rate_calls import calls as _calls

# --- A limit named in a 429 (Gemini's QuotaFailure) is an estimate, not a ceiling ---------


def _named_cut(limit_rpm: int) -> tuple[ControllerState, float]:
    """A key at 2/s whose provider refuses with a 429 naming ``limit_rpm``."""
    state = initial_state(0.0, initial_rate=2.0)
    named = RateSignals(retry_after=1.0, limit_requests=limit_rpm)
    state, _ = step(state, _calls(3, 0.0) + _calls(2, 0.0, LIMITED, signals=named), P)
    assert state.limit_requests == limit_rpm
    assert state.rate <= limit_rpm / 60.0
    return state, P


def _clean(state: ControllerState, start: float, end: float) -> tuple[ControllerState, float]:
    """Periods in which every dispatch is accepted, from ``start`` to ``end``."""
    t = start
    while t < end:
        state, _ = step(state, full_period(state, t), t + P)
        t += P
    return state, t


def test_a_limit_named_in_a_429_expires_and_a_raised_limit_is_found() -> None:
    state, t = _named_cut(60)  # 1/s named; the provider has in fact raised it (or it was
    state, t = _clean(state, t, CFG.named_max_age)  # another quota): nothing refuses now.
    # Until it expires the named limit caps the key.
    assert state.limit_requests == 60
    assert state.rate <= CFG.header_headroom * 1.0 + 1e-9
    state, t = _clean(state, t, t + 4 * P)
    assert state.limit_requests is None  # dropped: an estimate like any other
    assert state.named_at is None
    # Avoidance then probes past it, and a provider that accepts more lets it grow.
    state, t = _clean(state, t, t + 600.0)
    assert state.rate > 1.2


def test_a_named_limit_that_still_holds_is_named_again() -> None:
    state, t = _named_cut(60)
    named = RateSignals(retry_after=1.0, limit_requests=60)
    # A 429 naming it again before it expires keeps it.
    for _ in range(3):
        state, t = _clean(state, t, t + 0.8 * CFG.named_max_age)
        state, _ = step(state, full_period(state, t) + _calls(1, t, LIMITED, signals=named), t + P)
        t += P
        assert state.limit_requests == 60
    assert t > 2 * CFG.named_max_age


def test_a_tiny_named_limit_is_kept_for_a_hundred_calls() -> None:
    """At 3 RPM, dropping the limit after two minutes and probing past it would cost a
    429 every six calls: it is kept for ``named_calls`` calls' time instead."""
    state, t = _named_cut(3)
    kept = CFG.named_calls * 60.0 / 3
    assert named_max_age(state, CFG) == kept > CFG.named_max_age
    state, t = _clean(state, t, 0.9 * kept)
    assert state.limit_requests == 3
    state, t = _clean(state, t, kept + 4 * P)
    assert state.limit_requests is None


def test_limits_stated_with_their_budget_do_not_expire() -> None:
    state = initial_state(0.0, initial_rate=2.0)
    stated = RateSignals(limit_requests=600, remaining_requests=300)
    t = 0.0
    while t < 3 * CFG.named_max_age:
        state, _ = step(state, full_period(state, t, signals=stated), t + P)
        t += P
    assert state.limit_requests == 600
    assert state.named_at is None


# --- Charges from calls started together ----------------------------------------------------


def _clump(
    start: float, missing_before: float, limit: int, charges: list[int]
) -> list[Observation]:
    """Calls admitted at the same instant (one per queue): what was missing after each."""
    out, missing = [], missing_before
    requests_left = 1_000
    for index, charge in enumerate(charges):
        missing += charge
        requests_left -= 1
        signals = RateSignals(
            limit_tokens=limit,
            remaining_tokens=round(limit - missing),
            limit_requests=1_000,
            remaining_requests=requests_left,
        )
        # They answer in any order: latency differs, the start is the same.
        latency = 1.0 + ((index * 7) % len(charges)) / 10.0
        out.append(
            Observation(
                start + latency,
                OK,
                input_tokens=charge,
                output_tokens=0,
                latency=latency,
                signals=signals,
            )
        )
    return out


@pytest.mark.parametrize("answered", [[0, 1, 2, 3, 4], [0, 2, 4], [1, 3]])
def test_calls_started_together_are_paired_in_admission_order(answered: list[int]) -> None:
    """A charge equal to the usage has ratio 1, whatever subset answered in the period."""
    clump = _clump(10.0, 5_000.0, 500_000, [900, 2_500, 400, 1_700, 3_100])
    seen = sorted((clump[i] for i in answered), key=lambda obs: obs.at)  # as they answered
    ratio = charge_ratio(None, seen, "tokens", rate=5.0, weight=0.05)
    if answered == [0, 1, 2, 3, 4]:
        assert ratio == pytest.approx(1.0, abs=0.01)
    else:
        # A call in between answered in another period: those pairs teach nothing.
        assert ratio is None
