"""The job store on Firestore: the ``JobStore`` port with the SQLite store's exact semantics.

Where each record lives is drawn in ``_firestore_layout``. What makes it hold under
at-least-once delivery at Firestore's limits (about one sustained write per second per
document, 500 writes and 10 MiB per commit):

- a job is one document; ``transition`` and ``update_ingest_progress`` are transactions
  on it (compare-and-set), and nothing else writes it after ``create_job``;
- a prompt and its outcome share one item document; ``claim``, ``advance`` and
  ``record_outcomes`` are transactions on items, and an outcome is written only where
  none is, in the same commit that adds it to one counter shard picked at random:
  counters always equal the recorded outcomes, and no document is hot;
- ``get_job`` reads the job document, then sums its counter shards (one aggregation
  query, billed one read) *at the read time of that document*: one consistent
  snapshot, as SQLite's single-row read is (a status endpoint never shows COMPLETED
  beside counts from before the last outcome);
- batches (``register_prompts``, ``record_outcomes``, observations) are split into
  commits of at most ``WRITE_CHUNK`` documents and about 3 MiB, each atomic;
- ``iter_outcomes`` pages through a (kind, line, key) ordered query.

The prompt and outcome methods are in ``_firestore_job_items`` (a mixin), the chunk
records (``core.chunk_records.ChunkStore``: a chunk's claim and outcomes on one record)
in ``_firestore_job_chunks``.

The client is the caller's (built once per process); the store holds no other state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from google.api_core.exceptions import AlreadyExists
from google.cloud.firestore import AsyncClient, AsyncTransaction, FieldFilter

from promptforge.core.chunk_records import ChunkStore
from promptforge.core.models import (
    Job,
    JobStatus,
    Outcome,
    RateKey,
    WebhookDelivery,
    can_transition,
)
from promptforge.core.ratestate import RateKeyState
from promptforge.gcp import _firestore_dedupe as dedupe
from promptforge.gcp import _firestore_rate as rate
from promptforge.gcp import _firestore_webhooks as webhooks
from promptforge.gcp._firestore_codec import (
    decode_job,
    encode_job,
    encode_transition,
    from_timestamp,
)
from promptforge.gcp._firestore_job_chunks import FirestoreChunks
from promptforge.gcp._firestore_job_items import FirestoreItems
from promptforge.gcp._firestore_layout import DEFAULT_RETENTION, Layout, firestore_indexes
from promptforge.gcp._firestore_prompts import FirestorePrompts
from promptforge.gcp._firestore_spend import FirestoreSpend
from promptforge.gcp._firestore_tx import read_documents, run_transaction
from promptforge.jobstore.base import ApiKeyRecord, IdempotencyRecord, JobStore
from promptforge.jobstore.fields import COUNTER_FIELDS, to_utc
from promptforge.ratecontrol.base import Observation

__all__ = ["FirestoreJobStore", "firestore_indexes"]

_MAX_AGGREGATIONS = 5
"""Firestore's limit of aggregations per query."""
COUNTER_SHARDS = 128
"""Counter documents per job. A checkpoint (``core.chunks.CHECKPOINT_ANSWERS`` outcomes)
increments one, picked at random: at one queue's 450 prompts/s that is 45 writes/s over
128 documents, about 0.35/s each (Firestore sustains ~1/s per document), and about 0.8
writes per 1,000 prompts each (the most-written of 128 random picks stays under ~1.5).
Summing them costs the same as summing 16: one read per aggregation query."""


