"""The rate controller, behaviour by behaviour (properties: ``test_rate_controller_properties``)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import random

import pytest

from promptforge.providers.base import CallOutcome, RateSignals
from promptforge.ratecontrol.base import Observation
from promptforge.ratecontrol.controller import (
    Ceilings,
    ControllerConfig,
    ControllerState,
    initial_state,
    retry_delay,
    step,
)
from promptforge.ratecontrol.gate import admission
from promptforge.ratecontrol.measure import lasted
from tests.unit._rate_calls import CFG, LIMITED, OK, P, closed_loop, full_period
from tests.unit._rate_calls import calls as _calls

_full_period = full_period
_closed_loop = closed_loop


# --- Slow start ---------------------------------------------------------------------------


def test_slow_start_doubles_a_used_rate_within_the_delivered_lead() -> None:
    state = initial_state(0.0)
    assert state.rate == 1.0
    # At 1/s a window must last long enough for 3 calls: the first period is too short.
    state, decision = step(state, _calls(2, 0.0), P)
    assert decision.rate == 1.0
    assert decision.phase == "slow_start"
    assert decision.rpm_estimate is None
    state, decision = step(state, _calls(2, P), 2 * P)
    assert decision.rate == pytest.approx(CFG.slow_start_factor)
    t = 2 * P
    for _ in range(12):
        before = state.rate
        answered = _full_period(state, t)
        state, decision = step(state, answered, t + P)
        t += P
        assert state.delivered is not None
        assert before <= decision.rate <= CFG.slow_start_factor * before + 1e-9
        # Never more than ``slow_start_lead`` x what the provider has been delivering: on
        # average, or in the window just measured (the average lags a doubling ramp).
        recent = max(state.delivered, len(answered) / P)
        assert decision.rate <= max(before, CFG.slow_start_lead * recent) + 1e-9
    assert decision.rate > 10.0  # 12 periods later: still growing geometrically


def test_app_limited_rate_does_not_grow() -> None:
    state = initial_state(0.0, initial_rate=10.0)
    t = 0.0
    for _ in range(5):  # 2 calls per period against a rate of 20
        state, decision = step(state, _calls(2, t), t + P)
        t += P
    assert decision.rate == 10.0
    # Half of the rate used is enough: 10 calls per period against 20 allowed. Growth
    # waits until what is delivered backs it (``slow_start_lead``), then resumes.
    for _ in range(10):
        state, decision = step(state, _calls(12, t), t + P)
        t += P
    assert decision.rate > 10.0


def test_growth_is_clocked_by_calls_coming_back_under_long_latency() -> None:
    """Completions at 2/s dispatched 10 s earlier validate 2/s, not the rate set since."""
    lagged = initial_state(0.0, initial_rate=2.0)
    prompt = initial_state(0.0, initial_rate=2.0)
    for k in range(5):
        start = k * P
        lagged, _ = step(lagged, _calls(4, start, latency=10.0), start + P)
        prompt, _ = step(prompt, _full_period(prompt, start), start + P)
    assert lagged.rate == pytest.approx(2.0 * CFG.slow_start_factor)
    assert prompt.rate > 1.5 * lagged.rate


# --- Stated limits ------------------------------------------------------------------------


def _budget(limit: int, remaining: int) -> RateSignals:
    return RateSignals(limit_requests=limit, remaining_requests=remaining)


def test_a_stated_limit_ends_slow_start_and_its_budget_is_spent_down_to_the_reserve() -> None:
    limit = 120  # 2 requests per second
    refill = limit / 60.0
    state = initial_state(0.0, initial_rate=1.5)
    state, decision = step(state, _calls(3, 0.0, signals=_budget(limit, limit - 1)), P)
    # A full budget: straight to the limit plus spending the spare at ``burst_max``.
    assert decision.rate == pytest.approx(refill * (1 + CFG.burst_max))
    assert decision.phase == "ceiling"
    assert decision.rpm_estimate == limit
    reserve = round(CFG.reserve * limit)
    state, decision = step(state, _calls(6, P, signals=_budget(limit, reserve)), 2 * P)
    # At the reserve: the limit, less the little sent above it since the reading's call
    # started (a sixth of a period ago).
    assert refill * 0.99 <= decision.rate < refill
    state, decision = step(state, _calls(4, 2 * P, signals=_budget(limit, 0)), 3 * P)
    assert refill * 0.5 <= decision.rate < refill  # under it: refill the reserve
    # A reading older than ``budget_max_age`` is not spent: headroom under the limit.
    later = 3 * P + CFG.budget_max_age + 1.0
    state, decision = step(state, [], later - 3.0)  # an idle minute: nothing learnt
    state, decision = step(state, _calls(6, later - 3.0, span=3.0), later)
    assert decision.rate == pytest.approx(CFG.header_headroom * refill)


def test_a_stale_reading_is_projected_to_now_by_what_was_sent_since() -> None:
    """A budget read a latency ago has since refilled at the limit and paid for every call
    dispatched after it: spending the reading as it was would spend it once per step."""
    limit = 600  # 10 requests per second
    refill = limit / 60.0
    budget = _budget(limit, limit // 4)
    state = initial_state(0.0, initial_rate=1.0)
    # A quarter of the budget left: the rate jumps above the limit to spend it.
    state, first = step(state, _calls(2, 0.0, signals=budget), P)
    assert first.rate > refill
    # The same reading again at 3 P, from calls answered at once or 1.5 s after they
    # started: since then the burst went on above the refill, so less is left now.
    stale = _calls(2, 2 * P, latency=1.5, signals=budget)
    fresh = _calls(2, 2 * P, signals=budget)
    _, from_stale = step(state, stale, 3 * P)
    _, from_fresh = step(state, fresh, 3 * P)
    assert refill < from_stale.rate < from_fresh.rate < refill * (1 + CFG.burst_max)


def _charged_calls(
    n: int, start: float, gap: float, limit: int, charges: list[int], usage: list[int]
) -> list[Observation]:
    """Calls whose headers show a token bucket of ``limit``/min charged ``charges``."""
    out, missing, at = [], 0.0, start
    for index in range(n):
        missing = max(0.0, missing - limit / 60.0 * gap) + charges[index % len(charges)]
        used = usage[index % len(usage)]
        signals = RateSignals(limit_tokens=limit, remaining_tokens=round(limit - missing))
        out.append(
            Observation(
                at, OK, input_tokens=used // 3, output_tokens=used - used // 3, signals=signals
            )
        )
        at += gap
    return out


def test_the_share_of_usage_a_provider_charges_is_learnt_from_its_headers() -> None:
    """OpenAI charges the prompt, not the completion: the token cap follows the charge."""
    state = initial_state(0.0, initial_rate=10.0)
    limit = 60_000  # 1,000 tokens per second
    t = 0.0
    for _ in range(30):
        obs = _charged_calls(20, t, 0.1, limit, charges=[60, 90, 30], usage=[180, 270, 90])
        state, decision = step(state, obs, t + P)
        t += P
    assert state.charge_tokens == pytest.approx(1 / 3, rel=0.05)
    assert state.tokens_per_request == pytest.approx(180, rel=0.05)
    # The cap uses 60 charged tokens per request (16.7/s), not 180 used ones (5.6/s).
    assert decision.rate > 1_000 / 180 * 1.5


def test_budgets_stated_to_the_thousand_teach_no_charge() -> None:
    state = initial_state(0.0, initial_rate=10.0)
    obs = [
        Observation(
            0.1 * i,
            OK,
            input_tokens=50,
            output_tokens=100,
            signals=RateSignals(limit_tokens=90_000, remaining_tokens=89_000),
        )
        for i in range(20)
    ]
    state, _ = step(state, obs, P)
    assert state.charge_tokens is None


def test_a_combined_token_header_is_ignored_beside_input_and_output_limits() -> None:
    """Anthropic's ``tokens`` header is the tightest of input and output, not a budget."""
    signals = RateSignals(
        limit_tokens=9_000, limit_input_tokens=600_000, limit_output_tokens=120_000
    )
    state = initial_state(0.0, initial_rate=8.0)
    state, decision = step(state, _calls(16, 0.0, tokens=(500, 100), signals=signals), P)
    output_cap = 120_000 / 60 / 100 * CFG.header_headroom  # 19.8/s; the combined one: 0.15/s
    assert decision.rate == pytest.approx(output_cap)


