"""Controller tunables and the measurements a step is built from.

Pure functions: what one period's observations add up to (counts by outcome, which
429s are *fresh*, i.e. from calls started after the last decrease and so about the
current rate, the pause the provider asked for, the latest stated limits), running
averages, and the history of configured rates that tells how many calls a window
should have seen. No clock, no randomness, no I/O.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

from promptforge.providers.base import CallOutcome
from promptforge.ratecontrol.base import Observation

CONTROL_PERIOD: float = 2.0
"""Seconds between two controller steps (the runtime calls ``step`` about this often)."""

_DAY = 86_400.0
_HISTORY_SECONDS = 600.0  # how far back the rate history must reach (latency + windows)
_HISTORY_MAX = 32


@dataclass(frozen=True)
class ControllerConfig:
    """The controller's tunables; the defaults are the v1 policy.

    Rates are dispatches per second. Fractions are of the rate or of the limit estimate.
    """

    control_period: float = CONTROL_PERIOD
    min_rate: float = 1.0 / 60.0  # 1 RPM: never slower while discovering
    max_rate: float = 2_000.0  # 120,000 RPM: the runtime spreads it over several queues
    slow_start_factor: float = 2.0  # rate multiplier per validated window before the first 429
    decrease_factor: float = 0.7  # multiplicative decrease of the accepted rate on fresh 429s
    settle: float = CONTROL_PERIOD  # 429s on calls started this soon after a decrease: stale
    recovery_fraction: float = 0.9  # after a decrease, climb straight back to this x estimate
    probe_start: float = 0.01  # first additive probe step, as a fraction of the estimate
    probe_max: float = 0.1  # probe steps double per clean window up to this fraction
    loss_prior: float = 2.0  # phantom successes smoothing the success share at a 429
    utilization: float = 0.5  # grow only if at least this share of the rate was used
    window_calls: float = 3.0  # a measurement window lasts long enough for this many calls
    header_headroom: float = 0.97  # run at this share of a provider-stated limit
    low_budget: float = 0.1  # remaining/limit under this share: stop growing
    tokens_prior: float = 1_000.0  # tokens per request assumed before any usage is seen
    ewma_weight: float = 0.05  # weight of one call in the token and latency averages
    pause_share: float = 0.5  # pause for retry-after when this share of a step was 429
    long_pause: float = 30.0  # a retry-after this long pauses even when 429s are rare
    max_pause: float = 3_600.0  # cap on a retry-after pause (daily quotas excepted)
    daily_reset_hour: float = 0.0  # UTC hour at which per-day quotas reset
    max_spread: float = 60.0  # re-enqueues of rate-limited prompts spread over at most this

    def __post_init__(self) -> None:
        if not 0 < self.min_rate <= self.max_rate:
            raise ValueError("need 0 < min_rate <= max_rate")
        if self.slow_start_factor <= 1 or not 0 < self.decrease_factor < 1:
            raise ValueError("need slow_start_factor > 1 and 0 < decrease_factor < 1")
        if self.control_period <= 0 or self.window_calls <= 0:
            raise ValueError("control_period and window_calls must be positive")


DEFAULT_CONFIG = ControllerConfig()


@dataclass(frozen=True)
class Tally:
    """One step's observations, summed up."""

    calls: int = 0
    ok: int = 0
    transient: int = 0
    limited: int = 0  # every 429, stale or fresh, daily or not
    fresh_limited: int = 0  # 429s on calls started after the last decrease (not daily quota)
    daily: bool = False
    retry_until: float | None = None  # latest ``at + retry_after`` over the 429s
    longest_retry: float = 0.0
    budget_low: bool = False  # the latest remaining_* said the stated budget is nearly spent


