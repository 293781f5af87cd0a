"""Pipeline benchmark: a whole job over real HTTP, against the simulator at its fastest.

One process, one event loop, 127.0.0.1 only: the provider simulator with no limits
and no latency, and the embedded runtime (API, signed URLs, ingest, dispatcher,
workers, controller, finalize) in a temporary data dir. The bench creates an API
key, inits a job, PUTs a generated file to the signed upload URL, waits for
``COMPLETED`` (the API's status says so), downloads the results and checks that
every ``prompt_id`` came back exactly once.

Throughput is prompts per second from the end of the upload to ``COMPLETED``, split
into ingest (upload done → every line ingested), processing (→ every prompt has an
outcome) and finalize (→ ``COMPLETED``). The phases are read from the job store in
process every 20 ms: polling the API that often would trip its per-key rate limit.
The job is given an ``rpm`` ceiling far above what one machine reaches, so the
dispatch rate starts there: this measures the pipeline's own cost, not rate
discovery (``bench rate`` does that).

The baseline, in the same process and against the same simulator, is the same
number of bare httpx calls at the same concurrency: the ceiling the pipeline could
reach if its own work cost nothing. The ratio pipeline / baseline is the figure to
compare across machines; the absolute rates depend on the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from promptforge.bench.prompts import PromptFile, write_prompt_file
from promptforge.bench.report import load_average, markdown_table, per, section
from promptforge.cli.submit import fetch_results
from promptforge.client import PromptForgeClient
from promptforge.core.models import GenerationParams, JobStatus
from promptforge.core.queues import shard_rates
from promptforge.embedded.runtime import EmbeddedRuntime
from promptforge.embedded.served import serve_runtime
from promptforge.embedded.server import BackgroundServer
from promptforge.providers.base import PromptCall
from promptforge.providers.http import provider_client
from promptforge.providers.registry import get_adapter
from promptforge.settings import Settings
from promptforge.sim.providers.config import PROVIDERS, LimitSpec, SimulatorConfig
from promptforge.sim.providers.server import create_app

PROVIDER = "openai"
MODEL = "gpt-4o-mini"
UNLIMITED = 1_000_000_000
"""Requests and tokens per minute the simulator allows: far beyond any single machine."""

DEFAULT_RPM_CEILING = 6_000_000
"""The job's ``rpm``: 100,000/s, so dispatch starts unthrottled (no slow start)."""

DEFAULT_CONCURRENCY = 200
"""Concurrent dispatches for the job's queue and for the baseline."""

THROUGHPUT_AIM = 1_000
"""Prompts per second the pipeline should reach on 2 cores (issue 2)."""

