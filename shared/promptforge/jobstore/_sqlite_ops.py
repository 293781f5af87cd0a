"""The SQLite job store's statements: plain functions run on the store's database thread.

Each takes the connection first and is either one statement (atomic by itself) or one
``BEGIN IMMEDIATE`` transaction, so a replayed call sees either all or none of an
earlier one. Batches are looked up with a single ``json_each`` query and written with
``executemany``, which keeps thousand-row calls to a handful of statements.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from promptforge.core.claims import PromptLease, decide_claim
from promptforge.core.models import ClaimResult, Outcome, OutcomeKind
from promptforge.jobstore._sqlite_schema import transaction
from promptforge.jobstore.fields import dumps

_PROMPT_PREFIX = Outcome.prompt_key("")


def insert(
    conn: sqlite3.Connection, table: str, columns: Sequence[str], row: Sequence[Any], what: str
) -> None:
    """Insert one row; ValueError naming ``what`` if it breaks a constraint."""
    marks = ", ".join("?" * len(row))
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608 (fixed names)
    try:
        conn.execute(sql, row)
    except sqlite3.IntegrityError as exc:
        raise ValueError(f"cannot store {what}: {exc}") from exc


def fetch_one(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
    """The first row of a query, or None."""
    row: tuple[Any, ...] | None = conn.execute(sql, params).fetchone()
    return row


def fetch_all(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Every row of a (bounded) query."""
    return conn.execute(sql, params).fetchall()