def test_a_429_with_budget_left_makes_growth_gentle_not_a_limit() -> None:
    limit = 600  # 10/s
    state = initial_state(0.0, initial_rate=4.0)
    state, decision = step(state, _calls(8, 0.0, signals=_budget(limit, 590)), P)
    assert decision.rate == pytest.approx(15.0)  # spending a full budget
    # Refused although the budget had room: per-second enforcement, an acceleration limit.
    refused = _calls(10, P, LIMITED, signals=_budget(limit, 560))
    state, decision = step(state, _calls(20, P, signals=_budget(limit, 560)) + refused, 2 * P)
    assert state.gentle and not state.burst_ok
    assert state.limit_estimate is None
    assert decision.rate < 15.0
    t = 2 * P
    for _ in range(40):
        before = decision.rate
        state, decision = step(state, _full_period(state, t, signals=_budget(limit, 590)), t + P)
        t += P
        assert decision.rate <= before * CFG.gentle_factor + 1e-9
    assert decision.rate == pytest.approx(CFG.header_headroom * 10.0)


# --- 429s ---------------------------------------------------------------------------------


def _at_rate(rate: float, periods: int = 3) -> tuple[ControllerState, float]:
    """A key that has dispatched ``rate``/s for ``periods`` clean periods (no limit yet)."""
    state = dataclasses.replace(initial_state(0.0, initial_rate=rate), delivered=rate)
    state = dataclasses.replace(state, history=((0.0, rate),))
    t = 0.0
    for _ in range(periods):
        state, _ = step(state, _calls(round(rate * P), t), t + P)
        state = dataclasses.replace(state, rate=rate, history=((0.0, rate),))
        t += P
    return state, t


