"""The embedded job store: SQLite in WAL mode, every statement on one dedicated thread.

The connection is created on, and only ever used from, a single-worker thread pool;
coroutines await their work there, so the event loop never blocks on disk and the
connection never crosses threads. Each method is one SQL statement or one all-or-nothing
block (``_sqlite_ops``), which is what makes the port's exactly-once promises hold: an
outcome row and the counters it bumps are committed together or not at all. Calls that
queue up while the thread is busy are committed together, each in its own savepoint
(``_sqlite_batch``): a method returns only once its commit is done.
``synchronous=NORMAL`` in WAL mode may lose the last commits on power loss but never
leaves the file inconsistent, and a lost commit is replayed by the at-least-once caller.
The file format is in ``_sqlite_schema``.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from promptforge.core.models import (
    ClaimResult,
    Job,
    JobStatus,
    Outcome,
    OutcomeKind,
    RateKey,
    WebhookDelivery,
    can_transition,
)
from promptforge.core.ratestate import RateKeyState
from promptforge.jobstore import _sqlite_ops as ops
from promptforge.jobstore import _sqlite_webhooks as webhooks
from promptforge.jobstore._sqlite_batch import BatchRunner
from promptforge.jobstore._sqlite_dedupe import SqliteRequestKeys
from promptforge.jobstore._sqlite_prompts import SqlitePrompts
from promptforge.jobstore._sqlite_schema import (
    API_KEY_COLUMNS,
    JOB_COLUMNS,
    SCHEMA_VERSION,
    decode_job,
    encode_field,
    from_micros,
    migrate,
    plain,
    to_micros,
)
from promptforge.jobstore._sqlite_spend import SqliteSpend
from promptforge.jobstore.base import ApiKeyRecord, IdempotencyRecord, LineRange, PendingPrompt
from promptforge.jobstore.fields import TRANSITION_FIELDS, dumps
from promptforge.lifecycle import AsyncResource
from promptforge.ratecontrol.base import Observation

__all__ = ["SCHEMA_VERSION", "SqliteJobStore"]

WAL_CHECKPOINT_PAGES = 8192
"""Checkpoint the WAL every 32 MB (4 KiB pages) rather than SQLite's 4 MB: fewer fsyncs."""

_SELECT_JOB = f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs"  # noqa: S608 (fixed column names)
_SELECT_KEY = f"SELECT {', '.join(API_KEY_COLUMNS)} FROM api_keys WHERE key_hash = ?"  # noqa: S608


