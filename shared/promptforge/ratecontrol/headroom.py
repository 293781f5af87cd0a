"""Queue headroom: configure the queue above the decided rate while the rate may still rise.

Cloud Tasks applies a new rate ``apply_delay`` after ``UpdateQueue`` (seconds). A cut
reaches calls at once anyway: the workers' admission gate (``gate.py``) defers every
dispatch above the decided rate. A raise did not: it waited for the queue, so each
step of a ramp cost an apply delay on top of its round trip. With headroom, the queue
is configured at the most slow start could decide at its next step (twice the rate,
within three times the delivered rate) while a headerless key ramps, and at
``first_answer_headroom`` times the rate until the first call has answered (that
answer may state the limits, and the rate then jumps to them); the gate thins
dispatches down to the decided rate, and a raise reaches calls at the next control
step instead of an apply delay later.

The cost is dispatches the gate defers (each one a queue dispatch and, in the
runtime, a claim and an advance, never a provider call): only when the queue holds a
backlog, only while the rate ramps (before the first answer: at most
``first_answer_headroom`` - 1 times the initial rate per second, for one latency).
Headroom is never given without the gate (the embedded dispatcher applies a rate at
once), while paused, above the rate's bounds (user ceilings, stated limits,
``max_rate``) or above what the key's queues can dispatch.

In avoidance the queue is configured one ``queue_step`` above the decided rate: the
Google runtime sends a new rate only when it moved 10 % from the rate last sent, and
probes of 1, 2 and 4 % would otherwise not reach the provider while the windows that
"validate" them raised the estimate without evidence. The gate defers at most that
share of dispatches.
"""

from __future__ import annotations

import dataclasses

from promptforge.ratecontrol.budget import stated_limits
from promptforge.ratecontrol.measure import ControllerConfig, record_rate
from promptforge.ratecontrol.state import ControllerState

__all__ = ["queue_history", "queue_rate", "record_queue_rate"]


def queue_rate(
    state: ControllerState,
    now: float,
    upper: float,
    *,
    cap: float,
    config: ControllerConfig,
) -> float:
    """The dispatch rate to configure for the decided ``state.rate``.

    ``upper`` is the highest rate the controller's bounds allow now, ``cap`` the most
    the key's queues can dispatch. At least the decided rate, whatever the caps say
    (a queue that cannot reach it dispatches what it can, as without headroom).
    """
    rate = state.rate
    if not config.gated or config.apply_delay <= 0:
        return rate
    if state.paused_until is not None and state.paused_until > now:
        return rate
    ahead = _reachable(state, config)
    if state.limit_estimate is not None:
        # Avoidance probes by 1-50 % steps; the runtime updates a queue only when its rate
        # moved ``queue_step`` (10 %). One step ahead, every probe under it reaches calls
        # (the gate thins them to the decided rate) instead of waiting for the sum.
        ahead = max(ahead, rate * (1.0 + config.queue_step))
    return max(rate, min(ahead, upper, cap))


def _reachable(state: ControllerState, config: ControllerConfig) -> float:
    """The most slow start could decide at its next step (``policy._grow``'s own bounds).

    Only a headerless slow start ramps by factors: once a limit is estimated the rate
    climbs back to it and probes past it by small steps, and stated budgets bound the
    rate by themselves (headroom there only spends them in bursts). The ramp factor,
    within ``slow_start_lead`` times the delivered rate, as slow start itself.
    """
    if state.limit_estimate is not None or stated_limits(state, config):
        return state.rate
    if state.latency is None and state.delivered is None:
        # No call has answered yet: the first answer may state the limits, and the rate
        # then jumps to them; a queue configured one step ahead would hold that jump back
        # an apply delay.
        return state.rate * config.first_answer_headroom
    factor = config.gentle_factor if state.gentle else config.slow_start_factor
    reachable = state.rate * factor
    if state.delivered is not None:
        reachable = min(reachable, max(state.rate, config.slow_start_lead * state.delivered))
    return reachable


def queue_history(state: ControllerState) -> tuple[tuple[float, float], ...]:
    """The rates the queues were configured at (the decided ones for older states)."""
    return state.configured or state.history


def record_queue_rate(state: ControllerState, now: float, rate: float) -> ControllerState:
    """``state`` remembering that the queues are configured at ``rate`` from ``now``."""
    return dataclasses.replace(state, configured=record_rate(queue_history(state), now, rate))
