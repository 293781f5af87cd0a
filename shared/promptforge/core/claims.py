"""The claim rule at the heart of exactly-once, decided once for every job store.

A worker claims a prompt for its task's generation before calling the provider. Each
store reads the prompt's item inside its own transaction, asks ``decide_claim``, and on
``CLAIMED`` writes the new generation, holder and lease in that same transaction:

- no item: ``MISSING`` (the job was deleted, or the task is bad);
- the prompt has its outcome: ``DONE``;
- a newer generation is stored: ``STALE`` (this delivery is an old one's replay);
- the same generation is held by another holder whose lease is live: ``BUSY`` (another
  delivery is calling the provider: come back later);
- otherwise ``CLAIMED``. A task of a newer generation than stored wins: it was enqueued
  before the advance to it committed (a worker enqueues the retry first, so dying in
  between never loses the prompt); it moves the prompt to its generation, which turns
  any leftover delivery of the old one stale, and an old lease does not block it (that
  call has already ended). The same holder may claim again (a retried transaction).

On Google Cloud a chunk of prompts is claimed as one (``core.chunk_records.claim_chunk``):
the same rule on the chunk record's lease.

Times are whatever the store keeps, as long as ``lease_until`` and ``now`` compare:
epoch microseconds on SQLite, datetimes on Firestore.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from promptforge.core.models import ClaimResult

Moment = TypeVar("Moment", int, datetime)


@dataclass(frozen=True)
class PromptLease(Generic[Moment]):
    """A registered prompt's claim state, as its store read it."""

    generation: int
    holder: str | None
    lease_until: Moment | None
    done: bool


def decide_claim(
    item: PromptLease[Moment] | None, *, generation: int, holder: str, now: Moment
) -> ClaimResult:
    """Whether ``holder`` may take the prompt for ``generation`` at ``now`` (see the module)."""
    if item is None:
        return ClaimResult.MISSING
    if item.done:
        return ClaimResult.DONE
    if item.generation > generation:
        return ClaimResult.STALE
    live = item.lease_until is not None and item.lease_until > now
    if item.generation == generation and live and item.holder != holder:
        return ClaimResult.BUSY
    return ClaimResult.CLAIMED
