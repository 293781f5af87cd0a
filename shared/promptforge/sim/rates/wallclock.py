"""The same controller in real time: the embedded runtime against the provider simulator.

``run_wallclock`` runs a case for a few minutes: the provider simulator serves its
limits over HTTP on 127.0.0.1, and ``EmbeddedRuntime`` (the code ``promptforge serve``
runs) processes the example prompts through its SQLite store, in-process dispatcher,
controller loop and httpx. The simulation then runs the same prompts (same token
counts: the simulator's own tokenizer and seeded completions) against the same limits
behind a queue with the embedded dispatcher's behaviour (rates applied at once, no
gate), and both makespans are compared with T*. Cases: ``openai`` is scenario 1
(limit headers, RPM-bound: 500 RPM, 200k TPM, 1 s median latency); ``gemini`` is
scenario 2's provider (no headers; the limit is only learnt from 429s, which here also
name it, as the simulator's do) at 300 RPM, 1.5 s median latency.

The short-job cases of issue 21 (``SHORT_CASES``: a minute or two each, 0.5 s latency)
put every style behind one limiter the controller is not told about: a bucket of five
seconds of the limit (100 calls at 1,200 RPM, as the stand-in's "100 calls per 5 s"),
refilled continuously; Gemini's 429s carry ``RetryInfo`` only. Each is run ``repeat``
times in real time (the spread is reported: the machine is shared) and over three
seeds in the simulation.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from pydantic import SecretStr

from promptforge.bench.prompts import example_prompt_lines
from promptforge.providers.base import CallOutcome
from promptforge.sim.providers.config import LimitChange, SimulatorConfig
from promptforge.sim.providers.text import complete, prompt_tokens
from promptforge.sim.rates.cases import CASES, LATENCY_SIGMA, Case, case_model, case_scenario
from promptforge.sim.rates.cloudtasks import CloudTasksSpec
from promptforge.sim.rates.engine import EventLoop
from promptforge.sim.rates.forge import ForgeClient, ForgeOptions
from promptforge.sim.rates.metrics import ideal_time
from promptforge.sim.rates.plots import plot_scenario
from promptforge.sim.rates.provider import ProviderModel, Response, SimulatedProvider
from promptforge.sim.rates.recorder import Recorder
from promptforge.sim.rates.runner import ClientKind, run_scenario
from promptforge.sim.rates.signals import Style
from promptforge.sim.rates.trace import ADMITTED, FAILED, REFUSED, CallTrace, render_diff
from promptforge.sim.rates.workload import Prompt

__all__ = [
    "WallclockResult",
    "des_twin",
    "embedded_options",
    "plot_case",
    "run_wallclock",
    "tick_phase",
]

_EMBEDDED = ForgeOptions(queue=CloudTasksSpec(apply_delay=0.0), gate=False)
_GOLDEN = (5**0.5 - 1) / 2


def tick_phase(seed: int) -> float:
    """Where the controller's steps fall relative to the job's first call, in periods
    (0 to 1), for ``seed``: the embedded loop ticks on its own clock (and Google's chain
    at multiples of the period), so a real run's first call lands anywhere between two
    steps. The phase decides when a cut reaches the queue after a bank runs dry (at a
    cliff of 1.5 times the limit, a second later is ten more 429s at 1,200 RPM) and how
    long a pause lasts past a fixed window's reset. Seeds spread the phases evenly (a
    golden-ratio sequence: 0.5, 0.12, 0.74, 0.35, …), so three seeds sample all of it."""
    return (0.5 + seed * _GOLDEN) % 1.0


def embedded_options(seed: int) -> ForgeOptions:
    """The embedded runtime as the simulation runs it: rates applied at once, no gate,
    the controller's steps at ``tick_phase(seed)``."""
    return dataclasses.replace(_EMBEDDED, tick_phase=tick_phase(seed))


@dataclass(frozen=True)
class WallclockResult:
    """One run: makespan, T*, and the 429 share."""

    label: str
    makespan: float
    ideal: float
    limited: int
    calls: int

    @property
    def ratio(self) -> float:
        """Makespan / T*."""
        return self.makespan / self.ideal

    @property
    def share_429(self) -> float:
        """429s / provider calls."""
        return self.limited / self.calls if self.calls else 0.0


def _lines(count: int) -> list[str]:
    return example_prompt_lines(count)


