"""Ingest benchmark: MB/s and peak memory growth for one large upload, in a fresh process.

What is measured is the handler the embedded runtime runs on an upload's finalize
event (``core.ingest.handle_ingest``), on the embedded runtime's own stores in a
temporary data dir: stream the object from the local blob store, split and validate
every line, register the prompts in SQLite (``jobs.db``) and enqueue one durable
task per prompt into the embedded task queue (``tasks.db``). The dispatcher is not
started, so no task runs: this is the cost of getting a file from "uploaded" to
"every prompt queued". The file is written beforehand (in the page cache, as an
upload just received would be).

Memory is the growth of the peak resident set over the ingest: the child process
resets its high-water mark (``/proc/self/clear_refs``) just before, and reads
``VmHWM`` after; where that is not possible it falls back to ``ru_maxrss``.

The baseline, in the same child process, reads the same file line by line and
``json.loads`` each line: the least any ingest has to do in Python.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from promptforge.bench.prompts import write_prompt_file
from promptforge.bench.report import load_average, markdown_table, per, section
from promptforge.core.ingest import finalize_event_task, handle_ingest
from promptforge.core.queues import ensure_control_queue, key_queues
from promptforge.core.requests import InitRequest
from promptforge.core.service import init_job
from promptforge.embedded.runtime import EmbeddedRuntime
from promptforge.settings import Settings
from promptforge.tasks.base import Delivery

MEGABYTE = 1_000_000

THROUGHPUT_AIM_MB = 20.0
"""Ingest MB/s to reach (issue 2)."""

MEMORY_AIM_MB = 100.0
"""Peak memory growth to stay under while ingesting (issue 2)."""


@dataclass(frozen=True)
class IngestFigures:
    """What one ingest benchmark run measured."""

    lines: int
    bytes: int
    ingest_seconds: float
    ingest_cpu_seconds: float  # the child's CPU time (all threads) over the ingest
    baseline_seconds: float
    rss_before_bytes: int
    peak_growth_bytes: int
    prompts_registered: int
    tasks_queued: int
    load_before: float | None = None  # the machine's load average when the run started

    @property
    def megabytes(self) -> float:
        """The file's size in MB (10**6 bytes)."""
        return self.bytes / MEGABYTE

    @property
    def megabytes_per_second(self) -> float:
        """Ingest throughput."""
        return per(self.megabytes, self.ingest_seconds)

    @property
    def lines_per_second(self) -> float:
        """Ingest throughput in lines (prompts)."""
        return per(self.lines, self.ingest_seconds)

    @property
    def baseline_megabytes_per_second(self) -> float:
        """Read + ``json.loads`` throughput."""
        return per(self.megabytes, self.baseline_seconds)

    @property
    def ratio(self) -> float:
        """Ingest throughput as a share of the baseline."""
        base = self.baseline_megabytes_per_second
        return per(self.megabytes_per_second, base)

    @property
    def megabytes_per_cpu_second(self) -> float:
        """Ingest throughput per CPU-second (least moved by other load on the machine)."""
        cpu = self.ingest_cpu_seconds
        return per(self.megabytes, cpu)

    @property
    def peak_growth_megabytes(self) -> float:
        """How far the peak resident set rose above where it stood before the ingest."""
        return self.peak_growth_bytes / MEGABYTE

    @property
    def complete(self) -> bool:
        """Every line became a registered prompt with a queued task."""
        return self.prompts_registered == self.lines and self.tasks_queued == self.lines

    def to_dict(self) -> dict[str, Any]:
        """The figures and the derived rates, JSON-ready."""
        return {
            "lines": self.lines,
            "megabytes": round(self.megabytes, 2),
            "ingest_seconds": round(self.ingest_seconds, 3),
            "megabytes_per_second": round(self.megabytes_per_second, 2),
            "lines_per_second": round(self.lines_per_second, 1),
            "megabytes_per_cpu_second": round(self.megabytes_per_cpu_second, 2),
            "baseline_seconds": round(self.baseline_seconds, 3),
            "baseline_megabytes_per_second": round(self.baseline_megabytes_per_second, 2),
            "ratio": round(self.ratio, 3),
            "rss_before_megabytes": round(self.rss_before_bytes / MEGABYTE, 1),
            "peak_growth_megabytes": round(self.peak_growth_megabytes, 1),
            "prompts_registered": self.prompts_registered,
            "tasks_queued": self.tasks_queued,
            "complete": self.complete,
        }


