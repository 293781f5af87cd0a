"""What a task's answer tells the queue, and answers too large to store.

Cloud Tasks reads a 429 or 503 from a handler as "back the whole queue off" (and
honours its Retry-After), on top of the configured rate. So no handler may answer
either for something that concerns one task: a provider's refusal is re-enqueued by
the worker (answer 200), and a finalize that comes too early asks for a task retry with
409 (the control queue also carries every controller tick). An answer too large to
store is recorded as the prompt's ``answer_too_large`` error after one call.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from promptforge.core.finalize import handle_finalize
from promptforge.core.ingest import ingest_file
from promptforge.core.models import Job, JobStatus, OutcomeKind
from promptforge.core.outcomes import MAX_OUTCOME_BYTES
from promptforge.core.queues import key_queues
from promptforge.core.requests import InitRequest
from promptforge.core.service import init_job
from promptforge.core.worker import handle_prompt
from promptforge.embedded.runtime import EmbeddedRuntime
from promptforge.settings import Settings
from promptforge.tasks.base import Delivery
from tests.chat_answers import chat_completion
from tests.unit._embedded import idle_runtime

pytestmark = pytest.mark.anyio

QUEUE_THROTTLES = (429, 503)


class _Provider:
    """An OpenAI stand-in answering each call with ``status`` (and ``text`` on a 200)."""

    def __init__(self, status: int, text: str = "ok") -> None:
        self.status, self.text, self.calls = status, text, 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.status != 200:
            body = {"error": {"message": "refused", "type": "requests", "code": None}}
            return httpx.Response(self.status, json=body, headers={"retry-after": "1"})
        return chat_completion(self.text, completion_tokens=250_000)


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[EmbeddedRuntime]:
    settings = Settings(data_dir=tmp_path, port=0, openai_api_key="sk-test-x")
    async with idle_runtime(settings) as built:
        yield built


async def _one_prompt_job(runtime: EmbeddedRuntime) -> Job:
    deps = runtime.deps
    created = await init_job(deps, "t", InitRequest(provider="openai", model="gpt-4o-mini"))
    job = await deps.store.get_job(str(created["job_id"]))
    assert job is not None
    writer = await deps.blobs.open_writer(deps.blobs.input_bucket, job.upload_object)
    await writer.write(json.dumps({"prompt_id": "p0", "prompt": "ask"}).encode() + b"\n")
    await writer.close()
    await deps.store.transition(job.job_id, JobStatus.WAITING_FOR_UPLOAD, JobStatus.PROCESSING)
    assert await ingest_file(deps, job, deps.blobs.input_bucket) == 1
    return job


async def _deliver(runtime: EmbeddedRuntime, job: Job, provider: _Provider) -> int:
    runtime.deps.http = httpx.AsyncClient(transport=httpx.MockTransport(provider))
    queue = (await key_queues(runtime.deps, job.rate_key)).for_prompt("p0")
    payload = {"job_id": job.job_id, "prompt_id": "p0", "line": 1, "prompt": "ask"}
    payload |= {"generation": 0, "attempt": 0}
    try:
        answer = await handle_prompt(runtime.deps, Delivery(queue, "worker", "t0", payload, 1))
    finally:
        await runtime.deps.http.aclose()
    return answer.status


@pytest.mark.parametrize("provider_status", [429, 503, 500, 529])
async def test_a_providers_refusal_never_throttles_the_queue(
    runtime: EmbeddedRuntime, provider_status: int
) -> None:
    job = await _one_prompt_job(runtime)
    provider = _Provider(provider_status)
    status = await _deliver(runtime, job, provider)
    assert provider.calls == 1
    assert status == 200, "re-enqueued by the worker: the queue has nothing to retry"
    queues = await key_queues(runtime.deps, job.rate_key)
    assert await runtime.deps.tasks.pending(queues.for_prompt("p0", 1)) >= 1


async def test_an_early_finalize_asks_for_a_task_retry_not_a_queue_backoff(
    runtime: EmbeddedRuntime,
) -> None:
    job = await _one_prompt_job(runtime)  # one prompt, no outcome yet: not ready
    delivery = Delivery("pf-control", "finalize", "f", {"job_id": job.job_id}, 1)
    answer = await handle_finalize(runtime.deps, delivery)
    assert not answer.ok, "the job is not ready: the task must come back"
    assert answer.status not in QUEUE_THROTTLES and answer.retry_after is None
    assert answer.status == 409


async def test_an_answer_too_large_to_store_is_one_call_and_one_error(
    runtime: EmbeddedRuntime,
) -> None:
    job = await _one_prompt_job(runtime)
    provider = _Provider(200, text="x" * (MAX_OUTCOME_BYTES + 1))
    assert await _deliver(runtime, job, provider) == 200
    redelivered = await _deliver(runtime, job, provider)  # Cloud Tasks delivers at least once
    assert redelivered == 200 and provider.calls == 1
    errors = [o async for o in runtime.deps.store.iter_outcomes(job.job_id, OutcomeKind.ERROR)]
    results = [o async for o in runtime.deps.store.iter_outcomes(job.job_id, OutcomeKind.RESULT)]
    assert results == [] and [e.record["error"]["code"] for e in errors] == ["answer_too_large"]
    assert len(json.dumps(errors[0].record)) < 10_000
    done = await runtime.deps.store.get_job(job.job_id)
    assert done is not None and done.failed_count == 1 and done.output_tokens == 250_000
    assert done.ready_to_finalize


def test_no_task_handler_answers_a_queue_throttle() -> None:
    """Every HandlerResult the library builds: none is a literal 429 or 503."""
    import ast
    from pathlib import Path

    import promptforge

    library = Path(promptforge.__file__).parent
    found = []
    for path in sorted(library.rglob("*.py")):
        if path.parts[len(library.parts)] in ("sim", "bench", "devstack"):
            continue  # the provider simulator answers 429s on purpose; not task handlers
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", None)) == "HandlerResult"
            ):
                status = node.args[0] if node.args else None
                status = next((k.value for k in node.keywords if k.arg == "status"), status)
                if isinstance(status, ast.Constant) and status.value in QUEUE_THROTTLES:
                    found.append(f"{path.relative_to(library)}:{node.lineno}")
    assert found == []
