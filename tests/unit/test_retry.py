"""Rerun the failures (``core.retry``): which prompts a retry picks, its refusals, its input.

A parent job is built by ingesting a real file (with input errors) on an idle embedded
runtime and recording its prompts' outcomes as the worker would; the retry is then
called as the route calls it, and the child job's input and ingest are checked.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from promptforge.core.error_codes import RETRYABLE_CODES
from promptforge.core.ingest import finalize_event_task, ingest_file
from promptforge.core.models import Job, JobStatus, Outcome, OutcomeKind
from promptforge.core.outcomes import prompt_error
from promptforge.core.requests import InitRequest, parse_small_body
from promptforge.core.retry import RetryRequest, retry_job
from promptforge.core.service import init_job
from promptforge.embedded.runtime import EmbeddedRuntime
from promptforge.errors import ApiError, BadRequest
from promptforge.settings import Settings
from tests.unit._embedded import idle_runtime

pytestmark = pytest.mark.anyio

LINES = [
    b'{"prompt_id": "ok", "prompt": "fine"}',
    b'{"prompt_id": "slow", "prompt": "timed out"}',
    b"{not json",
    b'{"prompt_id": "flaky", "messages": [{"role": "user", "content": "5xx \\u00e9"}]}',
    b'{"prompt_id": "refused", "prompt": "a provider 400"}',
    b"",
    b'{"prompt_id": "ok", "prompt": "a duplicate id"}',
    b'{"prompt_id": "stopped", "prompt": "cancelled before it ran"}',
]
"""Lines 1-8: ok, slow, invalid_json, flaky, refused, (blank), duplicate_prompt_id, stopped."""
PROMPT_ERRORS = {"slow": "timeout", "flaky": "retries_exhausted", "refused": "invalid_request"}
PROMPT_ERRORS["stopped"] = "cancelled"


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[EmbeddedRuntime]:
    settings = Settings(data_dir=tmp_path, port=0, openai_api_key="sk-test-x")
    async with idle_runtime(settings) as built:
        yield built


async def _ended_job(runtime: EmbeddedRuntime, *, end: bool = True, **init: object) -> Job:
    """A job of ``LINES``: ingested, each prompt's outcome recorded, then COMPLETED."""
    deps = runtime.deps
    request = InitRequest.model_validate({"provider": "openai", "model": "gpt-4o-mini", **init})
    created = await init_job(deps, "t", request)
    job = await deps.store.get_job(str(created["job_id"]))
    assert job is not None
    writer = await deps.blobs.open_writer(deps.blobs.input_bucket, job.upload_object)
    await writer.write(b"\r\n".join(LINES))  # CRLF and no final newline: copied all the same
    await writer.close()
    await deps.store.transition(job.job_id, JobStatus.WAITING_FOR_UPLOAD, JobStatus.PROCESSING)
    assert await ingest_file(deps, job, deps.blobs.input_bucket) == 7  # non-blank lines
    lines = {"ok": 1, "slow": 2, "flaky": 4, "refused": 5, "stopped": 8}
    outcomes = [
        prompt_error(pid, lines[pid], {"code": code, "message": "m"}, attempts=1)
        for pid, code in PROMPT_ERRORS.items()
    ]
    record = {"prompt_id": "ok", "result": "r", "model": "gpt-4o-mini", "tokens_used": 2}
    outcomes.append(Outcome(Outcome.prompt_key("ok"), OutcomeKind.RESULT, 1, record))
    await deps.store.record_outcomes(job.job_id, outcomes)
    if end:
        ended = await deps.store.transition(job.job_id, JobStatus.PROCESSING, JobStatus.COMPLETED)
        assert ended
    loaded = await deps.store.get_job(job.job_id)
    assert loaded is not None
    return loaded


async def _child_input(runtime: EmbeddedRuntime, child_id: str) -> list[dict[str, object]]:
    child = await runtime.deps.store.get_job(child_id)
    assert child is not None
    chunks = runtime.deps.blobs.read(runtime.deps.blobs.input_bucket, child.upload_object)
    data = b"".join([chunk async for chunk in chunks])
    return [json.loads(line) for line in data.splitlines()]


def test_input_errors_and_permanent_refusals_are_not_retried_by_default() -> None:
    assert {"timeout", "retries_exhausted", "cancelled"} <= RETRYABLE_CODES
    assert not {"invalid_json", "duplicate_prompt_id", "line_too_long"} & RETRYABLE_CODES
    assert not {"invalid_request", "answer_too_large"} & RETRYABLE_CODES


