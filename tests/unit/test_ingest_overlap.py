"""ingest_file reads the next batch while the previous one is stored: same outcome, same errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from promptforge.blobstore.base import BlobStore
from promptforge.core.ingest import ingest_file
from promptforge.core.models import Job, JobStatus, OutcomeKind
from promptforge.core.queues import ensure_control_queue, key_queues
from promptforge.core.requests import InitRequest
from promptforge.core.service import init_job
from promptforge.embedded.runtime import EmbeddedRuntime
from promptforge.settings import Settings

pytestmark = pytest.mark.anyio


class _Failing:
    """The real blob store, except that reading stops with an error after ``good`` chunks."""

    def __init__(self, blobs: BlobStore, good: int) -> None:
        self._blobs = blobs
        self._good = good

    def __getattr__(self, name: str) -> object:
        return getattr(self._blobs, name)

    async def read(self, bucket: str, name: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        served = 0
        async for chunk in self._blobs.read(bucket, name, chunk_size=1000):
            if served == self._good:
                raise OSError("disk on fire")
            served += 1
            yield chunk


async def _job_with_upload(runtime: EmbeddedRuntime, body: bytes) -> Job:
    deps = runtime.deps
    created = await init_job(deps, "t", InitRequest(provider="openai", model="gpt-4o-mini"))
    job = await deps.store.get_job(str(created["job_id"]))
    assert job is not None
    writer = await deps.blobs.open_writer(deps.blobs.input_bucket, job.upload_object)
    await writer.write(body)
    await writer.close()
    await deps.store.transition(job.job_id, JobStatus.WAITING_FOR_UPLOAD, JobStatus.PROCESSING)
    return job


async def _runtime(tmp_path: Path) -> EmbeddedRuntime:
    runtime = EmbeddedRuntime(Settings(data_dir=tmp_path, port=0, openai_api_key="sk-test-x"))
    await runtime.store.open()
    await runtime.tasks.open()
    runtime.deps.config = replace(runtime.deps.config, ingest_batch=7)
    await ensure_control_queue(runtime.deps)
    return runtime


def _lines(count: int, repeat: dict[int, int]) -> bytes:
    rows = [{"prompt_id": f"p{repeat.get(i, i)}", "prompt": f"ask {i}"} for i in range(count)]
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


async def test_many_batches_give_every_line_one_outcome_or_task(tmp_path: Path) -> None:
    runtime = await _runtime(tmp_path)
    try:
        # Line 41 repeats the id of line 3, several batches apart.
        job = await _job_with_upload(runtime, _lines(50, {40: 2}) + b"not json\n")
        deps = runtime.deps
        assert await ingest_file(deps, job, deps.blobs.input_bucket) == 51
        saved = await deps.store.get_job(job.job_id)
        errors = [o async for o in deps.store.iter_outcomes(job.job_id, OutcomeKind.ERROR)]
        queues = await key_queues(deps, job.rate_key)
        queued = [await deps.tasks.pending(name) for name in queues.names]
    finally:
        await runtime.close()
    assert saved is not None
    assert (saved.prompt_count, saved.ingest_done) == (51, True)
    assert sum(queued) == 49
    assert [(o.line, o.record["error"]["code"]) for o in errors] == [  # type: ignore[index]
        (41, "duplicate_prompt_id"),
        (51, "invalid_json"),
    ]


async def test_a_read_error_surfaces_as_itself_and_leaves_ingest_unfinished(
    tmp_path: Path,
) -> None:
    runtime = await _runtime(tmp_path)
    try:
        job = await _job_with_upload(runtime, _lines(400, {}))
        deps = runtime.deps
        deps.blobs = _Failing(deps.blobs, good=3)  # type: ignore[assignment]
        with pytest.raises(OSError, match="disk on fire"):
            await ingest_file(deps, job, deps.blobs.input_bucket)
        saved = await deps.store.get_job(job.job_id)
    finally:
        await runtime.close()
    assert saved is not None
    assert not saved.ingest_done
    assert 0 < saved.prompt_count < 400
