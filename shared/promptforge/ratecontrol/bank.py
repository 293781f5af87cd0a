"""What the provider took in and what it may bank: the running measures behind the policy.

Pure functions of a ``ControllerState``: the running average of calls delivered, the
credit a provider banking unused limit may hold for us, and how many seconds of its
limit the provider was seen to bank at the end of slow start (``policy.py`` uses them).
"""

from __future__ import annotations

import itertools
import math

from promptforge.ratecontrol.measure import ControllerConfig, dispatched_rate
from promptforge.ratecontrol.state import ControllerState

__all__ = ["bank_seconds", "banked_credit", "delivered_rate", "measured_bank"]


def delivered_rate(
    state: ControllerState, answered: int, elapsed: float, config: ControllerConfig
) -> float | None:
    """The running average of calls the provider took in per second, over ``delivery_time``.

    ``answered``: this step's calls that were neither refused (429) nor failed transiently.
    """
    if elapsed <= 0:
        return state.delivered
    sample = answered / elapsed
    if state.delivered is None:
        return sample
    blend = 1.0 - math.exp(-elapsed / config.delivery_time)
    return state.delivered + blend * (sample - state.delivered)


def banked_credit(state: ControllerState, elapsed: float, config: ControllerConfig) -> float:
    """What a provider banking unused limit (a bucket of ``burst_horizon`` seconds) may hold.

    While it may hold credit, a rate above the estimate that draws no 429 proves nothing:
    the estimate only rises once the credit we left would be spent.
    """
    estimate = state.limit_estimate
    if estimate is None or elapsed <= 0:
        return state.credit
    banked = state.credit + (estimate - state.rate) * elapsed
    return min(max(banked, 0.0), bank_seconds(state, config) * estimate)


def bank_seconds(state: ControllerState, config: ControllerConfig) -> float:
    """How many seconds of its limit the provider may bank: as measured at the end of slow
    start (``measured_bank``), else the worst case, ``burst_horizon``."""
    return state.bank_seconds if state.bank_seconds is not None else config.burst_horizon


def measured_bank(
    state: ControllerState, limit: float, until: float, config: ControllerConfig
) -> float:
    """Seconds of ``limit`` the provider banked, from the slow start that just ended.

    A provider refuses nothing while it has credit; slow start's first refused call
    (started at ``until``) is the moment the bank ran dry, so everything dispatched above
    the limit before it was paid from the bank: its size over the limit is how many
    seconds of limit the provider keeps (a one-minute bucket: 60; a 5-second window: 5).
    At least two periods, at most ``burst_horizon``.
    """
    edges = sorted({since for since, _ in state.history if since < until} | {until})
    above = 0.0
    for lo, hi in itertools.pairwise(edges):
        sent = dispatched_rate(state.history, lo, hi, config, state.configured)
        above += max(0.0, sent - limit) * (hi - lo)
    seconds = above / max(limit, config.min_rate)
    return min(max(seconds, 2.0 * config.control_period), config.burst_horizon)