def changes(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> int:
    """Run one statement; the number of rows it changed."""
    return conn.execute(sql, params).rowcount


def execute_many(conn: sqlite3.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """Run one statement over many rows in one transaction."""
    with transaction(conn):
        conn.executemany(sql, rows)


def register_prompts(
    conn: sqlite3.Connection, job_id: str, prompts: Sequence[tuple[str, int]]
) -> list[int | None]:
    """Insert new prompts; per pair None (new or same line) or the line stored first."""
    with transaction(conn):
        ids = dumps([prompt_id for prompt_id, _ in prompts])
        sql = (
            "SELECT prompt_id, line FROM prompts WHERE job_id = ? "
            "AND prompt_id IN (SELECT value FROM json_each(?))"
        )
        known: dict[str, int] = dict(conn.execute(sql, (job_id, ids)).fetchall())
        answers: list[int | None] = []
        fresh: list[tuple[str, str, int]] = []
        for prompt_id, line in prompts:
            stored = known.get(prompt_id)
            if stored is None:  # new, and from now on known to later pairs of this batch
                known[prompt_id] = line
                fresh.append((job_id, prompt_id, line))
            answers.append(None if stored is None or stored == line else stored)
        conn.executemany("INSERT INTO prompts (job_id, prompt_id, line) VALUES (?, ?, ?)", fresh)
    return answers


def claim(
    conn: sqlite3.Connection,
    job_id: str,
    prompt_id: str,
    generation: int,
    *,
    holder: str,
    lease_until: int,
    now: int,
) -> ClaimResult:
    """Take the prompt's lease for ``generation`` (times in epoch microseconds).

    The rule is ``core.claims.decide_claim``; this reads and writes inside one transaction.
    """
    with transaction(conn):
        row = conn.execute(
            "SELECT generation, lease_holder, lease_until, done FROM prompts "
            "WHERE job_id = ? AND prompt_id = ?",
            (job_id, prompt_id),
        ).fetchone()
        item = None if row is None else PromptLease(row[0], row[1], row[2], bool(row[3]))
        decision = decide_claim(item, generation=generation, holder=holder, now=now)
        if decision is ClaimResult.CLAIMED:
            conn.execute(
                "UPDATE prompts SET generation = ?, lease_holder = ?, lease_until = ? "
                "WHERE job_id = ? AND prompt_id = ?",
                (generation, holder, lease_until, job_id, prompt_id),
            )
        return decision


def remember_key(
    conn: sqlite3.Connection, row: tuple[str, str, str, str], expires_at: int, now: int
) -> tuple[Any, ...]:
    """Store an Idempotency-Key row unless a live one has its (tenant, key); the stored row."""
    with transaction(conn):
        stored = conn.execute(
            "SELECT tenant_id, key, body_hash, job_id, expires_at FROM idempotency_keys "
            "WHERE tenant_id = ? AND key = ? AND expires_at > ?",
            (row[0], row[1], now),
        ).fetchone()
        if stored is not None:
            return tuple(stored)
        conn.execute(
            "INSERT OR REPLACE INTO idempotency_keys "
            "(tenant_id, key, body_hash, job_id, expires_at) VALUES (?, ?, ?, ?, ?)",
            (*row, expires_at),
        )
        return (*row, expires_at)


def record_outcomes(conn: sqlite3.Connection, job_id: str, outcomes: Sequence[Outcome]) -> int:
    """Insert the outcomes whose key is new, bump the job's counters, mark prompts done."""
    with transaction(conn):
        if conn.execute("SELECT 1 FROM jobs WHERE job_id = ?", (job_id,)).fetchone() is None:
            raise ValueError(f"no job {job_id!r}")
        keys = dumps([outcome.key for outcome in outcomes])
        sql = (
            "SELECT key FROM outcomes WHERE job_id = ? AND key IN (SELECT value FROM json_each(?))"
        )
        present = {row[0] for row in conn.execute(sql, (job_id, keys))}
        fresh: list[Outcome] = []
        for outcome in outcomes:
            if outcome.key not in present:  # also drops a repeat within this batch
                present.add(outcome.key)
                fresh.append(outcome)
        if not fresh:
            return 0
        conn.executemany(
            "INSERT INTO outcomes (job_id, key, kind, line, record, input_tokens, output_tokens) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [_outcome_row(job_id, outcome) for outcome in fresh],
        )
        results = sum(1 for outcome in fresh if outcome.kind == OutcomeKind.RESULT)
        tokens_in = sum(outcome.input_tokens for outcome in fresh)
        tokens_out = sum(outcome.output_tokens for outcome in fresh)
        reasks = sum(outcome.schema_retries for outcome in fresh)
        copies = sum(1 for outcome in fresh if outcome.deduplicated)
        conn.execute(
            "UPDATE jobs SET completed_count = completed_count + ?, "
            "failed_count = failed_count + ?, input_tokens = input_tokens + ?, "
            "output_tokens = output_tokens + ?, schema_retries = schema_retries + ?, "
            "deduplicated_count = deduplicated_count + ? WHERE job_id = ?",
            (results, len(fresh) - results, tokens_in, tokens_out, reasks, copies, job_id),
        )
        conn.executemany(
            "UPDATE prompts SET done = 1, lease_holder = NULL, lease_until = NULL "
            "WHERE job_id = ? AND prompt_id = ?",
            [
                (job_id, outcome.key.removeprefix(_PROMPT_PREFIX))
                for outcome in fresh
                if outcome.key.startswith(_PROMPT_PREFIX)
            ],
        )
        return len(fresh)


def outcome_page(  # noqa: PLR0917 (called through the store's thread, positionally)
    conn: sqlite3.Connection,
    job_id: str,
    kind: OutcomeKind,
    after: tuple[int, str] | None,
    size: int,
    lines: tuple[int, int | None] | None = None,
) -> list[Outcome]:
    """Up to ``size`` outcomes of one kind after ``(line, key)``, in (line, key) order;
    with ``lines`` only those of lines ``[start, end)`` (``end`` None: no end)."""
    sql = (
        "SELECT key, line, record, input_tokens, output_tokens FROM outcomes "
        "WHERE job_id = ? AND kind = ?"
    )
    params: tuple[Any, ...] = (job_id, kind.value)
    if after is not None:
        sql += " AND (line, key) > (?, ?)"
        params += after
    if lines is not None:
        sql += " AND line >= ?"
        params += (lines[0],)
        if lines[1] is not None:
            sql += " AND line < ?"
            params += (lines[1],)
    rows = conn.execute(f"{sql} ORDER BY line, key LIMIT ?", (*params, size)).fetchall()
    return [outcome_row(key, kind.value, *rest) for key, *rest in rows]


def outcome_row(key: str, kind: str, line: int, record: str, *tokens: int) -> Outcome:
    """The outcome an ``outcomes`` row holds (its record as stored: JSON text)."""
    return Outcome(key, OutcomeKind(kind), line, json.loads(record), *tokens)


def drain_observations(conn: sqlite3.Connection, rate_key: str) -> list[str]:
    """Take and delete the queued observations of ``rate_key`` (JSON), oldest first."""
    with transaction(conn):
        sql = "SELECT seq, data FROM observations WHERE rate_key = ? ORDER BY seq"
        rows = conn.execute(sql, (rate_key,)).fetchall()
        if rows:
            sql = "DELETE FROM observations WHERE rate_key = ? AND seq <= ?"
            conn.execute(sql, (rate_key, rows[-1][0]))
    return [data for _, data in rows]


def _outcome_row(job_id: str, outcome: Outcome) -> tuple[Any, ...]:
    kind = OutcomeKind(outcome.kind).value
    record = dumps(outcome.record)
    return (
        job_id,
        outcome.key,
        kind,
        outcome.line,
        record,
        outcome.input_tokens,
        outcome.output_tokens,
    )
