"""Observations for the rate-controller tests, and a closed loop against a fixed limit."""

from __future__ import annotations

from collections.abc import Sequence

from promptforge.providers.base import CallOutcome, RateSignals
from promptforge.ratecontrol.base import Observation
from promptforge.ratecontrol.controller import (
    CONTROL_PERIOD,
    DEFAULT_CONFIG,
    ControllerState,
    initial_state,
    step,
)

P = CONTROL_PERIOD
CFG = DEFAULT_CONFIG
OK = CallOutcome.SUCCESS
LIMITED = CallOutcome.RATE_LIMITED


def calls(
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


def full_period(state: ControllerState, start: float, **kwargs: object) -> list[Observation]:
    """As many successful calls as ``state.rate`` dispatches in one period."""
    return calls(max(1, round(state.rate * P)), start, **kwargs)  # type: ignore[arg-type]


def closed_loop(limits: Sequence[float]) -> list[tuple[int, int, int, float]]:
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
        obs = calls(accepted, t) + calls(sent - accepted, t + 1e-6, LIMITED) if sent else []
        obs.sort(key=lambda o: o.at)
        t += P
        state, _ = step(state, obs, t)
        rows.append((sent, accepted, sent - accepted, state.rate))
    return rows