def test_a_cliff_cuts_to_what_the_provider_accepts_in_one_step() -> None:
    """Slow start ran into a drained burst allowance: 100/s sent, 10/s accepted."""
    state, t = _at_rate(100.0)
    obs = _calls(20, t) + _calls(180, t + 0.01, LIMITED, span=P - 0.01)
    state, decision = step(state, obs, t + P)
    assert state.limit_estimate == pytest.approx(10.0, rel=0.1)
    assert decision.rate == pytest.approx(CFG.target * state.limit_estimate)
    assert decision.phase == "avoidance"


def test_one_stray_429_among_many_calls_cuts_a_little() -> None:
    state, t = _at_rate(50.0)
    state, decision = step(state, _calls(99, t) + _calls(1, t + 1.0, LIMITED, span=0.1), t + P)
    assert 0.9 * 50.0 < decision.rate < 50.0


def test_a_dropped_limit_is_believed_from_the_successes() -> None:
    """Another client took half the key: successes halve at once, 429s start."""
    state, t = _at_rate(20.0, periods=6)
    obs = _calls(20, t) + _calls(20, t + 0.01, LIMITED)
    state, decision = step(state, obs, t + P)
    assert state.limit_estimate == pytest.approx(10.0, rel=0.15)
    assert decision.rate <= 10.0


def _after_cut(rate: float = 20.0) -> tuple[ControllerState, float, float]:
    """A key cut after 429s: (state, time, rate it was cut to)."""
    state, t = _at_rate(rate)
    obs = _calls(round(rate), t) + _calls(round(rate), t + 0.01, LIMITED)
    state, decision = step(state, obs, t + P)
    return state, t + P, decision.rate


@pytest.mark.parametrize("bank", [CFG.burst_horizon, 5.0])
def test_after_a_cut_the_rate_holds_then_climbs_then_probes_within_a_cap(bank: float) -> None:
    """The hold and the time at the cap scale with what the provider banks: a minute (the
    worst case, ``burst_horizon``, before any is measured) or a few seconds."""
    state, t, cut = _after_cut()
    state = dataclasses.replace(state, bank_seconds=bank)
    hold = max(P, state.quiet * bank / CFG.burst_horizon)
    estimate = state.limit_estimate
    assert estimate is not None
    state, decision = step(state, _full_period(state, t), t + P)
    t += P
    assert decision.rate == cut  # the period right after a 429 never raises the rate
    cap = estimate * (1 + CFG.probe_max)
    rates = []
    while decision.rate < cap * (1 - 1e-9) and len(rates) < 100:
        state, decision = step(state, _full_period(state, t), t + P)
        rates.append(decision.rate)
        t += P
    held = [r for r in rates if r == pytest.approx(CFG.target * estimate)]
    assert len(held) * P >= hold  # the target is held before probing past it
    probes = [b - a for a, b in itertools.pairwise(rates) if b > a * (1 + 1e-9)]
    assert probes[0] == pytest.approx(CFG.probe_start * estimate, rel=0.05)
    assert probes[1] > probes[0]  # probing speeds up
    assert decision.rate == pytest.approx(cap)  # up to a cap past the last cut,
    at_cap = []
    while decision.rate <= cap * (1 + 1e-9) and len(at_cap) < 100:
        state, decision = step(state, _full_period(state, t), t + P)
        at_cap.append(decision.rate)
        t += P
    # ... where it stays for the bank: clean there means room, not banked credit.
    assert bank - 2 * P <= len(at_cap) * P <= bank + 4 * P
    assert decision.rate > cap


