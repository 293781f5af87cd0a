"""Hierarchical fan-out: slices give exactly what a single-pass ingest gives, in any order."""

from __future__ import annotations

import asyncio
import random
import tempfile
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptforge.blobstore.base import BlobInfo
from promptforge.clock import FakeClock
from promptforge.core.credentials import Credentials
from promptforge.core.deps import CoreConfig, Deps
from promptforge.core.fanout import SlicePlanner, handle_ingest_sliced, handle_slice
from promptforge.core.ingest import ingest_file
from promptforge.core.models import Job, JobStatus, OutcomeKind
from promptforge.core.service import upload_object_name
from promptforge.core.tasknames import TaskTarget
from promptforge.jobstore.sqlite import SqliteJobStore
from promptforge.providers.catalogue import Catalogue
from promptforge.tasks.base import Delivery, QueueConfig, Task

BUCKET = "pf-in"


class MemoryBlobs:
    """Objects in memory, read in fixed-size chunks; ``ranged`` adds ``read_range``."""

    input_bucket, output_bucket = BUCKET, "pf-out"

    def __init__(self, chunk: int) -> None:
        self.objects: dict[str, tuple[bytes, int]] = {}
        self.chunk = chunk

    def put(self, name: str, data: bytes, generation: int = 1) -> None:
        self.objects[name] = (data, generation)

    async def stat(self, bucket: str, name: str) -> BlobInfo | None:
        if name not in self.objects:
            return None
        data, generation = self.objects[name]
        return BlobInfo(bucket, name, len(data), generation)

    async def read(self, bucket: str, name: str, chunk_size: int = 0) -> AsyncIterator[bytes]:
        if name not in self.objects:
            raise FileNotFoundError(name)
        data, _ = self.objects[name]
        for at in range(0, len(data), self.chunk):
            yield data[at : at + self.chunk]


class RangedBlobs(MemoryBlobs):
    """A store with ranged reads pinned to a generation, like GCS."""

    async def read_range(
        self,
        bucket: str,
        name: str,
        start: int,
        end: int | None,
        *,
        generation: int | None = None,
        chunk_size: int = 0,
    ) -> AsyncIterator[bytes]:
        data, live = self.objects.get(name, (b"", -1))
        if live < 0 or (generation is not None and generation != live):
            raise FileNotFoundError(name)
        stop = len(data) if end is None else min(end, len(data))
        for at in range(start, stop, self.chunk):
            yield data[at : min(at + self.chunk, stop)]


class RecordingQueue:
    """Tasks by name, deduplicated like Cloud Tasks; counts every enqueue call's size."""

    def __init__(self) -> None:
        self.tasks: dict[str, Task] = {}
        self.calls: list[int] = []

    async def ensure_queue(self, queue: str, config: QueueConfig) -> None:
        return None

    async def update_queue(self, queue: str, config: QueueConfig) -> None:
        return None

    async def enqueue(self, tasks: Sequence[Task]) -> int:
        self.calls.append(len(tasks))
        new = 0
        for task in tasks:
            key = task.name or uuid.uuid4().hex
            if key not in self.tasks:
                self.tasks[key] = task
                new += 1
        return new

    async def pending(self, queue: str) -> int:
        return len(self.tasks)

    def by_target(self, target: str) -> list[Task]:
        return [t for t in self.tasks.values() if t.target == target]


@dataclass
class Scenario:
    deps: Deps
    blobs: MemoryBlobs
    queue: RecordingQueue
    store: SqliteJobStore

    async def new_job(self, data: bytes) -> Job:
        now = self.deps.clock.now()
        job_id = str(uuid.uuid4())
        job = Job(
            job_id=job_id,
            tenant_id="t",
            provider="openai",
            model="gpt-4o-mini",
            max_retries=3,
            created_at=now,
            upload_expires_at=now + timedelta(minutes=15),
            upload_object=upload_object_name("t", job_id),
        )
        await self.store.create_job(job)
        self.blobs.put(job.upload_object, data)
        return job

    async def outcome_errors(self, job_id: str) -> list[tuple[int, str, str | None]]:
        return [
            (o.line, o.record["error"]["code"], o.record.get("prompt_id"))
            async for o in self.store.iter_outcomes(job_id, OutcomeKind.ERROR)
        ]

    def worker_tasks(self, job_id: str, before: set[str]) -> list[dict[str, Any]]:
        return [
            t.payload
            for n, t in self.queue.tasks.items()
            if n not in before and t.target == "worker" and t.payload["job_id"] == job_id
        ]


async def _scenario(
    directory: Path, blobs: MemoryBlobs, *, max_line_bytes: int = 1_000_000, batch: int = 500
) -> tuple[Scenario, httpx.AsyncClient]:
    store = SqliteJobStore(directory / f"jobs-{uuid.uuid4().hex}.db")
    await store.open()
    queue = RecordingQueue()
    http = httpx.AsyncClient()
    deps = Deps(
        store=store,
        blobs=blobs,
        tasks=queue,
        clock=FakeClock(),
        catalogue=Catalogue.load(),
        credentials=Credentials({}),
        http=http,
        config=replace(CoreConfig(), max_line_bytes=max_line_bytes, ingest_batch=batch),
    )
    return Scenario(deps, blobs, queue, store), http


