"""Chunk tasks on the embedded stores: one task, many prompts, each claimed and called once.

``core.chunks`` runs the one-prompt unit for each prompt of a chunk; these tests drive
``handle_chunk`` by hand against SQLite and an httpx stand-in for the provider.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path

import anyio
import httpx
import pytest

from promptforge.core import chunk_pacing
from promptforge.core.chunk_tasks import chunk_task, chunk_tasks
from promptforge.core.chunks import CHECKPOINT_ANSWERS, handle_chunk
from promptforge.core.ingest import ingest_file
from promptforge.core.jobcache import JobCache
from promptforge.core.models import ClaimResult, Job, JobStatus, Outcome, OutcomeKind, PromptTask
from promptforge.core.queues import key_queues
from promptforge.core.requests import InitRequest
from promptforge.core.service import init_job
from promptforge.core.tasknames import TaskTarget
from promptforge.embedded.runtime import EmbeddedRuntime
from promptforge.settings import Settings
from promptforge.tasks.base import Delivery
from tests.chat_answers import chat_completion
from tests.unit._embedded import idle_runtime

pytestmark = pytest.mark.anyio

PROMPTS = 25
RATE = 50.0  # calls a second the chunk paces itself at (the key's initial rate here)


class _Provider:
    """An OpenAI stand-in: counts calls per prompt text, answers each with its text."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.fifth = anyio.Event()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        text = json.loads(request.content)["messages"][-1]["content"]
        self.calls[text] = self.calls.get(text, 0) + 1
        if len(self.calls) == 5:
            self.fifth.set()
        return chat_completion(f"re: {text}")


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
        yield built


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


def _prompts(job: Job, indexes: Sequence[int] = range(PROMPTS)) -> list[PromptTask]:
    return [PromptTask(job.job_id, f"p{i}", i + 1, f"ask {i}") for i in indexes]


async def _deliver(runtime: EmbeddedRuntime, job: Job, provider: _Provider) -> int:
    deps = runtime.deps
    deps.http = httpx.AsyncClient(transport=httpx.MockTransport(provider))
    queue = (await key_queues(deps, job.rate_key)).base
    task = chunk_task(queue, _prompts(job))
    try:
        answer = await handle_chunk(deps, Delivery(queue, TaskTarget.CHUNK, "k", task.payload, 1))
    finally:
        await deps.http.aclose()
    return answer.status


async def _results(runtime: EmbeddedRuntime, job: Job) -> list[Outcome]:
    return [o async for o in runtime.deps.store.iter_outcomes(job.job_id, OutcomeKind.RESULT)]


