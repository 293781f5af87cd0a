"""Rate limits as the providers enforce them: continuously refilled token buckets, or
fixed windows of requests (``LimitSpec.window_seconds``).

Pure logic. ``ProviderLimiter`` takes the time as an argument; ``SimulatorLimiter`` reads an
injectable monotonic clock, applies the limit-change schedule and scales simulated time.
A request is admitted only when every gate it is charged to can pay; then all pay at
once (requests, tokens, input and output tokens, the daily window, the acceleration
limit). A refused request pays nothing.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from promptforge.sim.providers.buckets import EPSILON as _EPSILON
from promptforge.sim.providers.buckets import FixedWindow, TokenBucket
from promptforge.sim.providers.config import LimitChange, LimitSpec

_DAY = 86_400.0
# Acceleration limit: the short-term request rate (EWMA over _FAST seconds) may not
# exceed max(floor, _GROWTH x the long-term rate (EWMA over _SLOW seconds)).
_FAST = 1.0
_SLOW = 20.0
_GROWTH = 2.0


class LimitKind(enum.StrEnum):
    """Which limit a request is charged to or refused by."""

    REQUESTS = "requests"
    TOKENS = "tokens"
    INPUT_TOKENS = "input_tokens"
    OUTPUT_TOKENS = "output_tokens"
    REQUESTS_PER_DAY = "requests_per_day"
    ACCELERATION = "acceleration"


@dataclass(frozen=True)
class Cost:
    """What one request is charged, besides one request: per token bucket."""

    tokens: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class BucketView:
    """A limit as headers state it: the limit, what remains of it, seconds until full."""

    limit: int
    remaining: int
    reset: float


@dataclass(frozen=True)
class Refusal:
    """Why a request was refused: the binding limit, its use and the request's charge.

    ``too_large`` means the request alone exceeds the limit: it can never be admitted.
    """

    kind: LimitKind
    limit: int
    used: int
    requested: int
    too_large: bool = False


@dataclass(frozen=True)
class LimitCheck:
    """The limiter's answer, with every limit's state right after it."""

    admitted: bool
    retry_after: float
    refusal: Refusal | None
    views: dict[LimitKind, BucketView]


class _DailyWindow:
    """A fixed one-day window of ``limit`` requests."""

    def __init__(self, limit: int, now: float) -> None:
        self.limit = limit
        self._start = now
        self._count = 0

    def _roll(self, now: float) -> None:
        if now - self._start >= _DAY:
            self._start += math.floor((now - self._start) / _DAY) * _DAY
            self._count = 0

    def wait(self, now: float) -> float:
        self._roll(now)
        return 0.0 if self._count < self.limit else self._start + _DAY - now

    def take(self, now: float) -> None:
        self._roll(now)
        self._count += 1

    def view(self, now: float) -> BucketView:
        self._roll(now)
        remaining = max(0, self.limit - self._count)
        return BucketView(self.limit, remaining, self._start + _DAY - now)


class _Acceleration:
    """Refuses a sudden ramp: the short-term rate may not outrun the long-term one."""

    def __init__(self, floor_rpm: int, now: float) -> None:
        self.floor = max(floor_rpm / 60.0, 1.0 / _FAST)
        self._fast = 0.0
        self._slow = 0.0
        self._at = now

    def _decay(self, now: float) -> None:
        if now > self._at:
            elapsed = now - self._at
            self._fast *= math.exp(-elapsed / _FAST)
            self._slow *= math.exp(-elapsed / _SLOW)
            self._at = now

    def allowed(self, now: float) -> float:
        self._decay(now)
        return max(self.floor, _GROWTH * self._slow)

    def wait(self, now: float) -> float:
        allowed = self.allowed(now)
        if self._fast < allowed:
            return 0.0
        return _FAST * math.log(self._fast / allowed) + _EPSILON

    def take(self, now: float) -> None:
        self._decay(now)
        self._fast += 1.0 / _FAST
        self._slow += 1.0 / _SLOW

    def refusal(self, now: float) -> Refusal:
        allowed = self.allowed(now)
        return Refusal(LimitKind.ACCELERATION, round(allowed * 60), round(self._fast * 60), 1)


class ProviderLimiter:
    """One provider's limits at explicit times (seconds on any monotonic scale)."""

    def __init__(self, spec: LimitSpec, now: float) -> None:
        self.spec = spec
        self._buckets: dict[LimitKind, tuple[TokenBucket, int]] = {}
        self._daily: _DailyWindow | None = None
        self._acceleration: _Acceleration | None = None
        self.apply(spec, now)

    def apply(self, spec: LimitSpec, now: float) -> None:
        """Switch to ``spec`` at ``now``: usage carries over, capacities and rates change."""
        self.spec = spec
        seconds = spec.window_seconds or spec.burst_seconds
        wanted: dict[LimitKind, tuple[float, int]] = {
            LimitKind.REQUESTS: (max(1.0, spec.rpm / 60.0 * seconds), spec.rpm)
        }
        if not spec.split_tokens:
            wanted[LimitKind.TOKENS] = (float(spec.tpm), spec.tpm)
        if spec.input_tpm is not None:
            wanted[LimitKind.INPUT_TOKENS] = (float(spec.input_tpm), spec.input_tpm)
        if spec.output_tpm is not None:
            wanted[LimitKind.OUTPUT_TOKENS] = (float(spec.output_tpm), spec.output_tpm)
        buckets: dict[LimitKind, tuple[TokenBucket, int]] = {}
        for kind, (capacity, per_minute) in wanted.items():
            rate = per_minute / 60.0
            windowed = kind is LimitKind.REQUESTS and spec.window_seconds is not None
            if (
                kind in self._buckets
                and isinstance(self._buckets[kind][0], FixedWindow) == windowed
            ):
                bucket = self._buckets[kind][0]
                bucket.reconfigure(capacity, rate, now)
            else:
                bucket = (FixedWindow if windowed else TokenBucket)(capacity, rate, now)
            buckets[kind] = (bucket, per_minute)
        self._buckets = buckets
        if spec.rpd is None:
            self._daily = None
        elif self._daily is None:
            self._daily = _DailyWindow(spec.rpd, now)
        else:
            self._daily.limit = spec.rpd
        if spec.acceleration_floor_rpm is None:
            self._acceleration = None
        elif self._acceleration is None:
            self._acceleration = _Acceleration(spec.acceleration_floor_rpm, now)
        else:
            self._acceleration.floor = max(spec.acceleration_floor_rpm / 60.0, 1.0 / _FAST)

    def _charges(self, cost: Cost) -> Iterable[tuple[LimitKind, int]]:
        amounts = {
            LimitKind.REQUESTS: 1,
            LimitKind.TOKENS: cost.tokens,
            LimitKind.INPUT_TOKENS: cost.input_tokens,
            LimitKind.OUTPUT_TOKENS: cost.output_tokens,
        }
        return [(kind, amounts[kind]) for kind in self._buckets]

    def decide(self, cost: Cost, now: float) -> LimitCheck:
        """Admit and charge the request, or refuse it and say why and for how long."""
        refused = self._refused(cost, now)
        if refused is not None:
            wait, refusal = refused
            return LimitCheck(False, wait, refusal, self.views(now))
        for kind, amount in self._charges(cost):
            self._buckets[kind][0].take(amount, now)
        if self._daily is not None:
            self._daily.take(now)
        if self._acceleration is not None:
            self._acceleration.take(now)
        return LimitCheck(True, 0.0, None, self.views(now))

    def wait(self, cost: Cost, now: float) -> float:
        """Seconds until a call of ``cost`` would be admitted (0: now; inf: never); charges
        nothing. What a client reading the provider's own buckets would know."""
        refused = self._refused(cost, now)
        if refused is None:
            return 0.0
        wait, refusal = refused
        return math.inf if refusal.too_large else wait

    def _refused(self, cost: Cost, now: float) -> tuple[float, Refusal] | None:
        """Why a call of ``cost`` would be refused now and for how long; ``None``: admitted.

        A call larger than a budget's capacity is refused for good (its wait: until the
        bucket is full); otherwise the longest wait among the limits that refuse it, the
        acceleration limit only once every bucket has room.
        """
        refusals: list[tuple[float, Refusal]] = []
        if self._daily is not None and (wait := self._daily.wait(now)) > 0:
            view = self._daily.view(now)
            refusals.append((wait, Refusal(LimitKind.REQUESTS_PER_DAY, view.limit, view.limit, 1)))
        for kind, amount in self._charges(cost):
            bucket, per_minute = self._buckets[kind]
            wait = bucket.wait(amount, now)
            if wait > 0:
                too_large = amount > bucket.capacity + _EPSILON
                used = per_minute - self._remaining(kind, now)
                if too_large:
                    wait = bucket.seconds_to_full(now)
                refusals.append((wait, Refusal(kind, per_minute, used, amount, too_large)))
        if not refusals and self._acceleration is not None:
            wait = self._acceleration.wait(now)
            if wait > 0:
                refusals.append((wait, self._acceleration.refusal(now)))
        if not refusals:
            return None
        fatal = [r for r in refusals if r[1].too_large]
        return fatal[0] if fatal else max(refusals, key=lambda r: r[0])

    def refund(self, cost: Cost, now: float) -> None:
        """Give back tokens charged up front but not used (e.g. unused ``max_tokens``)."""
        for kind, amount in self._charges(cost):
            if kind is not LimitKind.REQUESTS and amount > 0:
                self._buckets[kind][0].give(amount, now)

    def _remaining(self, kind: LimitKind, now: float) -> int:
        # What is used drains at the same rate whatever the capacity, so a bucket sized
        # for one second still reports per minute: limit minus what is used.
        bucket, per_minute = self._buckets[kind]
        used = bucket.capacity - bucket.level(now)
        return max(0, math.floor(per_minute - used + _EPSILON))

    def views(self, now: float) -> dict[LimitKind, BucketView]:
        """Every limit as headers state it: per-minute limit, what remains, time to full."""
        views = {
            kind: BucketView(per_minute, self._remaining(kind, now), bucket.seconds_to_full(now))
            for kind, (bucket, per_minute) in self._buckets.items()
        }
        if self._daily is not None:
            views[LimitKind.REQUESTS_PER_DAY] = self._daily.view(now)
        return views