_POLL_SECONDS = 0.02
_TIMEOUT_SECONDS = 1800.0
_SIM_KEY = "sk-bench-simulated"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineFigures:
    """What one pipeline benchmark run measured."""

    prompts: int
    file_megabytes: float
    concurrency: int
    rpm_ceiling: int
    ingest_seconds: float
    processing_seconds: float
    finalize_seconds: float
    baseline_seconds: float
    cpu_seconds: float  # this process's CPU time (all threads), upload done → COMPLETED
    baseline_cpu_seconds: float
    results: int
    errors: int
    exactly_once: bool
    dispatch_rate: float | None = None  # per second, as the controller last applied it
    queues: int = 1  # queues the rate key's prompts were spread over
    load_before: float | None = None  # the machine's load average when the run started

    @property
    def total_seconds(self) -> float:
        """Upload finished → ``COMPLETED``."""
        return self.ingest_seconds + self.processing_seconds + self.finalize_seconds

    @property
    def prompts_per_second(self) -> float:
        """The pipeline's throughput over the whole job."""
        return per(self.prompts, self.total_seconds)

    @property
    def baseline_per_second(self) -> float:
        """Bare httpx calls per second to the same simulator at the same concurrency."""
        return per(self.prompts, self.baseline_seconds)

    @property
    def ratio(self) -> float:
        """Pipeline throughput as a share of the baseline."""
        base = self.baseline_per_second
        return per(self.prompts_per_second, base)

    @property
    def dispatch(self) -> str:
        """The dispatch rate the controller applied, in words."""
        if self.dispatch_rate is None:
            return "not retuned during the run"
        plural = "s" if self.queues != 1 else ""
        return f"{self.dispatch_rate:,.0f}/s over {self.queues} queue{plural}"

    @property
    def cpu_ms_per_prompt(self) -> float:
        """CPU the whole process spent per prompt (simulator included, as in the baseline)."""
        return 1000 * self.cpu_seconds / self.prompts

    @property
    def baseline_cpu_ms_per_call(self) -> float:
        """CPU the process spent per bare call."""
        return 1000 * self.baseline_cpu_seconds / self.prompts

    @property
    def cpu_ratio(self) -> float:
        """Prompts per CPU-second as a share of the baseline's (least moved by other load)."""
        return per(self.baseline_cpu_seconds, self.cpu_seconds)

    def to_dict(self) -> dict[str, Any]:
        """The figures and the derived rates, JSON-ready."""
        return {
            "prompts": self.prompts,
            "file_megabytes": round(self.file_megabytes, 2),
            "concurrency": self.concurrency,
            "rpm_ceiling": self.rpm_ceiling,
            "ingest_seconds": round(self.ingest_seconds, 3),
            "processing_seconds": round(self.processing_seconds, 3),
            "finalize_seconds": round(self.finalize_seconds, 3),
            "total_seconds": round(self.total_seconds, 3),
            "prompts_per_second": round(self.prompts_per_second, 1),
            "baseline_per_second": round(self.baseline_per_second, 1),
            "ratio": round(self.ratio, 3),
            "cpu_ms_per_prompt": round(self.cpu_ms_per_prompt, 3),
            "baseline_cpu_ms_per_call": round(self.baseline_cpu_ms_per_call, 3),
            "cpu_ratio": round(self.cpu_ratio, 3),
            "results": self.results,
            "errors": self.errors,
            "exactly_once": self.exactly_once,
            "dispatch_rate": self.dispatch_rate,
            "queues": self.queues,
        }


def unlimited_simulator() -> SimulatorConfig:
    """A simulator that never refuses, never waits and never fails."""
    limits = {name: LimitSpec(rpm=UNLIMITED, tpm=UNLIMITED) for name in PROVIDERS}
    return SimulatorConfig(limits=limits, latency_median=0.0, latency_sigma=0.0)


async def run_pipeline_bench(
    prompts: int,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    rpm_ceiling: int = DEFAULT_RPM_CEILING,
    work_dir: Path | None = None,
) -> PipelineFigures:
    """Run the baseline, then one whole job of ``prompts`` prompts; return the figures."""
    if prompts < 1:
        raise ValueError(f"prompts must be at least 1, got {prompts}")
    load = load_average()
    with contextlib.ExitStack() as stack:
        root = work_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        source = write_prompt_file(root / "prompts.jsonl", prompts=prompts)
        async with BackgroundServer(create_app(unlimited_simulator())) as simulator:
            baseline, baseline_cpu = await run_baseline(simulator.url, source.path, concurrency)
            run = await _run_job(root, simulator.url, source, concurrency, rpm_ceiling)
    return PipelineFigures(
        prompts=source.lines,
        file_megabytes=source.megabytes,
        concurrency=concurrency,
        rpm_ceiling=rpm_ceiling,
        ingest_seconds=run.phases[0],
        processing_seconds=run.phases[1],
        finalize_seconds=run.phases[2],
        cpu_seconds=run.cpu_seconds,
        baseline_seconds=baseline,
        baseline_cpu_seconds=baseline_cpu,
        results=run.results,
        errors=run.errors,
        exactly_once=run.exactly_once,
        dispatch_rate=run.dispatch_rate,
        queues=run.queues,
        load_before=load,
    )


