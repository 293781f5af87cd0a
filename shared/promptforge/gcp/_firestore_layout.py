"""Where the Firestore job store keeps each record, and the indexes its queries need.

::

    {prefix}_jobs/{job_id}                      the job (status, settings, counter bases)
        items/{sha256(key)}                     one per outcome key: a prompt's registration,
                                                generation and lease, and its outcome once
                                                recorded; an invalid line's outcome alone;
                                                a dedupe request key's holder (r:<key>)
        counters/{0..N-1}                       sharded job counters, summed on read
        chunks/{chunk_id}                       a chunk of prompts: its tasks, lease and how
                                                each prompt was settled (_firestore_chunks)
        outcome_sets/{chunk_id}.{n}             outcomes a chunk published in one write
        webhooks/{webhook_id}                   one per webhook event: its delivery attempts
    {prefix}_keys/{key_hash}                    an API key record (hash only)
    {prefix}_key_ids/{key_id}                   key id → hash, so ids stay unique
    {prefix}_idempotency/{sha256(tenant, key)}  an Idempotency-Key's job and request hash
    {prefix}_rate_keys/{rate_key}               no document: its subcollections' parent
        states/{version:012d}                   the key's state, one document per version,
                                                created once, deleted by the next version's
                                                commit; 000000000000 an empty marker
                                                (_firestore_rate)
        observations/{auto id}                  append-only, drained by the controller

Every document but the API keys carries ``expires_at``, the field of Firestore's TTL
policies (``firestore_indexes`` declares them; Terraform applies them): a job expires
``retention`` after it ends, as its result files do in the output bucket's lifecycle;
until it ends, and for the documents beneath it and the rate keys, ``retention`` plus
``MAX_TASK_LIFE`` after each write, since a prompt task may wait in its queue that long.

Subcollection names carry no prefix: they are scoped by their prefixed parent, and the
composite index on ``items`` then serves every prefix. ``firestore_indexes`` is the
source of ``firestore_indexes.json`` (a test keeps the two equal): composite indexes for
the three ordered queries, and single-field index exemptions for the fields no query
reads (they only cost write throughput, and sequential ones such as line numbers would
concentrate index writes).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from google.cloud.firestore import AsyncClient, AsyncCollectionReference, AsyncDocumentReference

from promptforge.gcp._firestore_codec import hashed_id, safe_id

EXPIRES_AT = "expires_at"
MAX_TASK_LIFE = timedelta(days=31)
"""The longest Cloud Tasks keeps a task: a document a task may still need lives that long."""
DEFAULT_RETENTION = timedelta(days=7)

ITEMS = "items"
COUNTERS = "counters"
CHUNKS = "chunks"
OUTCOME_SETS = "outcome_sets"
OBSERVATIONS = "observations"
STATES = "states"
WEBHOOKS = "webhooks"

_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,62}")


class Layout:
    """The collections and documents of one store (one client, one prefix)."""

    def __init__(
        self, client: AsyncClient, prefix: str, retention: timedelta = DEFAULT_RETENTION
    ) -> None:
        if not _PREFIX.fullmatch(prefix):
            raise ValueError(f"prefix must match {_PREFIX.pattern}, got {prefix!r}")
        self.client = client
        self.retention = retention
        self.jobs: AsyncCollectionReference = client.collection(f"{prefix}_jobs")
        self.keys: AsyncCollectionReference = client.collection(f"{prefix}_keys")
        self.key_ids: AsyncCollectionReference = client.collection(f"{prefix}_key_ids")
        self.rate_keys: AsyncCollectionReference = client.collection(f"{prefix}_rate_keys")
        self.idempotency: AsyncCollectionReference = client.collection(f"{prefix}_idempotency")
        self.prompts: AsyncCollectionReference = client.collection(f"{prefix}_prompts")
        self.prompt_versions: AsyncCollectionReference = client.collection(
            f"{prefix}_prompt_versions"
        )
        self.prompt_tags: AsyncCollectionReference = client.collection(f"{prefix}_prompt_tags")

    def expiry(self) -> dict[str, datetime]:
        """``{expires_at: ...}`` for a document written now that a queued task may still need."""
        return {EXPIRES_AT: datetime.now(UTC) + self.retention + MAX_TASK_LIFE}

    def ended_expiry(self, ended_at: datetime) -> dict[str, datetime]:
        """``{expires_at: ...}`` for a job that ended at ``ended_at`` (its results' lifetime)."""
        return {EXPIRES_AT: ended_at + self.retention}

    def job(self, job_id: str) -> AsyncDocumentReference:
        """The job's document."""
        return self.jobs.document(safe_id(job_id))

    def items(self, job_id: str) -> AsyncCollectionReference:
        """The job's prompt and outcome documents."""
        return _subcollection(self.job(job_id), ITEMS)

    def item(self, job_id: str, key: str) -> AsyncDocumentReference:
        """The document of one outcome key (``p:<prompt_id>`` or ``l:<line>``)."""
        return self.items(job_id).document(hashed_id(key))

    def chunks(self, job_id: str) -> AsyncCollectionReference:
        """The job's chunk records."""
        return _subcollection(self.job(job_id), CHUNKS)

    def chunk(self, job_id: str, chunk_id: str) -> AsyncDocumentReference:
        """One chunk's record (its id is its task's name, ``core.tasknames.chunk_task_name``)."""
        return self.chunks(job_id).document(safe_id(chunk_id))

    def outcome_sets(self, job_id: str) -> AsyncCollectionReference:
        """The outcome sets the job's chunks published."""
        return _subcollection(self.job(job_id), OUTCOME_SETS)

    def outcome_set(self, job_id: str, set_id: str) -> AsyncDocumentReference:
        """One outcome set (``{chunk_id}.{n}``)."""
        return self.outcome_sets(job_id).document(safe_id(set_id))

    def counters(self, job_id: str) -> AsyncCollectionReference:
        """The job's counter shards."""
        return _subcollection(self.job(job_id), COUNTERS)

    def shard(self, job_id: str, index: int) -> AsyncDocumentReference:
        """One counter shard of the job."""
        return self.counters(job_id).document(str(index))

    def webhook(self, job_id: str, webhook_id: str) -> AsyncDocumentReference:
        """One webhook event's delivery record."""
        return _subcollection(self.job(job_id), WEBHOOKS).document(safe_id(webhook_id))

    def key(self, key_hash: str) -> AsyncDocumentReference:
        """An API key record, by hash."""
        return self.keys.document(safe_id(key_hash))

    def key_id(self, key_id: str) -> AsyncDocumentReference:
        """The key-id → hash pointer."""
        return self.key_ids.document(safe_id(key_id))

    def idempotency_key(self, tenant_id: str, key: str) -> AsyncDocumentReference:
        """The record of one tenant's ``Idempotency-Key`` (keys are client-chosen: hashed)."""
        return self.idempotency.document(hashed_id(f"{tenant_id}\x00{key}"))

    def rate_key(self, rate_key: str) -> AsyncDocumentReference:
        """The rate key's document: the parent of its states and observations (it held the
        state itself before states were versioned; read only when no version exists)."""
        return self.rate_keys.document(safe_id(rate_key))

    def rate_states(self, rate_key: str) -> AsyncCollectionReference:
        """The versions of a rate key's state (one document each)."""
        return _subcollection(self.rate_key(rate_key), STATES)

    def observations(self, rate_key: str) -> AsyncCollectionReference:
        """The queued observations of a rate key."""
        return _subcollection(self.rate_key(rate_key), OBSERVATIONS)


def firestore_indexes(prefix: str = "pf") -> dict[str, Any]:
    """The indexes the store needs, in ``firestore.indexes.json`` form, for ``prefix``."""
    jobs = f"{prefix}_jobs"
    up, down = "ASCENDING", "DESCENDING"
    indexes = [
        # list_jobs: a tenant's jobs, newest first.
        _index(jobs, ("tenant_id", up), ("created_at", down), ("job_id", down)),
        # expired_waiting_jobs: status equality, expiry range, ordered by expiry then id.
        _index(jobs, ("status", up), ("upload_expires_at", up), ("job_id", up)),
        # iter_outcomes: one job's outcomes of one kind in (line, key) order.
        _index(ITEMS, ("kind", up), ("line", up), ("key", up)),
        # iter_outcomes: one job's outcome sets of one kind by first line.
        _index(OUTCOME_SETS, ("kind", up), ("first_line", up)),
        # list_prompts: a tenant's prompts by name.
        _index(f"{prefix}_prompts", ("tenant_id", up), ("name", up)),
        # list_prompt_versions: one prompt's versions, newest first.
        _index(
            f"{prefix}_prompt_versions", ("tenant_id", up), ("prompt_id", up), ("version_id", down)
        ),
    ]
    unindexed = {
        jobs: ("params", "result_files", "error", "metadata", "webhook_url", "webhook_secret"),
        ITEMS: (
            "record", "line", "key", "prompt_line", "generation", "lease_holder",
            "lease_until", "done", "input_tokens", "output_tokens", "chunked",
        ),
        CHUNKS: (
            "tasks", "queue", "not_before", "first_line", "lease_holder", "lease_until",
            "settled", "sets_written",
        ),
        OUTCOME_SETS: ("outcomes", "chunk"),
        f"{prefix}_rate_keys": ("state",),
        STATES: ("state", "rate_key"),
        f"{prefix}_prompt_versions": ("data",),
        "spend": ("holds", "spent", "reserved"),  # a capped job's ledger (_firestore_spend.py)
        OBSERVATIONS: ("data", "appended_at", "call", "n"),
        WEBHOOKS: (
            "event_type", "body", "attempts", "state", "last_status", "last_error",
            "created_at", "next_attempt_at", "ended_at",
        ),
    }  # fmt: skip
    overrides: list[dict[str, Any]] = [
        {"collectionGroup": group, "fieldPath": name, "indexes": []}
        for group, names in unindexed.items()
        for name in names
    ]
    expiring = (
        jobs, ITEMS, COUNTERS, CHUNKS, OUTCOME_SETS, WEBHOOKS, f"{prefix}_rate_keys", STATES,
        OBSERVATIONS,
    )  # fmt: skip
    overrides += [
        {"collectionGroup": group, "fieldPath": EXPIRES_AT, "ttl": True, "indexes": []}
        for group in expiring
    ]
    return {"indexes": indexes, "fieldOverrides": overrides}


def _subcollection(parent: AsyncDocumentReference, name: str) -> AsyncCollectionReference:
    # The library annotates ``collection`` on the shared base class, as returning Any.
    return cast(AsyncCollectionReference, parent.collection(name))


def _index(group: str, *fields: tuple[str, str]) -> dict[str, Any]:
    return {
        "collectionGroup": group,
        "queryScope": "COLLECTION",
        "fields": [{"fieldPath": name, "order": order} for name, order in fields],
    }