async def test_the_default_retry_reruns_exactly_the_retryable_prompts_from_their_lines(
    runtime: EmbeddedRuntime,
) -> None:
    parent = await _ended_job(
        runtime, max_retries=0, temperature=0.5, dedupe=True, max_schema_retries=3
    )
    created = await retry_job(runtime.deps, "t", parent.job_id, RetryRequest())
    assert created["parent_job_id"] == parent.job_id and created["status"] == "WAITING_FOR_UPLOAD"
    assert created["retried_count"] == 3
    assert created["codes"] == {"cancelled": 1, "retries_exhausted": 1, "timeout": 1}
    rows = await _child_input(runtime, created["job_id"])
    assert [row["prompt_id"] for row in rows] == ["slow", "flaky", "stopped"]
    assert rows[1]["messages"] == [{"role": "user", "content": "5xx é"}], "the original line"
    child = await runtime.deps.store.get_job(created["job_id"])
    assert child is not None and child.parent_job_id == parent.job_id
    assert (child.provider, child.model, child.params, child.max_retries, child.dedupe) == (
        parent.provider,
        parent.model,
        parent.params,
        0,
        True,
    )
    assert child.max_schema_retries == 3, "a schema_mismatch is re-run with the parent's re-asks"
    deps = runtime.deps
    stored = await deps.blobs.stat(deps.blobs.input_bucket, child.upload_object)
    assert stored is not None
    ingest = finalize_event_task(stored.bucket, stored.name, stored.generation)
    assert await deps.tasks.enqueue([ingest]) == 0, "its ingest is already queued"
    await deps.store.transition(child.job_id, JobStatus.WAITING_FOR_UPLOAD, JobStatus.PROCESSING)
    assert await ingest_file(deps, child, deps.blobs.input_bucket) == 3
    pending, _ = await runtime.deps.store.pending_prompts(child.job_id, None, 10)
    assert sorted(p.prompt_id for p in pending) == ["flaky", "slow", "stopped"]


async def test_named_codes_pick_their_prompts_even_permanent_refusals(
    runtime: EmbeddedRuntime,
) -> None:
    parent = await _ended_job(runtime)
    request = parse_small_body(RetryRequest, b'{"codes": ["invalid_request", "timeout"]}')
    created = await retry_job(runtime.deps, "t", parent.job_id, request)
    assert created["codes"] == {"invalid_request": 1, "timeout": 1}
    rows = await _child_input(runtime, created["job_id"])
    assert [row["prompt_id"] for row in rows] == ["slow", "refused"]


async def test_a_child_job_can_be_retried_in_turn(runtime: EmbeddedRuntime) -> None:
    parent = await _ended_job(runtime)
    child = await retry_job(runtime.deps, "t", parent.job_id, RetryRequest())
    with pytest.raises(ApiError) as caught:
        await retry_job(runtime.deps, "t", child["job_id"], RetryRequest())
    assert (caught.value.status, caught.value.code) == (409, "job_not_finished")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b'{"codes": ["invalid_json"]}', 400, "code_not_retryable"),
        (b'{"codes": ["duplicate_prompt_id", "timeout"]}', 400, "code_not_retryable"),
        (b'{"codes": ["no_such_code"]}', 400, "unknown_error_code"),
        (b'{"codes": ["answer_too_large"]}', 409, "nothing_to_retry"),
        (b'{"codes": ["budget_exceeded"]}', 409, "nothing_to_retry"),
    ],
)
async def test_codes_that_cannot_pick_a_prompt_are_refused_with_what_to_do(
    runtime: EmbeddedRuntime, body: bytes, status: int, code: str
) -> None:
    parent = await _ended_job(runtime)
    with pytest.raises(ApiError) as caught:
        await retry_job(runtime.deps, "t", parent.job_id, parse_small_body(RetryRequest, body))
    assert (caught.value.status, caught.value.code) == (status, code)
    if code == "unknown_error_code":
        assert "timeout (1)" in caught.value.message, "it lists the job's own codes"
        assert caught.value.details["error_codes"]["cancelled"] == 1


async def test_a_job_that_has_not_ended_or_is_not_the_callers_is_refused(
    runtime: EmbeddedRuntime,
) -> None:
    running = await _ended_job(runtime, end=False)
    with pytest.raises(ApiError) as caught:
        await retry_job(runtime.deps, "t", running.job_id, RetryRequest())
    assert (caught.value.status, caught.value.code) == (409, "job_not_finished")
    with pytest.raises(ApiError) as caught:
        await retry_job(runtime.deps, "another-tenant", running.job_id, RetryRequest())
    assert (caught.value.status, caught.value.code) == (404, "job_not_found")


async def test_a_job_without_retryable_errors_has_nothing_to_retry(
    runtime: EmbeddedRuntime,
) -> None:
    parent = await _ended_job(runtime)
    first = await retry_job(runtime.deps, "t", parent.job_id, RetryRequest(codes=["timeout"]))
    child = await runtime.deps.store.get_job(first["job_id"])
    assert child is not None
    await runtime.deps.store.transition(
        child.job_id, JobStatus.WAITING_FOR_UPLOAD, JobStatus.FAILED
    )
    with pytest.raises(ApiError) as caught:
        await retry_job(runtime.deps, "t", child.job_id, RetryRequest())
    assert (caught.value.status, caught.value.code) == (409, "nothing_to_retry")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"[]", "malformed_json"),
        (b'{"codes": []}', "invalid_field"),
        (b'{"codes": ["Not A Code"]}', "invalid_field"),
        (b'{"codes": "timeout"}', "invalid_field"),
        (b'{"max_retries": 21}', "invalid_field"),
        (b'{"retry": true}', "unknown_field"),
    ],
)
def test_a_malformed_retry_body_is_a_400_naming_the_field(body: bytes, code: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_small_body(RetryRequest, body)
    assert caught.value.code == code


def test_an_empty_retry_body_means_every_retryable_error() -> None:
    assert parse_small_body(RetryRequest, b"") == RetryRequest()
    assert parse_small_body(RetryRequest, b"  {} ") == RetryRequest()