def _prompts(lines: list[str], config: SimulatorConfig) -> list[Prompt]:
    """The prompts as the simulator will count them: its tokenizer, its seeded answers."""
    prompts = []
    for index, line in enumerate(lines):
        text = str(json.loads(line)["prompt"])
        answer = complete(config.seed, text, None, config.output_tokens_mean)
        prompts.append(Prompt(index, prompt_tokens([text]), answer.tokens, None))
    return prompts


class _TracedProvider(SimulatedProvider):
    """The simulated provider, noting each call's arrival and outcome in a ``CallTrace``."""

    def __init__(self, model: ProviderModel, loop: EventLoop, seed: int, trace: CallTrace):
        super().__init__(model, loop, seed)
        self._trace = trace

    def call(self, prompt: Prompt, timeout: float = math.inf) -> Response:
        """``SimulatedProvider.call``, traced."""
        response = super().call(prompt, timeout)
        outcome = response.outcome
        kind = {CallOutcome.SUCCESS: ADMITTED, CallOutcome.RATE_LIMITED: REFUSED}.get(outcome)
        self._trace.call(self._loop.now, kind or FAILED)
        return response


def des_twin(
    case: Case, prompts: list[Prompt], seed: int, trace: CallTrace | None = None
) -> WallclockResult:
    """The simulation of the wall-clock run: the embedded dispatcher applies rates at once.

    With ``trace``, its provider calls and applied rates are noted there."""
    loop = EventLoop()
    model = case_model(case)
    provider = (
        SimulatedProvider(model, loop, seed)
        if trace is None
        else _TracedProvider(model, loop, seed, trace)
    )
    recorder = Recorder(loop, len(prompts))
    options = embedded_options(seed)
    client = ForgeClient(loop, provider, prompts, recorder, options=options, seed=seed)
    client.start()
    loop.run(until=24 * 3600.0)
    if trace is not None:
        trace.rates.extend(recorder.rates)
    makespan = recorder.makespan if recorder.makespan is not None else float("inf")
    limited = sum(recorder.bins[1])
    return WallclockResult(
        "simulation", makespan, ideal_time(case_model(case), prompts), limited, recorder.calls
    )


async def _real_run(
    case: Case, lines: list[str], config: SimulatorConfig, trace: CallTrace
) -> tuple[float, int, int]:
    """Makespan (first provider call to last answer), 429s and calls of a real embedded run.

    Timed at the provider simulator, to the millisecond: the job's own timestamps are
    whole seconds (2 % of a one-minute job). The simulation's makespan runs from its
    first dispatch to its last answer too, and its limit changes count from there: the
    simulator's clock (full buckets, the schedule) restarts at the first call. Each call
    and each rate the controller applied go to ``trace``.
    """
    from promptforge.sim.providers.server import create_app

    # Mistral's API shares OpenAI's paths: the simulator serves it there only alone.
    sim_app = create_app(config, only=case.style.value if case.style is Style.MISTRAL else None)
    timed = _Timed(sim_app, sim_app.state.simulator.limiter.reset, trace)
    steps = logging.getLogger("promptforge.core.control")
    rate_log = _RateLog(timed)
    steps.addHandler(rate_log)
    steps.setLevel(logging.DEBUG)
    steps.propagate = False
    try:
        return await _served_run(case, lines, config, sim_app, timed)
    finally:
        steps.removeHandler(rate_log)
        steps.setLevel(logging.NOTSET)
        steps.propagate = True


async def _served_run(
    case: Case, lines: list[str], config: SimulatorConfig, sim_app: Any, timed: _Timed
) -> tuple[float, int, int]:
    """``_real_run``'s job: the embedded runtime against ``timed`` (the simulator) on
    127.0.0.1, from the upload of ``lines`` to the job's completion."""
    from rich.console import Console

    from promptforge.cli.submit import submit_file
    from promptforge.client import PromptForgeClient as ApiClient
    from promptforge.clock import SystemClock
    from promptforge.core.auth import create_api_key
    from promptforge.embedded.runtime import EmbeddedRuntime
    from promptforge.embedded.server import BackgroundServer
    from promptforge.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        prompts_file = data / "prompts.jsonl"
        await anyio.Path(prompts_file).write_text("\n".join(lines) + "\n", encoding="utf-8")
        async with BackgroundServer(timed) as simulator:
            settings = Settings(data_dir=data / "state", port=0).model_copy(
                update={
                    f"{case.style.value}_api_key": SecretStr("sim-wallclock"),
                    f"{case.style.value}_base_url": simulator.url,
                }
            )
            server = BackgroundServer(None, settings.host, 0)
            settings = settings.model_copy(update={"port": server.port})
            runtime = EmbeddedRuntime(settings)
            server.set_app(runtime.app)
            async with runtime, server:
                key, _ = await create_api_key(runtime.store, SystemClock(), "wallclock")
                async with ApiClient(server.url, key) as client:
                    summary = await submit_file(
                        client,
                        prompts_file,
                        provider=case.style.value,
                        model=case.model,
                        out_dir=data / "out",
                        show_progress=False,
                        console=Console(quiet=True),
                    )
                    status = await client.status(summary.job_id)
        stats = sim_app.state.simulator.stats.providers[case.style.value]
    if status["status"] != "COMPLETED" or timed.first is None or timed.last is None:
        raise RuntimeError(f"the wall-clock job did not complete: {status}")
    return timed.last - timed.first, stats.rate_limited, stats.requests


