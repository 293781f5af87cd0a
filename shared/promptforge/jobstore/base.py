"""The job-store port: jobs, API keys, per-prompt state, outcomes and rate-control state.

Every method that records something is idempotent, because every caller may be a
replay: ``record_outcomes`` writes an outcome and bumps the job's counters exactly
once per key; ``register_prompts`` tells a duplicate ``prompt_id`` from a replayed
line; ``claim`` and ``advance`` make sure a prompt's provider call happens once per
generation however often its task is delivered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from promptforge.core.models import (
    ClaimResult,
    Job,
    JobStatus,
    Outcome,
    OutcomeKind,
    WebhookDelivery,
)
from promptforge.core.ratestate import RateKeyState
from promptforge.core.spend import SpendStore
from promptforge.prompts.store import PromptStore
from promptforge.ratecontrol.base import Observation

LineRange = tuple[int, int | None]
"""Input lines ``[start, end)``; ``end`` None runs to the last line (``iter_outcomes``)."""


@dataclass(frozen=True)
class ApiKeyRecord:
    """A stored API key: only its hash, never the key."""

    key_hash: str
    key_id: str
    tenant_id: str
    created_at: datetime
    revoked: bool = False


@dataclass(frozen=True)
class IdempotencyRecord:
    """An ``Idempotency-Key`` a tenant used: the job it created and a hash of the request."""

    tenant_id: str
    key: str
    body_hash: str
    job_id: str
    expires_at: datetime


@dataclass(frozen=True)
class PendingPrompt:
    """A registered prompt without an outcome yet, at its stored generation."""

    prompt_id: str
    line: int
    generation: int


class JobStore(PromptStore, SpendStore, Protocol):
    """Durable job state."""

    # API keys
    async def save_api_key(self, record: ApiKeyRecord) -> None:
        """Store a new key record."""
        ...

    async def find_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        """The record whose hash matches, or None."""
        ...

    async def revoke_api_key(self, key_id: str) -> bool:
        """Mark a key revoked; False if there is no such key."""
        ...

    # Jobs
    async def create_job(self, job: Job) -> None:
        """Insert a new job."""
        ...

    async def get_job(self, job_id: str) -> Job | None:
        """The job, or None."""
        ...

    async def transition(
        self, job_id: str, expected: JobStatus, target: JobStatus, **fields: Any
    ) -> bool:
        """Compare-and-set the status and set ``fields``; False if the job was not ``expected``."""
        ...

    async def update_ingest_progress(self, job_id: str, prompt_count: int, *, done: bool) -> None:
        """Raise ``prompt_count`` to at least the given value; set ``ingest_done`` if ``done``."""
        ...

    async def list_jobs(
        self, tenant_id: str, limit: int = 100, *, before: tuple[datetime, str] | None = None
    ) -> list[Job]:
        """The tenant's jobs newest first (by ``created_at``, then ``job_id``), at most
        ``limit``, only those ordered after the ``(created_at, job_id)`` of ``before``."""
        ...

    async def request_cancel(self, job_id: str, at: datetime) -> bool:
        """Set ``cancel_requested_at`` (once) on a job that has not ended; False if it has."""
        ...

    async def remember_idempotency_key(
        self, record: IdempotencyRecord, now: datetime
    ) -> IdempotencyRecord:
        """Store ``record`` unless a live one (``expires_at`` after ``now``) has its tenant and
        key; the record stored afterwards (``record`` itself, or the earlier one)."""
        ...

    # Prompts
    async def register_prompts(
        self, job_id: str, prompts: Sequence[tuple[str, int]]
    ) -> list[int | None]:
        """Register ``(prompt_id, line)`` pairs.

        For each pair returns None when the prompt is new or the same line was registered
        before (a replay), or the earlier line number when ``prompt_id`` is a duplicate.
        """
        ...

    async def claim(  # noqa: PLR0917 - mirrors the lease row, called positionally in tests
        self,
        job_id: str,
        prompt_id: str,
        generation: int,
        holder: str,
        lease_until: datetime,
        now: datetime,
    ) -> ClaimResult:
        """Take the prompt's lease for this generation before calling the provider."""
        ...

    async def advance(self, job_id: str, prompt_id: str, generation: int) -> bool:
        """Move the prompt to ``generation + 1``, dropping the lease; False if not at it."""
        ...

    async def pending_prompts(
        self, job_id: str, after: str | None, limit: int
    ) -> tuple[list[PendingPrompt], str | None]:
        """One page of the registered prompts without an outcome, from the cursor ``after``
        (None: the start), reading at most ``limit`` prompts; the page and the cursor of the
        next one (None: this was the last)."""
        ...

    # Outcomes
    async def record_outcomes(self, job_id: str, outcomes: Sequence[Outcome]) -> int:
        """Write outcomes not yet recorded and count them; returns how many were new."""
        ...

    def iter_outcomes(
        self, job_id: str, kind: OutcomeKind, lines: LineRange | None = None
    ) -> AsyncIterator[Outcome]:
        """Outcomes of one kind, ordered by input line, streamed; with ``lines`` only those
        of lines ``[start, end)`` (a finalize part, ``core.finalize_steps``)."""
        ...

    # Duplicate requests (core.dedupe)
    async def claim_request(self, job_id: str, request_key: str, prompt_id: str) -> str:
        """The prompt that holds ``request_key`` in the job: ``prompt_id`` if it is the first
        to claim it (insert-if-absent), else the one that claimed it before."""
        ...

    async def await_request(self, job_id: str, request_key: str, prompt_id: str, line: int) -> None:
        """Note that prompt ``prompt_id`` (at input ``line``) waits for ``request_key``'s
        answer (idempotent)."""
        ...

    async def request_waiters(self, job_id: str, request_key: str) -> list[tuple[str, int]]:
        """The ``(prompt_id, line)`` of every prompt noted as waiting for ``request_key``."""
        ...

    async def get_outcome(self, job_id: str, key: str) -> Outcome | None:
        """The outcome recorded under ``key`` (``Outcome.prompt_key``/``line_key``), or None."""
        ...

    # Rate control
    async def append_observations(self, rate_key: str, observations: Sequence[Observation]) -> None:
        """Queue observations for the controller of ``rate_key``."""
        ...

    async def drain_observations(self, rate_key: str) -> list[Observation]:
        """Take and remove every queued observation of ``rate_key``."""
        ...

    async def load_rate_state(self, rate_key: str) -> RateKeyState | None:
        """The current state of ``rate_key`` (its queues, jobs and controller state): the
        highest version saved, its ``version`` set; None if none."""
        ...

    async def save_rate_state(self, rate_key: str, state: RateKeyState) -> bool:
        """Save ``state`` as version ``state.version + 1`` if ``state.version`` is still the
        current one (compare-and-set); False, writing nothing, if another save came first.
        Writers go through ``core.ratestate.update_rate_state``."""
        ...

    # Webhook deliveries
    async def add_webhook_delivery(self, delivery: WebhookDelivery) -> WebhookDelivery:
        """Store ``delivery`` unless its (job, webhook_id) is stored; the stored record."""
        ...

    async def get_webhook_delivery(self, job_id: str, webhook_id: str) -> WebhookDelivery | None:
        """The delivery, or None."""
        ...

    async def update_webhook_delivery(
        self, delivery: WebhookDelivery, *, expected_attempts: int
    ) -> bool:
        """Replace the stored delivery if it is PENDING with ``expected_attempts``; else False."""
        ...