class SqliteJobStore(SqlitePrompts, SqliteSpend, SqliteRequestKeys, AsyncResource):
    """The ``JobStore`` port on one SQLite file; use as ``async with SqliteJobStore(path)``.

    ``page_size`` is how many outcomes ``iter_outcomes`` reads per database call.
    """

    def __init__(self, path: Path, *, page_size: int = 1000, busy_timeout: float = 5.0) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self._path = Path(path)
        self._page_size = page_size
        self._busy_timeout = busy_timeout
        self._executor: ThreadPoolExecutor | None = None
        self._batches: BatchRunner | None = None
        self._conn: sqlite3.Connection | None = None  # only touched on the executor's thread

    async def open(self) -> None:
        """Start the database thread, open the file and create or migrate the schema."""
        if self._executor is not None:
            raise RuntimeError("SqliteJobStore is already open")
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-jobstore")
        self._batches = BatchRunner(self._executor, self._connection)
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._connect)
        except BaseException:
            self._executor.shutdown(wait=True)
            self._executor = self._batches = None
            raise

    async def close(self) -> None:
        """Finish queued calls, close the connection and stop the thread; twice is harmless."""
        executor = self._executor
        if executor is None:
            return
        try:
            if self._batches is not None:
                await self._batches.settle()
            await asyncio.get_running_loop().run_in_executor(executor, self._disconnect)
        finally:
            self._executor = self._batches = None
            executor.shutdown(wait=True)

    # API keys
    async def save_api_key(self, record: ApiKeyRecord) -> None:
        """Store a new key record; ValueError if its hash or id is already stored."""
        created = to_micros(record.created_at)
        row = (record.key_hash, record.key_id, record.tenant_id, created, int(record.revoked))
        what = f"API key {record.key_id!r}"
        await self._call(ops.insert, "api_keys", API_KEY_COLUMNS, row, what)

    async def find_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        """The record whose hash matches, or None."""
        row = await self._call(ops.fetch_one, _SELECT_KEY, (key_hash,))
        if row is None:
            return None
        return ApiKeyRecord(row[0], row[1], row[2], from_micros(row[3]), bool(row[4]))

    async def revoke_api_key(self, key_id: str) -> bool:
        """Mark a key revoked; False if there is no such key."""
        sql = "UPDATE api_keys SET revoked = 1 WHERE key_id = ?"
        return await self._call(ops.changes, sql, (key_id,)) > 0

    # Jobs
    async def create_job(self, job: Job) -> None:
        """Insert a new job; ValueError if ``job_id`` exists."""
        row = tuple(encode_field(name, getattr(job, name)) for name in JOB_COLUMNS)
        await self._call(ops.insert, "jobs", JOB_COLUMNS, row, f"job {job.job_id!r}")

    async def get_job(self, job_id: str) -> Job | None:
        """The job, or None."""
        row = await self._call(ops.fetch_one, f"{_SELECT_JOB} WHERE job_id = ?", (job_id,))
        return None if row is None else decode_job(row)

    async def jobs_waiting_for_upload(self) -> list[Job]:
        """Every job still ``WAITING_FOR_UPLOAD`` (start-up looks for their stored uploads)."""
        sql = f"{_SELECT_JOB} WHERE status = ?"
        rows = await self._call(ops.fetch_all, sql, (JobStatus.WAITING_FOR_UPLOAD.value,))
        return [decode_job(row) for row in rows]

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
        values: dict[str, Any] = {"status": target.value}
        for name, value in fields.items():
            if name not in TRANSITION_FIELDS:
                raise ValueError(f"transition cannot set job field {name!r}")
            values[name] = encode_field(name, value)
        assignments = ", ".join(f"{name} = ?" for name in values)  # whitelisted names
        sql = f"UPDATE jobs SET {assignments} WHERE job_id = ? AND status = ?"  # noqa: S608
        params = (*values.values(), job_id, expected.value)
        return await self._call(ops.changes, sql, params) == 1

    async def update_ingest_progress(self, job_id: str, prompt_count: int, *, done: bool) -> None:
        """Raise ``prompt_count`` to at least the given value; set ``ingest_done`` if ``done``."""
        if prompt_count < 0:
            raise ValueError("prompt_count must not be negative")
        sql = (
            "UPDATE jobs SET prompt_count = MAX(prompt_count, ?), "
            "ingest_done = MAX(ingest_done, ?) WHERE job_id = ?"
        )
        if await self._call(ops.changes, sql, (prompt_count, int(done), job_id)) == 0:
            raise ValueError(f"no job {job_id!r}")

    async def list_jobs(
        self, tenant_id: str, limit: int = 100, *, before: tuple[datetime, str] | None = None
    ) -> list[Job]:
        """The tenant's jobs newest first, at most ``limit``, after the ``before`` cursor."""
        if limit < 0:
            raise ValueError("limit must not be negative")
        sql = f"{_SELECT_JOB} WHERE tenant_id = ?"
        params: tuple[Any, ...] = (tenant_id,)
        if before is not None:
            sql += " AND (created_at, job_id) < (?, ?)"
            params += (to_micros(before[0]), before[1])
        sql += " ORDER BY created_at DESC, job_id DESC LIMIT ?"
        rows = await self._call(ops.fetch_all, sql, (*params, limit))
        return [decode_job(row) for row in rows]

    async def request_cancel(self, job_id: str, at: datetime) -> bool:
        """Set ``cancel_requested_at`` (once) on a job that has not ended; False if it has."""
        final = tuple(status.value for status in JobStatus if status.final)
        sql = (
            "UPDATE jobs SET cancel_requested_at = COALESCE(cancel_requested_at, ?) "
            "WHERE job_id = ? AND status NOT IN (?, ?, ?)"
        )
        return await self._call(ops.changes, sql, (to_micros(at), job_id, *final)) == 1

    async def remember_idempotency_key(
        self, record: IdempotencyRecord, now: datetime
    ) -> IdempotencyRecord:
        """Store ``record`` unless a live one has its tenant and key; the one stored after."""
        row = (record.tenant_id, record.key, record.body_hash, record.job_id)
        stored = await self._call(
            ops.remember_key, row, to_micros(record.expires_at), to_micros(now)
        )
        tenant_id, key, body_hash, job_id, expires_at = stored
        return IdempotencyRecord(tenant_id, key, body_hash, job_id, from_micros(expires_at))

    async def list_active_rate_keys(self) -> list[str]:
        """The distinct rate keys (``RateKey.id``) of jobs in ``PROCESSING``, sorted."""
        sql = "SELECT DISTINCT provider, model, credential FROM jobs WHERE status = ?"
        rows = await self._call(ops.fetch_all, sql, (JobStatus.PROCESSING.value,))
        return sorted(RateKey(*row).id for row in rows)

    async def expired_waiting_jobs(self, now: datetime) -> list[str]:
        """Ids of ``WAITING_FOR_UPLOAD`` jobs whose upload URL expired before ``now``."""
        sql = (
            "SELECT job_id FROM jobs WHERE status = ? AND upload_expires_at < ? "
            "ORDER BY upload_expires_at, job_id"
        )
        params = (JobStatus.WAITING_FOR_UPLOAD.value, to_micros(now))
        return [row[0] for row in await self._call(ops.fetch_all, sql, params)]

    # Prompts
    async def register_prompts(
        self, job_id: str, prompts: Sequence[tuple[str, int]]
    ) -> list[int | None]:
        """Register ``(prompt_id, line)`` pairs in one transaction.

        Per pair: None when the prompt is new or was registered with the same line (a
        replay), else the line stored first (a duplicate ``prompt_id``), including a
        duplicate of an earlier pair in the same batch.
        """
        if not prompts:
            return []
        return await self._call(ops.register_prompts, job_id, list(prompts))

    async def claim(  # noqa: PLR0917 (the port's signature)
        self,
        job_id: str,
        prompt_id: str,
        generation: int,
        holder: str,
        lease_until: datetime,
        now: datetime,
    ) -> ClaimResult:
        """Take the prompt's lease for this generation before calling the provider.

        MISSING, DONE, STALE (a newer generation is stored), BUSY (another holder's
        lease is live) or CLAIMED. The same holder claiming again is CLAIMED; an older
        stored generation is moved up to ``generation`` and claimed.
        """
        until, at = to_micros(lease_until), to_micros(now)
        return await self._call(
            ops.claim, job_id, prompt_id, generation, holder=holder, lease_until=until, now=at
        )

    async def advance(self, job_id: str, prompt_id: str, generation: int) -> bool:
        """Move the prompt to ``generation + 1``, drop the lease; False if not at ``generation``."""
        sql = (
            "UPDATE prompts SET generation = generation + 1, lease_holder = NULL, "
            "lease_until = NULL WHERE job_id = ? AND prompt_id = ? AND generation = ? AND done = 0"
        )
        return await self._call(ops.changes, sql, (job_id, prompt_id, generation)) == 1

    async def pending_prompts(
        self, job_id: str, after: str | None, limit: int
    ) -> tuple[list[PendingPrompt], str | None]:
        """Up to ``limit`` prompts without an outcome by ``prompt_id``, after the cursor (the
        last ``prompt_id`` of the previous page); the page and the next cursor."""
        sql = (
            "SELECT prompt_id, line, generation FROM prompts "
            "WHERE job_id = ? AND done = 0 AND prompt_id > ? ORDER BY prompt_id LIMIT ?"
        )
        rows = await self._call(ops.fetch_all, sql, (job_id, after or "", limit))
        page = [PendingPrompt(*row) for row in rows]
        return page, page[-1].prompt_id if len(page) == limit else None

    async def release_all_leases(self) -> int:
        """Drop every prompt lease: on start-up of a single-process runtime, all are orphans."""
        sql = (
            "UPDATE prompts SET lease_holder = NULL, lease_until = NULL "
            "WHERE lease_holder IS NOT NULL AND done = 0"
        )
        return await self._call(ops.changes, sql, ())

    # Outcomes
    async def record_outcomes(self, job_id: str, outcomes: Sequence[Outcome]) -> int:
        """Write the outcomes not yet recorded and count them, in one transaction.

        Returns how many were new. ValueError if the job does not exist.
        """
        if not outcomes:
            return 0
        return await self._call(ops.record_outcomes, job_id, list(outcomes))

    async def iter_outcomes(
        self, job_id: str, kind: OutcomeKind, lines: LineRange | None = None
    ) -> AsyncIterator[Outcome]:
        """Outcomes of one kind ordered by (line, key), read ``page_size`` rows at a time;
        with ``lines`` only those of lines ``[start, end)``."""
        kind = OutcomeKind(kind)
        after: tuple[int, str] | None = None
        while True:
            page = await self._call(ops.outcome_page, job_id, kind, after, self._page_size, lines)
            for outcome in page:
                yield outcome
            if len(page) < self._page_size:
                return
            after = (page[-1].line, page[-1].key)

    # Rate control
    async def append_observations(self, rate_key: str, observations: Sequence[Observation]) -> None:
        """Queue observations for the controller of ``rate_key``."""
        rows = [(rate_key, dumps(plain(observation))) for observation in observations]
        if rows:
            sql = "INSERT INTO observations (rate_key, data) VALUES (?, ?)"
            await self._call(ops.execute_many, sql, rows)

    async def drain_observations(self, rate_key: str) -> list[Observation]:
        """Take and remove every queued observation of ``rate_key``, oldest first."""
        rows = await self._call(ops.drain_observations, rate_key)
        return [Observation.from_dict(json.loads(data)) for data in rows]

    async def load_rate_state(self, rate_key: str) -> RateKeyState | None:
        """The current state of ``rate_key`` (one row: its latest version), ``version`` set."""
        sql = "SELECT state, version FROM rate_state WHERE rate_key = ?"
        row = await self._call(ops.fetch_one, sql, (rate_key,))
        if row is None:
            return None
        return replace(RateKeyState.from_dict(json.loads(row[0])), version=int(row[1]))

    async def save_rate_state(self, rate_key: str, state: RateKeyState) -> bool:
        """Save ``state`` as the next version if ``state.version`` is still the current one."""
        sql = (
            "INSERT INTO rate_state (rate_key, state, version) VALUES (?, ?, ?) "
            "ON CONFLICT (rate_key) DO UPDATE SET state = excluded.state, "
            "version = excluded.version WHERE rate_state.version = ?"
        )
        values = (rate_key, dumps(state.to_dict()), state.version + 1, state.version)
        return bool(await self._call(ops.changes, sql, values))

    # Webhook deliveries
    async def add_webhook_delivery(self, delivery: WebhookDelivery) -> WebhookDelivery:
        """Store ``delivery`` unless its (job, webhook_id) is stored; the stored record."""
        return await self._call(webhooks.add, delivery)

    async def get_webhook_delivery(self, job_id: str, webhook_id: str) -> WebhookDelivery | None:
        """The delivery, or None."""
        return await self._call(webhooks.get, job_id, webhook_id)

    async def update_webhook_delivery(
        self, delivery: WebhookDelivery, *, expected_attempts: int
    ) -> bool:
        """Replace the stored delivery if it is PENDING with ``expected_attempts``; else False."""
        return await self._call(webhooks.update, delivery, expected_attempts)

    # The database thread
    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("SqliteJobStore is not open")
        return self._conn

    def _connect(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self._path, timeout=self._busy_timeout, isolation_level=None)
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise RuntimeError(f"SQLite refused WAL mode for {self._path} (got {mode!r})")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES:d}")
            migrate(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
