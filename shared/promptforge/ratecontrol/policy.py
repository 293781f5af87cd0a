"""How the rate moves: cuts on fresh 429s, growth on clean windows, pauses, the running measures.

Pure functions of a ``ControllerState`` (see ``controller.py`` for the policy in prose).
"""

from __future__ import annotations

import dataclasses

from promptforge.ratecontrol.bank import bank_seconds, measured_bank
from promptforge.ratecontrol.brake import braked_at
from promptforge.ratecontrol.budget import stated_limits, stated_refill
from promptforge.ratecontrol.measure import (
    ControllerConfig,
    Tally,
    dispatched_rate,
    lasted,
    next_daily_reset,
)
from promptforge.ratecontrol.probing import hold_time, quiet_after
from promptforge.ratecontrol.state import ControllerState
from promptforge.ratecontrol.windows import QUANTUM, spent_reset, window_length, window_rate

__all__ = [
    "close_window",
    "cut",
    "pause_until",
    "reset_window",
    "stated_start",
    "window_done",
]

_DROPPED = 0.8  # a window accepting under this share of the running average: the limit fell
_REFUSAL_SPAN = 50.0  # refusals are counted against at least this many dispatches
_NOISY_FLOOR = 0.25  # the deepest cut a few refusals can make
_FEW_FLOOR = 0.5  # ... and one or two
_FEW = 2  # refusals in a step that count as a handful: they cut by at most a half
_SOLID = 30  # successes a window needs before its drop is believed over the running average


def pause_until(
    state: ControllerState, counts: Tally, now: float, config: ControllerConfig
) -> float | None:
    """The pause after this step: kept, extended by a daily quota or a retry-after, or over."""
    until = (
        state.paused_until if state.paused_until is not None and state.paused_until > now else None
    )
    if counts.daily:
        target = next_daily_reset(now, config.daily_reset_hour)
        if counts.retry_until is not None:
            target = max(target, counts.retry_until)
        return target if until is None else max(until, target)
    reset = spent_reset(counts, state)
    if reset is not None and reset > now and counts.fresh_limited > _FEW:
        # A spent fixed window refuses every call until it resets: dispatch none.
        return reset if until is None else max(until, reset)
    if counts.retry_until is None or counts.retry_until <= now:
        return until
    # A wait shorter than a period is over before the queue could be slowed for it.
    mostly_limited = counts.limited >= config.pause_share * counts.calls
    worth_it = counts.longest_retry > config.control_period
    if not ((mostly_limited and worth_it) or counts.longest_retry >= config.long_pause):
        return until
    target = min(counts.retry_until, now + config.max_pause)
    return target if until is None else max(until, target)


