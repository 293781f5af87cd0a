"""The 1 GB upload: ingest and finalize memory that does not grow with the file (issue 6).

For each size, one generated upload of short realistic prompts (the example prompts,
about 275 bytes a line: several million lines for 1 GB) goes through the real
handlers on the embedded runtime's own stores, in a fresh Python process on a
temporary data dir:

1. **ingest**: ``core.ingest.handle_ingest``, the handler the embedded runtime runs
   on the upload's finalize event (stream, validate, register in SQLite, one durable
   task per prompt; the dispatcher is off);
2. **complete**: every prompt gets a RESULT outcome through the job store's
   ``record_outcomes``, in batches from several concurrent "workers", then
   ``enqueue_finalize_if_ready`` as the controller's next tick would. No provider is called and
   no task is claimed: millions of provider calls are not what is measured here;
3. **finalize**: ``core.finalize.finalize_job``, every step of the job's finalize in this
   process, in order (the runtime runs each step of a job of several parts as its own
   task): every result shard, ``errors.jsonl``, ``COMPLETED``.

Each phase is measured alone: seconds, CPU seconds and the rise of the peak
resident set over the phase (``VmHWM`` reset just before, as ``bench ingest`` does).
Then the outputs are checked, streamed and never loaded whole (``bench.shards``):
every ``prompt_id`` of the input exactly once across the shards and
``errors.jsonl``, the job ``COMPLETED`` with counters equal to the files.
"""

from __future__ import annotations

import gc
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

from promptforge.bench.ingest import (
    MEGABYTE,
    BenchStores,
    baseline_seconds,
    child_main,
    maxrss_bytes,
    peak_bytes,
    reset_peak,
    rss_bytes,
    run_child,
)
from promptforge.bench.prompts import write_prompt_file
from promptforge.bench.report import load_average, per
from promptforge.bench.shards import ShardCheck, check_outputs
from promptforge.core.deps import Deps
from promptforge.core.finalize import enqueue_finalize_if_ready, finalize_job
from promptforge.core.ingest import handle_ingest
from promptforge.core.models import JobStatus, Outcome, OutcomeKind
from promptforge.core.service import result_object_name
from promptforge.sim.providers.text import complete, prompt_tokens

DEFAULT_MEGABYTES = (10.0, 1024.0)
"""The sizes compared by default: a 10 MB file and a 1 GB one."""

DOCUMENT_SHARE = 0.0
"""No multi-paragraph documents: short lines, so 1 GB holds several million prompts."""

COMPLETE_BATCH = 500
"""Outcomes per ``record_outcomes`` call in the complete phase."""

COMPLETE_WORKERS = 8
"""Concurrent recorders in the complete phase (their calls share commits, as workers' do)."""

FLAT_SLACK_MB = 25.0
"""Memory is flat when a phase's peak growth at the largest size is within this of the smallest."""

_ANSWERS = 256
_MODEL = "gpt-4o-mini"


@dataclass(frozen=True)
class Phase:
    """One measured phase: wall and CPU seconds, resident set before, peak growth."""

    seconds: float
    cpu_seconds: float
    rss_before_bytes: int
    peak_growth_bytes: int

    @property
    def peak_growth_megabytes(self) -> float:
        """How far the peak resident set rose above where it stood before the phase."""
        return self.peak_growth_bytes / MEGABYTE


