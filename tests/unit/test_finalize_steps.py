"""The fanned-out finalize executed over the embedded stores (SQLite, local files).

Tasks go to a queue that keeps a name once, as Cloud Tasks does, and that the test
drains by hand: a job of several parts downloads byte for byte what one sequential pass
over its outcomes writes; a step delivered twice makes one successor; a step that fails
is retried alone; a job of one part is finalized in its own task; a cancel asked while
the parts run ends the job CANCELLED.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import pytest

from promptforge.blobstore.base import BlobInfo, BlobStore
from promptforge.blobstore.local import LocalBlobStore
from promptforge.core.deps import Deps
from promptforge.core.finalize import handle_finalize_step
from promptforge.core.finalize_steps import (
    ERRORS_FILE,
    FinalizeRun,
    result_part_name,
    step_task,
)
from promptforge.core.models import Job, JobStatus, Outcome, OutcomeKind
from promptforge.core.outcome_sets import SET_SPAN_LINES, in_range, outcome_sets
from promptforge.core.service import result_object_name
from promptforge.settings import Settings
from promptforge.tasks.base import TaskQueue
from tests.contract._jobstore_data import make_job
from tests.finalize_driver import NamedQueue, delivery, drain, finalize, single_pass
from tests.unit._embedded import idle_runtime

pytestmark = pytest.mark.anyio

LINES = 70
PER_PART = 2  # 35 parts: more than one compose (32 sources) can join, so a two-level tree
ERROR_LINES = {5, 6, 13, 40, 41, 70}  # lines 5-6: a part without a result


@dataclass
class Flaky:
    """A local blob store whose next ``compose`` and next close of a part's results fail."""

    blobs: LocalBlobStore
    compose_fails: int = 0
    close_fails: int = 0
    composed: int = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.blobs, name)

    async def compose(self, bucket: str, sources: Sequence[str], name: str) -> BlobInfo:
        if self.compose_fails:
            self.compose_fails -= 1
            raise OSError("compose: service unavailable")
        self.composed += 1
        return await self.blobs.compose(bucket, sources, name)

    async def open_writer(self, bucket: str, name: str) -> Any:
        writer = await self.blobs.open_writer(bucket, name)
        if self.close_fails and "results_part_" in name:
            self.close_fails -= 1

            async def close() -> BlobInfo:
                await writer.abort()
                raise OSError("upload: connection reset")

            writer.close = close
        return writer


@pytest.fixture
async def deps(tmp_path: Path) -> AsyncIterator[Deps]:
    settings = Settings(data_dir=tmp_path, port=0, lines_per_part=PER_PART)
    async with idle_runtime(settings) as runtime:
        yield replace(runtime.deps, tasks=cast(TaskQueue, NamedQueue()))


def _queue(deps: Deps) -> NamedQueue:
    return cast(NamedQueue, deps.tasks)


def _outcome(line: int) -> Outcome:
    if line in ERROR_LINES:
        record: dict[str, Any] = {"line": line, "error": {"code": "invalid_json", "message": "x"}}
        return Outcome(Outcome.line_key(line), OutcomeKind.ERROR, line, record)
    record = {"prompt_id": f"p{line:03d}", "result": f"answer «{line}»", "tokens_used": line}
    return Outcome(Outcome.prompt_key(f"p{line:03d}"), OutcomeKind.RESULT, line, record, 1, 2)


async def _ready_job(deps: Deps, lines: int = LINES, blank: int = 0) -> Job:
    """A PROCESSING job whose every line has its outcome (recorded out of order); ``blank``
    blank lines (not prompts, not counted) among its ``lines`` numbered lines."""
    job_id = "job-1"
    job = make_job(job_id)
    await deps.store.create_job(job)
    await deps.store.transition(job_id, JobStatus.WAITING_FOR_UPLOAD, JobStatus.PROCESSING)
    await deps.store.update_ingest_progress(job_id, lines - blank, done=True)
    outcomes = [_outcome(line) for line in range(1, lines + 1)]
    await deps.store.record_outcomes(job_id, outcomes[::2])
    await deps.store.record_outcomes(job_id, outcomes[1::2])
    ready = await deps.store.get_job(job_id)
    assert ready is not None and ready.ready_to_finalize
    return ready


async def _read(blobs: BlobStore, job: Job, filename: str) -> bytes:
    name = result_object_name(job, filename)
    return b"".join([chunk async for chunk in blobs.read(blobs.output_bucket, name)])


async def _objects(deps: Deps, job: Job) -> list[str]:
    blobs = cast(LocalBlobStore, deps.blobs)
    listed = await blobs.list_blobs(blobs.output_bucket, result_object_name(job, ""))
    return sorted(info.name.rsplit(f"{job.job_id}/", 1)[1] for info in listed)


async def _downloads(deps: Deps, job: Job) -> tuple[bytes, bytes]:
    """The job's results parts concatenated in listed order, and its errors file."""
    ended = await deps.store.get_job(job.job_id)
    assert ended is not None
    results = [await _read(deps.blobs, job, n) for n in ended.result_files if n != ERRORS_FILE]
    return b"".join(results), await _read(deps.blobs, job, ERRORS_FILE)