def _scaled(decision: LimitCheck, scale: float) -> LimitCheck:
    views = {
        k: BucketView(v.limit, v.remaining, v.reset / scale) for k, v in decision.views.items()
    }
    return LimitCheck(decision.admitted, decision.retry_after / scale, decision.refusal, views)


class SimulatorLimiter:
    """All providers' limits on one clock, with the limit-change schedule applied.

    ``clock`` is any monotonic clock in seconds (tests pass a fake one). Simulated time is
    ``(clock() - start) * time_scale``; every duration returned is in clock seconds.
    """

    def __init__(
        self,
        limits: Mapping[str, LimitSpec],
        schedule: Iterable[LimitChange] = (),
        clock: Callable[[], float] = time.monotonic,
        time_scale: float = 1.0,
    ) -> None:
        self._limits = dict(limits)
        self._schedule = sorted(schedule, key=lambda change: change.at)
        self._clock = clock
        self._scale = time_scale
        self.reset()

    def reset(self) -> None:
        """Full buckets, the original limits, and the schedule restarted from now."""
        self._start = self._clock()
        self._pending = list(self._schedule)
        self._providers = {name: ProviderLimiter(spec, 0.0) for name, spec in self._limits.items()}

    def now(self) -> float:
        """Simulated seconds since start (or the last reset)."""
        return (self._clock() - self._start) * self._scale

    def _limiter(self, provider: str) -> tuple[ProviderLimiter, float]:
        now = self.now()
        while self._pending and self._pending[0].at <= now:
            change = self._pending.pop(0)
            if change.provider in self._providers:
                self._providers[change.provider].apply(change.limits, change.at)
        if provider not in self._providers:
            raise ValueError(f"no limits configured for provider {provider!r}")
        return self._providers[provider], now

    def change(self, provider: str, spec: LimitSpec) -> None:
        """From now on ``provider`` has the limits ``spec`` (usage carries over)."""
        limiter, now = self._limiter(provider)
        limiter.apply(spec, now)

    def admit(self, provider: str, cost: Cost) -> LimitCheck:
        """Admit and charge one request of ``provider``, or refuse it."""
        limiter, now = self._limiter(provider)
        return _scaled(limiter.decide(cost, now), self._scale)

    def refund(self, provider: str, cost: Cost) -> None:
        """Give back tokens charged up front but not used."""
        limiter, now = self._limiter(provider)
        limiter.refund(cost, now)

    def views(self, provider: str) -> dict[LimitKind, BucketView]:
        """The provider's limits right now, durations in clock seconds."""
        limiter, now = self._limiter(provider)
        return _scaled(LimitCheck(True, 0.0, None, limiter.views(now)), self._scale).views

    def spec(self, provider: str) -> LimitSpec:
        """The limits in force for ``provider`` now."""
        return self._limiter(provider)[0].spec
