"""The brake: a worker's first refusal at slow start's cliff clamps the rate at once.

Slow start grows until the first 429: a provider that banks unused limit (a bucket of a
few seconds of it) refuses nothing while the bank lasts, and when it runs dry the ramp is
two to four times the limit. Everything dispatched from then until the controller's
next step is refused: 60 to 140 calls of a one-minute 1,200 RPM job (issue 21), most of
its 429s. A step taken on the first refusal (tried in round 5) has a fraction of a
period of evidence and cuts badly. The brake separates the two: the first fresh 429 a
worker sees in a headerless slow start clamps the rate to ``brake_share`` of it
(a quarter under two calls a second: ``ControllerConfig.brake_rate``; ``brake``),
which the worker applies to the key's queue (``core.brake``; not where a gate thins
dispatches: see ``brake``). The cut
waits until a period's worth of calls dispatched at the braked rate have answered
(``measuring``), then measures the accepted rate as before, from the history of rates
(the brake is recorded in it like any decided rate).

The brake is a rule on the saved state and the refusal, nothing else: any worker of
either runtime computes the same one, and the controller recognises it in the history
(an entry after its last step: ``braked_at``). At most one brake per slow start.
"""

from __future__ import annotations

import dataclasses

from promptforge.providers.base import CallOutcome
from promptforge.ratecontrol.base import Observation
from promptforge.ratecontrol.budget import stated_limits
from promptforge.ratecontrol.headroom import queue_history
from promptforge.ratecontrol.measure import ControllerConfig, record_rate
from promptforge.ratecontrol.state import ControllerState

__all__ = ["brake", "braked_at", "measuring"]


def brake(
    state: ControllerState, observation: Observation, now: float, config: ControllerConfig
) -> ControllerState | None:
    """``state`` braked by a refusal a worker saw at ``now``, or ``None`` when no brake applies.

    Only in slow start (no limit estimated yet), without stated limits (their budgets
    bound the ramp; nor on a refusal that states one: the first answer may be a 429) or
    a ramp limit (``gentle``), on a fresh 429 (a call started after the last cut took
    effect) that is no daily quota, while not paused, and once per slow start; the queue
    rate is recorded too: the caller configures the queue at the braked rate.

    Not where a gate thins dispatches (a queue that applies rates late: Google Cloud).
    There the brake would reach calls through the gate, deferring two dispatches in three
    for an apply delay each; on the emulators' hidden-limit test
    (``tests/gcp/test_google_rates.py``, 60 RPM rising to 120) that cost 20-40 s (195 s
    with it, twice; 157-184 s without; 175 s before round 8). Left out there.
    """
    signals = observation.signals
    if (
        observation.outcome is not CallOutcome.RATE_LIMITED
        or (config.gated and config.apply_delay > 0)
        or signals.daily_quota_exhausted
        or _states_budgets(observation)
        or state.limit_estimate is not None
        or state.gentle
        or state.dry_at is not None  # braked already: the cut is being measured
        or braked_at(state) is not None
        or (state.paused_until is not None and state.paused_until > now)
        or stated_limits(state, config)
    ):
        return None
    started = observation.at - max(observation.latency, 0.0)
    if state.decreased_at is not None and started < state.decreased_at + config.settle:
        return None
    rate = config.brake_rate(state.rate)
    if rate >= state.rate:
        return None
    history = record_rate(state.history, now, rate)
    configured = record_rate(queue_history(state), now, rate)
    return dataclasses.replace(state, rate=rate, history=history, configured=configured)


def _states_budgets(observation: Observation) -> bool:
    """Whether the refusal says what remains of a budget (limit headers): then the budgets
    bound the ramp, and the refusal may be about shape (``policy.cut``), not the limit."""
    s = observation.signals
    remaining = (
        s.remaining_requests,
        s.remaining_tokens,
        s.remaining_input_tokens,
        s.remaining_output_tokens,
    )
    return any(value is not None for value in remaining)


def braked_at(state: ControllerState) -> float | None:
    """When a worker braked the rate since the controller's last step (``None``: it did not).

    Only a step records a rate otherwise, at the step's own time (``updated_at``).
    """
    if state.history and state.history[-1][0] > state.updated_at:
        return state.history[-1][0]
    return None


def measuring(state: ControllerState, now: float, config: ControllerConfig) -> bool:
    """Whether the step at ``now`` should wait before cutting: a worker braked less than
    ``brake_evidence`` ago, so few calls at the braked rate have answered yet."""
    at = braked_at(state)
    return at is not None and now - at < config.brake_evidence