async def test_a_job_of_many_parts_downloads_what_one_pass_writes(deps: Deps) -> None:
    job = await _ready_job(deps)
    assert (await finalize(deps, job)).ok
    assert len(_queue(deps).pending) == 35  # the parts; nothing else until they are done
    ran = await drain(deps, _queue(deps))
    assert ran[:35] == [f"part-{i:06d}" for i in (*range(2, 36), 1)]  # part 1 enqueued last
    assert ran[35:] == ["merge-1-000002", "merge-1-000001", "merge-2-000001", "end"]

    ended = await deps.store.get_job(job.job_id)
    assert ended is not None and ended.status is JobStatus.COMPLETED
    parts = [result_part_name(i) for i in range(1, 36) if i != 3]  # lines 5-6: errors only
    assert ended.result_files == (*parts, ERRORS_FILE)
    assert await _downloads(deps, job) == (
        await single_pass(deps, job, OutcomeKind.RESULT),
        await single_pass(deps, job, OutcomeKind.ERROR),
    )
    assert len((await _read(deps.blobs, job, result_part_name(1))).splitlines()) == PER_PART
    assert await _objects(deps, job) == sorted(ended.result_files)  # no work object left


async def test_a_step_delivered_twice_makes_one_successor_and_redoes_only_itself(
    deps: Deps,
) -> None:
    counting = Flaky(cast(LocalBlobStore, deps.blobs))
    deps = replace(deps, blobs=cast(BlobStore, counting))
    job = await _ready_job(deps)
    await finalize(deps, job)
    await finalize(deps, job)  # a replayed finalize task: the same named parts
    ran = await drain(deps, _queue(deps), twice=True)
    queue = _queue(deps)
    assert len(ran) == 35 + 3 + 1 and set(queue.created.values()) == {1}
    assert counting.composed == 3  # a second delivery of a merge that is done only hands on
    assert max(queue.asked.values()) >= 2  # asked again by the second delivery: not created
    first = await _downloads(deps, job)

    ended = await deps.store.get_job(job.job_id)
    assert ended is not None and ended.status is JobStatus.COMPLETED
    run = FinalizeRun.of(job, PER_PART)
    for level in run.levels:  # every step delivered once more, late: each does nothing
        for step in level:
            assert (await handle_finalize_step(deps, delivery(step_task(run, step.name)))).ok
    assert not queue.pending
    assert await _downloads(deps, job) == first
    assert await deps.store.get_job(job.job_id) == ended
    assert await _objects(deps, job) == sorted(ended.result_files)


async def test_a_step_that_fails_is_retried_alone(deps: Deps) -> None:
    flaky = Flaky(cast(LocalBlobStore, deps.blobs), compose_fails=1, close_fails=1)
    deps = replace(deps, blobs=cast(BlobStore, flaky))
    job = await _ready_job(deps)
    await finalize(deps, job)
    ran = await drain(deps, _queue(deps))
    assert len(ran) == len(set(ran)) == 39  # each step succeeded once, none ran twice
    assert flaky.composed == 3 and (flaky.compose_fails, flaky.close_fails) == (0, 0)
    assert await _downloads(deps, job) == (
        await single_pass(deps, job, OutcomeKind.RESULT),
        await single_pass(deps, job, OutcomeKind.ERROR),
    )


async def test_a_job_of_one_part_is_finalized_in_its_own_task(deps: Deps) -> None:
    deps = replace(deps, config=replace(deps.config, lines_per_part=LINES))
    job = await _ready_job(deps)
    assert (await finalize(deps, job)).ok
    assert not _queue(deps).pending and not _queue(deps).asked  # no step task at all
    ended = await deps.store.get_job(job.job_id)
    assert ended is not None and ended.status is JobStatus.COMPLETED
    assert ended.result_files == (result_part_name(1), ERRORS_FILE)
    assert await _objects(deps, job) == sorted(ended.result_files)
    assert await _downloads(deps, job) == (
        await single_pass(deps, job, OutcomeKind.RESULT),
        await single_pass(deps, job, OutcomeKind.ERROR),
    )


async def test_a_cancel_asked_while_the_parts_run_ends_the_job_cancelled(deps: Deps) -> None:
    job = await _ready_job(deps)
    await finalize(deps, job)
    assert await deps.store.request_cancel(job.job_id, deps.clock.now())
    await drain(deps, _queue(deps))
    ended = await deps.store.get_job(job.job_id)
    assert ended is not None and ended.status is JobStatus.CANCELLED
    assert ERRORS_FILE in ended.result_files  # what was answered stays downloadable


async def test_lines_past_the_prompt_count_go_to_the_last_part(deps: Deps) -> None:
    """Blank lines keep their numbers but are not counted: the last part runs to the end."""
    job = await _ready_job(deps, lines=11, blank=3)  # 8 prompts counted, lines up to 11
    await finalize(deps, job)
    assert len(_queue(deps).pending) == 4
    await drain(deps, _queue(deps))
    assert await _downloads(deps, job) == (
        await single_pass(deps, job, OutcomeKind.RESULT),
        await single_pass(deps, job, OutcomeKind.ERROR),
    )
    assert len((await _read(deps.blobs, job, result_part_name(4))).splitlines()) == 5


async def test_outcome_sets_span_fewer_lines_than_a_part_reader_looks_back() -> None:
    far = SET_SPAN_LINES + 5
    outcomes = [_outcome(line) for line in (1, 2, SET_SPAN_LINES, far, far + 1)]
    sets = outcome_sets([o for o in outcomes if o.kind is OutcomeKind.RESULT])
    assert [[o.line for o in s.outcomes] for s in sets] == [[1, 2, SET_SPAN_LINES], [far, far + 1]]
    assert all(s.outcomes[-1].line - s.first_line < SET_SPAN_LINES for s in sets)

    async def stream() -> AsyncIterator[Outcome]:
        for outcome in outcomes:
            yield outcome

    assert [o.line async for o in in_range(stream(), 2, far)] == [2, SET_SPAN_LINES]
    assert [o.line async for o in in_range(stream(), far, None)] == [far, far + 1]
