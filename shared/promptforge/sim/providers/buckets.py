"""What a provider charges requests and tokens against: a continuously refilled token
bucket, or a fixed window of requests whose whole budget comes back at once.

Pure: every method takes the time as an argument (seconds on any monotonic scale).
``limits.ProviderLimiter`` builds one per limit from a ``LimitSpec``.
"""

from __future__ import annotations

import math

__all__ = ["EPSILON", "FixedWindow", "TokenBucket"]

EPSILON = 1e-9
"""Amounts this close to what is left count as fitting."""


class TokenBucket:
    """A bucket of ``capacity`` refilled at ``rate`` per second, continuously."""

    def __init__(self, capacity: float, rate: float, now: float) -> None:
        self.capacity = capacity
        self.rate = rate
        self._level = capacity
        self._at = now

    def level(self, now: float) -> float:
        """The level at ``now`` (refills first)."""
        if now > self._at:
            self._level = min(self.capacity, self._level + (now - self._at) * self.rate)
            self._at = now
        return self._level

    def wait(self, amount: float, now: float) -> float:
        """Seconds until ``amount`` can be taken (0 if it can now)."""
        missing = amount - self.level(now)
        return 0.0 if missing <= EPSILON else missing / self.rate

    def take(self, amount: float, now: float) -> None:
        """Remove ``amount`` (the caller checked :meth:`wait`)."""
        self._level = self.level(now) - amount

    def give(self, amount: float, now: float) -> None:
        """Put ``amount`` back, never above capacity."""
        self._level = min(self.capacity, self.level(now) + amount)

    def seconds_to_full(self, now: float) -> float:
        """Seconds until the bucket is full again."""
        return max(0.0, self.capacity - self.level(now)) / self.rate

    def reconfigure(self, capacity: float, rate: float, now: float) -> None:
        """New capacity and rate; what was used stays used."""
        used = self.capacity - self.level(now)
        self.capacity, self.rate = capacity, rate
        self._level = max(0.0, capacity - used)


class FixedWindow(TokenBucket):
    """``capacity`` per window of ``capacity / rate`` seconds; windows start at multiples
    of their length from the limiter's start, and each starts with all of it back."""

    def __init__(self, capacity: float, rate: float, now: float) -> None:
        super().__init__(capacity, rate, now)
        self._start = 0.0
        self._roll(now)

    @property
    def length(self) -> float:
        """Seconds per window."""
        return self.capacity / self.rate

    def _roll(self, now: float) -> None:
        if now >= self._start + self.length:
            self._start += math.floor((now - self._start) / self.length) * self.length
            self._level = self.capacity

    def level(self, now: float) -> float:
        """What is left of this window's capacity at ``now``."""
        self._roll(now)
        return self._level

    def wait(self, amount: float, now: float) -> float:
        """Seconds until ``amount`` can be taken: 0, or until the next window starts."""
        missing = amount - self.level(now)
        return 0.0 if missing <= EPSILON else self._start + self.length - now

    def seconds_to_full(self, now: float) -> float:
        """Seconds until the next window (0 while this one is untouched)."""
        full = self.level(now) >= self.capacity - EPSILON
        return 0.0 if full else self._start + self.length - now

    def reconfigure(self, capacity: float, rate: float, now: float) -> None:
        """New capacity and length from the current window on; what was used stays used."""
        used = self.capacity - self.level(now)
        self.capacity, self.rate = capacity, rate
        self._level = max(0.0, capacity - used)
