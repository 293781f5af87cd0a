"""The worker's job cache: fresh for a few seconds, never an ended job, bounded."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from promptforge.core.jobcache import JobCache
from promptforge.core.models import Job, JobStatus

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 11, 23, tzinfo=UTC)


class _Store:
    """Jobs by id, counting reads."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.reads = 0

    async def get_job(self, job_id: str) -> Job | None:
        self.reads += 1
        return self.jobs.get(job_id)


def _job(job_id: str, status: JobStatus = JobStatus.PROCESSING) -> Job:
    job = Job(job_id, "t", "openai", "gpt-4o-mini", 3, NOW, NOW + timedelta(minutes=15), "o")
    return replace(job, status=status)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_job_is_read_once_while_fresh_then_again() -> None:
    store, clock = _Store(), _Clock()
    store.jobs["a"] = _job("a")
    cache = JobCache(ttl=5.0, clock=clock)
    for _ in range(10):
        assert await cache.get("a", store.get_job) == store.jobs["a"]
    assert store.reads == 1
    store.jobs["a"] = _job("a", JobStatus.COMPLETED)
    clock.now = 4.9
    assert await cache.get("a", store.get_job) == _job("a")
    clock.now = 5.0
    assert await cache.get("a", store.get_job) == _job("a", JobStatus.COMPLETED)
    assert store.reads == 2


async def test_ended_and_missing_jobs_are_never_cached() -> None:
    store, clock = _Store(), _Clock()
    store.jobs["done"] = _job("done", JobStatus.FAILED)
    cache = JobCache(clock=clock)
    for _ in range(3):
        assert await cache.get("done", store.get_job) is not None
        assert await cache.get("missing", store.get_job) is None
    assert store.reads == 6


async def test_the_least_recently_used_job_leaves_first() -> None:
    store, clock = _Store(), _Clock()
    for name in "abc":
        store.jobs[name] = _job(name)
    cache = JobCache(size=2, clock=clock)
    await cache.get("a", store.get_job)
    await cache.get("b", store.get_job)
    await cache.get("a", store.get_job)  # a is now the most recent
    await cache.get("c", store.get_job)  # evicts b
    assert store.reads == 3
    await cache.get("a", store.get_job)
    assert store.reads == 3
    await cache.get("b", store.get_job)
    assert store.reads == 4