def cut(
    state: ControllerState, counts: Tally, now: float, config: ControllerConfig
) -> ControllerState:
    """Fresh 429s: cut to ``target`` x the accepted rate.

    If the stated budgets explain them (or none is stated), the accepted rate is the
    new limit estimate. If every stated budget had room, the refusal was about shape
    (per-second enforcement, an acceleration limit), not the limit: the estimate stays,
    growth turns gentle and budgets stop being spent in bursts.
    """
    elapsed = max(now - state.window_start, config.control_period)
    shape = counts.fresh_limited > 0 and counts.unexplained >= counts.fresh_limited
    # After a brake (``brake.py``) slow start's first refusal came a step earlier: the
    # refusals are counted from it.
    first = counts.first_fresh if state.limit_estimate is not None else state.dry_at
    first = counts.first_fresh if first is None else first
    since = elapsed if first is None else now - first
    reset = None if shape else spent_reset(counts, state)
    if reset is not None and state.reset_at is not None and abs(reset - state.reset_at) <= QUANTUM:
        # The rest of a window already measured: it was spent before the last cut reached
        # calls, and says nothing about the rate since.
        return reset_window(state, now)
    spent = reset is not None and state.window_ok >= config.min_accepted_calls
    # In a spent window nothing more is accepted until the reset: what the window's
    # successes show is their rate over the time to it, not to now.
    span = max(elapsed, reset - state.window_start) if spent and reset else elapsed
    measured = _accepted_rate(state, span, since, now, shape, spent, config)
    if spent and reset is not None:
        # Both are what was accepted: the window's measure is exact when the two resets
        # were consecutive windows, and an average over several otherwise.
        measured = max(measured, window_rate(state, reset, counts.first_fresh, config) or 0.0)
    # Braked: the measuring step saw the cliff (``dry_at``), or the brake came a second or
    # less before this step (``braked_at``: a tiny key's next refusal may be this late).
    was_braked = state.dry_at is not None or braked_at(state) is not None
    braked = state.limit_estimate is None and was_braked and not shape
    if braked and state.window_ok < config.min_accepted_calls:
        # A tiny limit, braked at its cliff: a handful of successes, carried by the bank,
        # overstate it; the braked rate held since is the better bound.
        measured = min(measured, state.rate)
    accepted = max(measured, _probe_floor(state, counts, config), config.min_rate)
    cliff = state.limit_estimate is None and not (shape or spent)
    refill = stated_refill(state, config) if cliff else None
    if refill is not None:
        # Slow start's burst spent a stated budget: it refills at the limit's rate, not at
        # what was accepted since it ran dry (the stated cap keeps the rate under what it
        # has). Later a spent budget may be a second client's share: the measure stands.
        accepted = max(accepted, refill)
    estimate = state.limit_estimate if shape else accepted
    dry_at, bank = state.dry_at, state.bank_seconds
    if dry_at is None and state.limit_estimate is None and not shape:
        dry_at = counts.first_fresh
    if dry_at is not None and estimate is not None and now - dry_at <= config.burst_horizon:
        # The first cuts after a cliff overstate the limit (successes still carry credit);
        # each cut in the minute after it measures the bank again against the new estimate.
        bank = measured_bank(state, estimate, dry_at, config)
    return reset_window(
        dataclasses.replace(
            state,
            rate=min(state.rate, config.target * accepted),
            limit_estimate=estimate,
            anchor=estimate,
            capped_at=None,
            quiet=quiet_after(state, estimate, config),
            held_since=None,
            probe_step=config.probe_start,
            credit=0.0,
            bank_seconds=bank,
            dry_at=dry_at,
            reset_at=reset if reset is not None else state.reset_at,
            window_seconds=state.window_seconds
            if reset is None
            else window_length(state, reset, config),
            gentle=state.gentle or shape,
            burst_ok=state.burst_ok and not shape,
            decreased_at=now,
        ),
        now,
    )


def _probe_floor(state: ControllerState, counts: Tally, config: ControllerConfig) -> float:
    """The least a probe's first refusals on a tiny limit say was accepted: the level the
    key last held.

    A probe raises the rate past ``anchor``, the level the key held without a 429 (the
    estimate at the last cut, or a cap held clean for a bank's length). When the window
    holds fewer than ``min_accepted_calls`` calls (a tiny limit: at 2 RPM a window is
    one or two calls), one or two refusals measure nothing: the dispatch measure then
    cut to half the rate, and the next probe took minutes to climb back. They only say
    the limit lies between the anchor and the probe. A limit that really fell refuses
    again after the cut, and that cut (no longer a probe from a held level) measures in
    full. Larger windows measure the share refused, and keep that measure.
    """
    anchor = state.anchor
    if (
        anchor is None
        or state.held_since is None
        or state.rate <= anchor
        or counts.fresh_limited > _FEW
        or state.window_calls >= config.min_accepted_calls
    ):
        return 0.0
    return anchor


