"""The worker's admission gate: the controller's decision, before the queue has caught up.

A queue applies a new rate some time after it is configured (Cloud Tasks: seconds).
Until then it keeps dispatching at the old rate, and when the controller has just cut
the rate after a storm of 429s, those extra dispatches would be more 429s. The worker
asks ``admission`` before calling the provider: dispatches above the decided rate are
thinned out (each kept with probability decided/dispatching, by a hash of ``salt``)
and deferred until after the queue has slowed; while the key is paused, every
dispatch is deferred until the pause ends. A deferred task costs a queue dispatch,
never a provider call.
"""

from __future__ import annotations

from promptforge.ratecontrol.controller import ControllerState
from promptforge.ratecontrol.headroom import queue_history
from promptforge.ratecontrol.measure import DEFAULT_CONFIG, ControllerConfig, rate_at, unit_hash

__all__ = ["admission"]


def admission(
    state: ControllerState,
    now: float,
    *,
    salt: str,
    config: ControllerConfig = DEFAULT_CONFIG,
) -> float | None:
    """Seconds to defer a task dispatched now, or ``None`` to call the provider.

    The queue dispatches at the rate configured ``config.apply_delay`` ago (with
    headroom above what was decided then: ``headroom.py``); the controller wants
    ``state.rate``. Deferred tasks come back after the delay plus a
    spread of one period, by which time the queue runs at the decided rate.
    """
    spread = config.control_period * (1.0 + unit_hash(f"spread|{salt}"))
    if state.paused_until is not None and state.paused_until > now:
        return state.paused_until - now + spread
    queued = queue_history(state)
    if config.apply_delay <= 0 or not queued:
        return None
    dispatching = rate_at(queued, now - config.apply_delay)
    if state.rate >= dispatching or unit_hash(f"keep|{salt}") < state.rate / dispatching:
        return None
    return config.apply_delay + spread