@dataclass(frozen=True)
class LargeFigures:
    """What one size's run measured and found."""

    lines: int
    bytes: int
    ingest: Phase
    complete: Phase
    finalize: Phase
    baseline_seconds: float  # read + json.loads of the same file, same process
    tasks_queued: int
    recorded: int  # outcomes ``record_outcomes`` reported new in the complete phase
    finalize_enqueued: bool
    status: str
    prompt_count: int
    completed_count: int
    failed_count: int
    tokens_exact: bool  # the job's token counters equal the sums of the recorded outcomes
    check: ShardCheck
    load_before: float | None = None

    @property
    def megabytes(self) -> float:
        """The file's size in MB (10**6 bytes)."""
        return self.bytes / MEGABYTE

    @property
    def ingest_megabytes_per_second(self) -> float:
        """Ingest throughput."""
        return per(self.megabytes, self.ingest.seconds)

    @property
    def ingest_lines_per_second(self) -> float:
        """Ingest throughput in prompts."""
        return per(self.lines, self.ingest.seconds)

    @property
    def baseline_megabytes_per_second(self) -> float:
        """Read + ``json.loads`` throughput on the same file."""
        return per(self.megabytes, self.baseline_seconds)

    @property
    def finalize_lines_per_second(self) -> float:
        """Output lines written per second of finalize."""
        return per(self.check.result_lines + self.check.error_lines, self.finalize.seconds)

    @property
    def counters_exact(self) -> bool:
        """``COMPLETED``, and every counter equal to the input and to the files."""
        n = self.lines
        return (
            self.status == JobStatus.COMPLETED.value
            and self.prompt_count == self.completed_count == self.recorded == n
            and self.tasks_queued == n
            and self.failed_count == 0
            and self.check.result_lines == self.completed_count
            and self.check.error_lines == self.failed_count
            and self.finalize_enqueued
            and self.tokens_exact
        )

    @property
    def ok(self) -> bool:
        """Every prompt exactly once in the outputs and the job's counters exact."""
        return self.check.exactly_once and self.counters_exact

    def to_dict(self) -> dict[str, Any]:
        """The raw figures, JSON-ready."""
        return asdict(self) | {"megabytes": round(self.megabytes, 2), "ok": self.ok}


def memory_is_flat(runs: Sequence[LargeFigures]) -> bool:
    """Whether ingest's and finalize's peak growth at the largest size stays near the smallest's."""
    small = min(runs, key=lambda run: run.bytes)
    large = max(runs, key=lambda run: run.bytes)
    return all(
        getattr(large, phase).peak_growth_megabytes
        <= getattr(small, phase).peak_growth_megabytes + FLAT_SLACK_MB
        for phase in ("ingest", "finalize")
    )


async def run_large_bench(
    megabytes: Sequence[float] = DEFAULT_MEGABYTES, *, work_dir: Path | None = None
) -> list[LargeFigures]:
    """Run each size in turn, each in a fresh Python process on its own temporary stores."""
    if not megabytes or any(size <= 0 for size in megabytes):
        raise ValueError(f"sizes must be positive, got {list(megabytes)}")
    return [await run_one_size(size, work_dir=work_dir) for size in megabytes]


async def run_one_size(megabytes: float, *, work_dir: Path | None = None) -> LargeFigures:
    """Generate a file of about ``megabytes`` MB; ingest, complete and finalize it in a child."""
    load = load_average()
    with tempfile.TemporaryDirectory(dir=work_dir) as temporary:
        root = Path(temporary)
        _progress(f"{megabytes:g} MB: writing the prompt file")
        source = write_prompt_file(
            root / "prompts.jsonl",
            min_bytes=round(megabytes * MEGABYTE),
            document_share=DOCUMENT_SHARE,
        )
        _progress(f"{megabytes:g} MB: {source.lines:,} prompts; measuring in a fresh process")
        measured = await run_child("promptforge.bench.large", source.path, root / "data")
    return figures_from(measured, lines=source.lines, size=source.bytes, load_before=load)


def figures_from(
    measured: dict[str, Any], *, lines: int, size: int, load_before: float | None = None
) -> LargeFigures:
    """``LargeFigures`` from what ``measure_in_this_process`` returned."""
    values = dict(measured)
    for phase in ("ingest", "complete", "finalize"):
        values[phase] = Phase(**values[phase])
    values["check"] = ShardCheck(**values["check"])
    return LargeFigures(lines=lines, bytes=size, load_before=load_before, **values)


