"""The job-store contract for jobs users manage: list pages, cancel requests, idempotency keys,
pending prompts — on every backend."""

from __future__ import annotations

from datetime import timedelta

import pytest

from promptforge.core.models import ClaimResult, JobStatus
from promptforge.jobstore.base import IdempotencyRecord, PendingPrompt
from tests.contract._jobstore_data import T0, make_job, result
from tests.contract.conftest import ListingJobStore

pytestmark = pytest.mark.anyio


async def test_list_pages_on_from_a_cursor(store: ListingJobStore) -> None:
    for index in range(5):
        await store.create_job(make_job(f"job-{index}", created_at=T0 + timedelta(minutes=index)))
    await store.create_job(make_job("job-2b", created_at=T0 + timedelta(minutes=2)))  # a tie
    await store.create_job(make_job("theirs", tenant_id="tenant-b"))

    ordered = [job.job_id for job in await store.list_jobs("tenant-a")]
    assert ordered == ["job-4", "job-3", "job-2b", "job-2", "job-1", "job-0"]
    pages, cursor = [], None
    while True:
        page = await store.list_jobs("tenant-a", 2, before=cursor)
        if not page:
            break
        pages.append([job.job_id for job in page])
        cursor = (page[-1].created_at, page[-1].job_id)
    assert pages == [["job-4", "job-3"], ["job-2b", "job-2"], ["job-1", "job-0"]]


async def test_request_cancel_marks_a_running_job_once(store: ListingJobStore) -> None:
    await store.create_job(make_job("run", status=JobStatus.PROCESSING))
    await store.create_job(make_job("ended", status=JobStatus.COMPLETED))
    assert await store.request_cancel("run", T0 + timedelta(seconds=5))
    assert await store.request_cancel("run", T0 + timedelta(seconds=9))  # again: still true
    job = await store.get_job("run")
    assert job is not None and job.cancel_requested_at == T0 + timedelta(seconds=5)
    assert job.cancelling
    assert not await store.request_cancel("ended", T0)
    assert not await store.request_cancel("missing", T0)
    assert await store.transition("run", JobStatus.PROCESSING, JobStatus.CANCELLED)
    assert not await store.request_cancel("run", T0)


async def test_an_idempotency_key_keeps_its_first_job_until_it_expires(
    store: ListingJobStore,
) -> None:
    first = IdempotencyRecord("tenant-a", "key-1", "hash-1", "job-1", T0 + timedelta(hours=24))
    assert await store.remember_idempotency_key(first, T0) == first
    again = IdempotencyRecord("tenant-a", "key-1", "hash-2", "job-2", T0 + timedelta(hours=25))
    assert await store.remember_idempotency_key(again, T0 + timedelta(hours=1)) == first
    other = IdempotencyRecord("tenant-b", "key-1", "hash-2", "job-3", T0 + timedelta(hours=24))
    assert await store.remember_idempotency_key(other, T0) == other  # keys are per tenant
    later = T0 + timedelta(hours=24, seconds=1)
    assert await store.remember_idempotency_key(again, later) == again  # the first expired


async def test_pending_prompts_are_those_without_an_outcome(store: ListingJobStore) -> None:
    await store.create_job(make_job(status=JobStatus.PROCESSING))
    await store.register_prompts("job-1", [("a", 1), ("b", 2), ("c", 3), ("d", 4)])
    await store.record_outcomes("job-1", [result("p:b", 2)])
    lease = T0 + timedelta(minutes=10)
    assert await store.claim("job-1", "c", 0, "w", lease, T0) is ClaimResult.CLAIMED
    assert await store.advance("job-1", "c", 0)

    for limit in (1, 2, 10):
        pending, cursor, pages = [], None, 0
        while True:
            page, cursor = await store.pending_prompts("job-1", cursor, limit)
            assert len(page) <= limit
            pending += page
            pages += 1
            if cursor is None:
                break
        assert sorted(pending, key=lambda prompt: prompt.prompt_id) == [
            PendingPrompt("a", 1, 0),
            PendingPrompt("c", 3, 1),
            PendingPrompt("d", 4, 0),
        ]
        assert pages <= 5  # four prompts: a page reads at most `limit` of them