async def run_baseline(simulator_url: str, path: Path, concurrency: int) -> tuple[float, float]:
    """One bare provider call per line of ``path`` at ``concurrency``: (seconds, CPU seconds)."""
    adapter = get_adapter(PROVIDER)
    call = PromptCall(simulator_url, _SIM_KEY, MODEL, "", GenerationParams())
    prompts = (str(json.loads(line)["prompt"]) for line in _lines(path))
    requests = [adapter.build_request(replace(call, prompt=prompt)) for prompt in prompts]
    pending = iter(requests)
    async with provider_client(concurrency, timeout=60.0) as http:

        async def caller() -> None:
            for request in pending:
                response = await http.request(
                    request.method, request.url, headers=request.headers, json=request.json
                )
                response.raise_for_status()

        started, cpu = time.perf_counter(), time.process_time()
        async with asyncio.TaskGroup() as group:
            for _ in range(min(concurrency, len(requests))):
                group.create_task(caller())
        return time.perf_counter() - started, time.process_time() - cpu


@dataclass(frozen=True)
class _JobRun:
    """One job's measures: phase durations, CPU time, the output check, the dispatch rate."""

    phases: tuple[float, float, float]
    cpu_seconds: float
    results: int
    errors: int
    exactly_once: bool
    dispatch_rate: float | None
    queues: int


async def _run_job(
    root: Path, simulator_url: str, source: PromptFile, concurrency: int, rpm_ceiling: int
) -> _JobRun:
    """One job through the embedded runtime, from init to its downloaded results."""
    settings = Settings(
        data_dir=root / "data",
        openai_api_key=_SIM_KEY,
        openai_base_url=simulator_url,
        max_concurrent_dispatches=concurrency,
    )
    async with serve_runtime(settings, "bench") as served:
        runtime = served.runtime
        async with PromptForgeClient(served.url, served.api_key) as client:
            created = await client.init_job(PROVIDER, MODEL, rpm=rpm_ceiling)
            job_id = str(created["job_id"])
            await client.upload(str(created["upload_url"]), source.path)
            *phases, cpu = await _follow(runtime, client, job_id)
            paths = await fetch_results(client, job_id, root / "out")
            rate, queues = await _dispatch_rate(runtime, job_id)
    results, errors, once = check_outputs(paths, source.path)
    ingest, processing, finalize = phases
    return _JobRun((ingest, processing, finalize), cpu, results, errors, once, rate, queues)


async def _dispatch_rate(runtime: EmbeddedRuntime, job_id: str) -> tuple[float | None, int]:
    """The rate last applied to the job's key over all its queues (None: never), and how many."""
    job = await runtime.store.get_job(job_id)
    saved = await runtime.store.load_rate_state(job.rate_key.id) if job else None
    queues = saved.queue_count if saved else 1
    if saved is None or saved.decision is None:
        return None, queues
    return sum(shard_rates(saved.decision.applied_rate, queues)), queues


async def _follow(
    runtime: EmbeddedRuntime, client: PromptForgeClient, job_id: str
) -> tuple[float, float, float, float]:
    """Wait for ``COMPLETED``; the ingest, processing and finalize durations, CPU seconds.

    The phases are read from the job store every ``_POLL_SECONDS`` (in process, so the
    API's own rate limit is not spent on it); the API's status must then agree.
    """
    started, cpu = time.perf_counter(), time.process_time()
    ingested = accounted = None
    deadline = started + _TIMEOUT_SECONDS
    while time.perf_counter() < deadline:
        job = await runtime.store.get_job(job_id)
        now = time.perf_counter()
        if job is None or job.status is JobStatus.FAILED:
            raise RuntimeError(f"the bench job failed: {job}")
        if ingested is None and (job.ingest_done or job.status.final):
            ingested = now
        if ingested is not None and accounted is None and job.accounted >= job.prompt_count:
            accounted = now
        if job.status is JobStatus.COMPLETED and ingested and accounted:
            used = time.process_time() - cpu
            status = await client.status(job_id)
            if status["status"] != JobStatus.COMPLETED.value:
                raise RuntimeError(f"the store says COMPLETED, the API says {status['status']}")
            return ingested - started, accounted - ingested, now - accounted, used
        await asyncio.sleep(_POLL_SECONDS)
    raise TimeoutError(f"the bench job did not complete within {_TIMEOUT_SECONDS:.0f}s")


