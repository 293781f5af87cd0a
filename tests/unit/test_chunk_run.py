"""A chunk run on its record (``core.chunk_run``), against a chunk store kept in memory
over the embedded SQLite store: one claim per chunk, handoffs, a retried checkpoint, the
lease given back. The Firestore store's own records: ``tests/gcp/test_firestore_chunks.py``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import anyio
import httpx
import pytest

from promptforge.core.cancel import handle_cancel
from promptforge.core.chunk_records import (
    CHUNK_GENERATION,
    Checkpoint,
    ChunkRecord,
    ChunkSpec,
    chunk_store,
    claim_chunk,
    plan_checkpoint,
)
from promptforge.core.chunk_run import CHECKPOINT_BYTES
from promptforge.core.chunk_tasks import spec_task
from promptforge.core.chunks import handle_chunk
from promptforge.core.claims import PromptLease
from promptforge.core.deps import CONTROL_QUEUE
from promptforge.core.ingest import ingest_file
from promptforge.core.jobcache import JobCache
from promptforge.core.models import ClaimResult, Job, JobStatus, Outcome, OutcomeKind
from promptforge.core.queues import key_queues
from promptforge.core.requests import InitRequest
from promptforge.core.service import init_job
from promptforge.core.tasknames import TaskTarget
from promptforge.embedded.runtime import EmbeddedRuntime
from promptforge.jobstore.base import JobStore
from promptforge.jobstore.sqlite import SqliteJobStore
from promptforge.settings import Settings
from promptforge.tasks.base import Delivery
from tests.chat_answers import chat_completion
from tests.unit._embedded import idle_runtime

pytestmark = pytest.mark.anyio

PROMPTS = 25
RATE = 100.0  # calls a second the chunk paces itself at (the key's initial rate here)


class _RecordedSqlite:
    """The SQLite store with chunk records kept in memory, by the core's rules."""

    def __init__(self, inner: SqliteJobStore) -> None:
        self._inner = inner
        self.records: dict[str, ChunkRecord] = {}
        self.checkpoints = 0
        self.largest: list[int] = []  # bytes of answers per checkpoint written

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def register_chunk_prompts(
        self, job_id: str, prompts: Sequence[tuple[str, int]]
    ) -> list[int | None]:
        return await self._inner.register_prompts(job_id, prompts)

    async def create_chunks(self, job_id: str, specs: Sequence[ChunkSpec]) -> int:
        new = [spec for spec in specs if spec.chunk_id not in self.records]
        for spec in new:
            self.records[spec.chunk_id] = _fresh(spec)
        return len(new)

    async def claim_chunk(
        self, job_id: str, chunk_id: str, holder: str, lease_until: datetime, now: datetime
    ) -> tuple[ClaimResult, ChunkRecord | None]:
        record = self.records.get(chunk_id)
        answer = claim_chunk(record, holder=holder, now=now)
        if record is not None and answer is ClaimResult.CLAIMED:
            lease = PromptLease(CHUNK_GENERATION, holder, lease_until, False)
            self.records[chunk_id] = replace(record, lease=lease)
        return answer, record

    async def get_chunk(self, job_id: str, chunk_id: str) -> ChunkRecord | None:
        return self.records.get(chunk_id)

    async def write_checkpoint(
        self,
        job_id: str,
        chunk_id: str,
        outcomes: Sequence[Outcome],
        handoffs: Sequence[ChunkSpec],
    ) -> Checkpoint:
        record = self.records[chunk_id]
        plan = plan_checkpoint(record, outcomes, handoffs)
        if plan.empty:
            return plan
        self.checkpoints += 1
        self.largest.append(sum(len(json.dumps(o.record)) for o in plan.fresh))
        await self._inner.record_outcomes(job_id, plan.fresh)
        for child in plan.children:
            self.records[child.chunk_id] = _fresh(child)
        written = record.sets_written + len(plan.sets)
        self.records[chunk_id] = replace(record, settled=plan.settled, sets_written=written)
        return plan

    async def chunks_not_done(
        self, job_id: str, after: str | None, limit: int
    ) -> tuple[list[ChunkRecord], str | None]:
        return [r for r in self.records.values() if not r.done], None


def _fresh(spec: ChunkSpec) -> ChunkRecord:
    return ChunkRecord(spec, PromptLease(CHUNK_GENERATION, None, None, False))


