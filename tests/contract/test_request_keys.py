"""What ``core.dedupe`` needs of a job store, on both backends: a request key held by the
first prompt that claims it, copies counted apart, and one outcome read by its key."""

from __future__ import annotations

import asyncio

import pytest

from promptforge.core.models import Outcome, OutcomeKind
from tests.contract._jobstore_data import make_job, result
from tests.contract.conftest import ListingJobStore

pytestmark = pytest.mark.anyio


async def test_the_first_prompt_to_claim_a_request_key_holds_it(store: ListingJobStore) -> None:
    await store.create_job(make_job("job-1"))
    await store.create_job(make_job("job-2"))
    assert await store.claim_request("job-1", "k1", "p2") == "p2"
    assert await store.claim_request("job-1", "k1", "p1") == "p2"
    assert await store.claim_request("job-1", "k1", "p2") == "p2", "a replay is still the holder"
    assert await store.claim_request("job-1", "k2", "p1") == "p1"
    assert await store.claim_request("job-2", "k1", "p1") == "p1", "keys are per job"


async def test_concurrent_claims_of_one_key_agree_on_one_holder(store: ListingJobStore) -> None:
    await store.create_job(make_job())
    claimed = await asyncio.gather(*(store.claim_request("job-1", "k", f"p{i}") for i in range(8)))
    assert len(set(claimed)) == 1 and claimed[0] in {f"p{i}" for i in range(8)}


async def test_a_request_key_is_neither_a_prompt_nor_an_outcome(store: ListingJobStore) -> None:
    await store.create_job(make_job())
    await store.register_prompts("job-1", [("p1", 1)])
    await store.claim_request("job-1", "k", "p1")
    pending, _ = await store.pending_prompts("job-1", None, 10)
    assert [p.prompt_id for p in pending] == ["p1"]
    for kind in OutcomeKind:
        assert [o async for o in store.iter_outcomes("job-1", kind)] == []


async def test_waiters_of_a_request_key_are_noted_once_each(store: ListingJobStore) -> None:
    await store.create_job(make_job("job-1"))
    await store.create_job(make_job("job-2"))
    assert await store.request_waiters("job-1", "k") == []
    await store.await_request("job-1", "k", "p2", 2)
    await store.await_request("job-1", "k", "p3", 3)
    await store.await_request("job-1", "k", "p2", 2)  # a replay
    await store.await_request("job-1", "other", "p4", 4)
    await store.await_request("job-2", "k", "p5", 5)
    assert sorted(await store.request_waiters("job-1", "k")) == [("p2", 2), ("p3", 3)]
    pending, _ = await store.pending_prompts("job-1", None, 10)
    assert pending == [], "a waiter's note is not a prompt"


async def test_get_outcome_reads_one_recorded_outcome(store: ListingJobStore) -> None:
    await store.create_job(make_job())
    await store.register_prompts("job-1", [("p1", 1), ("p2", 2)])
    key = Outcome.prompt_key("p1")
    assert await store.get_outcome("job-1", key) is None
    assert await store.get_outcome("job-1", Outcome.prompt_key("p2")) is None, "registered only"
    recorded = result(key, 1, tokens_in=3, tokens_out=5)
    await store.record_outcomes("job-1", [recorded])
    assert await store.get_outcome("job-1", key) == recorded
    assert await store.get_outcome("job-2", key) is None


async def test_copies_are_counted_apart_and_once(store: ListingJobStore) -> None:
    await store.create_job(make_job())
    await store.register_prompts("job-1", [("p1", 1), ("p2", 2), ("p3", 3)])
    original = result(Outcome.prompt_key("p1"), 1, tokens_in=3, tokens_out=5)
    copy = Outcome(
        Outcome.prompt_key("p2"),
        OutcomeKind.RESULT,
        2,
        {**original.record, "prompt_id": "p2", "deduplicated_from": "p1"},
    )
    assert await store.record_outcomes("job-1", [original, copy]) == 2
    assert await store.record_outcomes("job-1", [copy]) == 0, "a replayed copy counts nothing"
    job = await store.get_job("job-1")
    assert job is not None
    assert (job.completed_count, job.deduplicated_count) == (2, 1)
    assert (job.input_tokens, job.output_tokens) == (3, 5), "a copy bills nothing"
