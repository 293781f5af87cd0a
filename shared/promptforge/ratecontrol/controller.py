"""The rate controller: one pure state machine per rate key (provider, model, credential).

``step(state, observations, now) -> (state, decision)`` reads no clock, draws no random
numbers and does no I/O, so a discrete-event simulation can drive it in virtual time
and the runtime can persist its state as JSON between invocations.

The policy, like TCP congestion control in requests per second:

- **Slow start**: the rate doubles per measurement window while the calls show it is
  used (app-limited rates do not grow), until the first 429 or a stated limit.
- **Stated limits** (rate-limit headers, user ``rpm``/``tpm``) cap the rate directly;
  token limits are turned into requests through running averages of real usage.
- **Fresh 429s** (on calls started after the last decrease) cut the rate to
  ``decrease_factor`` times the rate the provider accepted, which becomes the limit
  estimate. Then **avoidance**: after one period of holding, climb back to
  ``recovery_fraction`` of the estimate, then probe past it in doubling additive steps,
  so a raised limit is found and a shared one is given up quickly.
- ``retry-after`` pauses dispatch only when most calls were 429 or the wait is long;
  a per-day quota pauses until the daily reset. Transient and permanent errors do not
  move the rate.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from promptforge.providers.base import CallOutcome
from promptforge.ratecontrol.base import Observation
from promptforge.ratecontrol.measure import (
    CONTROL_PERIOD,
    DEFAULT_CONFIG,
    ControllerConfig,
    Tally,
    ewma,
    latest_limit,
    mean_rate,
    next_daily_reset,
    observation_order,
    record_rate,
    tally,
    unit_hash,
)

__all__ = [
    "CONTROL_PERIOD",
    "DEFAULT_CONFIG",
    "Ceilings",
    "ControllerConfig",
    "ControllerState",
    "Decision",
    "initial_state",
    "retry_delay",
    "step",
]

_STATE_VERSION = 1


@dataclass(frozen=True)
class Ceilings:
    """User-given limits (the job's ``rpm``/``tpm``): the rate starts at them, never above."""

    rpm: float | None = None
    tpm: float | None = None

    def __post_init__(self) -> None:
        for name, value in (("rpm", self.rpm), ("tpm", self.tpm)):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"ceiling {name} must be a positive number, got {value!r}")


@dataclass(frozen=True)
class ControllerState:
    """Everything the controller remembers about one rate key; persisted as JSON."""

    rate: float  # dispatches per second configured now
    updated_at: float  # epoch seconds of the last step
    limit_estimate: float | None = None  # requests/s the provider accepted at the last 429
    probe_step: float = DEFAULT_CONFIG.probe_start  # next additive probe, x limit_estimate
    paused_until: float | None = None
    saw_429: bool = False  # the last step saw a 429: this step may not raise the rate
    decreased_at: float | None = None  # 429s on calls started soon after this are stale
    window_start: float = 0.0  # the measurement window: calls since this time
    window_calls: int = 0
    window_ok: int = 0
    window_transient: int = 0
    window_limited: int = 0  # fresh 429s
    window_budget_low: bool = False
    tokens_per_request: float | None = None  # running averages over successful calls
    input_tokens_per_request: float | None = None
    output_tokens_per_request: float | None = None
    latency: float | None = None  # running average over every call, seconds
    limit_requests: float | None = None  # provider-stated limits, per minute
    limit_tokens: float | None = None
    limit_input_tokens: float | None = None
    limit_output_tokens: float | None = None
    history: tuple[tuple[float, float], ...] = ()  # (since, rate): recent configured rates

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (plain floats, ints, bools, lists and ``None``)."""
        data = dataclasses.asdict(self)
        data["history"] = [[since, rate] for since, rate in self.history]
        data["version"] = _STATE_VERSION
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ControllerState:
        """Inverse of :meth:`to_dict`; unknown keys are ignored, missing ones take defaults."""
        version = data.get("version", _STATE_VERSION)
        if version != _STATE_VERSION:
            raise ValueError(f"unsupported controller state version {version!r}")
        names = {f.name for f in dataclasses.fields(cls)}
        values = {key: value for key, value in data.items() if key in names}
        values["history"] = tuple((float(s), float(r)) for s, r in data.get("history", ()))
        return cls(**values)


@dataclass(frozen=True)
class Decision:
    """What to configure on the queue now."""

    rate: float  # dispatches per second
    paused_until: float | None  # no dispatch before this epoch time
    phase: str  # "slow_start" | "avoidance" | "paused" | "ceiling"
    rpm_estimate: float | None  # what the controller believes the limits are
    tpm_estimate: float | None


def initial_state(
    now: float,
    ceilings: Ceilings = Ceilings(),
    *,
    initial_rate: float = 1.0,
    config: ControllerConfig = DEFAULT_CONFIG,
) -> ControllerState:
    """A fresh key: slow start from ``initial_rate``, or straight at the user's ceilings."""
    if not (math.isfinite(initial_rate) and initial_rate > 0):
        raise ValueError(f"initial_rate must be a positive number, got {initial_rate!r}")
    blank = ControllerState(rate=initial_rate, updated_at=now, probe_step=config.probe_start)
    lower, upper = _bounds(blank, ceilings, config)
    given = ceilings.rpm is not None or ceilings.tpm is not None
    rate = upper if given else min(max(initial_rate, lower), upper)
    return dataclasses.replace(blank, rate=rate, window_start=now, history=((now, rate),))