class _Provider:
    """An OpenAI stand-in: answers each prompt with its text; ``refuse`` texts get one 429."""

    def __init__(self, refuse: Sequence[str] = (), padding: int = 0) -> None:
        self.calls: dict[str, int] = {}
        self.refuse = set(refuse)
        self.padding = "x" * padding
        self.fifth = anyio.Event()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        text = json.loads(request.content)["messages"][-1]["content"]
        self.calls[text] = self.calls.get(text, 0) + 1
        if len(self.calls) == 5:
            self.fifth.set()
        if text in self.refuse:
            self.refuse.discard(text)
            return httpx.Response(429, json={"error": {"message": "slow down"}})
        return chat_completion(f"re: {text}{self.padding}")


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[EmbeddedRuntime]:
    settings = Settings(
        data_dir=tmp_path,
        port=0,
        openai_api_key="sk-test-x",
        chunk_prompts=PROMPTS,
        initial_rate=RATE,
    )
    async with idle_runtime(settings) as built:
        built.deps.store = cast(JobStore, _RecordedSqlite(built.store))
        yield built


def _store(runtime: EmbeddedRuntime) -> _RecordedSqlite:
    return cast(_RecordedSqlite, runtime.deps.store)


async def _job(runtime: EmbeddedRuntime) -> Job:
    deps = runtime.deps
    created = await init_job(deps, "t", InitRequest(provider="openai", model="gpt-4o-mini"))
    job = await deps.store.get_job(str(created["job_id"]))
    assert job is not None
    writer = await deps.blobs.open_writer(deps.blobs.input_bucket, job.upload_object)
    for i in range(PROMPTS):
        await writer.write(json.dumps({"prompt_id": f"p{i}", "prompt": f"ask {i}"}).encode())
        await writer.write(b"\n")
    await writer.close()
    await deps.store.transition(job.job_id, JobStatus.WAITING_FOR_UPLOAD, JobStatus.PROCESSING)
    assert await ingest_file(deps, job, deps.blobs.input_bucket) == PROMPTS
    return job


async def _deliver(runtime: EmbeddedRuntime, spec: ChunkSpec, provider: _Provider) -> int:
    deps = runtime.deps
    deps.http = httpx.AsyncClient(transport=httpx.MockTransport(provider))
    task = spec_task(spec)
    try:
        delivery = Delivery(spec.queue, TaskTarget.CHUNK, spec.chunk_id, task.payload, 1)
        answer = await handle_chunk(deps, delivery)
    finally:
        await deps.http.aclose()
    return answer.status


async def _results(runtime: EmbeddedRuntime, job: Job) -> list[Outcome]:
    return [o async for o in runtime.deps.store.iter_outcomes(job.job_id, OutcomeKind.RESULT)]


async def test_ingest_creates_the_record_and_one_claim_runs_the_chunk_once(
    runtime: EmbeddedRuntime,
) -> None:
    assert chunk_store(runtime.deps.store) is not None
    job = await _job(runtime)
    (spec,) = [record.spec for record in _store(runtime).records.values()]
    queue = (await key_queues(runtime.deps, job.rate_key)).base
    assert await runtime.deps.tasks.pending(queue) == 1, "the record's task, by its name"
    provider = _Provider()
    assert await _deliver(runtime, spec, provider) == 200
    assert sorted(provider.calls.values()) == [1] * PROMPTS
    assert len(await _results(runtime, job)) == PROMPTS
    assert _store(runtime).checkpoints == 3  # 10, 10 and the last 5
    assert await _deliver(runtime, spec, provider) == 200, "DONE: nothing is called again"
    assert sorted(provider.calls.values()) == [1] * PROMPTS


