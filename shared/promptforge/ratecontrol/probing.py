"""When avoidance probes past its estimate: how long it holds the target first.

Probing past a limit costs 429s; it is only worth it to find a raised limit. The hold
before a probe (``hold_time``) and how it lengthens after probes that found nothing
(``quiet_after``) are pure functions of a ``ControllerState`` (``policy._grow`` probes).
"""

from __future__ import annotations

from promptforge.ratecontrol.bank import bank_seconds
from promptforge.ratecontrol.measure import SLOW_KEY, ControllerConfig
from promptforge.ratecontrol.state import ControllerState

__all__ = ["hold_time", "quiet_after"]


def quiet_after(state: ControllerState, estimate: float | None, config: ControllerConfig) -> float:
    """How long to hold before probing again: longer each time a probe finds the same limit.

    Probing past a limit costs 429s; it is only worth it to find a raised limit. A
    probe that ends where the last one did doubles the wait (up to ``plateau_max``),
    one that found more room resets it.
    """
    same = (
        estimate is not None
        and state.anchor is not None
        and estimate <= state.anchor * (1.0 + config.probe_reach(state.anchor))
    )
    if not same:
        return config.plateau
    if state.held_since is None:
        # Not a probe: the rate was still climbing back (the aftermath of a cliff, or a
        # limit that fell further). Only a probe that found nothing counts.
        return state.quiet
    return min(2.0 * state.quiet, config.plateau_max)


def hold_time(state: ControllerState, config: ControllerConfig) -> float:
    """Seconds to hold the target before probing: ``quiet`` for a provider that banks a
    minute, shorter in proportion for one seen to bank less (at least a period).

    A probe past the estimate is proven clean only once the provider's bank would be
    spent (``credit``); a provider that banks five seconds proves it in five, and its
    probes can come twelve times as often for the same share of 429s per probe.
    """
    share = min(1.0, bank_seconds(state, config) / config.burst_horizon)
    anchor = state.anchor if state.anchor is not None else state.limit_estimate
    if anchor is not None and anchor < SLOW_KEY:
        # Under two calls a second each probe that finds the limit costs a whole call: a
        # 60 RPM key behind a 5 s bank probed every 2 s and refused 1-3 of 62 calls more.
        share = max(share, config.hold_slow)
    return max(config.control_period, state.quiet * share)
