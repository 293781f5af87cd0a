"""When and how a prompt whose call failed transiently is tried again.

- **Backoff**: a transient failure (5xx, 529, connection error, timeout) is retried
  after ``2 s * 2**attempt`` (at most 120 s), jittered to 50-100% of that, and never
  before the provider's ``retry-after``.
- **Timeouts grow**: a call that timed out may well have been served and billed (the
  provider does not know the client left), and a provider slower than the timeout
  would time out (and bill) on every attempt. So each timeout a prompt has seen
  doubles its next call's timeout: ``provider_timeout * 2**timeouts``, never more than
  ``LEASE_SHARE`` of the lease (the rest of the lease is for recording the answer, so
  no second delivery can claim the prompt while its call runs), never less than
  ``provider_timeout``.
"""

from __future__ import annotations

import random

TRANSIENT_BACKOFF_BASE = 2.0
TRANSIENT_BACKOFF_MAX = 120.0
TIMEOUT_GROWTH = 2.0
"""Each timeout a prompt has seen multiplies its next call's timeout by this."""
LEASE_SHARE = 0.8
"""A call's timeout never exceeds this share of the prompt's lease."""


def transient_delay(attempt: int, retry_after: float | None) -> float:
    """Seconds before retrying a prompt whose ``attempt`` (0-based) failed transiently."""
    backoff = min(TRANSIENT_BACKOFF_MAX, TRANSIENT_BACKOFF_BASE * 2.0**attempt)
    jittered = backoff * (0.5 + random.random() / 2)
    return max(jittered, retry_after or 0.0)


def attempt_timeout(provider_timeout: float, timeouts: int, lease_seconds: float) -> float:
    """The timeout of a prompt's next call, after ``timeouts`` of its calls timed out."""
    ceiling = max(provider_timeout, lease_seconds * LEASE_SHARE)
    return min(provider_timeout * TIMEOUT_GROWTH ** max(timeouts, 0), ceiling)