async def test_large_answers_are_written_in_smaller_checkpoints(
    runtime: EmbeddedRuntime,
) -> None:
    job = await _job(runtime)
    store = _store(runtime)
    (spec,) = [record.spec for record in store.records.values()]
    provider = _Provider(padding=700_000)  # three answers pass CHECKPOINT_BYTES
    assert await _deliver(runtime, spec, provider) == 200
    assert len(await _results(runtime, job)) == PROMPTS
    assert max(store.largest) <= CHECKPOINT_BYTES, "one commit must stay small"
    assert store.checkpoints >= -(-PROMPTS // 3)


async def test_a_rate_limited_prompt_is_handed_on_to_a_chunk_of_its_own(
    runtime: EmbeddedRuntime,
) -> None:
    job = await _job(runtime)
    store = _store(runtime)
    (spec,) = [record.spec for record in store.records.values()]
    queue = spec.queue
    provider = _Provider(refuse=["ask 3"])
    assert await _deliver(runtime, spec, provider) == 200
    parent = store.records[spec.chunk_id]
    (child_id,) = parent.handed_to()
    assert parent.done and parent.settled["p3"] == f"h:{child_id}"
    child = store.records[child_id].spec
    assert [(t.prompt_id, t.generation) for t in child.tasks] == [("p3", 1)]
    assert await runtime.deps.tasks.pending(queue) == 2, "the chunk's and its child's task"
    assert len(await _results(runtime, job)) == PROMPTS - 1
    # A redelivery of the parent calls nothing and leaves the child to its own task.
    assert await _deliver(runtime, spec, provider) == 200
    assert await _deliver(runtime, child, provider) == 200
    assert provider.calls["ask 3"] == 2 and sum(provider.calls.values()) == PROMPTS + 1
    results = await _results(runtime, job)
    assert sorted(o.key for o in results) == sorted(f"p:p{i}" for i in range(PROMPTS))
    done = await runtime.deps.store.get_job(job.job_id)
    assert done is not None and done.completed_count == PROMPTS and done.ready_to_finalize


async def test_a_checkpoint_retried_after_it_committed_still_enqueues_its_handoff(
    runtime: EmbeddedRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = await _job(runtime)
    store = _store(runtime)
    (spec,) = [record.spec for record in store.records.values()]
    write = store.write_checkpoint
    lost_answers: list[int] = []

    async def answer_lost(
        job_id: str, chunk_id: str, outcomes: Sequence[Outcome], handoffs: Sequence[ChunkSpec]
    ) -> Checkpoint:
        written = await write(job_id, chunk_id, outcomes, handoffs)
        if written.children and not lost_answers:
            lost_answers.append(len(written.children))
            raise ConnectionError("the commit's answer was lost")  # it committed all the same
        return written

    monkeypatch.setattr(store, "write_checkpoint", answer_lost)
    provider = _Provider(refuse=["ask 7"])
    assert await _deliver(runtime, spec, provider) == 200
    assert lost_answers == [1]
    (child_id,) = store.records[spec.chunk_id].handed_to()
    assert await runtime.deps.tasks.pending(spec.queue) == 2, "the child was enqueued anyway"
    assert await _deliver(runtime, store.records[child_id].spec, provider) == 200
    assert len(await _results(runtime, job)) == PROMPTS


async def test_a_chunk_busy_elsewhere_comes_back_and_a_cancelled_run_gives_its_lease_back(
    runtime: EmbeddedRuntime,
) -> None:
    job = await _job(runtime)
    store = _store(runtime)
    (spec,) = [record.spec for record in store.records.values()]
    now = runtime.deps.clock.now()
    later = now + timedelta(minutes=5)
    assert (await store.claim_chunk(job.job_id, spec.chunk_id, "other", later, now))[0] is (
        ClaimResult.CLAIMED
    )
    provider = _Provider()
    assert await _deliver(runtime, spec, provider) == 409, "another delivery holds the chunk"
    assert not provider.calls
    store.records[spec.chunk_id] = _fresh(spec)  # that holder gave it back

    runtime.deps.jobs = JobCache(ttl=0.0)  # see the cancel at the next prompt

    async def cancel_after_five() -> None:
        await provider.fifth.wait()
        assert await runtime.deps.store.request_cancel(job.job_id, runtime.deps.clock.now())

    async with anyio.create_task_group() as group:
        group.start_soon(cancel_after_five)
        assert await _deliver(runtime, spec, provider) == 200
    assert 5 <= len(provider.calls) <= 7, "calls went on after the cancel"
    assert len(await _results(runtime, job)) == len(provider.calls)
    now = runtime.deps.clock.now()
    swept, record = await store.claim_chunk(job.job_id, spec.chunk_id, "sweep", later, now)
    assert swept is ClaimResult.CLAIMED, "the run released its lease for the cancel sweep"
    assert record is not None and len(record.unsettled()) == PROMPTS - len(provider.calls)


async def test_the_cancel_sweep_settles_unstarted_chunks_even_if_their_task_stays(
    runtime: EmbeddedRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = await _job(runtime)
    store = _store(runtime)
    (spec,) = [record.spec for record in store.records.values()]
    assert await runtime.deps.store.request_cancel(job.job_id, runtime.deps.clock.now())

    async def no_delete(queue: str, names: Sequence[str]) -> int:
        raise RuntimeError("this queue cannot delete tasks (the Cloud Tasks emulator)")

    monkeypatch.setattr(runtime.deps.tasks, "delete", no_delete)
    payload = {"job_id": job.job_id, "round": 0}
    answer = await handle_cancel(
        runtime.deps, Delivery(CONTROL_QUEUE, TaskTarget.CANCEL, "c", payload, 1)
    )
    assert answer.status == 200
    assert store.records[spec.chunk_id].done
    errors = [o async for o in runtime.deps.store.iter_outcomes(job.job_id, OutcomeKind.ERROR)]
    assert sorted(o.record["error"]["code"] for o in errors) == ["cancelled"] * PROMPTS
    provider = _Provider()
    assert await _deliver(runtime, spec, provider) == 200 and not provider.calls  # left behind
