"""Controller tunables and the measurements a step is built from.

Pure functions: what one period's observations add up to (counts by outcome, which
429s are *fresh*, i.e. from calls started after the last decrease and so about the
current rate, the pause the provider asked for, the latest stated limits), running
averages, and the history of configured rates that tells how many calls a window
should have seen. No clock, no randomness, no I/O.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from promptforge.providers.base import CallOutcome
from promptforge.ratecontrol.base import Observation

CONTROL_PERIOD: float = 2.0
"""Seconds between two controller steps (the runtime calls ``step`` about this often)."""
STEP_SLACK: float = 0.05
"""A real controller's steps come a few milliseconds either side of its period's grid (the
embedded loop, Google's chain of ticks): a hold of whole periods counts as over this share
of a period early, or it ends a step later in real time than in the simulation."""
SLOW_KEY: float = 2.0
"""Calls a second under which a key's overshoot is whole calls: one refusal is a large
share of a short job's calls, so the brake goes deeper and probes wait longer."""

_DAY = 86_400.0
_HISTORY_SECONDS = 600.0  # how far back the rate history must reach (latency + windows)
_HISTORY_MAX = 32


@dataclass(frozen=True)
class ControllerConfig:
    """The controller's tunables; the defaults are the v2 policy.

    Rates are dispatches per second. Fractions are of the rate, of the accepted-rate
    estimate, or of a stated limit.
    """

    control_period: float = CONTROL_PERIOD
    min_rate: float = 1.0 / 60.0  # 1 RPM: never slower while discovering
    max_rate: float = 2_000.0  # 120,000 RPM: the runtime spreads it over several queues
    slow_start_factor: float = 2.0  # rate multiplier per validated window before any 429
    slow_start_lead: float = 3.0  # slow start stays within this x the delivered rate
    gentle_factor: float = 1.12  # growth per window once a 429 came with budget left
    apply_delay: float = 0.0  # seconds before a configured rate reaches the dispatcher
    gated: bool = False  # workers thin dispatches down to the decided rate at once (gate.py)
    queue_step: float = 0.0  # the runtime updates a queue only when its rate moved this share
    settle: float = 1.0  # 429s on calls started this soon after a cut (applied): stale
    target: float = 0.99  # run at this share of the accepted-rate estimate
    plateau: float = 20.0  # seconds held at the target before probing past it
    plateau_max: float = 160.0  # ... at most, after probes that kept finding the same limit
    probe_start: float = 0.01  # first probe step past the target, x the estimate
    probe_max: float = 0.5  # probe steps double per clean window up to this
    probe_max_slow: float = 0.25  # ... under two calls a second or gated (``probe_reach``)
    min_accepted_calls: int = 10  # fewer successes than this: accepted rate from the share
    delivery_time: float = 10.0  # time constant of the average rate of successful calls
    burst_horizon: float = 60.0  # a provider may bank this many seconds of unused limit
    brake_share: float = 1.0 / 3.0  # a worker's first 429 in slow start clamps to this x the rate
    brake_share_slow: float = 0.25  # ... when that is under ``SLOW_KEY`` (``brake_rate``)
    hold_slow: float = 0.5  # under ``SLOW_KEY``, hold at least this x ``quiet`` before probing
    brake_evidence: float = 1.0  # seconds after a brake before its cut is measured
    first_answer_headroom: float = 16.0  # queue at this x the rate until a call has answered
    utilization: float = 0.5  # grow only if at least this share of the rate was used
    window_calls: float = 3.0  # a measurement window lasts long enough for this many calls
    header_headroom: float = 1.0  # share of a stated limit when its budget is not spendable
    reserve: float = 0.1  # share of a stated budget kept unspent
    free_floor: float = 0.25  # never under this x a stated limit whose budget has room
    burst_max: float = 0.5  # spend spare stated budget at most this much above the limit
    budget_horizon: float = 20.0  # spend spare stated budget over at least this many seconds
    budget_max_age: float = 60.0  # a remaining-budget reading older than this is ignored
    named_max_age: float = 120.0  # a limit named only in 429s is dropped this long after the last
    named_calls: float = 100.0  # ... and at a named request limit, at least this many calls
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
        if self.slow_start_factor <= 1 or self.gentle_factor <= 1:
            raise ValueError("need slow_start_factor > 1 and gentle_factor > 1")
        if not 0 < self.target <= 1 or not 0 < self.header_headroom <= 1:
            raise ValueError("need 0 < target <= 1 and 0 < header_headroom <= 1")
        if self.control_period <= 0 or self.window_calls <= 0 or self.apply_delay < 0:
            raise ValueError("control_period and window_calls must be positive, apply_delay >= 0")

    def probe_reach(self, anchor: float) -> float:
        """How far past the last cut (``anchor``, calls/s) probes go: ``probe_max``, or
        ``probe_max_slow`` under two calls a second, where a probe's overshoot is whole
        calls of a thin tail (keys of ~11 and ~86 RPM lost 10 % and 5.2 % of their calls
        to 50 % probes), and where a gate thins a queue that applies rates late (Google
        Cloud: the brake is off there too, and the emulator test of a 60 RPM key passed
        10 % 429s with 50 %)."""
        if anchor < SLOW_KEY or (self.gated and self.apply_delay > 0):
            return min(self.probe_max, self.probe_max_slow)
        return self.probe_max

    def brake_rate(self, rate: float) -> float:
        """The rate a brake at slow start's cliff (``brake.py``) clamps ``rate`` to.

        ``brake_share`` of it; under ``SLOW_KEY`` ``brake_share_slow``. Slow start doubles,
        so when a bank runs dry the ramp is two to four times the limit, and a third of
        it lands above the limit when the ramp was under three times. At a tiny limit
        every second above it refuses a call every few seconds until the cut: a 60 RPM
        key braked to a third refused 2-6 of its 62 calls (issue 21's goal is one); a
        quarter is under the limit at any ramp up to four times it, and costs only
        seconds of the climb back.
        """
        braked = rate * self.brake_share
        if braked < SLOW_KEY:
            braked = rate * min(self.brake_share, self.brake_share_slow)
        return max(braked, self.min_rate)


DEFAULT_CONFIG = ControllerConfig()


@dataclass(frozen=True)
class Tally:
    """One step's observations, summed up."""

    calls: int = 0
    ok: int = 0
    transient: int = 0
    limited: int = 0  # every 429, stale or fresh, daily or not
    fresh_limited: int = 0  # 429s on calls started after the last cut (not daily quota)
    unexplained: int = 0  # fresh 429s whose own headers said the stated budget had room
    first_fresh: float | None = None  # when the earliest call refused by a fresh 429 started
    daily: bool = False
    retry_until: float | None = None  # latest ``at + retry_after`` over the 429s
    longest_retry: float = 0.0
    # The earliest and latest ``at + retry_after`` over the fresh 429s that gave one, and
    # their longest ``retry_after``: whether they share a reset instant (``windows.py``).
    fresh_reset_first: float | None = None
    fresh_reset_last: float | None = None
    fresh_retry: float = 0.0


def lasted(now: float, since: float, seconds: float, config: ControllerConfig) -> bool:
    """Whether ``seconds`` have passed from ``since`` to the step at ``now``, allowing the
    step to come ``STEP_SLACK`` of a period early."""
    return now - since >= seconds - STEP_SLACK * config.control_period


def tally(observations: Sequence[Observation], fresh_after: float | None, reserve: float) -> Tally:
    """Count ``observations`` (sorted by time); 429s on calls started before ``fresh_after``
    are stale: they say nothing about the current rate.
    """
    ok = transient = limited = fresh = unexplained = 0
    first: float | None = None
    daily = False
    retry_until: float | None = None
    longest = fresh_retry = 0.0
    resets: list[float] = []
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
        wait = signals.retry_after
        if not signals.daily_quota_exhausted and (fresh_after is None or started >= fresh_after):
            fresh += 1
            unexplained += budget_had_room(obs, reserve)
            first = started if first is None else min(first, started)
            if wait is not None and math.isfinite(wait) and wait >= 0:
                resets.append(obs.at + wait)
                fresh_retry = max(fresh_retry, wait)
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
        unexplained=unexplained,
        first_fresh=first,
        daily=daily,
        retry_until=retry_until,
        longest_retry=longest,
        fresh_reset_first=min(resets, default=None),
        fresh_reset_last=max(resets, default=None),
        fresh_retry=fresh_retry,
    )