def _accepted_rate(  # noqa: PLR0917 - private, one call site
    state: ControllerState,
    elapsed: float,
    since: float,
    now: float,
    shape: bool,
    spent: bool,
    config: ControllerConfig,
) -> float:
    """Requests per second the provider accepted in the window.

    ``spent``: the refusals say a fixed window is spent (``windows.py``), so the share
    refused measures nothing and only the successes count.

    Two measures: the rate dispatched less the share of those dispatches refused (429s
    come back at once, successes a latency later, so refusals are counted against
    dispatches, not against successes; and only against dispatches ``since`` the first
    refused call started, at least ``_REFUSAL_SPAN`` of them, so the share at a cliff
    is not diluted by the calls before it), and the rate of successes (``_DROPPED``).
    A refusal about shape, or too few successes to count, leaves only the first; a
    limit the provider stated (say in a 429) knows better than a handful of calls.
    Otherwise the lower of the two: each overstates in its own case (successes carry
    burst credit, dispatches an app-limited queue).
    """
    average = dispatched_rate(state.history, state.window_start, now, config, state.configured)
    span = min(elapsed, max(since, _REFUSAL_SPAN / max(average, config.min_rate)))
    # The rate calls started at over that span: a raise may have reached the queue within it.
    sent = dispatched_rate(state.history, now - span, now, config, state.configured)
    dispatched = max(sent * span, 1.0)
    refused = min(1.0, state.window_limited / dispatched)
    # A handful of refusals is noise: never cut by more than half (one or two) or three
    # quarters (under ``min_accepted_calls``) on them.
    if state.window_limited <= _FEW:
        floor = _FEW_FLOOR
    elif state.window_limited < config.min_accepted_calls:
        floor = _NOISY_FLOOR
    else:
        floor = 0.0
    by_dispatch = sent * max(floor, 1.0 - refused)
    ok = state.window_ok
    if shape:
        # The provider took in what came back: a cut about shape need not go under it (with
        # few successes in the window, their running average says it). Retried refusals can
        # outnumber what the rate dispatched, so the dispatch measure alone may say zero.
        took = ok / elapsed if ok >= config.min_accepted_calls else state.delivered
        return by_dispatch if took is None else max(by_dispatch, min(took, sent))
    if ok < config.min_accepted_calls:
        if state.limit_requests is not None:
            return state.limit_requests / 60.0
        # One refusal among a few calls is a coarse measure: the running average of
        # successes knows the accepted rate better (it never exceeds what was sent).
        if state.delivered is not None:
            if state.limit_estimate is None and ok > 0:
                # Slow start's first refusals on a tiny limit: the dispatch measure's floor
                # (half of what was sent) overstates it; what was delivered does not. (With
                # nothing delivered yet, that floor is all there is to go by.)
                return min(state.delivered, sent)
            return max(by_dispatch, min(state.delivered, sent))
        return by_dispatch
    window = ok / elapsed
    average = state.delivered if state.delivered is not None else window
    # Well under the average, the window shows the limit has dropped (or the burst
    # credit that carried slow start is spent): believe it. Otherwise the window is
    # noisy and the average steady; out of slow start both still hold burst credit.
    if window < _DROPPED * average and ok >= _SOLID:
        by_success = window
    elif state.limit_estimate is None:
        # Slow start outruns the running average; the dispatch measure bounds the window.
        by_success = window
    else:
        by_success = max(window, average)
    return by_success if spent else min(by_success, by_dispatch)


def close_window(
    state: ControllerState, now: float, paused: bool, config: ControllerConfig
) -> ControllerState:
    """A clean window ended: grow if the rate was used."""
    elapsed = now - state.window_start
    lag = state.latency or 0.0
    expected = dispatched_rate(
        state.history, state.window_start - lag, now - lag, config, state.configured
    )
    # Transient failures (5xx, timeouts) neither shrink the rate nor count as using it.
    useful = state.window_calls - state.window_transient
    used = useful >= config.utilization * expected * elapsed
    stated = state.burst_ok and not state.gentle and bool(stated_limits(state, config))
    if (used or (stated and state.limit_estimate is None)) and not paused:
        # Grow from the rate the observed calls were dispatched at, not the rate set since:
        # with latency longer than a period, growth is clocked by what comes back.
        base = min(state.rate, expected)
        state = _grow(state, base, stated, now, config)
    return reset_window(state, now)


def stated_start(state: ControllerState, config: ControllerConfig) -> bool:
    """Slow start with stated limits: go to what the budgets allow at once, not per window.

    The budgets bound the rate themselves; a window of calls would only tell what the
    first response already said, a queue's apply delay and a latency later.
    """
    return (
        state.limit_estimate is None
        and state.burst_ok
        and not state.gentle
        and state.rate < config.max_rate
        and bool(stated_limits(state, config))
    )