def tally(observations: Sequence[Observation], fresh_after: float | None, low: float) -> Tally:
    """Count ``observations`` (sorted by time); 429s on calls started before ``fresh_after``
    are stale: they say nothing about the current rate.
    """
    ok = transient = limited = fresh = 0
    daily = False
    retry_until: float | None = None
    longest = 0.0
    for obs in observations:
        if obs.outcome is CallOutcome.SUCCESS:
            ok += 1
        elif obs.outcome is CallOutcome.TRANSIENT:
            transient += 1
        if obs.outcome is not CallOutcome.RATE_LIMITED:
            continue
        limited += 1
        signals = obs.signals
        daily = daily or signals.daily_quota_exhausted
        started = obs.at - max(obs.latency, 0.0)
        if not signals.daily_quota_exhausted and (fresh_after is None or started >= fresh_after):
            fresh += 1
        wait = signals.retry_after
        if wait is not None and math.isfinite(wait) and wait > 0:
            longest = max(longest, wait)
            until = obs.at + wait
            retry_until = until if retry_until is None else max(retry_until, until)
    return Tally(
        calls=len(observations),
        ok=ok,
        transient=transient,
        limited=limited,
        fresh_limited=fresh,
        daily=daily,
        retry_until=retry_until,
        longest_retry=longest,
        budget_low=_budget_low(observations, low),
    )


def _budget_low(observations: Sequence[Observation], low: float) -> bool:
    """Whether the latest response with ``remaining_*`` shows less than ``low`` of a limit left."""
    for obs in reversed(observations):
        s = obs.signals
        pairs = (
            (s.remaining_requests, s.limit_requests),
            (s.remaining_tokens, s.limit_tokens),
            (s.remaining_input_tokens, s.limit_input_tokens),
            (s.remaining_output_tokens, s.limit_output_tokens),
        )
        known = [(r, lim) for r, lim in pairs if r is not None and lim is not None and lim > 0]
        if known:
            return any(r < low * lim for r, lim in known)
    return False


def latest_limit(
    observations: Sequence[Observation], field: str, previous: float | None
) -> float | None:
    """The last positive per-minute ``field`` stated in ``observations``, else ``previous``."""
    for obs in reversed(observations):
        value = getattr(obs.signals, field)
        if value is not None and value > 0:
            return float(value)
    return previous


def ewma(previous: float | None, samples: Sequence[float], weight: float) -> float | None:
    """Fold ``samples`` into an exponentially weighted average, ``weight`` per sample."""
    if not samples:
        return previous
    mean = math.fsum(samples) / len(samples)
    if previous is None:
        return mean
    blend = 1.0 - (1.0 - weight) ** len(samples)
    return previous + blend * (mean - previous)


def next_daily_reset(now: float, reset_hour: float) -> float:
    """The first epoch time after ``now`` at ``reset_hour`` o'clock UTC."""
    offset = (reset_hour % 24.0) * 3_600.0
    return (math.floor((now - offset) / _DAY) + 1.0) * _DAY + offset


def observation_order(obs: Observation) -> tuple[float, str, int, int, float, str]:
    """A total order on observations, so a step never depends on arrival order."""
    return (
        obs.at,
        obs.outcome.value,
        obs.input_tokens,
        obs.output_tokens,
        obs.latency,
        repr(obs.signals),
    )


def mean_rate(history: Sequence[tuple[float, float]], start: float, end: float) -> float:
    """The average configured rate over ``[start, end]`` (the first entry extends backwards)."""
    if not history:
        return 0.0
    if end <= start:
        return rate_at(history, end)
    total = 0.0
    for index, (since, rate) in enumerate(history):
        lo = start if index == 0 else max(start, since)
        hi = end if index + 1 == len(history) else min(end, history[index + 1][0])
        if hi > lo:
            total += rate * (hi - lo)
    return total / (end - start)


def rate_at(history: Sequence[tuple[float, float]], moment: float) -> float:
    """The rate configured at ``moment``."""
    current = history[0][1]
    for since, rate in history:
        if since > moment:
            break
        current = rate
    return current


def record_rate(
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


def unit_hash(text: str) -> float:
    """A deterministic number in ``[0, 1)`` from ``text``."""
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64
