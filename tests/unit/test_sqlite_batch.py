"""Group commit in the SQLite job store: calls queued together share a transaction, not a fate."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from promptforge.core.models import Job, JobStatus, Outcome, OutcomeKind
from promptforge.jobstore._sqlite_batch import BatchRunner
from promptforge.jobstore.sqlite import SqliteJobStore

pytestmark = pytest.mark.anyio


class _Db:
    """A connection owned by one thread, as the job store has it, and a runner on it."""

    def __init__(self, path: Path) -> None:
        self.executor = ThreadPoolExecutor(max_workers=1)
        self.conn: sqlite3.Connection | None = None
        self.path = path
        self.runner = BatchRunner(self.executor, self.connection)

    def connection(self) -> sqlite3.Connection:
        assert self.conn is not None
        return self.conn

    def open(self) -> None:
        self.conn = sqlite3.connect(self.path, isolation_level=None)
        self.conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[_Db]:
    db = _Db(tmp_path / "t.db")
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(db.executor, db.open)
    yield db
    await db.runner.settle()
    await loop.run_in_executor(db.executor, db.close)
    db.executor.shutdown(wait=True)


def _insert(key: str, seen: list[bool]) -> Callable[[sqlite3.Connection], str]:
    def op(conn: sqlite3.Connection) -> str:
        seen.append(conn.in_transaction)
        conn.execute("INSERT INTO t (k) VALUES (?)", (key,))
        return key

    return op


def _insert_then_fail(key: str) -> Callable[[sqlite3.Connection], None]:
    def op(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t (k) VALUES (?)", (key,))
        raise LookupError(f"{key} changed its mind")

    return op


def _keys(conn: sqlite3.Connection) -> list[str]:
    return [row[0] for row in conn.execute("SELECT k FROM t ORDER BY k")]


async def test_calls_queued_together_commit_together_and_one_failure_is_its_own(
    db: _Db,
) -> None:
    seen: list[bool] = []
    calls = [
        db.runner.call(_insert("a", seen)),  # runs alone: nothing was queued before it
        db.runner.call(_insert("b", seen)),  # these queue up meanwhile: one batch
        db.runner.call(_insert_then_fail("c")),
        db.runner.call(_insert("d", seen)),
        db.runner.call(_insert("b", seen)),  # a constraint error, again its own
    ]
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert results[:2] == ["a", "b"]
    assert isinstance(results[2], LookupError)
    assert results[3] == "d"
    assert isinstance(results[4], sqlite3.IntegrityError)
    assert seen[0] is False  # the first call ran on its own
    assert all(seen[1:])  # the rest shared one transaction
    assert await db.runner.call(_keys) == ["a", "b", "d"]


async def test_a_cancelled_caller_does_not_upset_the_batch(db: _Db) -> None:
    seen: list[bool] = []
    first = asyncio.ensure_future(db.runner.call(_insert("a", seen)))
    cancelled = asyncio.ensure_future(db.runner.call(_insert("b", seen)))
    kept = asyncio.ensure_future(db.runner.call(_insert("c", seen)))
    await asyncio.sleep(0)
    cancelled.cancel()
    assert await first == "a"
    assert await kept == "c"
    assert await db.runner.call(_keys) == ["a", "b", "c"]  # a call that started still ran


async def test_the_store_answers_concurrent_callers_each_exactly_once(tmp_path: Path) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    job = Job("j1", "t", "openai", "gpt-4o-mini", 3, now, now + timedelta(minutes=15), "o")
    async with SqliteJobStore(tmp_path / "jobs.db") as store:
        await store.create_job(job)
        await store.transition("j1", JobStatus.WAITING_FOR_UPLOAD, JobStatus.PROCESSING)
        await store.register_prompts("j1", [(f"p{i}", i + 1) for i in range(50)])
        outcome = [
            Outcome(Outcome.prompt_key(f"p{i}"), OutcomeKind.RESULT, i + 1, {"prompt_id": f"p{i}"})
            for i in range(50)
        ]
        # Every outcome twice, and a call for a job that does not exist in the middle.
        calls = [store.record_outcomes("j1", [o]) for o in outcome + outcome]
        calls.insert(30, store.record_outcomes("nope", outcome[:1]))
        answers = await asyncio.gather(*calls, return_exceptions=True)
        assert isinstance(answers.pop(30), ValueError)
        assert sum(a for a in answers if isinstance(a, int)) == 50
        saved = await store.get_job("j1")
    assert saved is not None
    assert saved.completed_count == 50
