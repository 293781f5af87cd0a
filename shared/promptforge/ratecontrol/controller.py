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
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from promptforge.providers.base import CallOutcome
from promptforge.ratecontrol.base import Observation
from promptforge.ratecontrol.tally import (
    CONTROL_PERIOD,
    DEFAULT_CONFIG,
    ControllerConfig,
    Tally,
    ewma,
    latest_limit,
    next_daily_reset,
    observation_order,
    tally,
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
_HISTORY_SECONDS = 600.0  # how far back the rate history must reach (latency + windows)
_HISTORY_MAX = 32
_LIMIT_FIELDS = ("limit_requests", "limit_tokens", "limit_input_tokens", "limit_output_tokens")


@dataclass(frozen=True)
class Ceilings:
    """User-given limits (the job's ``rpm``/``tpm``): the rate starts there and never exceeds them."""

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
    decreased_at: float | None = None  # 429s on calls started before this are stale
    window_start: float = 0.0  # the measurement window: calls since this time
    window_calls: int = 0
    window_ok: int = 0
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
    counts = tally(obs, state.decreased_at, config.low_budget)
    state = _learn(state, obs, config)
    paused_until = _pause(state, counts, now, config)

    rate = state.rate
    estimate = state.limit_estimate
    probe = state.probe_step
    decreased_at = state.decreased_at
    window_calls = state.window_calls + counts.calls
    window_ok = state.window_ok + counts.ok
    window_limited = state.window_limited + counts.fresh_limited
    budget_low = state.window_budget_low or counts.budget_low
    elapsed = now - state.window_start
    close_window = False

    if counts.fresh_limited:
        achieved = window_calls / max(elapsed, config.control_period)
        estimate = _accepted_rate(min(rate, achieved), window_ok, window_limited, config)
        rate = config.decrease_factor * estimate
        probe = config.probe_start
        decreased_at = now
        close_window = True
    elif not (counts.limited or state.saw_429) and _window_done(state, elapsed, config):
        close_window = True
        lag = state.latency or 0.0
        expected = _mean_rate(state.history, state.window_start - lag, now - lag)
        used = window_calls >= config.utilization * expected * elapsed
        accepted = window_ok / elapsed
        if budget_low and estimate is None:
            estimate = max(accepted, config.min_rate)  # a stated budget ran low: stop slow start
        elif used and not budget_low and paused_until is None:
            rate, probe = _grow(rate, estimate, probe, config)

    lower, upper = _bounds(state, ceilings, config)
    rate = min(max(rate, lower), upper)
    history = _record(state.history, now, rate)
    if close_window:
        window = {"window_start": now, "window_calls": 0, "window_ok": 0, "window_limited": 0}
        window_flag = False
    else:
        window = {
            "window_start": state.window_start,
            "window_calls": window_calls,
            "window_ok": window_ok,
            "window_limited": window_limited,
        }
        window_flag = budget_low
    new_state = dataclasses.replace(
        state,
        rate=rate,
        updated_at=now,
        limit_estimate=estimate,
        probe_step=probe,
        paused_until=paused_until,
        saw_429=counts.limited > 0,
        decreased_at=decreased_at,
        window_budget_low=window_flag,
        history=history,
        **window,
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
    return wait + spread * _unit_hash(f"{now!r}|{salt}")


def _learn(state: ControllerState, obs: Sequence[Observation], config: ControllerConfig) -> ControllerState:
    """Update stated limits and the token and latency averages from ``obs``."""
    ok = [o for o in obs if o.outcome is CallOutcome.SUCCESS]
    weight = config.ewma_weight
    used = [o for o in ok if o.input_tokens + o.output_tokens > 0]
    latencies = [o.latency for o in obs if o.latency > 0 and math.isfinite(o.latency)]
    limits = {name: latest_limit(obs, name, getattr(state, name)) for name in _LIMIT_FIELDS}
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
        **limits,
    )


def _pause(state: ControllerState, counts: Tally, now: float, config: ControllerConfig) -> float | None:
    """The pause after this step: kept, extended by a daily quota or a retry-after, or over."""
    until = state.paused_until if state.paused_until is not None and state.paused_until > now else None
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


def _window_done(state: ControllerState, elapsed: float, config: ControllerConfig) -> bool:
    """A window closes after most of a period and after time for ``window_calls`` calls."""
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


def _mean_rate(history: Sequence[tuple[float, float]], start: float, end: float) -> float:
    """The average configured rate over ``[start, end]`` (the first entry extends backwards)."""
    if not history:
        return 0.0
    if end <= start:
        return _rate_at(history, end)
    total = 0.0
    for index, (since, rate) in enumerate(history):
        lo = start if index == 0 else max(start, since)
        hi = end if index + 1 == len(history) else min(end, history[index + 1][0])
        if hi > lo:
            total += rate * (hi - lo)
    return total / (end - start)


def _rate_at(history: Sequence[tuple[float, float]], moment: float) -> float:
    """The rate configured at ``moment``."""
    current = history[0][1]
    for since, rate in history:
        if since > moment:
            break
        current = rate
    return current


def _record(
    history: tuple[tuple[float, float], ...], now: float, rate: float
) -> tuple[tuple[float, float], ...]:
    """``history`` with ``rate`` from ``now`` on, trimmed to what windows can still ask for."""
    if history and history[-1][1] == rate:
        return history
    entries = [*history, (now, rate)]
    horizon = now - _HISTORY_SECONDS
    while len(entries) > 1 and (entries[1][0] <= horizon or len(entries) > _HISTORY_MAX):
        entries.pop(0)
    return tuple(entries)


def _unit_hash(text: str) -> float:
    """A deterministic number in ``[0, 1)`` from ``text``."""
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64