async def test_ingest_enqueues_one_chunk_and_it_calls_each_prompt_once_in_few_writes(
    runtime: EmbeddedRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = await _job(runtime)
    queue = (await key_queues(runtime.deps, job.rate_key)).base
    assert await runtime.deps.tasks.pending(queue) == 1, "25 prompts, one chunk task"
    writes: list[int] = []
    record = runtime.deps.store.record_outcomes

    async def counted(job_id: str, outcomes: Sequence[Outcome]) -> int:
        writes.append(len(outcomes))
        return await record(job_id, outcomes)

    monkeypatch.setattr(runtime.deps.store, "record_outcomes", counted)
    provider = _Provider()
    started = time.monotonic()
    assert await _deliver(runtime, job, provider) == 200
    took = time.monotonic() - started
    assert sorted(provider.calls.values()) == [1] * PROMPTS
    assert len(await _results(runtime, job)) == PROMPTS
    assert writes and max(writes) <= CHECKPOINT_ANSWERS and sum(writes) == PROMPTS
    assert len(writes) <= -(-PROMPTS // CHECKPOINT_ANSWERS) + 1  # a checkpoint per 10, the rest
    assert took >= (PROMPTS - 1) / RATE * 0.9, "the calls were not paced at the key's rate"
    done = await runtime.deps.store.get_job(job.job_id)
    assert done is not None and done.completed_count == PROMPTS and done.ready_to_finalize

    # Delivered again (at least once): every prompt is FINISHED at its claim, none is called.
    assert await _deliver(runtime, job, provider) == 200
    assert sorted(provider.calls.values()) == [1] * PROMPTS


async def test_a_prompt_another_delivery_holds_makes_the_chunk_come_back(
    runtime: EmbeddedRuntime,
) -> None:
    job = await _job(runtime)
    now = runtime.deps.clock.now()
    held = await runtime.deps.store.claim(
        job.job_id, "p3", 0, "other-holder", now + timedelta(minutes=5), now
    )
    assert held is ClaimResult.CLAIMED
    provider = _Provider()
    assert await _deliver(runtime, job, provider) == 409, "p3 is BUSY: try the chunk again"
    assert "ask 3" not in provider.calls and len(provider.calls) == PROMPTS - 1
    assert len(await _results(runtime, job)) == PROMPTS - 1


async def test_a_chunk_out_of_time_passes_the_rest_on_as_the_next_chunk(
    runtime: EmbeddedRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = await _job(runtime)
    monkeypatch.setattr(chunk_pacing, "CHUNK_BUDGET_SECONDS", 5 / RATE)  # about 5 calls' worth
    provider = _Provider()
    queue = (await key_queues(runtime.deps, job.rate_key)).base
    before = await runtime.deps.tasks.pending(queue)
    assert await _deliver(runtime, job, provider) == 200
    called = len(provider.calls)
    assert 1 <= called < PROMPTS
    assert await runtime.deps.tasks.pending(queue) == before + 1, "the rest, as one chunk"
    assert len(await _results(runtime, job)) == called


def test_chunks_keep_each_queues_prompts_in_order_and_under_the_size() -> None:
    prompts = [PromptTask("j", f"p{i}", i + 1, "x" * 10) for i in range(7)]
    routed = [("q-a" if i % 3 else "q-b", prompt) for i, prompt in enumerate(prompts)]
    tasks = chunk_tasks(routed, 2)
    assert [(t.queue, [p["prompt_id"] for p in t.payload["prompts"]]) for t in tasks] == [
        ("q-b", ["p0", "p3"]),
        ("q-b", ["p6"]),
        ("q-a", ["p1", "p2"]),
        ("q-a", ["p4", "p5"]),
    ]
    assert len({t.name for t in tasks}) == len(tasks)
    assert chunk_tasks(routed, 2)[0].name == tasks[0].name, "a replayed ingest names them alike"


async def test_a_job_cancelled_mid_chunk_starts_no_more_calls(runtime: EmbeddedRuntime) -> None:
    job = await _job(runtime)
    runtime.deps.jobs = JobCache(ttl=0.0)  # see the cancel at the next prompt
    provider = _Provider()

    async def cancel_after_five() -> None:
        await provider.fifth.wait()
        assert await runtime.deps.store.request_cancel(job.job_id, runtime.deps.clock.now())

    async with anyio.create_task_group() as group:
        group.start_soon(cancel_after_five)
        assert await _deliver(runtime, job, provider) == 200
    assert 5 <= len(provider.calls) <= 7, "calls went on after the cancel"
    assert len(await _results(runtime, job)) == len(provider.calls)


async def test_a_store_error_on_one_prompt_lets_the_others_finish_then_fails_the_chunk(
    runtime: EmbeddedRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = await _job(runtime)
    claim = runtime.deps.store.claim

    async def failing(job_id: str, prompt_id: str, *args: object) -> ClaimResult:
        if prompt_id == "p3":
            raise ConnectionError("the store is unreachable")
        return await claim(job_id, prompt_id, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(runtime.deps.store, "claim", failing)
    provider = _Provider()
    with pytest.raises(ConnectionError):  # the delivery fails: the queue delivers it again
        await _deliver(runtime, job, provider)
    assert "ask 3" not in provider.calls
    assert sorted(provider.calls.values()) == [1] * (PROMPTS - 1), "no sibling was cut off"
    assert len(await _results(runtime, job)) == PROMPTS - 1, "and every answer is recorded"