def step(
    state: ControllerState,
    observations: Sequence[Observation],
    now: float,
    ceilings: Ceilings = Ceilings(),
    *,
    config: ControllerConfig = DEFAULT_CONFIG,
) -> tuple[ControllerState, Decision]:
    """Fold one control period's observations into the state and decide the next rate."""
    now = max(now, state.updated_at)
    obs = sorted(observations, key=observation_order)
    fresh_after = None if state.decreased_at is None else state.decreased_at + config.settle
    counts = tally(obs, fresh_after, config.low_budget)
    learned = _learn(state, obs, config)
    paused_until = _pause(learned, counts, now, config)
    window = dataclasses.replace(
        learned,
        window_calls=state.window_calls + counts.calls,
        window_ok=state.window_ok + counts.ok,
        window_transient=state.window_transient + counts.transient,
        window_limited=state.window_limited + counts.fresh_limited,
        window_budget_low=state.window_budget_low or counts.budget_low,
    )
    if counts.fresh_limited:
        decided = _decrease(window, now, config)
    elif state.saw_429 or counts.limited:
        # The period after a 429, or one with stale 429s, is no clean window: hold.
        decided = _reset_window(window, now)
    elif not _window_done(state, now, config):
        decided = window  # keep measuring
    else:
        decided = _close_window(window, now, paused_until is not None, config)
    lower, upper = _bounds(decided, ceilings, config)
    rate = min(max(decided.rate, lower), upper)
    new_state = dataclasses.replace(
        decided,
        rate=rate,
        updated_at=now,
        paused_until=paused_until,
        saw_429=counts.limited > 0,
        history=record_rate(state.history, now, rate),
    )
    return new_state, _decide(new_state, now, upper, ceilings)


def retry_delay(
    state: ControllerState,
    now: float,
    observed_retry_after: float | None,
    *,
    salt: str = "",
    config: ControllerConfig = DEFAULT_CONFIG,
) -> float:
    """Seconds a rate-limited prompt waits before it is re-enqueued.

    At least the provider's ``retry-after`` and the rest of any pause, else two control
    periods (time for the controller to react); plus a spread of up to half that wait
    (at least one period, at most ``max_spread``) so re-enqueued prompts come back
    spread out. The spread is a hash of ``now`` and ``salt`` (pass the prompt id):
    deterministic, yet different for prompts limited at the same moment.
    """
    wait = 0.0
    if observed_retry_after is not None and math.isfinite(observed_retry_after):
        wait = max(wait, observed_retry_after)
    if state.paused_until is not None:
        wait = max(wait, state.paused_until - now)
    if wait <= 0.0:
        wait = 2.0 * config.control_period
    spread = min(max(0.5 * wait, config.control_period), config.max_spread)
    return wait + spread * unit_hash(f"{now!r}|{salt}")


