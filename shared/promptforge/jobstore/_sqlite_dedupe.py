"""The SQLite side of ``core.dedupe``: who holds a request key, who waits for its answer,
and one outcome by key (tables ``request_keys`` and ``request_waiters``, schema step 4)."""

from __future__ import annotations

import sqlite3

from promptforge.core.models import Outcome
from promptforge.jobstore._sqlite_batch import SqliteCalls
from promptforge.jobstore._sqlite_ops import outcome_row
from promptforge.jobstore._sqlite_schema import transaction


def claim_request(conn: sqlite3.Connection, job_id: str, request_key: str, prompt_id: str) -> str:
    """Insert ``(job, request_key) -> prompt_id`` unless present; the prompt stored."""
    with transaction(conn):
        conn.execute(
            "INSERT OR IGNORE INTO request_keys (job_id, request_key, prompt_id) VALUES (?, ?, ?)",
            (job_id, request_key, prompt_id),
        )
        sql = "SELECT prompt_id FROM request_keys WHERE job_id = ? AND request_key = ?"
        return str(conn.execute(sql, (job_id, request_key)).fetchone()[0])


def await_request(
    conn: sqlite3.Connection, job_id: str, request_key: str, prompt_id: str, line: int
) -> None:
    """Note ``prompt_id`` as a waiter of ``request_key`` (once)."""
    with transaction(conn):
        conn.execute(
            "INSERT OR IGNORE INTO request_waiters (job_id, request_key, prompt_id, line) "
            "VALUES (?, ?, ?, ?)",
            (job_id, request_key, prompt_id, line),
        )


def request_waiters(
    conn: sqlite3.Connection, job_id: str, request_key: str
) -> list[tuple[str, int]]:
    """The waiters of ``request_key``: ``(prompt_id, line)``."""
    sql = "SELECT prompt_id, line FROM request_waiters WHERE job_id = ? AND request_key = ?"
    rows = conn.execute(sql, (job_id, request_key)).fetchall()
    return [(str(prompt_id), int(line)) for prompt_id, line in rows]


def get_outcome(conn: sqlite3.Connection, job_id: str, key: str) -> Outcome | None:
    """The outcome stored under ``key``, or None."""
    sql = (
        "SELECT kind, line, record, input_tokens, output_tokens FROM outcomes "
        "WHERE job_id = ? AND key = ?"
    )
    row = conn.execute(sql, (job_id, key)).fetchone()
    return None if row is None else outcome_row(key, *row)


class SqliteRequestKeys(SqliteCalls):
    """The ``core.dedupe`` methods of ``SqliteJobStore`` (which opens the database)."""

    async def claim_request(self, job_id: str, request_key: str, prompt_id: str) -> str:
        """The prompt holding ``request_key`` in the job, ``prompt_id`` if it claims it first."""
        return await self._call(claim_request, job_id, request_key, prompt_id)

    async def await_request(self, job_id: str, request_key: str, prompt_id: str, line: int) -> None:
        """Note ``prompt_id`` as waiting for ``request_key``'s answer."""
        await self._call(await_request, job_id, request_key, prompt_id, line)

    async def request_waiters(self, job_id: str, request_key: str) -> list[tuple[str, int]]:
        """The prompts waiting for ``request_key``'s answer."""
        return await self._call(request_waiters, job_id, request_key)

    async def get_outcome(self, job_id: str, key: str) -> Outcome | None:
        """The outcome recorded under ``key``, or None."""
        return await self._call(get_outcome, job_id, key)
