"""Hierarchical fan-out: one ingest plans slices of the file, each slice task enqueues its prompts.

A million-line upload must not have one invocation create a million tasks. The
ingest pass streams the file once, counting its lines (no registration, no prompt
tasks) and cutting it at line boundaries into slices of ``slice_lines`` lines; it
enqueues one named slice task per slice, then records the exact number of non-blank
lines as the job's ``prompt_count`` with ``ingest_done``. Each slice task reads only
its byte range, validates, registers its prompts and enqueues their tasks.

Why it stays exact:

- ``prompt_count`` counts the same verdicts the slices produce (``validate_line`` on
  the same bytes), and every verdict ends in exactly one outcome, so the job is ready
  to finalize only when every slice's lines are accounted for;
- a ``prompt_id`` repeated in two slices is caught by ``register_prompts``, which is
  atomic per prompt in the store: exactly one line is dispatched and every other one
  is an error line (with parallel slices, the one registered first wins, which is
  not necessarily the lowest line number);
- slices cut at newlines only, and carry their first line number, so every line keeps
  its number in the whole file; only the file's first line may lose a UTF-8 BOM;
- slice tasks are named by (object, generation, index): a replayed ingest plans the
  same slices and enqueues none of them twice, and a replayed slice re-registers the
  same (prompt_id, line) pairs, which the store treats as replays.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from promptforge.blobstore.base import BlobStore
from promptforge.core.deps import CONTROL_QUEUE, Deps
from promptforge.core.finalize import enqueue_finalize_if_ready
from promptforge.core.ingest import admit_upload, finish_ingest, store_verdicts
from promptforge.core.jsonl import LineError, LineSplitter, RawLine, ValidPrompt, validate_line
from promptforge.core.models import Job, JobError, JobStatus
from promptforge.core.queues import ensure_rate_queue, key_queues
from promptforge.core.webhooks import on_job_ended
from promptforge.prompts.jobs import LineValidator, line_validator
from promptforge.tasks.base import Delivery, HandlerResult, Task

log = logging.getLogger(__name__)

SLICE_TARGET = "slice"
DEFAULT_SLICE_LINES = 1000
ENQUEUE_BATCH = 100
"""Slice tasks are enqueued in groups of this many while the file is still being read."""


@dataclass(frozen=True)
class Slice:
    """Bytes ``[start, end)`` of the input, beginning with physical line ``first_line``."""

    index: int
    start: int
    end: int
    first_line: int


@runtime_checkable
class RangeReader(Protocol):
    """A blob store that can read part of one generation of an object (GCS can)."""

    def read_range(
        self,
        bucket: str,
        name: str,
        start: int,
        end: int | None,
        *,
        generation: int | None = None,
        chunk_size: int = ...,
    ) -> AsyncIterator[bytes]:
        """Stream bytes ``[start, end)``."""
        ...


class SlicePlanner:
    """Sans-I/O: fed the file's chunks, yields slices and counts the lines that are verdicts."""

    def __init__(self, slice_lines: int, max_line_bytes: int) -> None:
        if slice_lines < 1:
            raise ValueError("slice_lines must be at least 1")
        self._slice_lines = slice_lines
        self._max_line_bytes = max_line_bytes
        self._splitter = LineSplitter(max_line_bytes)
        self._position = 0
        self._start = 0
        self._first_line = 1
        self._lines_in_slice = 0
        self._index = 0
        self.verdicts = 0

    def feed(self, chunk: bytes) -> Iterator[Slice]:
        """Consume a chunk; yield every slice it completes."""
        for raw in self._splitter.feed(chunk):
            self._count(raw)
        offset = 0
        while True:
            newline = chunk.find(b"\n", offset)
            if newline < 0:
                break
            offset = newline + 1
            self._lines_in_slice += 1
            if self._lines_in_slice >= self._slice_lines:
                yield self._cut(self._position + offset)
        self._position += len(chunk)

    def close(self) -> Iterator[Slice]:
        """Yield the last slice, if any bytes remain after the last cut."""
        for raw in self._splitter.close():
            self._count(raw)
        if self._position > self._start:
            yield self._cut(self._position)

    def _count(self, raw: RawLine) -> None:
        if validate_line(raw, self._max_line_bytes) is not None:
            self.verdicts += 1

    def _cut(self, end: int) -> Slice:
        piece = Slice(self._index, self._start, end, self._first_line)
        self._index += 1
        self._start = end
        self._first_line += self._lines_in_slice
        self._lines_in_slice = 0
        return piece


def slice_task(job: Job, bucket: str, generation: int, piece: Slice) -> Task:
    """The named task of one slice."""
    digest = hashlib.sha256(
        "\x00".join(("slice", bucket, job.upload_object, str(generation), str(piece.index))).encode(
            "utf-8"
        )
    ).hexdigest()[:40]
    return Task(
        queue=CONTROL_QUEUE,
        target=SLICE_TARGET,
        payload={
            "job_id": job.job_id,
            "bucket": bucket,
            "generation": generation,
            "index": piece.index,
            "start": piece.start,
            "end": piece.end,
            "first_line": piece.first_line,
        },
        name=f"s-{digest}",
    )


