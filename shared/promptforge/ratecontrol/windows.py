"""Fixed windows: a ``RetryInfo`` that says "this window is spent".

A provider that counts requests in fixed windows (N per W seconds, the whole budget
back at once when the next window starts) refuses every call once a window's budget is
spent, each with a ``RetryInfo`` that is the time until the window ends. The refusals of
one spent window therefore share one reset instant (``at + retry_after``); a refilled
bucket's do not (each waits under a second for its own token, which Gemini's whole
seconds round to 0). In a spent window the share of dispatches refused says nothing
about the rate the provider accepts: every call is refused until the reset, whatever
the rate, and the dispatch measure cut a slow start at three times the limit to a tenth
of it (issue 21's ``gemini-window`` case). The evidence that holds instead: a window's
budget ran out when its first refused call started, and windows end at the reset
instants; from the last spent window's reset until this window's budget ran out every
call was accepted, so the limit is what was dispatched then over the time between the
two resets.
"""

from __future__ import annotations

from promptforge.ratecontrol.measure import ControllerConfig, Tally, dispatched_rate
from promptforge.ratecontrol.state import ControllerState

__all__ = ["QUANTUM", "same_window", "spent_reset", "window_length", "window_rate"]

QUANTUM = 1.0
"""Seconds ``RetryInfo`` is rounded to (Gemini states whole seconds): reset instants of
one window agree within it."""


def spent_reset(counts: Tally, state: ControllerState) -> float | None:
    """The reset instant this step's fresh 429s share, when they say a window is spent.

    Their instants agree within ``QUANTUM``, and at least one of them waits a whole
    ``QUANTUM`` (a bucket's per-request waits round to 0) or they are a reset of the
    windows learnt (a window's last second's refusals wait under a second too). The latest
    instant is the closest to the true reset (each is rounded down). Only on a key whose
    provider states no budgets: headers say what remains, and their ``retry-after`` is
    rounded up (a bucket's "1 s" then looks like a shared reset).
    """
    first, last = counts.fresh_reset_first, counts.fresh_reset_last
    if state.readings or first is None or last is None or last - first > QUANTUM:
        return None
    # Before the window's length is known, a key that has shown one spent window is taken
    # to have the next when its refusals cluster (the second reset gives the length).
    learning = state.reset_at is not None and state.window_seconds is None
    return last if counts.fresh_retry >= QUANTUM or learning or same_window(state, last) else None


def same_window(state: ControllerState, reset: float) -> bool:
    """Whether ``reset`` is a reset instant of the windows the state learnt: the last spent
    window's, or one a whole number of learnt window lengths from it."""
    last = state.reset_at
    if last is None:
        return False
    length = state.window_seconds
    if length is None:
        return abs(reset - last) <= QUANTUM
    windows = round((reset - last) / length)
    return abs(reset - last - windows * length) <= QUANTUM


def window_length(state: ControllerState, reset: float, config: ControllerConfig) -> float | None:
    """The window length, from the last spent window's reset and this one (``None``: not
    yet known). Two resets a period to ``burst_horizon`` apart bound it; the shortest seen
    is kept (two spent windows need not be consecutive)."""
    last, known = state.reset_at, state.window_seconds
    if last is None:
        return known
    gap = reset - last
    if not config.control_period <= gap <= config.burst_horizon:
        return known
    return gap if known is None or gap < known - QUANTUM else known


def window_rate(
    state: ControllerState, reset: float, first_refused: float | None, config: ControllerConfig
) -> float | None:
    """Requests per second a fixed window accepts: everything dispatched from the window's
    start until its first refused call started was accepted, over the window's length.

    The window starts a learnt length before ``reset``, or at the last spent window's reset
    (``state.reset_at``). ``None`` without either, or when the window is under a period or
    over ``burst_horizon`` long.
    """
    length = window_length(state, reset, config)
    if length is None or first_refused is None:
        return None
    start = reset - length
    if not config.control_period <= length <= config.burst_horizon or first_refused <= start:
        return None
    sent = dispatched_rate(state.history, start, first_refused, config, state.configured)
    return sent * (first_refused - start) / length