def check_outputs(paths: list[Path], source: Path) -> tuple[int, int, bool]:
    """(result lines, error lines, every ``prompt_id`` of ``source`` exactly once in ``paths``).

    Files named ``results_*`` hold results; any other file (``errors.jsonl``) errors.
    """
    seen: Counter[str] = Counter()
    results = errors = 0
    for path in paths:
        for line in _lines(path):
            seen[str(json.loads(line)["prompt_id"])] += 1
            if path.name.startswith("results_"):
                results += 1
            else:
                errors += 1
    expected = {str(json.loads(line)["prompt_id"]) for line in _lines(source)}
    once = set(seen) == expected and all(count == 1 for count in seen.values())
    return results, errors, once


def _lines(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as handle:
        return [line for line in handle if line.strip()]


def _held_back(f: PipelineFigures) -> str:
    """A note when the dispatch rate, not the pipeline's work, set the pace."""
    if f.dispatch_rate is None or f.prompts_per_second < 0.9 * f.dispatch_rate:
        return ""
    return (
        f" The dispatch rate set the pace: the controller applied {f.dispatch} (one queue "
        "dispatches at most 500/s, Cloud Tasks' cap, which the embedded queue keeps), so "
        "the CPU figures, not the throughput, show what the pipeline's own work costs."
    )


def report_section(figures: PipelineFigures) -> str:
    """The ``pipeline`` section of ``docs/benchmarks.md``."""
    f = figures
    cpu = f"{f.cpu_ms_per_prompt:.2f} ms / {f.baseline_cpu_ms_per_call:.2f} ms"
    table = markdown_table(
        ["measure", "value"],
        [
            ["prompts in the job", f"{f.prompts:,} ({f.file_megabytes:.1f} MB)"],
            ["upload done → ingest done", f"{f.ingest_seconds:.2f} s"],
            ["→ every prompt has its outcome", f"+{f.processing_seconds:.2f} s"],
            ["→ `COMPLETED` (finalize)", f"+{f.finalize_seconds:.2f} s"],
            ["**pipeline throughput**", f"**{f.prompts_per_second:,.0f} prompts/s**"],
            ["baseline: bare provider calls", f"{f.baseline_per_second:,.0f} calls/s"],
            ["**pipeline / baseline**", f"**{f.ratio:.2f}**"],
            ["CPU per prompt: pipeline / baseline call", cpu],
            ["pipeline / baseline, per CPU-second", f"{f.cpu_ratio:.2f}"],
            ["results / errors", f"{f.results:,} / {f.errors:,}"],
            ["every `prompt_id` exactly once", "yes" if f.exactly_once else "**no**"],
            ["dispatch rate applied by the controller", f.dispatch],
        ],
    )
    met = "met" if f.prompts_per_second >= THROUGHPUT_AIM else "**not met**"
    body = f"""
One job of {f.prompts:,} generated prompts through the embedded runtime over real HTTP
(init, signed upload, status, signed downloads), against the provider simulator
with no limits and no latency, both in one process on 127.0.0.1. The job is given
`rpm={f.rpm_ceiling:,}`, a ceiling far above what one process reaches, so dispatch
starts unthrottled: this measures the pipeline, not rate discovery. The
queue runs {f.concurrency} dispatches at once; the baseline is the same number of bare
httpx calls to the same simulator from the same process at the same concurrency,
the most the pipeline could reach if its own work cost nothing. Processing starts
while ingest is still running; each line of the split starts where the previous
one ended. CPU is this process's CPU time (every thread, the simulator's share
included in both): on a shared machine the CPU ratio moves less than the wall-clock
one.

{table}

Aim: ≥ {THROUGHPUT_AIM:,} prompts/s on 2 cores: {met} in this run.{_held_back(f)}
"""
    command = f"promptforge bench pipeline --prompts {f.prompts}"
    if f.concurrency != DEFAULT_CONCURRENCY:
        command += f" --concurrency {f.concurrency}"
    return section("Pipeline throughput", body, command, load_before=f.load_before)
