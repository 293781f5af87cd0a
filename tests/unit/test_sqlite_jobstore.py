"""The SQLite job store on real files: what only SQLite has (one file, one thread, a schema).

The backend-independent contract (round trips, compare-and-set, exactly-once outcomes)
is ``tests/contract/test_jobstore_contract.py``, run on SQLite and Firestore alike.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptforge.core.models import Outcome
from promptforge.core.ratestate import RateKeyState
from promptforge.jobstore import _sqlite_ops
from promptforge.jobstore.sqlite import SCHEMA_VERSION, SqliteJobStore
from promptforge.providers.base import CallOutcome
from promptforge.ratecontrol.base import Observation
from tests.contract._jobstore_data import ERROR, RESULT, error, make_job, result

pytestmark = pytest.mark.anyio


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteJobStore]:
    """An open store on a fresh file."""
    async with SqliteJobStore(tmp_path / "state" / "jobs.db") as opened:
        yield opened


async def test_record_outcomes_exactly_once_under_concurrency(
    store: SqliteJobStore, tmp_path: Path
) -> None:
    await store.create_job(make_job())
    rng = random.Random(1234)
    universe = [result(f"p:{i}", i, i, 1) if i % 4 else error(f"l:{i}", i) for i in range(1, 401)]
    calls = [rng.sample(universe, rng.randint(1, 60)) for _ in range(80)]

    # A second store on the same file: two connections on two threads really race.
    async with SqliteJobStore(tmp_path / "state" / "jobs.db") as twin:
        stores = [store, twin]
        new_counts = await asyncio.gather(
            *(stores[i % 2].record_outcomes("job-1", c) for i, c in enumerate(calls))
        )

    distinct = {o.key: o for call in calls for o in call}
    job = await store.get_job("job-1")
    assert job is not None
    assert sum(new_counts) == len(distinct)
    assert job.completed_count == sum(1 for o in distinct.values() if o.kind is RESULT)
    assert job.failed_count == sum(1 for o in distinct.values() if o.kind is ERROR)
    assert job.input_tokens == sum(o.input_tokens for o in distinct.values())
    assert job.output_tokens == sum(o.output_tokens for o in distinct.values())


async def test_iter_outcomes_streams_in_line_order_over_many_pages(
    store: SqliteJobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.create_job(make_job())
    outcomes = [result(f"p:{i:05d}", i) for i in range(2500)]
    outcomes += [error(f"l:{i}", i) for i in range(0, 2500, 7)]
    outcomes.append(result("p:tie", 100))  # same line as p:00100, sorts after it by key
    random.Random(7).shuffle(outcomes)
    await store.record_outcomes("job-1", outcomes)

    pages: list[int] = []
    real_page = _sqlite_ops.outcome_page

    def counting_page(*args: Any) -> list[Outcome]:
        page = real_page(*args)
        pages.append(len(page))
        return page

    monkeypatch.setattr(_sqlite_ops, "outcome_page", counting_page)
    results = [o async for o in store.iter_outcomes("job-1", RESULT)]
    expected = sorted((o for o in outcomes if o.kind is RESULT), key=lambda o: (o.line, o.key))
    assert results == expected
    assert pages == [1000, 1000, 501]
    assert [o.key for o in results[100:102]] == ["p:00100", "p:tie"]

    errors = [o async for o in store.iter_outcomes("job-1", ERROR)]
    assert [o.line for o in errors] == list(range(0, 2500, 7))
    assert [o async for o in store.iter_outcomes("job-2", RESULT)] == []


async def test_iter_outcomes_with_a_page_boundary_at_the_end(tmp_path: Path) -> None:
    async with SqliteJobStore(tmp_path / "jobs.db", page_size=3) as small:
        await small.create_job(make_job())
        outcomes = [result(f"p:{i}", 8 - i) for i in range(9)]
        await small.record_outcomes("job-1", outcomes)
        streamed = [o async for o in small.iter_outcomes("job-1", RESULT)]
        assert [o.line for o in streamed] == list(range(9))


async def test_state_survives_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    async with SqliteJobStore(path) as first:
        await first.create_job(make_job())
        await first.register_prompts("job-1", [("p1", 1), ("p2", 2)])
        await first.record_outcomes("job-1", [result("p:p1", 1, 3, 4)])
        await first.save_rate_state("k", RateKeyState(queue="pf-q"))
        await first.append_observations("k", [Observation(1.0, CallOutcome.SUCCESS)])

    async with SqliteJobStore(path) as second:
        job = await second.get_job("job-1")
        assert job is not None and (job.completed_count, job.input_tokens) == (1, 3)
        assert await second.register_prompts("job-1", [("p2", 2), ("p1", 7)]) == [None, 1]
        assert await second.record_outcomes("job-1", [result("p:p1", 1, 3, 4)]) == 0
        assert await second.load_rate_state("k") == RateKeyState(queue="pf-q")
        assert await second.drain_observations("k") == [Observation(1.0, CallOutcome.SUCCESS)]

    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


async def test_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    store = SqliteJobStore(path)
    with pytest.raises(RuntimeError, match="newer"):
        await store.open()
    with pytest.raises(RuntimeError, match="not open"):
        await store.get_job("job-1")


async def test_lifecycle_errors(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.db")
    with pytest.raises(RuntimeError, match="not open"):
        await store.get_job("job-1")
    await store.open()
    with pytest.raises(RuntimeError, match="already open"):
        await store.open()
    await store.close()
    await store.close()
    with pytest.raises(ValueError, match="page_size"):
        SqliteJobStore(tmp_path / "x.db", page_size=0)


async def test_all_database_work_runs_on_one_other_thread(
    store: SqliteJobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: set[int] = set()

    def on_thread(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            seen.add(threading.get_ident())
            return fn(*args, **kwargs)

        return wrapper

    for name in ("insert", "fetch_one", "changes", "register_prompts", "record_outcomes"):
        monkeypatch.setattr(_sqlite_ops, name, on_thread(getattr(_sqlite_ops, name)))
    await asyncio.gather(
        store.create_job(make_job()),
        store.register_prompts("job-2", [("a", 1)]),
        store.get_job("job-1"),
    )
    await store.record_outcomes("job-1", [error("l:1", 1)])
    assert len(seen) == 1 and threading.get_ident() not in seen


_UNIVERSE = [result(f"p:{i}", i, i, 2 * i) for i in range(6)] + [
    error(f"l:{i}", i) for i in range(6, 10)
]


@settings(max_examples=40, deadline=None)
@given(
    calls=st.lists(st.lists(st.sampled_from(_UNIVERSE), max_size=8), max_size=10),
    concurrently=st.booleans(),
)
async def test_any_replay_pattern_counts_each_key_once(
    tmp_path_factory: pytest.TempPathFactory, calls: list[list[Outcome]], concurrently: bool
) -> None:
    async with SqliteJobStore(tmp_path_factory.mktemp("prop") / "jobs.db") as store:
        await store.create_job(make_job())
        if concurrently:
            counts = list(await asyncio.gather(*(store.record_outcomes("job-1", c) for c in calls)))
        else:
            counts = [await store.record_outcomes("job-1", c) for c in calls]
        job = await store.get_job("job-1")
        streamed = [o for kind in (RESULT, ERROR) async for o in store.iter_outcomes("job-1", kind)]

    distinct = {o.key: o for call in calls for o in call}
    assert job is not None
    assert sum(counts) == len(distinct)
    assert job.completed_count == sum(1 for o in distinct.values() if o.kind is RESULT)
    assert job.failed_count == sum(1 for o in distinct.values() if o.kind is ERROR)
    assert job.input_tokens == sum(o.input_tokens for o in distinct.values())
    assert job.output_tokens == sum(o.output_tokens for o in distinct.values())
    assert sorted(o.key for o in streamed) == sorted(distinct)