class _Timed:
    """An ASGI app timed: when its first provider call came, when its last answer left;
    ``on_first`` runs as the first call arrives. Each call's arrival (seconds from the
    first) and outcome go to ``trace``."""

    def __init__(self, app: Any, on_first: Callable[[], None], trace: CallTrace) -> None:
        self.app = app
        self._on_first = on_first
        self.trace = trace
        self.first: float | None = None
        self.last: float | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Serve one request, noting the times of provider calls (not ``/_sim`` routes)."""
        calls = scope["type"] == "http" and not str(scope["path"]).startswith("/_sim")
        if not calls:
            await self.app(scope, receive, send)
            return
        if self.first is None:
            self.first = time.monotonic()
            self._on_first()
        arrived = time.monotonic() - self.first
        status = 0

        async def noted(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        await self.app(scope, receive, noted)
        self.last = time.monotonic()
        outcome = ADMITTED if status == 200 else REFUSED if status == 429 else FAILED
        self.trace.call(arrived, outcome)


class _RateLog(logging.Handler):
    """Notes the rates ``core.control`` logs at each step (seconds from the first call)."""

    def __init__(self, timed: _Timed) -> None:
        super().__init__(logging.DEBUG)
        self._timed = timed

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the applied rate of a step's log line."""
        first = self._timed.first
        if first is None or not isinstance(record.args, tuple) or len(record.args) != 4:
            return
        at = record.created - (time.time() - time.monotonic()) - first
        rate = record.args[2]
        if isinstance(rate, (int, float)):
            self._timed.trace.rate(at, float(rate))


def _spread(values: list[float]) -> str:
    """``median (min to max)`` of ``values``, or the one value."""
    ordered = sorted(values)
    middle = statistics.median(ordered)
    if len(ordered) == 1:
        return f"{middle:.3f}"
    return f"{middle:.3f} ({ordered[0]:.3f} to {ordered[-1]:.3f})"


def _markdown(case: Case, real: list[WallclockResult], twin: list[WallclockResult]) -> str:
    real_ratio = statistics.median(r.ratio for r in real)
    twin_ratio = statistics.median(t.ratio for t in twin)
    gap = (real_ratio - twin_ratio) / real_ratio
    rows = "\n".join(
        f"| {r.label} | {r.makespan:,.1f} | {r.ratio:.3f} | {r.limited:,} ({r.share_429:.2%}) |"
        for r in (*real, *twin)
    )
    change = "".join(f", {spec.rpm:,} RPM from {at:g} s" for at, spec in case.changes)
    window = case.limits.window_seconds
    enforced = "fixed windows" if window else "bucket"
    seconds = window or case.limits.burst_seconds
    return (
        f"## {case.name}: {case.title}\n\n"
        f"{case.limits.rpm:,} RPM{change}, {case.limits.tpm:,} TPM, {enforced} of "
        f"{seconds:g} s of the limit, latency median "
        f"{case.latency_median:g} s, {case.prompts:,} example prompts. "
        f"T* = {twin[0].ideal:,.1f} s.\n\n"
        "| run | makespan (s) | ÷ T* | 429s |\n|---|---:|---:|---:|\n"
        f"{rows}\n\n"
        f"Wall clock {_spread([r.ratio for r in real])} of T* over {len(real)} run(s), "
        f"simulation {_spread([t.ratio for t in twin])} over {len(twin)} seed(s): the "
        f"medians differ by {gap:+.1%} of the wall clock's.\n"
    )


