"""SQLite storage for the embedded task queue, driven from one dedicated thread.

Every statement runs on a single-worker thread that owns the connection, so the
event loop never waits on the disk and SQLite never sees two threads. The database
is in WAL mode with ``synchronous=NORMAL``: a committed write survives the process
being killed (not necessarily a power cut).

Tables: ``queues`` (name, config JSON), ``tasks`` (one row per task not yet
finished, ``state`` pending or running), ``task_names`` (names taken, kept after
their task finishes so that a replayed creation stays a no-op) and ``dead_letters``
(tasks dropped after their last allowed attempt). ``task_names`` alone keeps names
unique: names are hashes, so every index on them takes random writes, and one such
index (not also a UNIQUE one on ``tasks.name``) halves the cost of an enqueue.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from promptforge.tasks._task_rows import (
    ClaimedTask,
    DeadLetter,
    NewTask,
    TaskOutcome,
    config_from_json,
    config_to_json,
)
from promptforge.tasks.base import QueueConfig

_T = TypeVar("_T")

WAL_CHECKPOINT_PAGES = 8192
"""Checkpoint the WAL every 32 MB (4 KiB pages) rather than SQLite's 4 MB: each checkpoint
fsyncs twice, and an ingest writes every prompt's body here."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queues (
    name TEXT PRIMARY KEY,
    config TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    target TEXT NOT NULL,
    name TEXT,
    payload TEXT NOT NULL,
    schedule_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running')),
    leased_until REAL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_due ON tasks (queue, state, schedule_at);
CREATE TABLE IF NOT EXISTS task_names (
    name TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    done_at REAL
);
CREATE INDEX IF NOT EXISTS task_names_done ON task_names (done_at);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY,
    queue TEXT NOT NULL,
    target TEXT NOT NULL,
    name TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    last_status INTEGER NOT NULL,
    created_at REAL NOT NULL,
    dead_at REAL NOT NULL
);
"""

_INSERT_NAMED = """
INSERT INTO tasks (queue, target, name, payload, schedule_at, created_at)
SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE NOT EXISTS (SELECT 1 FROM task_names WHERE name = ?3)
"""
_INSERT_UNNAMED = """
INSERT INTO tasks (queue, target, name, payload, schedule_at, created_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6)
"""
_CLAIM = """
UPDATE tasks SET state = 'running', attempts = attempts + 1, leased_until = ?
WHERE id IN (
    SELECT id FROM tasks WHERE queue = ? AND state = 'pending' AND schedule_at <= ?
    ORDER BY schedule_at, id LIMIT ?
)
RETURNING id, target, name, payload, attempts, schedule_at
"""
_NEXT_DUE = "SELECT MIN(schedule_at) FROM tasks WHERE queue = ? AND state = 'pending'"
_BURY = """
INSERT INTO dead_letters (id, queue, target, name, payload, attempts, last_status, created_at,
                          dead_at)
