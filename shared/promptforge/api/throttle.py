"""Per-key API request limits: one token bucket per (API key, endpoint), in process memory.

Pure apart from its clock, which is injected: ``RateLimiter.take(endpoint, key)`` spends
one token or says how long until the next one; no I/O, no background task. Each bucket
holds up to ``burst`` tokens and refills at ``per_minute / 60`` tokens a second, so a
client may send ``burst`` requests at once and then ``per_minute`` a minute, for ever.

State lives in the process: the embedded runtime is one process, and each Cloud
Functions instance limits the traffic it serves (README "Limits" says why that is enough).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

MonotonicClock = Callable[[], float]
"""Seconds from an arbitrary origin that never go backwards (``time.monotonic``)."""


@dataclass(frozen=True)
class Limit:
    """A sustained rate (requests a minute) and the burst allowed on top of it."""

    per_minute: int
    burst: int

    def __post_init__(self) -> None:
        if self.per_minute < 1 or self.burst < 1:
            raise ValueError("per_minute and burst must be at least 1")

    @property
    def per_second(self) -> float:
        """Refill rate in tokens a second."""
        return self.per_minute / 60.0


@dataclass(frozen=True)
class Admission:
    """The answer for one request: allowed or not, and when a refused one may retry."""

    allowed: bool
    remaining: int
    retry_after: float
    limit: Limit

    @property
    def retry_after_seconds(self) -> int:
        """``Retry-After`` in whole seconds (RFC 9110), rounded up and at least 1."""
        return max(1, math.ceil(self.retry_after))


@dataclass
class _Bucket:
    tokens: float
    updated: float


def _spend(bucket: _Bucket, limit: Limit, now: float) -> Admission:
    """Refill ``bucket`` up to ``now`` and spend one token if there is one (mutates it)."""
    elapsed = max(0.0, now - bucket.updated)
    bucket.tokens = min(float(limit.burst), bucket.tokens + elapsed * limit.per_second)
    bucket.updated = max(bucket.updated, now)
    if bucket.tokens >= 1.0:
        bucket.tokens -= 1.0
        return Admission(True, math.floor(bucket.tokens), 0.0, limit)
    wait = (1.0 - bucket.tokens) / limit.per_second
    return Admission(False, 0, wait, limit)


class RateLimiter:
    """Token buckets per (endpoint, key) for the endpoints in ``limits``; others are free."""

    def __init__(
        self,
        limits: Mapping[str, Limit],
        clock: MonotonicClock = time.monotonic,
        *,
        max_buckets: int = 100_000,
    ) -> None:
        self._limits = dict(limits)
        self._clock = clock
        self._max_buckets = max_buckets
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def limit(self, endpoint: str) -> Limit | None:
        """The limit applied to ``endpoint``, if any."""
        return self._limits.get(endpoint)

    def take(self, endpoint: str, key: str) -> Admission | None:
        """Spend one of ``key``'s tokens for ``endpoint``; None when the endpoint is unlimited."""
        limit = self._limits.get(endpoint)
        if limit is None:
            return None
        now = self._clock()
        bucket = self._buckets.get((endpoint, key))
        if bucket is None:
            if len(self._buckets) >= self._max_buckets:
                self._forget_full(now)
            bucket = self._buckets[(endpoint, key)] = _Bucket(float(limit.burst), now)
        return _spend(bucket, limit, now)

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled completely: forgetting them changes no answer."""
        for bucket_key, bucket in list(self._buckets.items()):
            limit = self._limits[bucket_key[0]]
            if bucket.tokens + (now - bucket.updated) * limit.per_second >= limit.burst:
                del self._buckets[bucket_key]
        if len(self._buckets) >= self._max_buckets:  # all busy: bound memory all the same
            self._buckets.clear()


INIT = "POST /v1/jobs/init"
STATUS = "GET /v1/jobs/{job_id}/status"
RESULTS = "GET /v1/jobs/{job_id}/results"
LIST = "GET /v1/jobs"
CANCEL = "POST /v1/jobs/{job_id}/cancel"
VALIDATE = "POST /v1/jobs/validate"
RETRY = "POST /v1/jobs/{job_id}/retry"

DEFAULT_LIMITS: Mapping[str, Limit] = {
    INIT: Limit(per_minute=60, burst=30),
    STATUS: Limit(per_minute=1200, burst=200),
    RESULTS: Limit(per_minute=120, burst=30),
    LIST: Limit(per_minute=600, burst=100),
    CANCEL: Limit(per_minute=60, burst=30),
    VALIDATE: Limit(per_minute=60, burst=10),
    RETRY: Limit(per_minute=60, burst=10),  # creates a job and reads its parent's input
    # The prompt registry: writes like init, reads like listing.
    "POST /v1/prompts": Limit(per_minute=60, burst=30),
    "POST /v1/prompt_versions/{version_id}/tags": Limit(per_minute=60, burst=30),
    "GET /v1/prompts": Limit(per_minute=600, burst=100),
    "GET /v1/prompts/{name_or_id}/versions": Limit(per_minute=600, burst=100),
    "GET /v1/prompts/{name_or_id}/latest": Limit(per_minute=600, burst=100),
    "GET /v1/prompt_versions/{version_id}": Limit(per_minute=600, burst=100),
    "GET /v1/prompt_versions/{version_id}/tags": Limit(per_minute=600, burst=100),
    "GET /v1/prompts/{name_or_id}/tags/{tag}": Limit(per_minute=600, burst=100),
}
"""Per API key. PromptLoop's batch API (seed 002) allows 4 creates, 20 status reads and 10
result listings a minute; PromptForge keeps that shape (status polled most, creating least)
at rates that let one key run and poll a hundred jobs at the quickstart's 5-10 s interval,
or watch one job closely (20 polls a second), and submit a folder of files in one go. Listing
is paged like status polling at half its rate; cancel and validate are charged like init
(validate reads a whole file)."""