def budget_had_room(obs: Observation, reserve: float) -> bool:
    """Whether a response stated budgets and every one had more than ``reserve`` of it left.

    A 429 that says so was refused by a limit finer than the stated per-minute budgets
    (enforcement per second, an acceleration limit).
    """
    s = obs.signals
    pairs = (
        (s.remaining_requests, s.limit_requests),
        (s.remaining_tokens, s.limit_tokens),
        (s.remaining_input_tokens, s.limit_input_tokens),
        (s.remaining_output_tokens, s.limit_output_tokens),
    )
    known = [(r, lim) for r, lim in pairs if r is not None and lim is not None and lim > 0]
    return bool(known) and all(r > reserve * lim for r, lim in known)


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


# A window shorter than this is a moment: over a subnormal length the piecewise sums below
# round to nonsense (hypothesis found one at 5e-324 s).
_INSTANT = 1e-9


def mean_rate(history: Sequence[tuple[float, float]], start: float, end: float) -> float:
    """The average configured rate over ``[start, end]`` (the first entry extends backwards)."""
    if not history:
        return 0.0
    if end - start <= _INSTANT:
        return rate_at(history, end)
    total = 0.0
    for index, (since, rate) in enumerate(history):
        lo = start if index == 0 else max(start, since)
        hi = end if index + 1 == len(history) else min(end, history[index + 1][0])
        if hi > lo:
            total += rate * (hi - lo)
    return total / (end - start)


def dispatched_rate(
    history: Sequence[tuple[float, float]],
    start: float,
    end: float,
    config: ControllerConfig,
    configured: Sequence[tuple[float, float]] = (),
) -> float:
    """The average rate calls actually started at over ``[start, end]``.

    ``history`` holds the decided rates, ``configured`` what the queue was configured
    at (empty: the decided rates). A configured rate reaches the queue ``apply_delay``
    late; with the workers' gate, dispatches above the decided rate are deferred at
    once, so calls ran at the lower of the rate decided then and the one the queue was
    still applying (configured ``apply_delay`` earlier).
    """
    delay = config.apply_delay
    queued = configured or history
    if not history:
        return 0.0
    if delay <= 0:
        return mean_rate(history, start, end)
    if not config.gated:
        return mean_rate(queued, start - delay, end - delay)
    if end - start <= _INSTANT:
        return min(rate_at(history, end), rate_at(queued, end - delay))
    edges = sorted(
        {start, end}
        | {since for since, _ in history if start < since < end}
        | {since + delay for since, _ in queued if start < since + delay < end}
    )
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        mid = 0.5 * (lo + hi)
        total += min(rate_at(history, mid), rate_at(queued, mid - delay)) * (hi - lo)
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
