"""The SQLite job store on real files: round trips, compare-and-set, exactly-once outcomes."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptforge.core.models import (
    ClaimResult,
    GenerationParams,
    Job,
    JobError,
    JobStatus,
    Outcome,
    OutcomeKind,
)
from promptforge.jobstore import _sqlite_ops
from promptforge.jobstore.base import ApiKeyRecord, JobStore
from promptforge.jobstore.sqlite import SCHEMA_VERSION, SqliteJobStore
from promptforge.providers.base import CallOutcome, RateSignals
from promptforge.ratecontrol.base import Observation

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
RESULT, ERROR = OutcomeKind.RESULT, OutcomeKind.ERROR


def make_job(job_id: str = "job-1", **changes: Any) -> Job:
    """A job in WAITING_FOR_UPLOAD with defaults for everything else."""
    job = Job(
        job_id=job_id,
        tenant_id="tenant-a",
        provider="openai",
        model="gpt-4o-mini",
        max_retries=3,
        created_at=T0,
        upload_expires_at=T0 + timedelta(minutes=15),
        upload_object=f"uploads/{job_id}.jsonl",
    )
    return replace(job, **changes)


def result(key: str, line: int, tokens_in: int = 0, tokens_out: int = 0) -> Outcome:
    """A result outcome with a small record."""
    record = {"prompt_id": key, "result": f"answer {line}", "tokens_used": tokens_in + tokens_out}
    return Outcome(key, RESULT, line, record, tokens_in, tokens_out)


def error(key: str, line: int) -> Outcome:
    """An error outcome."""
    return Outcome(key, ERROR, line, {"line": line, "error": {"code": "invalid_json"}})


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteJobStore]:
    """An open store on a fresh file."""
    async with SqliteJobStore(tmp_path / "state" / "jobs.db") as opened:
        yield opened


async def test_satisfies_the_port(store: SqliteJobStore) -> None:
    port: JobStore = store  # checked by mypy; at run time the store is usable through the port
    assert await port.get_job("nope") is None


async def test_job_round_trip_of_every_field(store: SqliteJobStore) -> None:
    params = GenerationParams(
        system="be brief",
        temperature=0.25,
        max_tokens=128,
        top_p=0.9,
        stop=("\n\n", "END"),
        seed=7,
        response_format={"type": "json_object", "nested": [1, {"a": None}]},
    )
    job = make_job(
        status=JobStatus.FAILED,
        rpm=500,
        tpm=200_000,
        credential="team-key",
        params=params,
        input_generation=1_700_000_000_123_456,
        started_processing_at=T0 + timedelta(seconds=3, microseconds=1),
        completed_at=T0 + timedelta(hours=2),
        prompt_count=10,
        ingest_done=True,
        completed_count=6,
        failed_count=4,
        input_tokens=1234,
        output_tokens=5678,
        result_files=("results_part_001.jsonl", "errors.jsonl"),
        error=JobError("upload_expired", "no upload within 15 minutes — ünïcode"),
    )
    await store.create_job(job)
    await store.create_job(make_job("job-2"))

    assert await store.get_job("job-1") == job
    assert await store.get_job("job-2") == make_job("job-2")
    loaded = await store.get_job("job-1")
    assert loaded is not None and loaded.created_at.tzinfo == UTC
    assert await store.get_job("job-3") is None


async def test_create_job_rejects_existing_id_and_naive_times(store: SqliteJobStore) -> None:
    await store.create_job(make_job())
    with pytest.raises(ValueError, match="job-1"):
        await store.create_job(make_job(tenant_id="someone-else"))
    with pytest.raises(ValueError, match="naive"):
        await store.create_job(make_job("job-2", created_at=datetime(2026, 1, 1)))
    stored = await store.get_job("job-1")
    assert stored is not None and stored.tenant_id == "tenant-a"


async def test_other_time_zones_round_trip_as_the_same_instant(store: SqliteJobStore) -> None:
    paris = timezone(timedelta(hours=1))
    await store.create_job(make_job(created_at=T0.astimezone(paris)))
    loaded = await store.get_job("job-1")
    assert loaded is not None and loaded.created_at == T0 and loaded.created_at.tzinfo == UTC


async def test_transition_is_compare_and_set(store: SqliteJobStore) -> None:
    await store.create_job(make_job())
    started = T0 + timedelta(seconds=5)

    assert await store.transition(
        "job-1", JobStatus.WAITING_FOR_UPLOAD, JobStatus.PROCESSING, started_processing_at=started
    )
    # A replay of the same transition, and a transition from a status the job is not in.
    assert not await store.transition(
        "job-1", JobStatus.WAITING_FOR_UPLOAD, JobStatus.PROCESSING, started_processing_at=T0
    )
    assert not await store.transition("job-1", JobStatus.WAITING_FOR_UPLOAD, JobStatus.FAILED)
    assert not await store.transition("missing", JobStatus.PROCESSING, JobStatus.COMPLETED)

    job = await store.get_job("job-1")
    assert job is not None
    assert (job.status, job.started_processing_at) == (JobStatus.PROCESSING, started)

    files = ("results_part_001.jsonl", "errors.jsonl")
    done_at = T0 + timedelta(minutes=9)
    assert await store.transition(
        "job-1", JobStatus.PROCESSING, JobStatus.COMPLETED, completed_at=done_at, result_files=files
    )
    job = await store.get_job("job-1")
    assert job == replace(
        make_job(),
        status=JobStatus.COMPLETED,
        started_processing_at=started,
        completed_at=done_at,
        result_files=files,
    )


@pytest.mark.parametrize(
    ("expected", "target"),
    [
        (JobStatus.COMPLETED, JobStatus.PROCESSING),
        (JobStatus.WAITING_FOR_UPLOAD, JobStatus.COMPLETED),
        (JobStatus.FAILED, JobStatus.FAILED),
        (JobStatus.PROCESSING, JobStatus.WAITING_FOR_UPLOAD),
    ],
)
async def test_transition_refuses_what_the_machine_forbids(
    store: SqliteJobStore, expected: JobStatus, target: JobStatus
) -> None:
    await store.create_job(make_job(status=expected))
    with pytest.raises(ValueError, match="cannot go"):
        await store.transition("job-1", expected, target)
    job = await store.get_job("job-1")
    assert job is not None and job.status is expected


@pytest.mark.parametrize(
    "field", ["status", "completed_count", "failed_count", "input_tokens", "prompt_count", "nope"]
)
async def test_transition_refuses_fields_it_does_not_own(store: SqliteJobStore, field: str) -> None:
    await store.create_job(make_job())
    with pytest.raises(ValueError, match=field):
        await store.transition(
            "job-1", JobStatus.WAITING_FOR_UPLOAD, JobStatus.PROCESSING, **{field: 1}
        )
    job = await store.get_job("job-1")
    assert job == make_job()


async def test_transition_sets_an_error(store: SqliteJobStore) -> None:
    await store.create_job(make_job())
    failure = JobError("upload_expired", "the upload URL expired")
    assert await store.transition(
        "job-1", JobStatus.WAITING_FOR_UPLOAD, JobStatus.FAILED, error=failure, completed_at=T0
    )
    job = await store.get_job("job-1")
    assert job is not None and job.error == failure and job.completed_at == T0


async def test_update_ingest_progress_only_moves_forward(store: SqliteJobStore) -> None:
    await store.create_job(make_job())
    await store.update_ingest_progress("job-1", 500, done=False)
    await store.update_ingest_progress("job-1", 300, done=False)  # a late, replayed batch
    job = await store.get_job("job-1")
    assert job is not None and (job.prompt_count, job.ingest_done) == (500, False)

    await store.update_ingest_progress("job-1", 800, done=True)
    await store.update_ingest_progress("job-1", 700, done=False)
    job = await store.get_job("job-1")
    assert job is not None and (job.prompt_count, job.ingest_done) == (800, True)

    with pytest.raises(ValueError, match="missing"):
        await store.update_ingest_progress("missing", 1, done=True)


async def test_api_keys(store: SqliteJobStore) -> None:
    record = ApiKeyRecord("hash-1", "key-1", "tenant-a", T0)
    await store.save_api_key(record)
    await store.save_api_key(ApiKeyRecord("hash-2", "key-2", "tenant-b", T0))
    with pytest.raises(ValueError, match="key-1"):
        await store.save_api_key(record)

    assert await store.find_api_key("hash-1") == record
    assert await store.find_api_key("unknown") is None
    assert await store.revoke_api_key("key-1")
    assert not await store.revoke_api_key("key-9")
    assert await store.find_api_key("hash-1") == replace(record, revoked=True)
    assert await store.find_api_key("hash-2") == ApiKeyRecord("hash-2", "key-2", "tenant-b", T0)


async def test_register_prompts_tells_replays_from_duplicates(store: SqliteJobStore) -> None:
    first = [("a", 1), ("b", 2), ("c", 3)]
    assert await store.register_prompts("job-1", first) == [None, None, None]
    assert await store.register_prompts("job-1", first) == [None, None, None]  # replay
    # b again on a later line: a duplicate; d is new; a replayed pair in the same batch.
    assert await store.register_prompts("job-1", [("d", 4), ("b", 5), ("a", 1)]) == [None, 2, None]
    # Within one batch: e is new on line 6, then duplicated on line 8 and replayed.
    batch = [("e", 6), ("f", 7), ("e", 8), ("e", 6), ("f", 9)]
    assert await store.register_prompts("job-1", batch) == [None, None, 6, None, 7]
    # The same ids in another job are new there.
    assert await store.register_prompts("job-2", [("b", 5), ("e", 8)]) == [None, None]
    assert await store.register_prompts("job-1", []) == []


async def test_claim_and_advance_walk_every_result(store: SqliteJobStore) -> None:
    await store.create_job(make_job())
    await store.register_prompts("job-1", [("p1", 1)])
    lease = T0 + timedelta(seconds=30)
    after_lease = lease + timedelta(seconds=1)

    async def claim(generation: int, holder: str, now: datetime = T0) -> ClaimResult:
        until = now + timedelta(seconds=30)
        return await store.claim("job-1", "p1", generation, holder, until, now)

    assert await store.claim("job-1", "nope", 0, "w1", lease, T0) is ClaimResult.MISSING
    assert await claim(0, "w1") is ClaimResult.CLAIMED
    assert await claim(0, "w1") is ClaimResult.CLAIMED  # the same delivery retried
    assert await claim(0, "w2") is ClaimResult.BUSY  # a duplicate delivery, lease live
    assert await claim(0, "w2", lease) is ClaimResult.CLAIMED  # lease_until == now: expired
    assert await claim(0, "w1", lease) is ClaimResult.BUSY  # w2 holds it now

    assert await store.advance("job-1", "p1", 0)
    assert not await store.advance("job-1", "p1", 0)  # replayed advance
    assert await claim(0, "w3", after_lease) is ClaimResult.STALE
    assert await claim(1, "w4", T0) is ClaimResult.CLAIMED  # advance dropped w2's lease

    # Generation 3 arrives before the advance to it was visible: it wins and moves up.
    assert await claim(3, "w5", T0) is ClaimResult.CLAIMED
    assert not await store.advance("job-1", "p1", 1)
    assert await claim(2, "w6", after_lease) is ClaimResult.STALE
    assert await claim(3, "w7") is ClaimResult.BUSY

    assert await store.record_outcomes("job-1", [result("p:p1", 1)]) == 1
    assert await claim(3, "w5") is ClaimResult.DONE
    assert await claim(4, "w8") is ClaimResult.DONE
    assert not await store.advance("job-1", "p1", 3)


async def test_record_outcomes_counts_each_key_once(store: SqliteJobStore) -> None:
    await store.create_job(make_job())
    await store.register_prompts("job-1", [("p1", 1), ("p2", 2)])
    batch = [result("p:p1", 1, 10, 20), error("l:3", 3), result("p:p2", 2, 1, 2)]

    assert await store.record_outcomes("job-1", batch) == 3
    assert await store.record_outcomes("job-1", batch) == 0
    assert await store.record_outcomes("job-1", batch[1:]) == 0
    late = result("p:p9", 9, 5, 5)
    assert await store.record_outcomes("job-1", [late, late, batch[0], error("l:4", 4)]) == 2
    assert await store.record_outcomes("job-1", []) == 0

    job = await store.get_job("job-1")
    assert job is not None
    assert (job.completed_count, job.failed_count) == (3, 2)
    assert (job.input_tokens, job.output_tokens) == (16, 27)
    assert await store.claim("job-1", "p2", 0, "w", T0, T0) is ClaimResult.DONE

    # The first record of a key wins; a different record under the same key is ignored.
    assert await store.record_outcomes("job-1", [error("p:p1", 1)]) == 0
    records = [o async for o in store.iter_outcomes("job-1", RESULT)]
    assert records[0] == batch[0]

    with pytest.raises(ValueError, match="missing"):
        await store.record_outcomes("missing", batch)


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


async def test_observations_drain_oldest_first(store: SqliteJobStore) -> None:
    def observation(at: float, outcome: CallOutcome = CallOutcome.SUCCESS) -> Observation:
        signals = RateSignals(limit_requests=500, remaining_tokens=42, retry_after=1.5)
        return Observation(at, outcome, 10, 20, 0.3, signals)

    key_a, key_b = "openai~gpt-4o-mini~default", "gemini~flash~default"
    first = [observation(3.0), observation(1.0, CallOutcome.RATE_LIMITED)]
    await store.append_observations(key_a, first)
    await store.append_observations(key_b, [observation(2.0)])
    await store.append_observations(key_a, [observation(0.5)])
    await store.append_observations(key_a, [])

    assert await store.drain_observations(key_a) == [*first, observation(0.5)]
    assert await store.drain_observations(key_a) == []
    assert await store.drain_observations(key_b) == [observation(2.0)]


async def test_rate_state(store: SqliteJobStore) -> None:
    key = "openai~gpt-4o-mini~default"
    assert await store.load_rate_state(key) is None
    await store.save_rate_state(key, {"phase": "slow_start", "rate": 1.5, "history": [1, 2]})
    await store.save_rate_state(key, {"phase": "avoidance", "rate": 9.0})
    await store.save_rate_state("other", {"rate": 1})
    assert await store.load_rate_state(key) == {"phase": "avoidance", "rate": 9.0}


async def test_listings(store: SqliteJobStore) -> None:
    for index, (status, provider) in enumerate(
        [
            (JobStatus.PROCESSING, "openai"),
            (JobStatus.PROCESSING, "openai"),
            (JobStatus.PROCESSING, "anthropic"),
            (JobStatus.COMPLETED, "gemini"),
            (JobStatus.WAITING_FOR_UPLOAD, "mistral"),
        ]
    ):
        await store.create_job(
            make_job(
                f"job-{index}",
                status=status,
                provider=provider,
                created_at=T0 + timedelta(minutes=index),
                upload_expires_at=T0 + timedelta(minutes=15 + index),
            )
        )
    await store.create_job(make_job("other", tenant_id="tenant-b", credential="k2"))
    await store.create_job(make_job("late", tenant_id="tenant-b", status=JobStatus.PROCESSING))

    assert [j.job_id for j in await store.list_jobs("tenant-a")] == [
        "job-4", "job-3", "job-2", "job-1", "job-0",
    ]  # fmt: skip
    assert [j.job_id for j in await store.list_jobs("tenant-a", limit=2)] == ["job-4", "job-3"]
    assert await store.list_jobs("tenant-c") == []
    assert await store.list_active_rate_keys() == [
        "anthropic~gpt-4o-mini~default",
        "openai~gpt-4o-mini~default",
    ]
    assert await store.expired_waiting_jobs(T0 + timedelta(minutes=15)) == []
    assert await store.expired_waiting_jobs(T0 + timedelta(minutes=16)) == ["other"]
    assert await store.expired_waiting_jobs(T0 + timedelta(hours=1)) == ["other", "job-4"]


async def test_state_survives_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    async with SqliteJobStore(path) as first:
        await first.create_job(make_job())
        await first.register_prompts("job-1", [("p1", 1), ("p2", 2)])
        await first.record_outcomes("job-1", [result("p:p1", 1, 3, 4)])
        await first.save_rate_state("k", {"rate": 2.0})
        await first.append_observations("k", [Observation(1.0, CallOutcome.SUCCESS)])

    async with SqliteJobStore(path) as second:
        job = await second.get_job("job-1")
        assert job is not None and (job.completed_count, job.input_tokens) == (1, 3)
        assert await second.register_prompts("job-1", [("p2", 2), ("p1", 7)]) == [None, 1]
        assert await second.record_outcomes("job-1", [result("p:p1", 1, 3, 4)]) == 0
        assert await second.load_rate_state("k") == {"rate": 2.0}
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