class FirestoreJobStore(FirestorePrompts, FirestoreItems, FirestoreChunks, FirestoreSpend):
    """The ``JobStore`` port on Firestore, in collections named ``{prefix}_…``.

    ``counter_shards`` is how many documents share each job's counters
    (``COUNTER_SHARDS``): each takes about one write per second sustained, so it bounds
    the outcomes per second a job records comfortably; ``get_job`` sums them with
    aggregation queries (billed by index entries, one read per 1,000 shards).
    ``page_size`` is how many outcomes ``iter_outcomes`` reads per query.
    """

    def __init__(
        self,
        client: AsyncClient,
        *,
        prefix: str = "pf",
        counter_shards: int = COUNTER_SHARDS,
        page_size: int = 500,
        retention: timedelta = DEFAULT_RETENTION,
    ) -> None:
        if counter_shards < 1:
            raise ValueError("counter_shards must be at least 1")
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self._layout = Layout(client, prefix, retention)
        self._client = client
        self._shards = counter_shards
        self._page_size = page_size

    # API keys
    async def save_api_key(self, record: ApiKeyRecord) -> None:
        """Store a new key record; ValueError if its hash or id is already stored."""
        batch = self._client.batch()  # both documents or neither
        batch.create(
            self._layout.key(record.key_hash),
            {
                "key_id": record.key_id,
                "tenant_id": record.tenant_id,
                "created_at": to_utc(record.created_at),
                "revoked": bool(record.revoked),
            },
        )
        batch.create(self._layout.key_id(record.key_id), {"key_hash": record.key_hash})
        try:
            await batch.commit()
        except AlreadyExists as exc:
            raise ValueError(f"cannot store API key {record.key_id!r}: {exc.message}") from exc

    async def find_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        """The record whose hash matches, or None."""
        data = (await self._layout.key(key_hash).get()).to_dict()
        if data is None:
            return None
        return ApiKeyRecord(
            key_hash,
            str(data["key_id"]),
            str(data["tenant_id"]),
            from_timestamp(data["created_at"]),
            bool(data["revoked"]),
        )

    async def revoke_api_key(self, key_id: str) -> bool:
        """Mark a key revoked; False if there is no such key."""
        pointer = (await self._layout.key_id(key_id).get()).to_dict()
        if pointer is None:
            return False
        await self._layout.key(str(pointer["key_hash"])).update({"revoked": True})
        return True

    # Jobs
    async def create_job(self, job: Job) -> None:
        """Insert a new job; ValueError if ``job_id`` exists."""
        try:
            await self._layout.job(job.job_id).create(encode_job(job) | self._layout.expiry())
        except AlreadyExists as exc:
            raise ValueError(f"cannot store job {job.job_id!r}: it exists") from exc

    async def get_job(self, job_id: str) -> Job | None:
        """The job with its counters summed over the shards, or None."""
        try:
            ref = self._layout.job(job_id)
        except ValueError:  # an id no job can have (empty, or too long for a document id)
            return None
        snapshot = await ref.get()
        data = snapshot.to_dict()
        if data is None:
            return None
        return decode_job(data, await self._counters(job_id, snapshot.read_time))

    async def _counters(self, job_id: str, read_time: datetime) -> dict[str, int]:
        """The job's counter shards summed, as they were at ``read_time``: one aggregation
        query, billed one read (per 1,000 shards), where reading the shards cost one each
        (a job read by every controller tick, status call and worker cache refresh)."""
        shards = self._layout.counters(job_id)
        totals = dict.fromkeys(COUNTER_FIELDS, 0)
        # Firestore takes at most five aggregations in one query: one query per five counters.
        for start in range(0, len(COUNTER_FIELDS), _MAX_AGGREGATIONS):
            first, *others = COUNTER_FIELDS[start : start + _MAX_AGGREGATIONS]
            query = shards.sum(first, alias=first)
            for name in others:
                query = query.sum(name, alias=name)
            for row in await query.get(read_time=read_time):
                for result in row:
                    totals[str(result.alias)] = int(result.value or 0)
        return totals

    async def transition(
        self, job_id: str, expected: JobStatus, target: JobStatus, **fields: Any
    ) -> bool:
        """Compare-and-set the status and ``fields``; False if the job is not ``expected``.

        ValueError for a transition the status machine forbids, or for a field that is
        not settable here (the id, the status and the counters are not).
        """
        expected, target = JobStatus(expected), JobStatus(target)
        if not can_transition(expected, target):
            raise ValueError(f"job status cannot go from {expected} to {target}")
        update = encode_transition(target, fields)
        if target.final:
            update |= self._layout.ended_expiry(fields.get("completed_at") or datetime.now(UTC))
        ref = self._layout.job(job_id)

        async def body(transaction: AsyncTransaction) -> bool:
            data = (await read_documents(self._client, [ref], transaction))[ref.path].to_dict()
            if data is None or data["status"] != expected.value:
                return False
            transaction.update(ref, update)
            return True

        return await run_transaction(self._client, body)

    async def update_ingest_progress(self, job_id: str, prompt_count: int, *, done: bool) -> None:
        """Raise ``prompt_count`` to at least the given value; set ``ingest_done`` if ``done``."""
        if prompt_count < 0:
            raise ValueError("prompt_count must not be negative")
        ref = self._layout.job(job_id)

        async def body(transaction: AsyncTransaction) -> None:
            data = (await read_documents(self._client, [ref], transaction))[ref.path].to_dict()
            if data is None:
                raise ValueError(f"no job {job_id!r}")
            count = max(int(data["prompt_count"]), prompt_count)
            finished = bool(data["ingest_done"]) or done
            if (count, finished) != (data["prompt_count"], data["ingest_done"]):
                transaction.update(ref, {"prompt_count": count, "ingest_done": finished})

        await run_transaction(self._client, body)

    async def list_jobs(
        self, tenant_id: str, limit: int = 100, *, before: tuple[datetime, str] | None = None
    ) -> list[Job]:
        """The tenant's jobs newest first, at most ``limit``, after the ``before`` cursor."""
        if limit < 0:
            raise ValueError("limit must not be negative")
        if limit == 0:
            return []
        query = (
            self._layout.jobs.where(filter=FieldFilter("tenant_id", "==", tenant_id))
            .order_by("created_at", direction="DESCENDING")
            .order_by("job_id", direction="DESCENDING")
        )
        if before is not None:
            query = query.start_after({"created_at": to_utc(before[0]), "job_id": before[1]})
        query = query.limit(limit)
        snapshots = await query.get()
        counters = await asyncio.gather(
            *(self._counters(snapshot.get("job_id"), snapshot.read_time) for snapshot in snapshots)
        )
        return [
            decode_job(snapshot.to_dict() or {}, totals)
            for snapshot, totals in zip(snapshots, counters, strict=True)
        ]

    async def request_cancel(self, job_id: str, at: datetime) -> bool:
        """Set ``cancel_requested_at`` (once) on a job that has not ended; False if it has."""
        ref = self._layout.job(job_id)

        async def body(transaction: AsyncTransaction) -> bool:
            data = (await read_documents(self._client, [ref], transaction))[ref.path].to_dict()
            if data is None or JobStatus(data["status"]).final:
                return False
            if data.get("cancel_requested_at") is None:
                transaction.update(ref, {"cancel_requested_at": to_utc(at)})
            return True

        return await run_transaction(self._client, body)

    async def remember_idempotency_key(
        self, record: IdempotencyRecord, now: datetime
    ) -> IdempotencyRecord:
        """Store ``record`` unless a live one has its tenant and key; the one stored after."""
        ref = self._layout.idempotency_key(record.tenant_id, record.key)

        async def body(transaction: AsyncTransaction) -> IdempotencyRecord:
            data = (await read_documents(self._client, [ref], transaction))[ref.path].to_dict()
            if data is not None and from_timestamp(data["expires_at"]) > now:
                return IdempotencyRecord(
                    record.tenant_id,
                    record.key,
                    str(data["body_hash"]),
                    str(data["job_id"]),
                    from_timestamp(data["expires_at"]),
                )
            transaction.set(
                ref,
                {
                    "body_hash": record.body_hash,
                    "job_id": record.job_id,
                    "expires_at": to_utc(record.expires_at),
                },
            )
            return record

        return await run_transaction(self._client, body)

    async def list_active_rate_keys(self) -> list[str]:
        """The distinct rate keys (``RateKey.id``) of jobs in ``PROCESSING``, sorted."""
        query = self._layout.jobs.where(
            filter=FieldFilter("status", "==", JobStatus.PROCESSING.value)
        ).select(["provider", "model", "credential"])
        keys: set[str] = set()
        async for snapshot in query.stream():
            data = snapshot.to_dict() or {}
            keys.add(RateKey(data["provider"], data["model"], data["credential"]).id)
        return sorted(keys)

    async def expired_waiting_jobs(self, now: datetime) -> list[str]:
        """Ids of ``WAITING_FOR_UPLOAD`` jobs whose upload URL expired before ``now``."""
        query = (
            self._layout.jobs.where(
                filter=FieldFilter("status", "==", JobStatus.WAITING_FOR_UPLOAD.value)
            )
            .where(filter=FieldFilter("upload_expires_at", "<", to_utc(now)))
            .order_by("upload_expires_at")
            .order_by("job_id")
            .select(["job_id"])
        )
        return [str(snapshot.get("job_id")) async for snapshot in query.stream()]

    # Dedupe
    async def claim_request(self, job_id: str, request_key: str, prompt_id: str) -> str:
        """The prompt holding ``request_key`` in the job, ``prompt_id`` if it claims it first."""
        return await dedupe.claim_request(self._layout, job_id, request_key, prompt_id)

    async def await_request(self, job_id: str, request_key: str, prompt_id: str, line: int) -> None:
        """Note ``prompt_id`` as waiting for ``request_key``'s answer."""
        await dedupe.await_request(self._layout, job_id, request_key, prompt_id, line)

    async def request_waiters(self, job_id: str, request_key: str) -> list[tuple[str, int]]:
        """The prompts waiting for ``request_key``'s answer."""
        return await dedupe.request_waiters(self._layout, job_id, request_key)

    async def get_outcome(self, job_id: str, key: str) -> Outcome | None:
        """The outcome recorded under ``key``, or None."""
        return await dedupe.get_outcome(self._layout, job_id, key)

    # Rate control
    async def append_observations(self, rate_key: str, observations: Sequence[Observation]) -> None:
        """Queue observations for the controller of ``rate_key``."""
        await rate.append(self._layout, rate_key, observations)

    async def drain_observations(self, rate_key: str) -> list[Observation]:
        """Take and remove every queued observation of ``rate_key``, oldest first."""
        return await rate.drain(self._layout, rate_key)

    async def load_rate_state(self, rate_key: str) -> RateKeyState | None:
        """The current state of ``rate_key`` (its highest version), ``version`` set."""
        return await rate.load_state(self._layout, rate_key)

    async def save_rate_state(self, rate_key: str, state: RateKeyState) -> bool:
        """Save ``state`` as the next version if ``state.version`` is still the current one."""
        return await rate.save_state(self._layout, rate_key, state)

    # Webhook deliveries
    async def add_webhook_delivery(self, delivery: WebhookDelivery) -> WebhookDelivery:
        """Store ``delivery`` unless its (job, webhook_id) is stored; the stored record."""
        return await webhooks.add(self._layout, delivery)

    async def get_webhook_delivery(self, job_id: str, webhook_id: str) -> WebhookDelivery | None:
        """The delivery, or None."""
        return await webhooks.get(self._layout, job_id, webhook_id)

    async def update_webhook_delivery(
        self, delivery: WebhookDelivery, *, expected_attempts: int
    ) -> bool:
        """Replace the stored delivery if it is PENDING with ``expected_attempts``; else False."""
        return await webhooks.update(self._layout, delivery, expected_attempts)


if TYPE_CHECKING:

    def _satisfies_the_port(store: FirestoreJobStore) -> JobStore:
        return store  # mypy checks every method against the JobStore protocol

    def _keeps_chunk_records(store: FirestoreJobStore) -> ChunkStore:
        return store  # and against the ChunkStore protocol
