"""The rate controller: unit tests per behaviour, property tests, closed-loop convergence."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import random
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptforge.providers.base import CallOutcome, RateSignals
from promptforge.ratecontrol.base import Observation
from promptforge.ratecontrol.controller import (
    CONTROL_PERIOD,
    DEFAULT_CONFIG,
    Ceilings,
    ControllerConfig,
    ControllerState,
    Decision,
    initial_state,
    retry_delay,
    step,
)

P = CONTROL_PERIOD
CFG = DEFAULT_CONFIG
OK = CallOutcome.SUCCESS
LIMITED = CallOutcome.RATE_LIMITED


def _calls(
    n: int,
    start: float,
    outcome: CallOutcome = OK,
    *,
    span: float = P,
    tokens: tuple[int, int] = (100, 100),
    latency: float = 0.0,
    signals: RateSignals | None = None,
) -> list[Observation]:
    """``n`` calls spread evenly over ``(start, start + span)``."""
    return [
        Observation(
            at=start + (i + 0.5) / n * span,
            outcome=outcome,
            input_tokens=tokens[0] if outcome is OK else 0,
            output_tokens=tokens[1] if outcome is OK else 0,
            latency=latency,
            signals=signals or RateSignals(),
        )
        for i in range(n)
    ]


def _full_period(state: ControllerState, start: float, **kwargs: object) -> list[Observation]:
    """As many successful calls as ``state.rate`` dispatches in one period."""
    return _calls(max(1, round(state.rate * P)), start, **kwargs)  # type: ignore[arg-type]


def _run_full(state: ControllerState, t: float, periods: int) -> tuple[ControllerState, float]:
    """Use the whole rate for ``periods`` clean periods."""
    for _ in range(periods):
        state, _ = step(state, _full_period(state, t), t + P)
        t += P
    return state, t


# --- Slow start ---------------------------------------------------------------------------


def test_slow_start_multiplies_a_used_rate() -> None:
    state = initial_state(0.0)
    assert state.rate == 1.0
    # At 1/s a window must last long enough for 3 calls: the first period is too short.
    state, decision = step(state, _calls(2, 0.0), P)
    assert decision.rate == 1.0
    assert decision.phase == "slow_start"
    assert decision.rpm_estimate is None
    state, decision = step(state, _calls(2, P), 2 * P)
    assert decision.rate == pytest.approx(CFG.slow_start_factor)
    state, decision = step(state, _full_period(state, 2 * P), 3 * P)
    assert decision.rate == pytest.approx(CFG.slow_start_factor**2)


def test_app_limited_rate_does_not_grow() -> None:
    state = initial_state(0.0, initial_rate=10.0)
    t = 0.0
    for _ in range(5):  # 2 calls per period against a rate of 20
        state, decision = step(state, _calls(2, t), t + P)
        t += P
    assert decision.rate == 10.0
    # Half of the rate used is enough: 10 calls per period against 20 allowed.
    state, decision = step(state, _calls(10, t), t + P)
    assert decision.rate == pytest.approx(20.0)


def test_no_calls_no_growth() -> None:
    state = initial_state(0.0, initial_rate=3.0)
    for k in range(1, 6):
        state, decision = step(state, [], k * P)
    assert decision.rate == 3.0


def test_growth_is_clocked_by_calls_coming_back_under_long_latency() -> None:
    """Completions at 1/s dispatched 10 s earlier validate 1/s, not the rate set since."""
    lagged = initial_state(0.0, initial_rate=2.0)
    prompt = initial_state(0.0, initial_rate=2.0)
    for k in range(5):
        start = k * P
        lagged, _ = step(lagged, _calls(4, start, latency=10.0), start + P)
        prompt, _ = step(prompt, _full_period(prompt, start), start + P)
    assert lagged.rate == pytest.approx(2.0 * CFG.slow_start_factor)
    assert prompt.rate == pytest.approx(2.0 * CFG.slow_start_factor**5)


# --- Stated limits ------------------------------------------------------------------------


def test_stated_request_limit_caps_the_rate() -> None:
    state = initial_state(0.0, initial_rate=1.5)
    signals = RateSignals(limit_requests=120, remaining_requests=118)
    state, decision = step(state, _calls(3, 0.0, signals=signals), P)
    assert decision.rate == pytest.approx(2.0 * CFG.header_headroom)
    assert decision.phase == "ceiling"
    assert decision.rpm_estimate == 120
    # Later responses without headers keep the stated limit.
    state, decision = step(state, _full_period(state, P), 2 * P)
    assert decision.rate == pytest.approx(2.0 * CFG.header_headroom)


def test_stated_token_limit_uses_observed_tokens_per_request() -> None:
    state = initial_state(0.0, initial_rate=5.0)
    signals = RateSignals(limit_tokens=60_000)
    state, decision = step(state, _calls(10, 0.0, tokens=(800, 200), signals=signals), P)
    assert state.tokens_per_request == pytest.approx(1000.0)
    assert decision.rate == pytest.approx(1.0 * CFG.header_headroom)
    assert decision.tpm_estimate == 60_000
    # Requests shrink to 250 tokens: the average follows and the cap rises with it.
    t, previous = P, state.tokens_per_request
    for _ in range(40):
        state, decision = step(state, _full_period(state, t, tokens=(200, 50)), t + P)
        t += P
        assert state.tokens_per_request is not None
        assert state.tokens_per_request < previous
        previous = state.tokens_per_request
        cap = 60_000 / 60 / state.tokens_per_request * CFG.header_headroom
        assert decision.rate <= cap + 1e-9
    assert decision.rate > 2.5


def test_stated_output_token_limit_caps_the_rate() -> None:
    state = initial_state(0.0, initial_rate=8.0)
    signals = RateSignals(limit_input_tokens=10_000_000, limit_output_tokens=6_000)
    state, decision = step(state, _calls(16, 0.0, tokens=(50, 100), signals=signals), P)
    assert decision.rate == pytest.approx(1.0 * CFG.header_headroom)


def test_low_remaining_budget_ends_slow_start() -> None:
    low = RateSignals(limit_requests=1_000, remaining_requests=50)
    high = RateSignals(limit_requests=1_000, remaining_requests=900)
    state = initial_state(0.0, initial_rate=4.0)
    stopped, decision = step(state, _calls(8, 0.0, signals=low), P)
    assert decision.rate == 4.0
    assert decision.phase == "avoidance"
    assert stopped.limit_estimate == pytest.approx(4.0)
    _grown, decision = step(state, _calls(8, 0.0, signals=high), P)
    assert decision.rate == pytest.approx(8.0)


# --- 429s ---------------------------------------------------------------------------------


def _after_429(rate: float = 10.0) -> tuple[ControllerState, Decision]:
    """A key at ``rate`` whose period ended with 12 successes and 8 fresh 429s."""
    state = initial_state(0.0, initial_rate=rate)
    obs = _calls(12, 0.0) + _calls(8, 0.05, LIMITED)
    return step(state, obs, P)


def test_429s_cut_the_rate_to_a_fraction_of_the_accepted_rate() -> None:
    state, decision = _after_429(10.0)
    prior = CFG.loss_prior
    accepted = 10.0 * (12 + prior) / (20 + prior)
    assert state.limit_estimate == pytest.approx(accepted)
    assert decision.rate == pytest.approx(CFG.decrease_factor * accepted)
    assert decision.phase == "avoidance"
    assert decision.rpm_estimate == pytest.approx(accepted * 60)


def test_rate_holds_after_a_429_then_recovers_then_probes() -> None:
    state, decision = _after_429(10.0)
    estimate = state.limit_estimate
    assert estimate is not None
    cut = decision.rate
    state, decision = step(state, _full_period(state, P), 2 * P)
    assert decision.rate == cut  # the period right after a 429 never raises the rate
    state, decision = step(state, _full_period(state, 2 * P), 3 * P)
    assert decision.rate == pytest.approx(CFG.recovery_fraction * estimate)
    rates = [decision.rate]
    t = 3 * P
    for _ in range(4):
        state, decision = step(state, _full_period(state, t), t + P)
        rates.append(decision.rate)
        t += P
    steps = [b - a for a, b in itertools.pairwise(rates)]
    assert steps[0] == pytest.approx(CFG.probe_start * estimate)
    assert all(b > a for a, b in itertools.pairwise(steps))  # probing speeds up
    assert rates[-1] > estimate  # and goes past the estimate, to find a raised limit


def test_stale_429s_do_not_cut_twice() -> None:
    state, decision = _after_429(10.0)
    cut = decision.rate
    # Calls started before the decrease had settled: no second cut, but no rise either.
    stale = _calls(3, P, LIMITED, span=CFG.settle * 0.9)
    state, decision = step(state, stale + _calls(10, P), 2 * P)
    assert decision.rate == cut
    assert state.saw_429
    fresh = _calls(6, 2 * P + CFG.settle, LIMITED, span=0.5)
    state, decision = step(state, fresh + _calls(4, 2 * P + CFG.settle), 3 * P + CFG.settle)
    assert decision.rate < cut


def _closed_loop(limits: Sequence[float]) -> list[tuple[int, int, int, float]]:
    """Run ``state`` against a provider accepting ``L * P / 60`` calls per period.

    Each period the queue dispatches ``rate * P`` calls (fractions carried to the next
    period); the provider accepts its allowance and answers 429 to the rest. Unused
    allowance under one call carries over, so limits under one call per period work.
    Returns ``(sent, ok, limited, rate after the step)`` per period.
    """
    state = initial_state(0.0)
    t = credit = allowance = 0.0
    rows: list[tuple[int, int, int, float]] = []
    for limit in limits:
        credit += state.rate * P
        sent = int(credit + 1e-9)
        credit -= sent
        allowance = min(allowance, 1.0) + limit * P / 60.0
        accepted = min(sent, int(allowance + 1e-9))
        allowance -= accepted
        obs = _calls(accepted, t) + _calls(sent - accepted, t + 1e-6, LIMITED) if sent else []
        obs.sort(key=lambda o: o.at)
        t += P
        state, _ = step(state, obs, t)
        rows.append((sent, accepted, sent - accepted, state.rate))
    return rows


def test_a_raised_limit_is_found() -> None:
    rows = _closed_loop([600.0] * 40 + [1_200.0] * 40)[40:]
    reached = [k for k, row in enumerate(rows) if row[3] * 60 >= 0.85 * 1_200]
    assert reached and reached[0] < 20


def test_backs_off_quickly_when_another_client_takes_half() -> None:
    rows = _closed_loop([1_200.0] * 40 + [600.0] * 30)
    assert rows[39][3] * 60 > 900
    rows = rows[40:]
    assert rows[1][3] * 60 <= 600  # one period to give the limit up
    sent = sum(r[0] for r in rows[2:])
    limited = sum(r[2] for r in rows[2:])
    assert limited / sent < 0.05
    assert sum(r[1] for r in rows[2:]) / (28 * P / 60) > 0.8 * 600


# --- Pauses -------------------------------------------------------------------------------


def test_retry_after_pauses_when_most_calls_were_429() -> None:
    state = initial_state(0.0, initial_rate=5.0)
    obs = _calls(2, 0.0) + _calls(8, 0.0, LIMITED, signals=RateSignals(retry_after=5.0))
    state, decision = step(state, obs, P)
    latest = max(o.at for o in obs if o.outcome is LIMITED)
    assert decision.paused_until == pytest.approx(latest + 5.0)
    assert decision.phase == "paused"
    # While paused nothing grows; once it is over the phase comes back.
    held = decision.rate
    state, decision = step(state, _calls(10, P), 2 * P)
    assert decision.rate <= held
    state, decision = step(state, [], latest + 5.0 + 0.1)
    assert decision.paused_until is None
    assert decision.phase != "paused"


def test_one_stray_429_does_not_pause() -> None:
    state = initial_state(0.0, initial_rate=10.0)
    obs = _calls(19, 0.0) + _calls(1, 0.0, LIMITED, signals=RateSignals(retry_after=5.0))
    state, decision = step(state, obs, P)
    assert decision.paused_until is None
    assert decision.rate < 10.0


def test_a_long_retry_after_pauses_even_when_rare() -> None:
    state = initial_state(0.0, initial_rate=10.0)
    obs = _calls(19, 0.0) + _calls(1, 0.0, LIMITED, signals=RateSignals(retry_after=120.0))
    _, decision = step(state, obs, P)
    assert decision.paused_until is not None and decision.paused_until > 100.0
    huge = _calls(1, 0.0, LIMITED, signals=RateSignals(retry_after=1e9))
    _, decision = step(state, huge, P)
    assert decision.paused_until == pytest.approx(P + CFG.max_pause)


def test_daily_quota_pauses_until_the_utc_day_ends_without_a_cut() -> None:
    now = 1_767_225_600.0 + 10 * 3_600  # 2026-01-01 10:00 UTC
    state = initial_state(now - P, initial_rate=4.0)
    daily = RateSignals(daily_quota_exhausted=True, retry_after=3.0)
    state, decision = step(state, _calls(3, now - P, LIMITED, signals=daily), now)
    assert decision.paused_until == 1_767_225_600.0 + 86_400.0
    assert decision.phase == "paused"
    assert decision.rate == 4.0
    longer = RateSignals(daily_quota_exhausted=True, retry_after=2 * 86_400.0)
    obs = _calls(1, now - P, LIMITED, signals=longer)
    _, decision = step(initial_state(now - P), obs, now)
    assert decision.paused_until == pytest.approx(obs[0].at + 2 * 86_400.0)


def test_errors_do_not_move_the_rate_down() -> None:
    state = initial_state(0.0, initial_rate=4.0)
    transient, decision = step(state, _calls(8, 0.0, CallOutcome.TRANSIENT), P)
    assert decision.rate == 4.0  # neither a cut nor proof that the rate is used
    permanent, decision = step(state, _calls(8, 0.0, CallOutcome.PERMANENT), P)
    assert decision.rate == pytest.approx(8.0)  # a failed prompt still used its slot
    assert transient.limit_estimate is None and permanent.limit_estimate is None


# --- Bounds and ceilings ------------------------------------------------------------------


def test_rate_stays_within_min_and_max() -> None:
    state = initial_state(0.0)
    t = 0.0
    for _ in range(30):
        state, decision = step(state, _calls(5, t, LIMITED), t + P)
        t += P
    assert decision.rate == CFG.min_rate
    state = initial_state(0.0, initial_rate=CFG.max_rate / 2)
    state, decision = step(state, _calls(int(CFG.max_rate * P), 0.0), P)
    assert decision.rate == CFG.max_rate
    assert decision.phase == "ceiling"


def test_user_ceilings_skip_discovery() -> None:
    state = initial_state(0.0, Ceilings(rpm=300))
    assert state.rate == 5.0
    ceilings = Ceilings(rpm=300)
    state, decision = step(state, _full_period(state, 0.0), P, ceilings)
    assert decision.rate == 5.0
    assert decision.phase == "ceiling"
    assert decision.rpm_estimate == 300


def test_tpm_ceiling_converts_through_tokens_per_request() -> None:
    ceilings = Ceilings(tpm=60_000)
    state = initial_state(0.0, ceilings)
    assert state.rate == pytest.approx(60_000 / 60 / CFG.tokens_prior)
    state, decision = step(state, _calls(2, 0.0, tokens=(400, 100)), P, ceilings)
    assert decision.tpm_estimate == 60_000
    assert decision.phase == "slow_start"  # 500-token requests: the ceiling is now 2/s
    t = P
    for _ in range(6):
        state, decision = step(state, _full_period(state, t, tokens=(400, 100)), t + P, ceilings)
        t += P
        assert decision.rate <= 60_000 / 60 / 500
    assert decision.rate == pytest.approx(60_000 / 60 / 500)
    assert decision.phase == "ceiling"


def test_invalid_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="rpm"):
        Ceilings(rpm=0)
    with pytest.raises(ValueError, match="tpm"):
        Ceilings(tpm=math.inf)
    with pytest.raises(ValueError, match="initial_rate"):
        initial_state(0.0, initial_rate=-1.0)
    with pytest.raises(ValueError):
        ControllerConfig(decrease_factor=1.5)


def test_step_does_not_depend_on_observation_order() -> None:
    state = initial_state(0.0, initial_rate=10.0)
    obs = _calls(12, 0.0, signals=RateSignals(limit_requests=900)) + _calls(
        8, 0.0, LIMITED, signals=RateSignals(retry_after=1.0)
    )
    shuffled = obs[:]
    random.Random(7).shuffle(shuffled)
    assert step(state, obs, P) == step(state, shuffled, P)


# --- retry_delay --------------------------------------------------------------------------


def test_retry_delay_honours_retry_after_and_spreads() -> None:
    state = initial_state(0.0)
    delays = [retry_delay(state, 10.0, 4.0, salt=f"p{i}") for i in range(50)]
    assert all(4.0 <= d <= 4.0 + max(2.0, P) for d in delays)
    assert len({round(d, 6) for d in delays}) > 40  # spread, not a storm
    assert retry_delay(state, 10.0, 4.0, salt="p1") == retry_delay(state, 10.0, 4.0, salt="p1")
    without = [retry_delay(state, 10.0, None, salt=f"p{i}") for i in range(20)]
    assert all(2 * P <= d <= 3 * P for d in without)


def test_retry_delay_waits_out_a_pause() -> None:
    state = dataclasses.replace(initial_state(0.0), paused_until=3_600.0)
    delay = retry_delay(state, 100.0, 1.0, salt="x")
    assert 3_500.0 <= delay <= 3_500.0 + CFG.max_spread


# --- Persistence --------------------------------------------------------------------------


def test_state_round_trips_through_json() -> None:
    state, _ = _after_429()
    state, _ = step(state, _calls(5, P, signals=RateSignals(limit_tokens=9_000)), 2 * P)
    data = json.loads(json.dumps(state.to_dict(), allow_nan=False))
    assert ControllerState.from_dict(data) == state
    with pytest.raises(ValueError, match="version"):
        ControllerState.from_dict({**data, "version": 99})


# --- Properties ---------------------------------------------------------------------------

_signals = st.builds(
    RateSignals,
    limit_requests=st.none() | st.integers(0, 100_000),
    limit_tokens=st.none() | st.integers(0, 10_000_000),
    remaining_requests=st.none() | st.integers(0, 100_000),
    remaining_tokens=st.none() | st.integers(0, 10_000_000),
    limit_input_tokens=st.none() | st.integers(1, 1_000_000),
    limit_output_tokens=st.none() | st.integers(1, 1_000_000),
    retry_after=st.none() | st.floats(0, 200_000),
    daily_quota_exhausted=st.booleans(),
)
_observation = st.builds(
    Observation,
    at=st.floats(-5, 5),  # relative to the period start
    outcome=st.sampled_from(list(CallOutcome)),
    input_tokens=st.integers(0, 50_000),
    output_tokens=st.integers(0, 50_000),
    latency=st.floats(0, 60),
    signals=st.one_of(st.just(RateSignals()), _signals),
)
_outcomes = st.one_of(
    st.sampled_from([[OK], [OK, LIMITED], [LIMITED], [OK, CallOutcome.TRANSIENT]]),
    st.lists(st.sampled_from(list(CallOutcome)), min_size=1, max_size=4),
)
# A period: its length, the share of the current rate dispatched, the outcome pattern
# those calls cycle through, and a few arbitrary extra observations. Common cases are
# drawn often so that sequences like "429s, then a clean, fully used period" appear.
_period = st.tuples(
    st.one_of(st.just(P), st.floats(0.1, 30)),
    st.one_of(st.sampled_from([0.0, 1.0, 2.0]), st.floats(0, 2.5)),
    _outcomes,
    st.one_of(st.just([]), st.lists(_observation, max_size=4)),
)
_ceilings = st.builds(
    Ceilings,
    rpm=st.none() | st.floats(0.1, 50_000),
    tpm=st.none() | st.floats(1, 5_000_000),
)
Period = tuple[float, float, list[CallOutcome], list[Observation]]


def _replay(
    periods: list[Period], ceilings: Ceilings, initial_rate: float
) -> list[tuple[ControllerState, Decision, bool]]:
    """Run the controller over generated periods: ``(state, decision, saw a 429)`` each."""
    state = initial_state(1_000.0, ceilings, initial_rate=initial_rate)
    t = 1_000.0
    out = []
    for dt, use, pattern, extras in periods:
        n = min(300, round(use * state.rate * dt))
        obs = [dataclasses.replace(o, at=t + o.at) for o in extras]
        obs += [
            Observation(at=t + (i + 0.5) * dt / n, outcome=pattern[i % len(pattern)])
            for i in range(n)
        ]
        t += dt
        state, decision = step(state, obs, t, ceilings)
        out.append((state, decision, any(o.outcome is LIMITED for o in obs)))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    periods=st.lists(_period, min_size=1, max_size=12),
    ceilings=_ceilings,
    initial_rate=st.floats(0.001, 10_000),
)
def test_rate_stays_within_bounds_and_ceilings(
    periods: list[Period], ceilings: Ceilings, initial_rate: float
) -> None:
    floor = min(CFG.min_rate, ceilings.rpm / 60) if ceilings.rpm else CFG.min_rate
    for state, decision, _ in _replay(periods, ceilings, initial_rate):
        assert math.isfinite(decision.rate)
        assert floor * (1 - 1e-12) <= decision.rate <= CFG.max_rate
        if ceilings.rpm is not None:
            assert decision.rate <= ceilings.rpm / 60 * (1 + 1e-12)
        if ceilings.tpm is not None and decision.rate > CFG.min_rate:
            per = state.tokens_per_request or CFG.tokens_prior
            assert decision.rate * 60 * per <= ceilings.tpm * (1 + 1e-9)
        assert decision.phase in {"slow_start", "avoidance", "paused", "ceiling"}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    periods=st.lists(_period, min_size=2, max_size=12),
    ceilings=_ceilings,
    initial_rate=st.floats(0.01, 5_000),
)
def test_rate_never_rises_right_after_a_429(
    periods: list[Period], ceilings: Ceilings, initial_rate: float
) -> None:
    runs = _replay(periods, ceilings, initial_rate)
    for (before, _, saw), (after, _, saw_now) in itertools.pairwise(runs):
        if saw or saw_now:
            assert after.rate <= before.rate


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(periods=st.lists(_period, max_size=8), ceilings=_ceilings)
def test_state_round_trips_for_any_history(periods: list[Period], ceilings: Ceilings) -> None:
    for state, _, _ in _replay(periods, ceilings, 1.0) or [(initial_state(0.0), None, False)]:
        data = json.loads(json.dumps(state.to_dict(), allow_nan=False))
        assert ControllerState.from_dict(data) == state


def _convergence_bounds(limit: float) -> tuple[int, int, float, float]:
    """``(periods to reach 85 %, tail periods, min tail throughput, max tail 429 share)``.

    From 60 RPM up a limit allows at least two calls per period and the controller must
    reach 85 % within 60 periods, then keep over 80 % of the limit (the v1 sawtooth
    averages about 87-90 %). The 429 share is one overshooting call or so per probing
    cycle: under 3 % once a period holds 20 calls or more (600 RPM), under 8 % below.
    Under 60 RPM a period holds less than two calls: nothing can be learnt faster than
    calls come back, so the bounds count calls instead (60 periods plus time for 60
    calls), and one 429 is a large share of few calls. Near the 1 RPM floor the
    controller cannot go slower than the limit itself, so a client sending exactly at
    a 1-call bucket alternates just-in-time and just-too-early: there only the
    throughput is asserted.
    """
    per_period = limit * P / 60
    tail = max(60, math.ceil(40 / per_period))
    if limit >= 600:
        return 60, tail, 0.8, 0.03
    if limit >= 60:
        return 60, tail, 0.8, 0.08
    reach = 60 + math.ceil(60 / per_period)
    if limit >= 10:
        return reach, tail, 0.6, 0.12
    return reach, tail, 0.55, 1.0 if limit < 2 else 0.2


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exponent=st.floats(0, 5))
def test_converges_to_an_unknown_limit(exponent: float) -> None:
    limit = 10**exponent
    reach_bound, tail, min_share, max_429 = _convergence_bounds(limit)
    rows = _closed_loop([limit] * (reach_bound + tail))
    rows, after = rows[:reach_bound], rows[reach_bound:]
    first_429 = next(k for k, row in enumerate(rows) if row[2])
    reached = [k for k, row in enumerate(rows) if k >= first_429 and row[3] * 60 >= 0.85 * limit]
    assert reached, f"never reached 85% of {limit:.1f} RPM in {reach_bound} periods"
    sent = sum(r[0] for r in after)
    accepted = sum(r[1] for r in after)
    assert accepted / (tail * P / 60) >= min_share * limit
    assert sum(r[2] for r in after) / max(sent, 1) <= max_429
