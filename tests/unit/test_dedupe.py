"""Pay once for duplicates (``core.dedupe``): one call per request key, a copy per prompt.

Tasks are delivered by hand to the worker of an idle embedded runtime, in the orders a
queue may deliver them, against a counting OpenAI stand-in.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from promptforge.core.dedupe import request_key
from promptforge.core.ingest import ingest_file
from promptforge.core.messages import ChatMessage
from promptforge.core.models import (
    GenerationParams,
    Job,
    JobStatus,
    LineRoute,
    Outcome,
    OutcomeKind,
)
from promptforge.core.models import PromptTask as Task
from promptforge.core.queues import key_queues
from promptforge.core.requests import InitRequest
from promptforge.core.service import init_job, job_status
from promptforge.core.worker import handle_prompt
from promptforge.embedded.runtime import EmbeddedRuntime
from promptforge.settings import Settings
from promptforge.tasks.base import Delivery
from tests.contract._jobstore_data import make_job
from tests.unit._embedded import idle_runtime

pytestmark = pytest.mark.anyio

ROWS = [
    {"prompt_id": "a", "prompt": "same question"},
    {"prompt_id": "b", "prompt": "same question"},
    {"prompt_id": "c", "prompt": "another question"},
    {"prompt_id": "d", "prompt": "same question"},
]


class _Provider:
    """An OpenAI stand-in: answers ``status``, counting calls per prompt text."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.calls: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        text = json.loads(request.content)["messages"][-1]["content"]
        self.calls.append(text)
        if self.status != 200:
            error = {"message": "bad request", "type": "invalid_request_error", "code": None}
            return httpx.Response(self.status, json={"error": error})
        choice = {"index": 0, "message": {"role": "assistant", "content": f"re: {text}"}}
        usage = {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
        body = {"id": "c", "object": "chat.completion", "model": "gpt-4o-mini", "usage": usage}
        return httpx.Response(200, json=body | {"choices": [choice | {"finish_reason": "stop"}]})


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[EmbeddedRuntime]:
    settings = Settings(data_dir=tmp_path, port=0, openai_api_key="sk-test-x")
    async with idle_runtime(settings) as built:
        yield built


async def _job(runtime: EmbeddedRuntime, *, dedupe: bool) -> Job:
    deps = runtime.deps
    request = InitRequest(provider="openai", model="gpt-4o-mini", dedupe=dedupe)
    created = await init_job(deps, "t", request)
    job = await deps.store.get_job(str(created["job_id"]))
    assert job is not None and job.dedupe is dedupe
    writer = await deps.blobs.open_writer(deps.blobs.input_bucket, job.upload_object)
    await writer.write(b"".join(json.dumps(row).encode() + b"\n" for row in ROWS))
    await writer.close()
    await deps.store.transition(job.job_id, JobStatus.WAITING_FOR_UPLOAD, JobStatus.PROCESSING)
    assert await ingest_file(deps, job, deps.blobs.input_bucket) == len(ROWS)
    loaded = await deps.store.get_job(job.job_id)
    assert loaded is not None
    return loaded


async def _deliver(
    runtime: EmbeddedRuntime, job: Job, provider: _Provider, prompt_id: str, generation: int = 0
) -> None:
    """One delivery of the prompt's task at ``generation``, answered 200 by the worker."""
    line = next(i for i, row in enumerate(ROWS, 1) if row["prompt_id"] == prompt_id)
    payload = Task(job.job_id, prompt_id, line, ROWS[line - 1]["prompt"], generation).to_dict()
    queue = (await key_queues(runtime.deps, job.rate_key)).for_prompt(prompt_id)
    runtime.deps.http = httpx.AsyncClient(transport=httpx.MockTransport(provider))
    try:
        answer = await handle_prompt(runtime.deps, Delivery(queue, "worker", "t", payload, 1))
    finally:
        await runtime.deps.http.aclose()
    assert answer.status == 200


async def _outcomes(runtime: EmbeddedRuntime, job: Job) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for kind in OutcomeKind:
        async for outcome in runtime.deps.store.iter_outcomes(job.job_id, kind):
            found[outcome.record["prompt_id"]] = outcome.record
    return found


def _task(prompt: Any = "hi", route: LineRoute | None = None) -> Task:
    return Task("j", "p", 1, prompt, route=route)


def test_the_request_key_is_what_the_provider_receives() -> None:
    job = make_job()
    same = request_key(job, _task())
    assert request_key(job, dataclasses.replace(_task(), prompt_id="q", line=9)) == same
    assert request_key(dataclasses.replace(job, max_retries=0), _task()) == same
    assert request_key(job, _task("hi ")) != same
    assert request_key(dataclasses.replace(job, model="gpt-4o"), _task()) != same
    warmer = dataclasses.replace(job, params=GenerationParams(temperature=0.7))
    assert request_key(warmer, _task()) != same
    chat = (ChatMessage("system", "be brief"), ChatMessage("user", "hi"))
    assert request_key(job, _task(chat)) != same
    assert request_key(job, _task(chat)) == request_key(job, _task(chat))
    routed = LineRoute("anthropic", "claude-haiku-4-5-20251001", {"temperature": 0.1})
    assert request_key(job, _task(route=routed)) != same


async def test_identical_requests_are_called_once_and_every_prompt_gets_its_line(
    runtime: EmbeddedRuntime,
) -> None:
    job = await _job(runtime, dedupe=True)
    provider = _Provider()
    for prompt_id in ("b", "c", "a", "d"):  # b is dispatched first: it is the one called
        await _deliver(runtime, job, provider, prompt_id)
    assert sorted(provider.calls) == ["another question", "same question"]
    outcomes = await _outcomes(runtime, job)
    assert set(outcomes) == {"a", "b", "c", "d"}
    assert outcomes["a"]["deduplicated_from"] == outcomes["d"]["deduplicated_from"] == "b"
    assert "deduplicated_from" not in outcomes["b"] and "deduplicated_from" not in outcomes["c"]
    assert outcomes["a"]["result"] == outcomes["b"]["result"] == "re: same question"
    status = await job_status(runtime.deps, await _reload(runtime, job))
    assert status["deduplicated_count"] == 2 and status["completed_count"] == 4
    assert status["input_tokens"] == 6, "two calls billed, not four"


async def test_a_copy_waits_for_a_call_whose_worker_died_and_copies_its_redelivery(
    runtime: EmbeddedRuntime,
) -> None:
    """The canonical prompt's worker died after claiming the request key, before any answer:
    its copies wait (calling nothing) and get their lines from its redelivered call."""
    job = await _job(runtime, dedupe=True)
    provider = _Provider()
    key = request_key(job, _task("same question"))
    assert await runtime.deps.store.claim_request(job.job_id, key, "a") == "a"  # then it died
    await _deliver(runtime, job, provider, "b")
    await _deliver(runtime, job, provider, "d")
    assert provider.calls == [], "a copy never calls"
    assert set(await _outcomes(runtime, job)) == set()
    queues = await key_queues(runtime.deps, job.rate_key)
    for copy in ("b", "d"):
        assert await runtime.deps.tasks.pending(queues.for_prompt(copy, 1)) >= 1, "it comes back"
    await _deliver(runtime, job, provider, "a")  # the dead worker's task, delivered again
    written = await _outcomes(runtime, job)
    assert written["b"]["deduplicated_from"] == "a", "the canonical worker wrote its waiters'"
    await _deliver(runtime, job, provider, "b", generation=1)
    await _deliver(runtime, job, provider, "d", generation=1)
    await _deliver(runtime, job, provider, "d", generation=1)  # at least once: a replay
    outcomes = await _outcomes(runtime, job)
    assert provider.calls == ["same question"]
    assert outcomes["b"]["deduplicated_from"] == outcomes["d"]["deduplicated_from"] == "a"
    assert (await _reload(runtime, job)).deduplicated_count == 2


async def test_copies_a_canonical_worker_died_before_writing_are_written_by_their_tasks(
    runtime: EmbeddedRuntime,
) -> None:
    job = await _job(runtime, dedupe=True)
    provider = _Provider()
    key = request_key(job, _task("same question"))
    assert await runtime.deps.store.claim_request(job.job_id, key, "a") == "a"
    await _deliver(runtime, job, provider, "b")  # waits: noted as a waiter of the key
    assert await runtime.deps.store.request_waiters(job.job_id, key) == [("b", 2)]
    answer = {"prompt_id": "a", "result": "re: same question", "tokens_used": 7}
    canonical = Outcome(Outcome.prompt_key("a"), OutcomeKind.RESULT, 1, answer, 3, 4)
    await runtime.deps.store.record_outcomes(job.job_id, [canonical])  # then a's worker died
    assert "b" not in await _outcomes(runtime, job)
    await _deliver(runtime, job, provider, "b", generation=1)
    await _deliver(runtime, job, provider, "d")
    outcomes = await _outcomes(runtime, job)
    assert outcomes["b"]["deduplicated_from"] == outcomes["d"]["deduplicated_from"] == "a"
    assert outcomes["b"]["result"] == "re: same question" and provider.calls == []
    assert outcomes["b"]["tokens_used"] == 0, "a copy cost no call: its line counts no tokens"


async def test_a_failed_call_fails_its_copies_with_the_same_error(
    runtime: EmbeddedRuntime,
) -> None:
    job = await _job(runtime, dedupe=True)
    provider = _Provider(status=400)
    for prompt_id in ("a", "b", "d"):
        await _deliver(runtime, job, provider, prompt_id)
    assert provider.calls == ["same question"]
    outcomes = await _outcomes(runtime, job)
    codes = {pid: outcomes[pid]["error"]["code"] for pid in ("a", "b", "d")}
    assert len(set(codes.values())) == 1
    assert outcomes["b"]["line"] == 2 and outcomes["d"]["line"] == 4
    assert outcomes["b"]["deduplicated_from"] == "a"
    assert (await _reload(runtime, job)).failed_count == 3


async def test_without_dedupe_every_prompt_is_called(runtime: EmbeddedRuntime) -> None:
    job = await _job(runtime, dedupe=False)
    provider = _Provider()
    for row in ROWS:
        await _deliver(runtime, job, provider, row["prompt_id"])
    assert len(provider.calls) == len(ROWS)
    assert all("deduplicated_from" not in r for r in (await _outcomes(runtime, job)).values())
    assert (await _reload(runtime, job)).deduplicated_count == 0


async def _reload(runtime: EmbeddedRuntime, job: Job) -> Job:
    loaded = await runtime.deps.store.get_job(job.job_id)
    assert loaded is not None
    return loaded