def _learn(
    state: ControllerState, obs: Sequence[Observation], config: ControllerConfig
) -> ControllerState:
    """Update stated limits and the token and latency averages from ``obs``."""
    ok = [o for o in obs if o.outcome is CallOutcome.SUCCESS]
    weight = config.ewma_weight
    used = [o for o in ok if o.input_tokens + o.output_tokens > 0]
    latencies = [o.latency for o in obs if o.latency > 0 and math.isfinite(o.latency)]
    return dataclasses.replace(
        state,
        tokens_per_request=ewma(
            state.tokens_per_request, [o.input_tokens + o.output_tokens for o in used], weight
        ),
        input_tokens_per_request=ewma(
            state.input_tokens_per_request, [o.input_tokens for o in used], weight
        ),
        output_tokens_per_request=ewma(
            state.output_tokens_per_request, [o.output_tokens for o in used], weight
        ),
        latency=ewma(state.latency, latencies, weight),
        limit_requests=latest_limit(obs, "limit_requests", state.limit_requests),
        limit_tokens=latest_limit(obs, "limit_tokens", state.limit_tokens),
        limit_input_tokens=latest_limit(obs, "limit_input_tokens", state.limit_input_tokens),
        limit_output_tokens=latest_limit(obs, "limit_output_tokens", state.limit_output_tokens),
    )