SELECT id, queue, target, COALESCE(name, 'task-' || id), payload, attempts, ?, created_at, ?
FROM tasks WHERE id = ?
"""


class SqliteTaskStore:
    """The task queue's tables; every method runs its SQL on the store's own thread."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    async def _run(self, fn: Callable[..., _T], *args: Any) -> _T:
        if self._executor is None:
            raise RuntimeError("the task store is not open")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args))

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the task store is not open")
        return self._conn

    def _transaction(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        conn = self._db()
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    # lifecycle

    async def open(self) -> tuple[dict[str, QueueConfig], int]:
        """Open (creating if needed) and put tasks left running back to pending.

        Returns the stored queues and how many running tasks were recovered.
        """
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pf-tasks-sqlite")
        try:
            return await self._run(self._open_sync)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise

    def _open_sync(self) -> tuple[dict[str, QueueConfig], int]:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self._path, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES:d}")
            conn.execute("PRAGMA busy_timeout=5000")
            conn.executescript(_SCHEMA)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

        def recover(db: sqlite3.Connection) -> tuple[dict[str, QueueConfig], int]:
            cursor = db.execute(
                "UPDATE tasks SET state = 'pending', leased_until = NULL WHERE state = 'running'"
            )
            queues = {
                name: config_from_json(text)
                for name, text in db.execute("SELECT name, config FROM queues")
            }
            return queues, cursor.rowcount

        return self._transaction(recover)

    async def close(self) -> None:
        """Close the connection and stop the store's thread."""
        if self._executor is None:
            return
        try:
            await self._run(self._close_sync)
        finally:
            self._executor.shutdown(wait=False)
            self._executor = None

    def _close_sync(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # queues

    async def ensure_queue(self, name: str, config: QueueConfig) -> QueueConfig:
        """Create the queue unless it exists; return the config in effect."""
        return await self._run(self._ensure_queue_sync, name, config_to_json(config))

    def _ensure_queue_sync(self, name: str, text: str) -> QueueConfig:
        def run(db: sqlite3.Connection) -> QueueConfig:
            db.execute("INSERT OR IGNORE INTO queues (name, config) VALUES (?, ?)", (name, text))
            row = db.execute("SELECT config FROM queues WHERE name = ?", (name,)).fetchone()
            return config_from_json(row[0])

        return self._transaction(run)

    async def put_queue(self, name: str, config: QueueConfig) -> None:
        """Create or overwrite the queue's config."""
        await self._run(self._put_queue_sync, name, config_to_json(config))

    def _put_queue_sync(self, name: str, text: str) -> None:
        self._transaction(
            lambda db: db.execute(
                "INSERT INTO queues (name, config) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET config = excluded.config",
                (name, text),
            )
        )

    # tasks

    async def enqueue(self, tasks: Sequence[NewTask], now: float) -> int:
        """Insert tasks in one transaction, skipping taken names; return how many were created."""
        return await self._run(self._enqueue_sync, tasks, now)

    def _enqueue_sync(self, tasks: Sequence[NewTask], now: float) -> int:
        # Names are unique through ``task_names`` alone (the first of a repeated name wins):
        # hashed names make every index on them expensive to write, so there is only one.
        first: dict[str, NewTask] = {}
        for t in tasks:
            if t.name is not None:
                first.setdefault(t.name, t)
        named = [(t.queue, t.target, t.name, t.payload, t.schedule_at, now) for t in first.values()]
        unnamed = [
            (t.queue, t.target, None, t.payload, t.schedule_at, now)
            for t in tasks
            if t.name is None
        ]

        def run(db: sqlite3.Connection) -> int:
            before = db.total_changes
            if unnamed:
                db.executemany(_INSERT_UNNAMED, unnamed)
            if named:
                db.executemany(_INSERT_NAMED, named)
                created = db.total_changes
                db.executemany(
                    "INSERT OR IGNORE INTO task_names (name, created_at) VALUES (?, ?)",
                    [(row[2], now) for row in named],
                )
                return created - before
            return db.total_changes - before

        return self._transaction(run)

    async def claim(
        self, queue: str, now: float, limit: int, leased_until: float
    ) -> tuple[list[ClaimedTask], float | None]:
        """Mark up to ``limit`` due tasks running (committed before returning them).

        Returns them in due order, and the earliest ``schedule_at`` still pending.
        """
        return await self._run(self._claim_sync, queue, now, limit, leased_until)

    def _claim_sync(
        self, queue: str, now: float, limit: int, leased_until: float
    ) -> tuple[list[ClaimedTask], float | None]:
        def run(db: sqlite3.Connection) -> tuple[list[ClaimedTask], float | None]:
            rows = db.execute(_CLAIM, (leased_until, queue, now, limit)).fetchall()
            next_due = db.execute(_NEXT_DUE, (queue,)).fetchone()[0]
            return [
                ClaimedTask(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5])
                for row in rows
            ], next_due

        claimed, next_due = self._transaction(run)
        claimed.sort(key=lambda t: (t.schedule_at, t.id))
        return claimed, next_due

    async def finish(self, outcomes: Sequence[TaskOutcome], now: float) -> None:
        """Record delivery outcomes in one transaction: delete, reschedule or bury."""
        await self._run(self._finish_sync, outcomes, now)

    def _finish_sync(self, outcomes: Sequence[TaskOutcome], now: float) -> None:
        retried = [(o.retry_at, o.id) for o in outcomes if o.retry_at is not None]
        finished = [o for o in outcomes if o.retry_at is None]
        buried = [(o.status, now, o.id) for o in finished if o.dead]
        released = [(now, o.name) for o in finished if o.name is not None]

        def run(db: sqlite3.Connection) -> None:
            if retried:
                db.executemany(
                    "UPDATE tasks SET state = 'pending', leased_until = NULL, schedule_at = ? "
                    "WHERE id = ?",
                    retried,
                )
            if buried:
                db.executemany(_BURY, buried)
            if finished:
                db.executemany("DELETE FROM tasks WHERE id = ?", [(o.id,) for o in finished])
            if released:
                db.executemany("UPDATE task_names SET done_at = ? WHERE name = ?", released)

        self._transaction(run)

    async def purge_names(self, finished_before: float) -> int:
        """Free the names of tasks that finished before ``finished_before``."""
        return await self._run(self._purge_names_sync, finished_before)

    def _purge_names_sync(self, finished_before: float) -> int:
        return self._transaction(
            lambda db: (
                db.execute(
                    "DELETE FROM task_names WHERE done_at IS NOT NULL AND done_at < ?",
                    (finished_before,),
                ).rowcount
            )
        )

    # reading

    async def pending(self, queue: str) -> int:
        """Tasks not finished in ``queue``: scheduled, due or running."""
        return await self._run(self._pending_sync, queue)

    def _pending_sync(self, queue: str) -> int:
        row = self._db().execute("SELECT COUNT(*) FROM tasks WHERE queue = ?", (queue,)).fetchone()
        return int(row[0])

    async def delete(self, queue: str, names: Sequence[str]) -> int:
        """Delete the named pending tasks of ``queue`` (names stay taken); how many went."""
        return await self._run(self._delete_sync, queue, json.dumps(list(names)))

    def _delete_sync(self, queue: str, names: str) -> int:
        def run(db: sqlite3.Connection) -> int:
            return db.execute(
                "DELETE FROM tasks WHERE queue = ? AND state = 'pending' "
                "AND name IN (SELECT value FROM json_each(?))",
                (queue, names),
            ).rowcount

        return self._transaction(run)

    async def stats(self, queue: str, now: float) -> dict[str, int]:
        """Counts for ``queue``: pending (all unfinished), running, due, dead."""
        return await self._run(self._stats_sync, queue, now)

    def _stats_sync(self, queue: str, now: float) -> dict[str, int]:
        db = self._db()
        pending, running, due = db.execute(
            "SELECT COUNT(*), "
            "COALESCE(SUM(state = 'running'), 0), "
            "COALESCE(SUM(state = 'pending' AND schedule_at <= ?), 0) "
            "FROM tasks WHERE queue = ?",
            (now, queue),
        ).fetchone()
        dead = db.execute("SELECT COUNT(*) FROM dead_letters WHERE queue = ?", (queue,)).fetchone()
        return {"pending": pending, "running": running, "due": due, "dead": dead[0]}

    async def dead_letters(self) -> list[DeadLetter]:
        """Every dead-lettered task, oldest first."""
        return await self._run(self._dead_letters_sync)

    def _dead_letters_sync(self) -> list[DeadLetter]:
        rows = self._db().execute(
            "SELECT queue, target, name, payload, attempts, last_status, dead_at "
            "FROM dead_letters ORDER BY dead_at, id"
        )
        return [
            DeadLetter(
                queue=row[0],
                target=row[1],
                name=row[2],
                payload=json.loads(row[3]),
                attempts=row[4],
                last_status=row[5],
                dead_at=datetime.fromtimestamp(row[6], UTC),
            )
            for row in rows
        ]
