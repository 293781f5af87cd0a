"""The SQLite job store's file format: schema, migrations, transactions and row codecs.

Times are stored as integer microseconds since the epoch (exact, and ordered for the
lease and expiry comparisons) and read back as timezone-aware UTC datetimes; naive
datetimes are refused. Structured fields are compact JSON. The schema version lives in
``PRAGMA user_version``; ``MIGRATIONS[n]`` takes a file from version ``n`` to ``n + 1``
(a new ``Job`` field needs a column, so a new migration step).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields, is_dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from promptforge.core.models import GenerationParams, Job, JobError, JobStatus
from promptforge.jobstore.fields import DATETIME_FIELDS, JOB_FIELDS, dumps, plain_field, to_utc

SCHEMA_VERSION = 8

MIGRATIONS: dict[int, tuple[str, ...]] = {
    0: (
        """CREATE TABLE api_keys (
            key_hash TEXT PRIMARY KEY, key_id TEXT NOT NULL UNIQUE, tenant_id TEXT NOT NULL,
            created_at INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0)""",
        """CREATE TABLE jobs (
            job_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, provider TEXT NOT NULL,
            model TEXT NOT NULL, max_retries INTEGER NOT NULL, created_at INTEGER NOT NULL,
            upload_expires_at INTEGER NOT NULL, upload_object TEXT NOT NULL,
            status TEXT NOT NULL, rpm INTEGER, tpm INTEGER, credential TEXT NOT NULL,
            params TEXT NOT NULL, input_generation INTEGER,
            started_processing_at INTEGER, completed_at INTEGER,
            prompt_count INTEGER NOT NULL, ingest_done INTEGER NOT NULL,
            completed_count INTEGER NOT NULL, failed_count INTEGER NOT NULL,
            input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
            result_files TEXT NOT NULL, error TEXT)""",
        "CREATE INDEX jobs_by_tenant ON jobs (tenant_id, created_at)",
        "CREATE INDEX jobs_by_status ON jobs (status, upload_expires_at)",
        """CREATE TABLE prompts (
            job_id TEXT NOT NULL, prompt_id TEXT NOT NULL, line INTEGER NOT NULL,
            generation INTEGER NOT NULL DEFAULT 0, lease_holder TEXT, lease_until INTEGER,
            done INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (job_id, prompt_id)) WITHOUT ROWID""",
        """CREATE TABLE outcomes (
            job_id TEXT NOT NULL, key TEXT NOT NULL, kind TEXT NOT NULL, line INTEGER NOT NULL,
            record TEXT NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
            PRIMARY KEY (job_id, key))""",
        "CREATE INDEX outcomes_by_line ON outcomes (job_id, kind, line, key)",
        """CREATE TABLE observations (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, rate_key TEXT NOT NULL, data TEXT NOT NULL)""",
        "CREATE INDEX observations_by_key ON observations (rate_key, seq)",
        "CREATE TABLE rate_state (rate_key TEXT PRIMARY KEY, state TEXT NOT NULL)",
    ),
    1: (  # signed webhooks: where to POST, the secret, and each event's delivery
        "ALTER TABLE jobs ADD COLUMN webhook_url TEXT",
        "ALTER TABLE jobs ADD COLUMN webhook_secret TEXT",
        """CREATE TABLE webhook_deliveries (
            job_id TEXT NOT NULL, webhook_id TEXT NOT NULL, event_type TEXT NOT NULL,
            body TEXT NOT NULL, created_at INTEGER NOT NULL, attempts INTEGER NOT NULL,
            state TEXT NOT NULL, next_attempt_at INTEGER, last_status INTEGER,
            last_error TEXT, ended_at INTEGER, PRIMARY KEY (job_id, webhook_id)) WITHOUT ROWID""",
    ),
    2: (  # jobs as users manage them: name, metadata, cancel, Idempotency-Key
        "ALTER TABLE jobs ADD COLUMN name TEXT",
        "ALTER TABLE jobs ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}'",
        "ALTER TABLE jobs ADD COLUMN cancel_requested_at INTEGER",
        """CREATE TABLE idempotency_keys (
            tenant_id TEXT NOT NULL, key TEXT NOT NULL, body_hash TEXT NOT NULL,
            job_id TEXT NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (tenant_id, key))""",
    ),
    3: (  # versioned prompts (prompts.store): a prompt per (tenant, name), versions, tags
        """CREATE TABLE prompt_registry (
            prompt_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, name TEXT NOT NULL,
            description TEXT, metadata TEXT NOT NULL, source_prompt_id TEXT,
            created_at INTEGER NOT NULL, UNIQUE (tenant_id, name))""",
        """CREATE TABLE prompt_versions (
            version_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, prompt_id TEXT NOT NULL,
            data TEXT NOT NULL, created_at INTEGER NOT NULL)""",
        """CREATE INDEX prompt_versions_by_prompt
            ON prompt_versions (tenant_id, prompt_id, version_id)""",
        """CREATE TABLE prompt_tags (
            tenant_id TEXT NOT NULL, prompt_id TEXT NOT NULL, name TEXT NOT NULL,
            version_id TEXT NOT NULL, description TEXT,
            PRIMARY KEY (tenant_id, prompt_id, name)) WITHOUT ROWID""",
    ),
    4: (  # the cost cap (core.spend): the job's cap, its ledger, each prompt's reservation
        "ALTER TABLE jobs ADD COLUMN max_cost_usd REAL",
        """CREATE TABLE spend_ledgers (
            job_id TEXT PRIMARY KEY, spent INTEGER NOT NULL, reserved INTEGER NOT NULL,
            stopped_at INTEGER)""",
        """CREATE TABLE spend_holds (
            job_id TEXT NOT NULL, prompt_id TEXT NOT NULL, generation INTEGER NOT NULL,
            amount INTEGER NOT NULL, PRIMARY KEY (job_id, prompt_id)) WITHOUT ROWID""",
    ),
    5: (  # retry a job's failures (parent_job_id); dedupe: one call per identical request
        "ALTER TABLE jobs ADD COLUMN parent_job_id TEXT",
        "ALTER TABLE jobs ADD COLUMN dedupe INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE jobs ADD COLUMN deduplicated_count INTEGER NOT NULL DEFAULT 0",
        """CREATE TABLE request_keys (
            job_id TEXT NOT NULL, request_key TEXT NOT NULL, prompt_id TEXT NOT NULL,
            PRIMARY KEY (job_id, request_key)) WITHOUT ROWID""",
        """CREATE TABLE request_waiters (
            job_id TEXT NOT NULL, request_key TEXT NOT NULL, prompt_id TEXT NOT NULL,
            line INTEGER NOT NULL, PRIMARY KEY (job_id, request_key, prompt_id)) WITHOUT ROWID""",
    ),
    6: (  # answers that match the schema (core.schema_retry): the option and the counter
        "ALTER TABLE jobs ADD COLUMN max_schema_retries INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE jobs ADD COLUMN schema_retries INTEGER NOT NULL DEFAULT 0",
    ),
    7: (  # the rate state's version: every save is a compare-and-set (core.ratestate)
        "ALTER TABLE rate_state ADD COLUMN version INTEGER NOT NULL DEFAULT 0",
    ),
}

API_KEY_COLUMNS = ("key_hash", "key_id", "tenant_id", "created_at", "revoked")
JOB_COLUMNS = JOB_FIELDS
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the schema to ``SCHEMA_VERSION``; refuse a file written by a newer version."""
    with transaction(conn):
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise RuntimeError(f"database schema {version} is newer than {SCHEMA_VERSION}")
        for step in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[step]:
                conn.execute(statement)
        if version != SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` on an autocommit connection, rolled back on any error.

    Inside a transaction already open (a batch of calls committed together) it is a
    savepoint instead: all or nothing of this block, committed with the batch.
    """
    if conn.in_transaction:
        with savepoint(conn):
            yield
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


@contextmanager
def savepoint(conn: sqlite3.Connection, name: str = "block") -> Iterator[None]:
    """A nested all-or-nothing block within the open transaction."""
    conn.execute(f"SAVEPOINT {name}")
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute(f"ROLLBACK TO {name}")
            conn.execute(f"RELEASE {name}")
        raise
    conn.execute(f"RELEASE {name}")


def plain(value: Any) -> Any:
    """A dataclass tree as dicts and lists, enum members as their values.

    What ``dataclasses.asdict`` gives (then JSON), at a third of the cost: no deep copies.
    """
    names = _FIELD_NAMES.get(type(value))
    if names is None and is_dataclass(value) and not isinstance(value, type):
        names = _FIELD_NAMES.setdefault(type(value), tuple(f.name for f in fields(value)))
    if names is not None:
        return {name: plain(getattr(value, name)) for name in names}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return value


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def to_micros(moment: datetime) -> int:
    """A timezone-aware datetime as integer microseconds since the epoch."""
    return (to_utc(moment) - _EPOCH) // _MICROSECOND


def from_micros(value: int) -> datetime:
    """Inverse of :func:`to_micros`, in UTC."""
    return _EPOCH + value * _MICROSECOND


def encode_field(name: str, value: Any) -> Any:
    """One ``Job`` field as its column value: times as microseconds, structures as JSON."""
    checked = plain_field(name, value)
    if checked is None:
        return None
    if name in DATETIME_FIELDS:
        return to_micros(checked)
    if name in {"params", "result_files", "error", "metadata"}:
        return dumps(checked)
    if name in {"ingest_done", "dedupe"}:
        return int(checked)
    return checked


def decode_job(row: tuple[Any, ...]) -> Job:
    """A ``Job`` rebuilt from a row of ``JOB_COLUMNS``."""
    values = dict(zip(JOB_COLUMNS, row, strict=True))
    for name in DATETIME_FIELDS:
        if values[name] is not None:
            values[name] = from_micros(values[name])
    values["status"] = JobStatus(values["status"])
    values["params"] = GenerationParams.from_dict(json.loads(values["params"]))
    values["result_files"] = tuple(json.loads(values["result_files"]))
    values["ingest_done"] = bool(values["ingest_done"])
    values["dedupe"] = bool(values["dedupe"])
    values["metadata"] = dict(json.loads(values["metadata"]))
    if values["error"] is not None:
        values["error"] = JobError(**json.loads(values["error"]))
    return Job(**values)