_HEADER = (
    "# Rate control: wall clock against the simulation\n\n"
    "Generated by `promptforge bench rate --wallclock`: the embedded runtime "
    "(`promptforge serve`'s code: SQLite store, in-process dispatcher, controller loop, "
    "httpx) against the provider simulator over HTTP on 127.0.0.1, in real time, and the "
    "discrete-event simulation of the same prompts (same token counts) and limits. "
    "Makespan = from the job's processing start to its completion. Wall-clock runs share "
    "a 2-core machine with other work: their spread is part of the figure.\n\n"
)


def _config(case: Case, seed: int) -> SimulatorConfig:
    """The provider simulator serving ``case``'s limits, schedule and 429 bodies."""
    style = case.style.value
    return SimulatorConfig(
        limits={style: case.limits},
        schedule=[LimitChange(at, style, spec) for at, spec in case.changes],
        latency_median=case.latency_median,
        latency_sigma=LATENCY_SIGMA,
        seed=seed,
        quota_failure=case.quota_failure,
    )


async def run_case(
    case: Case, seed: int, *, repeat: int = 1, seeds: int = 1, traces: Path | None = None
) -> tuple[list[WallclockResult], list[WallclockResult]]:
    """One case: ``repeat`` real runs (fresh simulator each) and ``seeds`` simulated ones.

    With ``traces`` (a directory), real run k's calls and rates are written there second
    by second beside those of the simulation's seed k (``<case>-run<k>.csv``,
    ``trace.render_diff``).
    """
    lines = _lines(case.prompts)
    prompts = _prompts(lines, _config(case, seed))
    sims = [CallTrace() for _ in range(seeds)]
    twins = [des_twin(case, prompts, seed + k, sims[k]) for k in range(seeds)]
    real = []
    for k in range(repeat):
        trace = CallTrace()
        makespan, limited, calls = await _real_run(case, lines, _config(case, seed + k), trace)
        label = f"wall clock (embedded runtime), run {k + 1}"
        real.append(WallclockResult(label, makespan, twins[0].ideal, limited, calls))
        if traces is not None:
            await anyio.Path(traces).mkdir(parents=True, exist_ok=True)
            diff = render_diff(trace, sims[min(k, seeds - 1)])
            await anyio.Path(traces / f"{case.name}-run{k + 1}.csv").write_text(diff)
    return real, [
        dataclasses.replace(t, label=f"simulation, seed {seed + k}") for k, t in enumerate(twins)
    ]


def plot_case(case: Case, path: Path, seed: int = 0) -> None:
    """Write ``path``: the simulation of ``case`` (embedded queue) beside the oracle."""
    scenario = case_scenario(case)
    kinds = (ClientKind.PROMPTFORGE, ClientKind.ORACLE)
    runs = [run_scenario(scenario, kind, seed=seed, options=_EMBEDDED) for kind in kinds]
    plot_scenario(scenario, runs, path)


async def run_wallclock(
    out: Path,
    *,
    seed: int = 0,
    cases: list[str] | None = None,
    repeat: int = 1,
    plots: Path | None = None,
    traces: Path | None = None,
) -> int:
    """Run the cases (default: all), print and write the comparison (Markdown at ``out``),
    and with ``plots`` a plot of each case's simulation there (``short-<case>.png``);
    with ``traces`` each real run beside its simulation, second by second (``run_case``).

    Returns 0 when every case's median makespan ratios are within 5 % of each other.
    """
    logging.getLogger("promptforge").setLevel(logging.WARNING)
    sections, close = [], True
    for name in cases or list(CASES):
        case = CASES[name]
        real, twin = await run_case(
            case, seed, repeat=repeat, seeds=3 if repeat > 1 else 1, traces=traces
        )
        section = _markdown(case, real, twin)
        if plots is not None:
            plot_case(case, plots / f"short-{case.name}.png", seed)
            section += f"\n![{case.title}]({plots.name}/short-{case.name}.png)\n"
        print(section, flush=True)
        sections.append(section)
        real_ratio = statistics.median(r.ratio for r in real)
        twin_ratio = statistics.median(t.ratio for t in twin)
        close = close and abs(real_ratio - twin_ratio) <= 0.05 * real_ratio
    await anyio.Path(out.parent).mkdir(parents=True, exist_ok=True)
    await anyio.Path(out).write_text(_HEADER + "\n".join(sections), encoding="utf-8")
    return 0 if close else 1