async def handle_ingest_sliced(
    deps: Deps, delivery: Delivery, *, slice_lines: int = DEFAULT_SLICE_LINES
) -> HandlerResult:
    """Task handler for target ``ingest`` that fans out through slice tasks."""
    payload = delivery.payload
    generation = int(payload["generation"])
    job = await admit_upload(deps, str(payload["name"]), generation)
    if job is None:
        return HandlerResult(200)
    try:
        await plan_and_enqueue(deps, job, str(payload["bucket"]), generation, slice_lines)
    except FileNotFoundError:
        await _fail_overwritten(deps, job)
    return HandlerResult(200)


async def plan_and_enqueue(
    deps: Deps, job: Job, bucket: str, generation: int, slice_lines: int
) -> int:
    """Stream the input once, enqueue its slice tasks, record the exact line count."""
    await ensure_rate_queue(deps, job)
    planner = SlicePlanner(slice_lines, deps.config.max_line_bytes)
    pending: list[Task] = []
    slices = 0
    async for chunk in _read(deps.blobs, bucket, job.upload_object, 0, None, generation=generation):
        for piece in planner.feed(chunk):
            pending.append(slice_task(job, bucket, generation, piece))
        if len(pending) >= ENQUEUE_BATCH:
            slices += len(pending)
            await deps.tasks.enqueue(pending)
            pending = []
    pending.extend(slice_task(job, bucket, generation, piece) for piece in planner.close())
    slices += len(pending)
    await deps.tasks.enqueue(pending)
    total = planner.verdicts
    await finish_ingest(deps, job, total)
    if total:
        log.info("job %s: %d lines in %d slices", job.job_id, total, slices)
    return total


async def handle_slice(deps: Deps, delivery: Delivery) -> HandlerResult:
    """Task handler for target ``slice``: register one slice's prompts and enqueue them."""
    payload = delivery.payload
    job = await deps.store.get_job(str(payload["job_id"]))
    generation = int(payload["generation"])
    if job is None or job.status is not JobStatus.PROCESSING:
        return HandlerResult(200)
    if job.input_generation != generation:
        return HandlerResult(200)
    piece = Slice(
        int(payload["index"]),
        int(payload["start"]),
        int(payload["end"]),
        int(payload["first_line"]),
    )
    try:
        await ingest_slice(deps, job, str(payload["bucket"]), generation, piece)
    except FileNotFoundError:
        await _fail_overwritten(deps, job)
        return HandlerResult(200)
    await enqueue_finalize_if_ready(deps, job.job_id)
    return HandlerResult(200)


async def ingest_slice(deps: Deps, job: Job, bucket: str, generation: int, piece: Slice) -> int:
    """Validate one slice, register its prompts, record its bad lines, enqueue its prompts."""
    queues = await key_queues(deps, job.rate_key)
    validate = await line_validator(deps, job.tenant_id, job.params)
    batch: list[ValidPrompt | LineError] = []
    seen = 0
    chunks = _read(
        deps.blobs, bucket, job.upload_object, piece.start, piece.end, generation=generation
    )
    async for verdict in _slice_verdicts(chunks, piece, deps.config.max_line_bytes, validate):
        batch.append(verdict)
        if len(batch) >= deps.config.ingest_batch:
            seen += await store_verdicts(deps, job, queues, batch)
            batch = []
    seen += await store_verdicts(deps, job, queues, batch)
    return seen


async def _slice_verdicts(
    chunks: AsyncIterator[bytes], piece: Slice, max_line_bytes: int, validate: LineValidator
) -> AsyncIterator[ValidPrompt | LineError]:
    splitter = LineSplitter(max_line_bytes)
    # Past the file's first line, prime the splitter with one empty line so it never
    # treats the slice's first line as the file's (where it would strip a BOM).
    primed = piece.first_line > 1
    offset = piece.first_line - (2 if primed else 1)
    if primed:
        list(splitter.feed(b"\n"))
    async for chunk in chunks:
        for raw in splitter.feed(chunk):
            verdict = validate(_renumber(raw, offset), max_line_bytes)
            if verdict is not None:
                yield verdict
    for raw in splitter.close():
        verdict = validate(_renumber(raw, offset), max_line_bytes)
        if verdict is not None:
            yield verdict


def _renumber(raw: RawLine, offset: int) -> RawLine:
    return RawLine(raw.number + offset, raw.data, raw.too_long)


async def _fail_overwritten(deps: Deps, job: Job) -> None:
    if await deps.store.transition(
        job.job_id,
        JobStatus.PROCESSING,
        JobStatus.FAILED,
        completed_at=deps.clock.now(),
        error=JobError(
            "input_overwritten",
            "the uploaded file was replaced or deleted while it was being read; "
            "upload each file once, to a new job",
        ),
    ):
        await on_job_ended(deps, job.job_id)


def _read(
    blobs: BlobStore, bucket: str, name: str, start: int, end: int | None, *, generation: int
) -> AsyncIterator[bytes]:
    if isinstance(blobs, RangeReader):
        return blobs.read_range(bucket, name, start, end, generation=generation)
    return _skip_and_cut(blobs.read(bucket, name), start, end)


async def _skip_and_cut(
    chunks: AsyncIterator[bytes], start: int, end: int | None
) -> AsyncIterator[bytes]:
    """A byte range of a whole-object stream, for stores without ranged reads."""
    position = 0
    async for chunk in chunks:
        lo, hi = position, position + len(chunk)
        position = hi
        if hi <= start:
            continue
        if end is not None and lo >= end:
            break
        yield chunk[max(start - lo, 0) : (len(chunk) if end is None else min(end - lo, len(chunk)))]