def _pause(
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
    if counts.retry_until is None or counts.retry_until <= now:
        return until
    mostly_limited = counts.limited >= config.pause_share * counts.calls
    if not (mostly_limited or counts.longest_retry >= config.long_pause):
        return until
    target = min(counts.retry_until, now + config.max_pause)
    return target if until is None else max(until, target)


def _decrease(state: ControllerState, now: float, config: ControllerConfig) -> ControllerState:
    """Fresh 429s: the accepted rate becomes the estimate, the rate a fraction of it."""
    elapsed = max(now - state.window_start, config.control_period)
    achieved = state.window_calls / elapsed
    estimate = _accepted_rate(
        min(state.rate, achieved), state.window_ok, state.window_limited, config
    )
    return _reset_window(
        dataclasses.replace(
            state,
            rate=config.decrease_factor * estimate,
            limit_estimate=estimate,
            probe_step=config.probe_start,
            decreased_at=now,
        ),
        now,
    )


def _close_window(
    state: ControllerState, now: float, paused: bool, config: ControllerConfig
) -> ControllerState:
    """A clean window ended: grow if the rate was used and no stated budget ran low."""
    elapsed = now - state.window_start
    lag = state.latency or 0.0
    expected = mean_rate(state.history, state.window_start - lag, now - lag)
    # Transient failures (5xx, timeouts) neither shrink the rate nor count as using it.
    useful = state.window_calls - state.window_transient
    used = useful >= config.utilization * expected * elapsed
    if state.window_budget_low and state.limit_estimate is None:
        # A stated budget ran low before any 429: slow start ends at the accepted rate.
        accepted = max(state.window_ok / elapsed, config.min_rate)
        state = dataclasses.replace(state, limit_estimate=accepted)
    elif used and not state.window_budget_low and not paused:
        # Grow from the rate the observed calls were dispatched at, not the rate set since:
        # with latency longer than a period, growth is clocked by what comes back.
        base = min(state.rate, expected)
        rate, probe = _grow(base, state.limit_estimate, state.probe_step, config)
        if base < 0.99 * state.rate:
            probe = state.probe_step  # the last probe has not come back yet: do not speed up
        if rate > state.rate:
            state = dataclasses.replace(state, rate=rate, probe_step=probe)
    return _reset_window(state, now)


def _reset_window(state: ControllerState, now: float) -> ControllerState:
    """``state`` with an empty measurement window starting ``now``."""
    return dataclasses.replace(
        state,
        window_start=now,
        window_calls=0,
        window_ok=0,
        window_transient=0,
        window_limited=0,
        window_budget_low=False,
    )


def _accepted_rate(base: float, ok: int, limited: int, config: ControllerConfig) -> float:
    """The rate the provider accepted when it sent 429s: ``base`` x the success share.

    The share is smoothed (``loss_prior`` phantom successes) so a lone 429 at a low
    rate does not zero it, and it never goes under a quarter in one step.
    """
    prior = config.loss_prior
    share = (ok + prior) / (ok + limited + prior)
    return base * min(1.0, max(0.25, share))


def _grow(
    rate: float, estimate: float | None, probe: float, config: ControllerConfig
) -> tuple[float, float]:
    """The next rate after a clean, used window, and the next probe step."""
    doubled = rate * config.slow_start_factor
    if estimate is None:
        return doubled, probe
    target = config.recovery_fraction * estimate
    if rate < target:
        return min(target, doubled), probe
    return min(rate + probe * estimate, doubled), min(2.0 * probe, config.probe_max)


def _window_done(state: ControllerState, now: float, config: ControllerConfig) -> bool:
    """A window closes after most of a period and after time for ``window_calls`` calls."""
    elapsed = now - state.window_start
    return elapsed >= max(0.75 * config.control_period, config.window_calls / state.rate)


def _bounds(
    state: ControllerState, ceilings: Ceilings, config: ControllerConfig
) -> tuple[float, float]:
    """The lowest and highest rate allowed now.

    The floor is ``min_rate`` (lower only for an ``rpm`` ceiling under 1 RPM); token
    limits are converted through the average tokens per request and never push the
    cap under the floor.
    """
    lower = config.min_rate
    upper = config.max_rate
    if ceilings.rpm is not None:
        lower = min(lower, ceilings.rpm / 60.0)
        upper = min(upper, ceilings.rpm / 60.0)
    per_request = state.tokens_per_request or config.tokens_prior
    if ceilings.tpm is not None:
        upper = min(upper, max(config.min_rate, ceilings.tpm / 60.0 / per_request))
    stated = _stated_cap(state, config)
    if stated is not None:
        upper = min(upper, max(config.min_rate, stated))
    return lower, max(upper, lower)


def _stated_cap(state: ControllerState, config: ControllerConfig) -> float | None:
    """The rate the provider-stated limits allow, with headroom; ``None`` if none is known."""
    caps: list[float] = []
    if state.limit_requests is not None:
        caps.append(state.limit_requests / 60.0)
    pairs = (
        (state.limit_tokens, state.tokens_per_request or config.tokens_prior),
        (state.limit_input_tokens, state.input_tokens_per_request),
        (state.limit_output_tokens, state.output_tokens_per_request),
    )
    caps.extend(limit / 60.0 / per for limit, per in pairs if limit is not None and per)
    return config.header_headroom * min(caps) if caps else None


def _decide(state: ControllerState, now: float, upper: float, ceilings: Ceilings) -> Decision:
    """The decision a state stands for."""
    paused = state.paused_until is not None and state.paused_until > now
    if paused:
        phase = "paused"
    elif state.rate >= upper * (1.0 - 1e-9):
        phase = "ceiling"
    elif state.limit_estimate is None:
        phase = "slow_start"
    else:
        phase = "avoidance"
    rpm = [v for v in (state.limit_requests, ceilings.rpm) if v is not None]
    if state.limit_estimate is not None:
        rpm.append(state.limit_estimate * 60.0)
    tpm = [v for v in (state.limit_tokens, ceilings.tpm) if v is not None]
    return Decision(
        rate=state.rate,
        paused_until=state.paused_until if paused else None,
        phase=phase,
        rpm_estimate=min(rpm) if rpm else None,
        tpm_estimate=min(tpm) if tpm else None,
    )