def _grow(
    state: ControllerState, base: float, stated: bool, now: float, config: ControllerConfig
) -> ControllerState:
    """The state after a clean, used window at ``base`` requests per second.

    ``stated``: the provider states its limits and budgets can be spent in bursts.
    """
    estimate = state.limit_estimate
    if estimate is None:
        if stated:
            # Slow start ends at a stated limit: go straight to what the budgets allow.
            return dataclasses.replace(state, rate=config.max_rate)
        if state.gentle:
            # A ramp limit: grow by time, a little per period (a window at a few calls a
            # second lasts several: ``window_done``), while calls keep up.
            periods = max(1.0, (now - state.window_start) / config.control_period)
            rate = min(state.rate * config.gentle_factor**periods, base * config.slow_start_factor)
        else:
            rate = base * config.slow_start_factor
        # Never far ahead of what has been delivered: an unknown limit may sit behind a
        # burst allowance, and the further slow start outruns it, the harder the fall.
        # Stated budgets leave no such surprise: there the budgets bound the ramp.
        # Within ``slow_start_lead`` times the window's own successes as well: the running
        # average (10 s) lags a ramp that doubles every period, and held it to about 1.4x
        # per period (25 s from 1 call/s to 1,200 RPM in the wall-clock Gemini case).
        if state.delivered is not None and not stated_limits(state, config):
            elapsed = max(now - state.window_start, config.control_period)
            recent = max(state.delivered, state.window_ok / elapsed)
            rate = min(rate, max(base, config.slow_start_lead * recent))
        return dataclasses.replace(state, rate=max(state.rate, rate))
    ceiling = base * (config.gentle_factor if state.gentle else config.slow_start_factor)
    # Past the last cut, probe at most ``probe_reach`` above it until a burst horizon spent
    # there without a 429 shows it is room, not credit the provider banked for us.
    anchor = state.anchor if state.anchor is not None else estimate
    reach = config.probe_reach(anchor)
    cap = anchor * (1.0 + reach)
    capped_at = state.capped_at
    if state.credit <= 0:
        estimate = min(max(estimate, base), cap)  # accepted cleanly, no credit left
    target = config.target * estimate
    probe, held_since = state.probe_step, state.held_since
    rate = state.rate
    if rate < target * (1.0 - 1e-9):
        rate = max(rate, min(target, ceiling))  # climb back, clocked by what comes back
    elif base < 0.99 * state.rate and _lagging(state, now):
        pass  # the last step has not come back yet: wait for it
    elif held_since is None:
        held_since = now  # hold the target a while before probing past it
    elif not lasted(now, held_since, hold_time(state, config), config):
        pass
    else:
        rate += probe * estimate
        probe = min(2.0 * probe, reach)
    if rate >= cap:
        rate = cap
        if capped_at is None:
            capped_at = now
        elif lasted(
            now, capped_at, max(bank_seconds(state, config), config.window_calls / anchor), config
        ):
            anchor, capped_at = cap, None
    return dataclasses.replace(
        state,
        rate=rate,
        limit_estimate=estimate,
        probe_step=probe,
        held_since=held_since,
        anchor=anchor,
        capped_at=capped_at,
    )


def _lagging(state: ControllerState, now: float) -> bool:
    """Whether most of the window's answers were dispatched before it began (a latency
    longer than half the window): then they say little about the rate set since."""
    return 2.0 * (state.latency or 0.0) >= now - state.window_start


def reset_window(state: ControllerState, now: float) -> ControllerState:
    """``state`` with an empty measurement window starting ``now``."""
    return dataclasses.replace(
        state,
        window_start=now,
        window_calls=0,
        window_ok=0,
        window_transient=0,
        window_limited=0,
    )


def window_done(state: ControllerState, now: float, config: ControllerConfig) -> bool:
    """A window closes after most of a period and after time for ``window_calls`` calls."""
    elapsed = now - state.window_start
    return elapsed >= max(0.75 * config.control_period, config.window_calls / state.rate)