async def measure_in_this_process(path: Path, data_dir: Path) -> dict[str, Any]:
    """Ingest, complete and finalize ``path`` on fresh embedded stores; the raw measures."""
    async with BenchStores(data_dir) as stores:
        deps = stores.runtime.deps
        delivery = await stores.upload(path)
        job_id = stores.job_id
        ingest = await _measure("ingest", handle_ingest(deps, delivery))
        _, queued = await stores.counts()
        recorded = [0, 0, 0]  # outcomes new, input tokens, output tokens
        complete_phase = await _measure(
            "complete", complete_every_prompt(deps, job_id, path, recorded)
        )
        enqueued = await enqueue_finalize_if_ready(deps, job_id)
        ready = await deps.store.get_job(job_id)
        if ready is None:
            raise RuntimeError("the bench job vanished")
        finalize_phase = await _measure("finalize", finalize_job(deps, ready))
        job = await deps.store.get_job(job_id)
        if job is None:
            raise RuntimeError("the bench job vanished")
        _progress("checking the outputs (streamed)")
        blobs = stores.runtime.blobs
        listed = await blobs.list_blobs(blobs.output_bucket, result_object_name(job, ""))
        paths = [
            blobs.path_for(blobs.output_bucket, result_object_name(job, name))
            for name in job.result_files
        ]
        check = check_outputs(
            path,
            paths,
            listed=sorted(info.name.rsplit("/", 1)[-1] for info in listed),
            lines_per_part=deps.config.lines_per_part,
        )
    return {
        "ingest": asdict(ingest),
        "complete": asdict(complete_phase),
        "finalize": asdict(finalize_phase),
        "baseline_seconds": baseline_seconds(path),
        "tasks_queued": queued,
        "recorded": recorded[0],
        "finalize_enqueued": enqueued,
        "status": job.status.value,
        "prompt_count": job.prompt_count,
        "completed_count": job.completed_count,
        "failed_count": job.failed_count,
        "tokens_exact": (job.input_tokens, job.output_tokens) == (recorded[1], recorded[2]),
        "check": asdict(check),
    }


async def _measure(name: str, work: Awaitable[Any]) -> Phase:
    """Await ``work`` with the peak resident set reset just before; its figures."""
    gc.collect()
    before = rss_bytes()
    resettable = reset_peak()
    started, cpu = time.perf_counter(), time.process_time()
    await work
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    peak = peak_bytes() if resettable else maxrss_bytes()
    _progress(f"{name}: {seconds:.1f} s, peak growth {(peak - before) / MEGABYTE:.1f} MB")
    return Phase(seconds, cpu_seconds, before, max(0, peak - before))


async def complete_every_prompt(deps: Deps, job_id: str, path: Path, totals: list[int]) -> None:
    """Record a RESULT outcome for every prompt of ``path``, as workers would; sums into ``totals``.

    The input is streamed and split into batches of ``COMPLETE_BATCH`` that
    ``COMPLETE_WORKERS`` recorders take in turn; ``totals`` gets the new outcomes
    and the input and output tokens recorded.
    """
    send, receive = anyio.create_memory_object_stream[list[Outcome]](COMPLETE_WORKERS)
    async with anyio.create_task_group() as group:
        for _ in range(COMPLETE_WORKERS):
            group.start_soon(_recorder, deps, job_id, receive.clone(), totals)
        receive.close()
        async with send:
            batch: list[Outcome] = []
            for outcome in result_outcomes(path):
                batch.append(outcome)
                if len(batch) >= COMPLETE_BATCH:
                    await send.send(batch)
                    batch = []
            if batch:
                await send.send(batch)


async def _recorder(
    deps: Deps, job_id: str, batches: MemoryObjectReceiveStream[list[Outcome]], totals: list[int]
) -> None:
    async with batches:
        async for batch in batches:
            new = await deps.store.record_outcomes(job_id, batch)  # read totals after the await
            totals[0] += new
            totals[1] += sum(outcome.input_tokens for outcome in batch)
            totals[2] += sum(outcome.output_tokens for outcome in batch)


def result_outcomes(path: Path) -> Iterator[Outcome]:
    """The RESULT outcome a worker records for each prompt of ``path`` (one per line, streamed).

    Shaped as ``core.worker`` records a success; the answers come from the provider
    simulator's text generator, a pool of a few hundred reused in turn.
    """
    answers = [complete(0, f"answer {i}", None, 60) for i in range(_ANSWERS)]
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            row = json.loads(raw)
            prompt_id, prompt = str(row["prompt_id"]), str(row["prompt"])
            answer = answers[number % _ANSWERS]
            tokens_in = prompt_tokens([prompt])
            yield Outcome(
                key=Outcome.prompt_key(prompt_id),
                kind=OutcomeKind.RESULT,
                line=number,
                record={
                    "prompt_id": prompt_id,
                    "result": answer.text,
                    "model": _MODEL,
                    "tokens_used": tokens_in + answer.tokens,
                    "input_tokens": tokens_in,
                    "output_tokens": answer.tokens,
                    "finish_reason": "stop",
                },
                input_tokens=tokens_in,
                output_tokens=answer.tokens,
            )


def _progress(text: str) -> None:
    print(f"[bench large] {text}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:], "large-upload", measure_in_this_process))