def _delivery(target: str, payload: dict[str, Any]) -> Delivery:
    return Delivery(queue="pf-control", target=target, name="t", payload=payload, attempt=1)


async def _compare(data: bytes, slice_lines: int, chunk: int, seed: int, ranged: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        blobs = RangedBlobs(chunk) if ranged else MemoryBlobs(chunk)
        sc, http = await _scenario(Path(tmp), blobs, max_line_bytes=64, batch=3)
        try:
            # The oracle: one pass over the whole file.
            oracle = await sc.new_job(data)
            await sc.store.transition(
                oracle.job_id, JobStatus.WAITING_FOR_UPLOAD, JobStatus.PROCESSING
            )
            seen = set(sc.queue.tasks)
            await ingest_file(sc.deps, oracle, BUCKET)
            want_tasks = sc.worker_tasks(oracle.job_id, seen)
            want_errors = await sc.outcome_errors(oracle.job_id)
            want_job = await sc.store.get_job(oracle.job_id)

            # The fan-out, with a replayed ingest and slices run in random order, some twice.
            job = await sc.new_job(data)
            event = {"bucket": BUCKET, "name": job.upload_object, "generation": 1}
            seen = set(sc.queue.tasks)
            for _ in range(2):
                await handle_ingest_sliced(
                    sc.deps, _delivery("ingest", event), slice_lines=slice_lines
                )
            slices = [t for n, t in sc.queue.tasks.items() if n not in seen]
            assert all(t.target == TaskTarget.SLICE for t in slices)
            assert sc.worker_tasks(job.job_id, seen) == []  # ingest enqueues no prompt
            rng = random.Random(seed)
            order = slices + rng.sample(slices, k=len(slices) // 2)
            rng.shuffle(order)
            for task in order:
                await handle_slice(sc.deps, _delivery(TaskTarget.SLICE, task.payload))
            got_tasks = sc.worker_tasks(job.job_id, seen)
            got_errors = await sc.outcome_errors(job.job_id)
            got_job = await sc.store.get_job(job.job_id)
        finally:
            await sc.store.close()
            await http.aclose()
    assert want_job is not None and got_job is not None
    assert got_job.ingest_done and got_job.prompt_count == want_job.prompt_count
    assert got_job.failed_count == want_job.failed_count == len(want_errors)
    # Every non-blank line ends as exactly one prompt task or one error, in both.
    assert Counter(code for _, code, _ in got_errors) == Counter(code for _, code, _ in want_errors)
    got_lines = sorted([t["line"] for t in got_tasks] + [line for line, _, _ in got_errors])
    want_lines = sorted([t["line"] for t in want_tasks] + [line for line, _, _ in want_errors])
    assert got_lines == want_lines
    assert sorted(t["prompt_id"] for t in got_tasks) == sorted(t["prompt_id"] for t in want_tasks)
    assert len({t["prompt_id"] for t in got_tasks}) == len(got_tasks)
    # Where a prompt_id is unique in the file, the slices must dispatch the very same line;
    # a repeated one may be won by any of its lines (slices run in any order).
    repeated = {pid for _, code, pid in want_errors if code == "duplicate_prompt_id"}
    want = {t["prompt_id"]: (t["line"], t["prompt"]) for t in want_tasks}
    for task in got_tasks:
        if task["prompt_id"] not in repeated:
            assert (task["line"], task["prompt"]) == want[task["prompt_id"]]


_LINE = st.one_of(
    st.sampled_from(["p1", "p2", "p3", "q", "x" * 5]).map(
        lambda pid: f'{{"prompt_id": "{pid}", "prompt": "say {pid}"}}'.encode()
    ),
    st.integers(0, 400).map(lambda n: f'{{"prompt_id": "u{n}", "prompt": "p {n}"}}'.encode()),
    st.just(b""),
    st.just(b"   "),
    st.just(b"{broken"),
    st.just(b'{"prompt": "no id"}'),
    st.just(b"\xef\xbb\xbf" + b'{"prompt_id": "bom", "prompt": "b"}'),
    st.just(b'{"prompt_id": "long", "prompt": "' + b"z" * 80 + b'"}'),
    st.just(b"caf\xe9"),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    lines=st.lists(_LINE, max_size=40),
    crlf=st.booleans(),
    trailing_newline=st.booleans(),
    slice_lines=st.integers(1, 9),
    chunk=st.integers(1, 50),
    seed=st.integers(0, 1000),
    ranged=st.booleans(),
)
def test_slices_account_for_every_line_exactly_like_one_pass(
    lines: list[bytes],
    crlf: bool,
    trailing_newline: bool,
    slice_lines: int,
    chunk: int,
    seed: int,
    ranged: bool,
) -> None:
    newline = b"\r\n" if crlf else b"\n"
    data = newline.join(lines) + (newline if trailing_newline and lines else b"")
    asyncio.run(_compare(data, slice_lines, chunk, seed, ranged))


def test_only_the_files_first_line_may_carry_a_bom() -> None:
    bom_line = b"\xef\xbb\xbf" + b'{"prompt_id": "b", "prompt": "x"}'
    data = bom_line + b"\n" + bom_line + b"\n" + b'{"prompt_id": "c", "prompt": "y"}\n'
    for slice_lines in (1, 2):  # the second BOM line starts a slice, then sits inside one
        asyncio.run(_compare(data, slice_lines, chunk=5, seed=1, ranged=True))


def test_planner_cuts_at_newlines_and_counts_verdicts() -> None:
    data = b'{"prompt_id": "a", "prompt": "x"}\n\n{bad\n{"prompt_id": "b", "prompt": "y"}'
    planner = SlicePlanner(slice_lines=2, max_line_bytes=1000)
    pieces = [p for at in range(0, len(data), 7) for p in planner.feed(data[at : at + 7])]
    pieces += list(planner.close())
    # Two lines per slice; the last line has no newline and ends the last slice.
    assert [(p.start, p.end, p.first_line) for p in pieces] == [(0, 35, 1), (35, len(data), 3)]
    assert [data[p.start : p.end].count(b"\n") for p in pieces] == [2, 1]
    assert planner.verdicts == 3  # the blank line is not a prompt


@pytest.mark.anyio
async def test_a_large_file_is_planned_with_few_tasks_and_no_prompt_tasks(tmp_path: Path) -> None:
    blobs = RangedBlobs(64 * 1024)
    sc, http = await _scenario(tmp_path, blobs)
    try:
        body = b"".join(
            f'{{"prompt_id": "p{i}", "prompt": "prompt {i}"}}\n'.encode() for i in range(25_000)
        )
        job = await sc.new_job(body)
        event = {"bucket": BUCKET, "name": job.upload_object, "generation": 1}
        await handle_ingest_sliced(sc.deps, _delivery("ingest", event), slice_lines=1000)
        assert len(sc.queue.by_target(TaskTarget.SLICE)) == 25
        assert sc.queue.by_target("worker") == []
        assert max(sc.queue.calls) <= 100
        planned = await sc.store.get_job(job.job_id)
        assert planned is not None and planned.prompt_count == 25_000 and planned.ingest_done
        assert not planned.ready_to_finalize
        first = sc.queue.by_target(TaskTarget.SLICE)[3]
        await handle_slice(sc.deps, _delivery(TaskTarget.SLICE, first.payload))
        assert sorted(t.payload["line"] for t in sc.queue.by_target("worker")) == list(
            range(3001, 4001)
        )
    finally:
        await sc.store.close()
        await http.aclose()


@pytest.mark.anyio
async def test_an_input_overwritten_mid_fanout_fails_the_job(tmp_path: Path) -> None:
    blobs = RangedBlobs(1024)
    sc, http = await _scenario(tmp_path, blobs)
    try:
        job = await sc.new_job(b'{"prompt_id": "a", "prompt": "x"}\n' * 5)
        event = {"bucket": BUCKET, "name": job.upload_object, "generation": 1}
        await handle_ingest_sliced(sc.deps, _delivery("ingest", event), slice_lines=2)
        blobs.put(job.upload_object, b"something else\n", generation=2)
        first = sc.queue.by_target(TaskTarget.SLICE)[0]
        await handle_slice(sc.deps, _delivery(TaskTarget.SLICE, first.payload))
        failed = await sc.store.get_job(job.job_id)
        assert failed is not None and failed.status is JobStatus.FAILED
        assert failed.error is not None and failed.error.code == "input_overwritten"
        # The overwrite's own event starts nothing: the job already has its generation.
        again = {**event, "generation": 2}
        before = len(sc.queue.tasks)
        await handle_ingest_sliced(sc.deps, _delivery("ingest", again), slice_lines=2)
        assert len(sc.queue.tasks) == before
    finally:
        await sc.store.close()
        await http.aclose()


@pytest.mark.anyio
async def test_a_blank_file_fails_as_empty(tmp_path: Path) -> None:
    sc, http = await _scenario(tmp_path, RangedBlobs(16))
    try:
        job = await sc.new_job(b"\n  \n\n")
        event = {"bucket": BUCKET, "name": job.upload_object, "generation": 1}
        await handle_ingest_sliced(sc.deps, _delivery("ingest", event), slice_lines=2)
        failed = await sc.store.get_job(job.job_id)
        assert failed is not None and failed.status is JobStatus.FAILED
        assert failed.error is not None and failed.error.code == "empty_file"
    finally:
        await sc.store.close()
        await http.aclose()