def test_probes_that_find_the_same_limit_wait_longer_each_time() -> None:
    state, t = _at_rate(20.0)
    obs = _calls(20, t) + _calls(20, t + 0.01, LIMITED)  # accepted: 10/s
    probing = dataclasses.replace(state, anchor=10.0, limit_estimate=10.0, quiet=40.0)
    same, _ = step(dataclasses.replace(probing, held_since=t - 40.0), obs, t + P)
    assert same.limit_estimate == pytest.approx(10.0, rel=0.05)
    assert same.quiet == 80.0
    # A cut while the rate still climbs back (no probe yet: a cliff's aftermath, a limit
    # that fell further) found nothing new about probing: the wait stays.
    climbing, _ = step(probing, obs, t + P)
    assert climbing.quiet == 40.0
    capped = dataclasses.replace(
        state, anchor=10.0, limit_estimate=10.0, quiet=CFG.plateau_max, held_since=t - 160.0
    )
    capped, _ = step(capped, obs, t + P)
    assert capped.quiet == CFG.plateau_max
    higher = dataclasses.replace(state, anchor=5.0, limit_estimate=5.0, quiet=80.0)
    higher, _ = step(higher, obs, t + P)
    assert higher.quiet == CFG.plateau  # the last probe found more room: probe soon again


def test_clean_probes_do_not_raise_the_estimate_while_the_provider_may_hold_credit() -> None:
    state, t, _ = _after_cut()
    estimate = state.limit_estimate
    assert estimate is not None
    banked = dataclasses.replace(state, credit=CFG.burst_horizon * estimate)
    spent = dataclasses.replace(state, credit=0.0)
    fast = dataclasses.replace(
        state, rate=1.2 * estimate, history=((0.0, 1.2 * estimate),), saw_429=False
    )
    calls = _calls(round(1.2 * estimate * P), t)
    banked, _ = step(dataclasses.replace(fast, credit=banked.credit), calls, t + P)
    spent, _ = step(dataclasses.replace(fast, credit=spent.credit), calls, t + P)
    assert banked.limit_estimate == pytest.approx(estimate)
    assert spent.limit_estimate is not None and spent.limit_estimate > estimate


def test_stale_429s_do_not_cut_twice() -> None:
    state, t, cut = _after_cut()
    # Calls started before the cut had settled: no second cut, but no rise either.
    stale = _calls(3, t - 0.5, LIMITED, span=CFG.settle * 0.9, latency=0.0)
    state, decision = step(state, stale + _calls(10, t), t + P)
    assert decision.rate == cut
    assert state.saw_429
    fresh = _calls(10, t + P + CFG.settle, LIMITED, span=0.5)
    state, decision = step(state, fresh + _calls(4, t + P), t + 2 * P + CFG.settle)
    assert decision.rate < cut


def test_a_raised_limit_is_found() -> None:
    rows = _closed_loop([600.0] * 60 + [1_200.0] * 120)[60:]
    reached = [k for k, row in enumerate(rows) if row[3] * 60 >= 0.85 * 1_200]
    # Probes move at most ``probe_max`` past the last cut per burst horizon: a few minutes.
    assert reached and reached[0] * P < 4 * CFG.burst_horizon


def _halving_moment(*, after_a_probe: bool) -> int:
    """A period of a steady 1,200 RPM key to halve its limit at: the first from 60 on whose
    previous period drew a probe's 429, or whose two previous periods drew none.

    Found from the run itself, not hard-coded: where the probes land moves with the policy.
    """
    rows = _closed_loop([1_200.0] * 120)
    for k in range(60, 120):
        if after_a_probe and rows[k - 1][2]:
            return k
        if not after_a_probe and not (rows[k - 1][2] or rows[k - 2][2]):
            return k
    raise AssertionError("no such period in two minutes at the limit")