async def run_ingest_bench(megabytes: float, *, work_dir: Path | None = None) -> IngestFigures:
    """Generate a file of about ``megabytes`` MB and ingest it in a fresh Python process."""
    if megabytes <= 0:
        raise ValueError(f"megabytes must be positive, got {megabytes}")
    load = load_average()
    with tempfile.TemporaryDirectory(dir=work_dir) as temporary:
        root = Path(temporary)
        source = write_prompt_file(root / "prompts.jsonl", min_bytes=round(megabytes * MEGABYTE))
        measured = await run_child("promptforge.bench.ingest", source.path, root / "data")
    return IngestFigures(lines=source.lines, bytes=source.bytes, load_before=load, **measured)


async def measure_in_this_process(path: Path, data_dir: Path) -> dict[str, Any]:
    """Ingest ``path`` on fresh embedded stores, then run the baseline; the raw measures."""
    async with BenchStores(data_dir) as stores:
        delivery = await stores.upload(path)
        gc.collect()
        before = rss_bytes()
        resettable = reset_peak()
        started, cpu = time.perf_counter(), time.process_time()
        await handle_ingest(stores.runtime.deps, delivery)
        ingest_seconds = time.perf_counter() - started
        ingest_cpu = time.process_time() - cpu
        peak = peak_bytes() if resettable else maxrss_bytes()
        registered, queued = await stores.counts()
    return {
        "ingest_seconds": ingest_seconds,
        "ingest_cpu_seconds": ingest_cpu,
        "baseline_seconds": baseline_seconds(path),
        "rss_before_bytes": before,
        "peak_growth_bytes": max(0, peak - before),
        "prompts_registered": registered,
        "tasks_queued": queued,
    }


def baseline_seconds(path: Path) -> float:
    """Read ``path`` line by line and parse each line as JSON; the elapsed time."""
    started = time.perf_counter()
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                json.loads(line)
    return time.perf_counter() - started


class BenchStores:
    """An embedded runtime's stores, opened without its dispatcher or controller."""

    def __init__(self, data_dir: Path) -> None:
        settings = Settings(data_dir=data_dir, port=0, openai_api_key="sk-bench-not-called")
        self.runtime = EmbeddedRuntime(settings)
        self.job_id = ""

    async def __aenter__(self) -> BenchStores:
        await self.runtime.store.open()
        await self.runtime.tasks.open()
        await ensure_control_queue(self.runtime.deps)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runtime.close()

    async def upload(self, path: Path) -> Delivery:
        """Create a job and store the file at ``path`` as its upload; the ingest delivery."""
        deps = self.runtime.deps
        created = await init_job(deps, "bench", InitRequest(provider="openai", model="gpt-4o-mini"))
        self.job_id = str(created["job_id"])
        job = await deps.store.get_job(self.job_id)
        if job is None:
            raise RuntimeError("the bench job vanished")
        writer = await deps.blobs.open_writer(deps.blobs.input_bucket, job.upload_object)
        async with await anyio.open_file(path, "rb") as handle:
            while chunk := await handle.read(1 << 20):
                await writer.write(chunk)
        info = await writer.close()
        task = finalize_event_task(info.bucket, info.name, info.generation)
        return Delivery(task.queue, task.target, task.name or "ingest", task.payload, 1)

    async def counts(self) -> tuple[int, int]:
        """(the job's prompt_count, tasks waiting in its rate key's queues)."""
        job = await self.runtime.store.get_job(self.job_id)
        if job is None or not job.ingest_done:
            return 0, 0
        queues = await key_queues(self.runtime.deps, job.rate_key)
        pending = [await self.runtime.tasks.pending(name) for name in queues.names]
        return job.prompt_count, sum(pending)


