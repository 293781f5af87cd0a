"""The job-store contract, run on every backend: round trips, compare-and-set, exactly once."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from promptforge.core.models import ClaimResult, GenerationParams, JobError, JobStatus, Outcome
from promptforge.core.ratestate import (
    AppliedDecision,
    RateKeyState,
    Tombstone,
    update_rate_state,
)
from promptforge.jobstore.base import ApiKeyRecord, JobStore
from promptforge.providers.base import CallOutcome, RateSignals
from promptforge.ratecontrol.base import Observation
from promptforge.ratecontrol.state import Ceilings, ControllerState
from tests.contract._jobstore_data import ERROR, RESULT, T0, error, make_job, result
from tests.contract.conftest import ListingJobStore

pytestmark = pytest.mark.anyio


async def test_satisfies_the_port(store: ListingJobStore) -> None:
    port: JobStore = store  # checked by mypy; at run time the store is usable through the port
    assert await port.get_job("nope") is None


async def test_job_round_trip_of_every_field(store: ListingJobStore) -> None:
    params = GenerationParams(
        system="be brief",
        temperature=0.25,
        max_tokens=128,
        top_p=0.9,
        stop=("\n\n", "END"),
        seed=7,
        response_format={"type": "json_object", "nested": [1, {"a": None}, [2, [3]]]},
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
        name="nightly ✓",
        metadata={"team": "search", "run": "42"},
        webhook_url="https://hooks.example.com/pf",
        webhook_secret="whsec_abc",
        cancel_requested_at=T0 + timedelta(hours=1),
        parent_job_id="job-0",
        dedupe=True,
        deduplicated_count=3,
    )
    await store.create_job(job)
    await store.create_job(make_job("job-2"))

    assert await store.get_job("job-1") == job
    assert await store.get_job("job-2") == make_job("job-2")
    loaded = await store.get_job("job-1")
    assert loaded is not None and loaded.created_at.tzinfo == UTC
    assert type(loaded.created_at) is datetime
    assert await store.get_job("job-3") is None


async def test_create_job_rejects_existing_id_and_naive_times(store: ListingJobStore) -> None:
    await store.create_job(make_job())
    with pytest.raises(ValueError, match="job-1"):
        await store.create_job(make_job(tenant_id="someone-else"))
    with pytest.raises(ValueError, match="naive"):
        await store.create_job(make_job("job-2", created_at=datetime(2026, 1, 1)))
    stored = await store.get_job("job-1")
    assert stored is not None and stored.tenant_id == "tenant-a"
    assert await store.get_job("job-2") is None


async def test_other_time_zones_round_trip_as_the_same_instant(store: ListingJobStore) -> None:
    paris = timezone(timedelta(hours=1))
    await store.create_job(make_job(created_at=T0.astimezone(paris)))
    loaded = await store.get_job("job-1")
    assert loaded is not None and loaded.created_at == T0 and loaded.created_at.tzinfo == UTC


async def test_transition_is_compare_and_set(store: ListingJobStore) -> None:
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


async def test_concurrent_transitions_let_one_win(store: ListingJobStore) -> None:
    await store.create_job(make_job(status=JobStatus.PROCESSING))
    won = await asyncio.gather(
        store.transition("job-1", JobStatus.PROCESSING, JobStatus.COMPLETED, completed_at=T0),
        store.transition("job-1", JobStatus.PROCESSING, JobStatus.FAILED, completed_at=T0),
    )
    assert sorted(won) == [False, True]
    job = await store.get_job("job-1")
    expected = JobStatus.COMPLETED if won[0] else JobStatus.FAILED
    assert job is not None and job.status is expected


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
    store: ListingJobStore, expected: JobStatus, target: JobStatus
) -> None:
    await store.create_job(make_job(status=expected))
    with pytest.raises(ValueError, match="cannot go"):
        await store.transition("job-1", expected, target)
    job = await store.get_job("job-1")
    assert job is not None and job.status is expected


@pytest.mark.parametrize(
    "field", ["status", "completed_count", "failed_count", "input_tokens", "prompt_count", "nope"]
)
async def test_transition_refuses_fields_it_does_not_own(
    store: ListingJobStore, field: str
) -> None:
    await store.create_job(make_job())
    with pytest.raises(ValueError, match=field):
        await store.transition(
            "job-1", JobStatus.WAITING_FOR_UPLOAD, JobStatus.PROCESSING, **{field: 1}
        )
    job = await store.get_job("job-1")
    assert job == make_job()


async def test_transition_sets_an_error(store: ListingJobStore) -> None:
    await store.create_job(make_job())
    failure = JobError("upload_expired", "the upload URL expired")
    assert await store.transition(
        "job-1", JobStatus.WAITING_FOR_UPLOAD, JobStatus.FAILED, error=failure, completed_at=T0
    )
    job = await store.get_job("job-1")
    assert job is not None and job.error == failure and job.completed_at == T0


async def test_update_ingest_progress_only_moves_forward(store: ListingJobStore) -> None:
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


async def test_api_keys(store: ListingJobStore) -> None:
    record = ApiKeyRecord("hash-1", "key-1", "tenant-a", T0)
    await store.save_api_key(record)
    await store.save_api_key(ApiKeyRecord("hash-2", "key-2", "tenant-b", T0))
    with pytest.raises(ValueError, match="key-1"):
        await store.save_api_key(record)
    with pytest.raises(ValueError, match="key-1"):  # a new hash under a taken id
        await store.save_api_key(ApiKeyRecord("hash-3", "key-1", "tenant-c", T0))
    with pytest.raises(ValueError, match="key-4"):  # a new id with a taken hash
        await store.save_api_key(ApiKeyRecord("hash-2", "key-4", "tenant-c", T0))

    assert await store.find_api_key("hash-1") == record
    assert await store.find_api_key("hash-3") is None  # the refused record left nothing
    assert not await store.revoke_api_key("key-4")
    assert await store.find_api_key("unknown") is None
    assert await store.revoke_api_key("key-1")
    assert not await store.revoke_api_key("key-9")
    assert await store.find_api_key("hash-1") == replace(record, revoked=True)
    assert await store.find_api_key("hash-2") == ApiKeyRecord("hash-2", "key-2", "tenant-b", T0)


async def test_register_prompts_tells_replays_from_duplicates(store: ListingJobStore) -> None:
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


async def test_register_prompts_in_one_large_call(store: ListingJobStore) -> None:
    # More prompts than one Firestore commit takes, with duplicates far apart in the call.
    await store.register_prompts("job-1", [("p0005", 5), ("p1100", 1100)])
    pairs = [(f"p{i:04d}", i) for i in range(1200)]
    pairs += [("p0003", 5000), ("p1199", 5001), ("p0005", 5)]
    answers = await store.register_prompts("job-1", pairs)
    assert answers == [None] * 1200 + [3, 1199, None]
    assert await store.register_prompts("job-1", [("p0700", 9999)]) == [700]


async def test_claim_and_advance_walk_every_result(store: ListingJobStore) -> None:
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
    assert not await store.advance("job-1", "nope", 0)
    with pytest.raises(ValueError, match="naive"):
        await store.claim("job-1", "p1", 3, "w9", datetime(2026, 1, 1), T0)


async def test_an_outcome_recorded_before_its_prompt_registers(store: ListingJobStore) -> None:
    await store.create_job(make_job())
    assert await store.record_outcomes("job-1", [result("p:early", 4)]) == 1
    assert await store.claim("job-1", "early", 0, "w", T0, T0) is ClaimResult.MISSING
    assert await store.register_prompts("job-1", [("early", 4)]) == [None]
    assert await store.record_outcomes("job-1", [result("p:early", 4)]) == 0
    job = await store.get_job("job-1")
    assert job is not None and job.completed_count == 1


async def test_duplicate_deliveries_claim_and_record_once(store: ListingJobStore) -> None:
    await store.create_job(make_job())
    await store.register_prompts("job-1", [("p1", 1)])
    until = T0 + timedelta(minutes=10)
    claims = await asyncio.gather(
        store.claim("job-1", "p1", 0, "delivery-a", until, T0),
        store.claim("job-1", "p1", 0, "delivery-b", until, T0),
    )
    assert sorted(claims) == sorted([ClaimResult.CLAIMED, ClaimResult.BUSY])

    # Both deliveries called the provider anyway (say the lease had expired): one record.
    outcomes = [result("p:p1", 1, 7, 11), result("p:p1", 1, 8, 12)]
    counts = await asyncio.gather(*(store.record_outcomes("job-1", [o]) for o in outcomes))
    assert sorted(counts) == [0, 1]
    job = await store.get_job("job-1")
    assert job is not None and (job.completed_count, job.failed_count) == (1, 0)
    stored = [o async for o in store.iter_outcomes("job-1", RESULT)]
    winner = outcomes[counts.index(1)]
    assert stored == [winner]
    assert (job.input_tokens, job.output_tokens) == (winner.input_tokens, winner.output_tokens)


async def test_record_outcomes_counts_each_key_once(store: ListingJobStore) -> None:
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


async def test_counters_add_to_the_created_job_counters(store: ListingJobStore) -> None:
    await store.create_job(make_job(completed_count=2, failed_count=1, input_tokens=5))
    await store.record_outcomes("job-1", [result("p:a", 1, 1, 1), error("l:2", 2)])
    job = await store.get_job("job-1")
    assert job is not None
    assert (job.completed_count, job.failed_count, job.input_tokens) == (3, 2, 6)


async def test_schema_re_asks_are_counted_and_the_option_kept(store: ListingJobStore) -> None:
    await store.create_job(make_job(max_schema_retries=3, schema_retries=1))
    reasked = dataclasses.replace(result("p:a", 1, 4, 2), schema_retries=2)
    once = dataclasses.replace(error("p:b", 2), schema_retries=1)
    batch = [reasked, once, result("p:c", 3)]
    assert await store.record_outcomes("job-1", batch) == 3
    assert await store.record_outcomes("job-1", batch) == 0  # a replay counts nothing
    job = await store.get_job("job-1")
    assert job is not None
    assert (job.max_schema_retries, job.schema_retries) == (3, 4)


IN_FLIGHT = 100
"""Calls of one test in flight at once: as many deliveries as racing workers make, and few
enough that a loaded machine answers each within its deadline (all 1,000 at once made the
Firestore emulator queue calls past gRPC's deadline: DEADLINE_EXCEEDED at load 15)."""


async def _in_flight(calls: Iterable[Awaitable[int]]) -> list[int]:
    """Await every call, ``IN_FLIGHT`` at a time at most (always that many while any wait)."""
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one(call: Awaitable[int]) -> int:
        async with gate:
            return await call

    return await asyncio.gather(*(one(call) for call in calls))


async def test_a_thousand_outcomes_recorded_concurrently(store: ListingJobStore) -> None:
    await store.create_job(make_job(status=JobStatus.PROCESSING))
    universe = [result(f"p:{i}", i, i % 7, 1) if i % 5 else error(f"l:{i}", i) for i in range(1000)]
    counts = await _in_flight(store.record_outcomes("job-1", [o]) for o in universe)
    assert counts == [1] * 1000

    # Every one delivered again, concurrently, with a few batched replays among them.
    rng = random.Random(5)
    replays = [[o] for o in universe] + [rng.sample(universe, 50) for _ in range(4)]
    rng.shuffle(replays)  # the batched replays race the single ones, not only each other
    again = await _in_flight(store.record_outcomes("job-1", c) for c in replays)
    assert sum(again) == 0

    job = await store.get_job("job-1")
    assert job is not None
    assert job.completed_count == sum(1 for o in universe if o.kind is RESULT) == 800
    assert job.failed_count == 200
    assert job.input_tokens == sum(o.input_tokens for o in universe)
    assert job.output_tokens == 800
    assert job.accounted == len({o.key for o in await _all_outcomes(store, "job-1")}) == 1000


async def test_iter_outcomes_streams_in_line_order(store: ListingJobStore) -> None:
    await store.create_job(make_job())
    outcomes = [result(f"p:{i:05d}", i) for i in range(1200)]
    outcomes += [error(f"l:{i}", i) for i in range(0, 1200, 7)]
    outcomes.append(result("p:tie", 100))  # same line as p:00100, sorts after it by key
    outcomes.append(result("p:10", 5))  # keys compare as text: "p:10" < "p:9"
    outcomes.append(result("p:9", 5))
    random.Random(7).shuffle(outcomes)
    assert await store.record_outcomes("job-1", outcomes) == len(outcomes)

    results = [o async for o in store.iter_outcomes("job-1", RESULT)]
    expected = sorted((o for o in outcomes if o.kind is RESULT), key=lambda o: (o.line, o.key))
    assert results == expected
    assert [o.key for o in results[5:8]] == ["p:00005", "p:10", "p:9"]
    assert [o.key for o in results[102:104]] == ["p:00100", "p:tie"]

    errors = [o async for o in store.iter_outcomes("job-1", ERROR)]
    assert [o.line for o in errors] == list(range(0, 1200, 7))
    assert [o async for o in store.iter_outcomes("job-2", RESULT)] == []


async def test_iter_outcomes_reads_one_range_of_lines(store: ListingJobStore) -> None:
    """A finalize part reads lines ``[start, end)`` (``end`` None: to the last), paged."""
    await store.create_job(make_job())
    outcomes = [result(f"p:{i:03d}", i) for i in range(1, 40)]
    outcomes += [error(f"l:{i}", i) for i in (40, 41)] + [result("p:tie", 12)]
    random.Random(3).shuffle(outcomes)
    await store.record_outcomes("job-1", outcomes)

    def lines(kind: object, start: int, end: int | None) -> list[tuple[int, str]]:
        return sorted(
            (o.line, o.key)
            for o in outcomes
            if o.kind is kind and o.line >= start and (end is None or o.line < end)
        )

    for start, end in [(1, 11), (11, 13), (12, 13), (13, 40), (35, None), (40, None), (50, 60)]:
        for kind in (RESULT, ERROR):
            read = [(o.line, o.key) async for o in store.iter_outcomes("job-1", kind, (start, end))]
            assert read == lines(kind, start, end), (kind, start, end)


async def test_observations_drain_oldest_first(store: ListingJobStore) -> None:
    def observation(at: float, outcome: CallOutcome = CallOutcome.SUCCESS) -> Observation:
        signals = RateSignals(limit_requests=500, remaining_tokens=42, retry_after=1.5)
        return Observation(at, outcome, 10, 20, 0.3, signals)

    key_a, key_b = "openai~gpt-4o-mini~default", "gemini~models/flash~default"
    first = [observation(3.0), observation(1.0, CallOutcome.RATE_LIMITED)]
    await store.append_observations(key_a, first)
    await store.append_observations(key_b, [observation(2.0)])
    await store.append_observations(key_a, [observation(0.5)])
    await store.append_observations(key_a, [])

    assert await store.drain_observations(key_a) == [*first, observation(0.5)]
    assert await store.drain_observations(key_a) == []
    assert await store.drain_observations(key_b) == [observation(2.0)]


async def test_many_observations_drain_once(store: ListingJobStore) -> None:
    key = "anthropic~claude~default"
    batch = [Observation(float(i), CallOutcome.SUCCESS, i, 1) for i in range(900)]
    await store.append_observations(key, batch)
    await store.append_observations(key, [Observation(-1.0, CallOutcome.TRANSIENT)])
    assert await store.drain_observations(key) == [
        *batch,
        Observation(-1.0, CallOutcome.TRANSIENT),
    ]
    assert await store.drain_observations(key) == []


async def test_rate_state(store: ListingJobStore) -> None:
    key = "openai~gpt-4o-mini~default"
    assert await store.load_rate_state(key) is None
    controller = ControllerState(rate=1.5, updated_at=2.0, history=((1.0, 2.0), (3.0, 1.5)))
    state = RateKeyState(
        queue="pf-q",
        shards=2,
        epoch=3,
        jobs={"job-1": Ceilings(rpm=60.0), "job-2": Ceilings()},
        state=controller,
        decision=AppliedDecision(1.5, 2.0, 2.0, None, "slow_start", None, None, None, 9.0),
        idle_since=4.0,
        retired=(Tombstone("pf-old", 1, 5.0),),
    )
    assert await store.save_rate_state(key, state)
    first = await store.load_rate_state(key)
    assert first == state and first is not None and first.version == 1
    assert await store.save_rate_state(key, replace(first, epoch=4, steps=7))
    # Writes from a state read before the last save, or from no state, write nothing.
    assert not await store.save_rate_state(key, replace(first, epoch=9))
    assert not await store.save_rate_state(key, RateKeyState(queue="pf-q", epoch=1))
    assert await store.save_rate_state("other", RateKeyState())
    current = await store.load_rate_state(key)
    assert current == replace(state, epoch=4, steps=7)
    assert current is not None and current.version == 2


async def test_rate_state_updates_racing_each_other_all_land(store: ListingJobStore) -> None:
    """Ingests registering jobs at once (each a read, then a compare-and-set): none is lost."""
    key = "openai~gpt-4o-mini~default"
    jobs = [f"job-{n}" for n in range(6)]

    def register(job_id: str) -> Callable[[RateKeyState], RateKeyState]:
        def change(saved: RateKeyState) -> RateKeyState:
            return replace(saved, queue="pf-q", jobs={**saved.jobs, job_id: Ceilings()})

        return change

    updates = await asyncio.gather(*(update_rate_state(store, key, register(j)) for j in jobs))
    assert all(update.written for update in updates)
    saved = await store.load_rate_state(key)
    assert saved is not None and set(saved.jobs) == set(jobs) and saved.version == len(jobs)


async def test_listings(store: ListingJobStore) -> None:
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
    await store.record_outcomes("job-2", [result("p:x", 1), error("l:2", 2)])

    listed = await store.list_jobs("tenant-a")
    assert [j.job_id for j in listed] == ["job-4", "job-3", "job-2", "job-1", "job-0"]
    assert (listed[2].completed_count, listed[2].failed_count) == (1, 1)
    assert [j.job_id for j in await store.list_jobs("tenant-a", limit=2)] == ["job-4", "job-3"]
    assert await store.list_jobs("tenant-a", limit=0) == []
    assert await store.list_jobs("tenant-c") == []
    assert [j.job_id for j in await store.list_jobs("tenant-b")] == ["other", "late"]
    assert await store.list_active_rate_keys() == [
        "anthropic~gpt-4o-mini~default",
        "openai~gpt-4o-mini~default",
    ]
    assert await store.expired_waiting_jobs(T0 + timedelta(minutes=15)) == []
    assert await store.expired_waiting_jobs(T0 + timedelta(minutes=16)) == ["other"]
    assert await store.expired_waiting_jobs(T0 + timedelta(hours=1)) == ["other", "job-4"]


async def _all_outcomes(store: ListingJobStore, job_id: str) -> list[Outcome]:
    return [o for kind in (RESULT, ERROR) async for o in store.iter_outcomes(job_id, kind)]