def test_backs_off_quickly_when_another_client_takes_half() -> None:
    # (Not right after a probe's 429, whose cut makes the next period's first 429s
    # stale; see the test below.)
    k = _halving_moment(after_a_probe=False)
    rows = _closed_loop([1_200.0] * k + [600.0] * 30)
    assert rows[k - 1][3] * 60 > 1_000
    rows = rows[k:]
    # One period to give the limit up: down to what that period accepted (21 of 40 calls,
    # the allowance carried one over), within 5 % of the new limit.
    assert rows[1][3] * 60 <= 1.05 * 600
    sent = sum(r[0] for r in rows[2:])
    limited = sum(r[2] for r in rows[2:])
    assert limited / sent < 0.05
    assert sum(r[1] for r in rows[2:]) / (28 * P / 60) > 0.9 * 600


def test_a_limit_that_halves_right_after_a_probe_is_followed_within_four_periods() -> None:
    """The probe's cut makes the first 429s of the next period stale (``settle``): the
    halved limit is then followed over a few periods instead of one."""
    k = _halving_moment(after_a_probe=True)
    rows = _closed_loop([1_200.0] * k + [600.0] * 30)
    assert rows[k - 1][2] > 0  # the probe's 429
    rows = rows[k:]
    assert rows[3][3] * 60 <= 1.05 * 600
    sent = sum(r[0] for r in rows[2:])
    assert sum(r[2] for r in rows[2:]) / sent < 0.05


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
        ControllerConfig(target=1.5)


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
    assert all(0.5 * P <= d <= 1.5 * P for d in without)  # half a period, then the spread


def test_retry_delay_waits_out_a_pause() -> None:
    state = dataclasses.replace(initial_state(0.0), paused_until=3_600.0)
    delay = retry_delay(state, 100.0, 1.0, salt="x")
    assert 3_500.0 <= delay <= 3_500.0 + CFG.max_spread


# --- Persistence --------------------------------------------------------------------------


def test_state_round_trips_through_json() -> None:
    state, _, _ = _after_cut()
    state, _ = step(state, _calls(5, P, signals=RateSignals(limit_tokens=9_000)), 2 * P)
    data = json.loads(json.dumps(state.to_dict(), allow_nan=False))
    assert ControllerState.from_dict(data) == state
    with pytest.raises(ValueError, match="version"):
        ControllerState.from_dict({**data, "version": 99})


# --- The workers' admission gate ----------------------------------------------------------

GATED = ControllerConfig(apply_delay=5.0, gated=True)


def test_the_gate_defers_everything_while_paused() -> None:
    state = dataclasses.replace(initial_state(0.0), paused_until=100.0)
    delay = admission(state, 40.0, salt="p1", config=GATED)
    assert delay is not None and 60.0 + P <= delay <= 60.0 + 2 * P


def test_the_gate_thins_dispatches_to_the_decided_rate_until_the_queue_applies_it() -> None:
    # 100/s configured until t=10, then cut to 25/s: the queue runs at 100/s until t=15.
    state = dataclasses.replace(
        initial_state(0.0, initial_rate=100.0), rate=25.0, history=((0.0, 100.0), (10.0, 25.0))
    )
    decisions = [admission(state, 12.0, salt=f"p{i}", config=GATED) for i in range(4_000)]
    kept = sum(d is None for d in decisions) / len(decisions)
    assert kept == pytest.approx(0.25, abs=0.03)
    deferred = [d for d in decisions if d is not None]
    assert all(GATED.apply_delay + P <= d <= GATED.apply_delay + 2 * P for d in deferred)
    # Once the queue runs at the decided rate, or without a delay to bridge, all pass.
    assert admission(state, 15.5, salt="p1", config=GATED) is None
    assert admission(state, 12.0, salt="p1", config=CFG) is None
    assert admission(state, 12.0, salt="p1", config=GATED) == admission(
        state, 12.0, salt="p1", config=GATED
    )


def test_a_hold_of_whole_periods_is_over_at_a_step_a_few_milliseconds_early() -> None:
    """The embedded loop and Google's chain step a few ms either side of the period's grid
    (a third of real intervals were 1-14 ms short): a hold of one period must end at the
    next step, as in the simulation's exact grid, not a step later."""
    assert lasted(100.0 + P - 0.014, 100.0, P, CFG)
    assert lasted(100.0 + 5 * P - 0.014, 100.0, 5 * P, CFG)
    assert not lasted(100.0 + P / 2, 100.0, P, CFG)
    assert not lasted(100.0 + 4 * P, 100.0, 5 * P, CFG)