def report_section(figures: IngestFigures, requested_megabytes: float) -> str:
    """The ``ingest`` section of ``docs/benchmarks.md``."""
    f = figures
    table = markdown_table(
        ["measure", "value"],
        [
            ["file", f"{f.megabytes:.1f} MB, {f.lines:,} lines ({f.bytes / f.lines:,.0f} B/line)"],
            ["ingest", f"{f.ingest_seconds:.2f} s"],
            ["**ingest throughput**", f"**{f.megabytes_per_second:.1f} MB/s**"],
            ["", f"{f.lines_per_second:,.0f} lines/s"],
            ["ingest per CPU-second", f"{f.megabytes_per_cpu_second:.1f} MB"],
            ["baseline: read + `json.loads`", f"{f.baseline_megabytes_per_second:.0f} MB/s"],
            ["ingest / baseline", f"{f.ratio:.3f}"],
            ["**peak memory growth**", f"**{f.peak_growth_megabytes:.1f} MB**"],
            ["resident before", f"{f.rss_before_bytes / MEGABYTE:.0f} MB"],
            ["prompts registered / tasks queued", f"{f.prompts_registered:,} / {f.tasks_queued:,}"],
        ],
    )
    fast = "met" if f.megabytes_per_second >= THROUGHPUT_AIM_MB else "**not met**"
    lean = "met" if f.peak_growth_megabytes < MEMORY_AIM_MB else "**not met**"
    body = f"""
One generated upload of realistic prompts (the example prompts, a third of them
multi-paragraph documents) ingested by the handler the embedded runtime runs on the
upload's finalize event, in a fresh Python process on a temporary data dir: stream the
object from the local blob store, validate every line, register the prompts in SQLite
and enqueue one durable task per prompt into the embedded task queue (not run: the
dispatcher is off). Memory is the rise of the peak resident set over the ingest. The
baseline, in the same process, reads the file line by line and `json.loads` each line.

{table}

Aims: ≥ {THROUGHPUT_AIM_MB:g} MB/s: {fast}; memory growth < {MEMORY_AIM_MB:g} MB: {lean}.
"""
    command = f"promptforge bench ingest --megabytes {requested_megabytes:g}"
    return section("Ingest speed and memory", body, command, load_before=f.load_before)


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_bytes() -> int:
    """This process's resident set now, in bytes."""
    kb = _status_kb("VmRSS")
    return kb * 1024 if kb is not None else maxrss_bytes()


def peak_bytes() -> int:
    """This process's peak resident set (since the last ``reset_peak``), in bytes."""
    kb = _status_kb("VmHWM")
    return kb * 1024 if kb is not None else maxrss_bytes()


def maxrss_bytes() -> int:
    """This process's lifetime peak resident set (``ru_maxrss``), in bytes."""
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return usage if sys.platform == "darwin" else usage * 1024


def reset_peak() -> bool:
    """Reset the peak-RSS mark (Linux); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


async def run_child(module: str, path: Path, data_dir: Path) -> dict[str, Any]:
    """Run ``python -m module path data_dir`` (a ``child_main``) and return its figures."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, str(path), str(data_dir), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"the benchmark process {module} failed (exit {child.returncode})")
    figures: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return figures


def child_main(
    argv: list[str],
    what: str,
    measure: Callable[[Path, Path], Coroutine[Any, Any, dict[str, Any]]],
) -> int:
    """A measuring child process: ``measure(file, data_dir)``, its figures as JSON on stdout."""
    parser = argparse.ArgumentParser(description=f"(internal) run one {what} measurement")
    parser.add_argument("file", type=Path)
    parser.add_argument("data_dir", type=Path)
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(measure(args.file, args.data_dir))))
    return 0


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:], "ingest", measure_in_this_process))
