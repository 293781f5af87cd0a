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
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import anyio
from pydantic import SecretStr

from promptforge.bench.prompts import example_prompt_lines
from promptforge.ratesim.cloudtasks import CloudTasksSpec
from promptforge.ratesim.engine import EventLoop
from promptforge.ratesim.forge import ForgeClient, ForgeOptions
from promptforge.ratesim.metrics import ideal_time
from promptforge.ratesim.provider import ProviderModel, SimulatedProvider
from promptforge.ratesim.recorder import Recorder
from promptforge.ratesim.signals import Style
from promptforge.ratesim.workload import Prompt
from promptforge.simulator.config import LimitSpec, SimulatorConfig
from promptforge.simulator.text import complete, prompt_tokens

__all__ = ["WallclockResult", "des_twin", "run_wallclock"]


@dataclass(frozen=True)
class Case:
    """One wall-clock comparison: a provider, its limits, latency and the prompt count."""

    name: str
    style: Style
    model: str
    limits: LimitSpec
    latency_median: float
    prompts: int
    title: str


CASES = {
    "openai": Case(
        "openai",
        Style.OPENAI,
        "gpt-4o-mini",
        LimitSpec(rpm=500, tpm=200_000),
        1.0,
        2_400,  # T* = 4.8 min
        "scenario 1 (OpenAI-like, limit headers, RPM-bound)",
    ),
    "gemini": Case(
        "gemini",
        Style.GEMINI,
        "gemini-2.5-flash",
        LimitSpec(rpm=300, tpm=1_000_000),
        1.5,
        1_200,  # T* = 4 min
        "scenario 2's provider (Gemini-like, no limit headers)",
    ),
}
LATENCY_SIGMA = 0.5


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


def _model(case: Case) -> ProviderModel:
    return ProviderModel(
        case.style, case.limits, latency_median=case.latency_median, latency_sigma=LATENCY_SIGMA
    )


def des_twin(case: Case, prompts: list[Prompt], seed: int) -> WallclockResult:
    """The simulation of the wall-clock run: the embedded dispatcher applies rates at once."""
    loop = EventLoop()
    provider = SimulatedProvider(_model(case), loop, seed)
    recorder = Recorder(loop, len(prompts))
    options = ForgeOptions(queue=CloudTasksSpec(apply_delay=0.0), gate=False)
    client = ForgeClient(loop, provider, prompts, recorder, options=options, seed=seed)
    client.start()
    loop.run(until=24 * 3600.0)
    makespan = recorder.makespan if recorder.makespan is not None else float("inf")
    limited = sum(recorder.bins[1])
    return WallclockResult(
        "simulation", makespan, ideal_time(_model(case), prompts), limited, recorder.calls
    )


async def _real_run(
    case: Case, lines: list[str], config: SimulatorConfig
) -> tuple[float, int, int]:
    """Makespan (processing start to completion), 429s and calls of a real embedded run."""
    from rich.console import Console

    from promptforge.cli.client import PromptForgeClient as ApiClient
    from promptforge.cli.submit import submit_file
    from promptforge.clock import SystemClock
    from promptforge.core.auth import create_api_key
    from promptforge.local.runtime import EmbeddedRuntime
    from promptforge.local.server import BackgroundServer
    from promptforge.settings import Settings
    from promptforge.simulator.server import create_app

    sim_app = create_app(config)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        prompts_file = data / "prompts.jsonl"
        await anyio.Path(prompts_file).write_text("\n".join(lines) + "\n", encoding="utf-8")
        async with BackgroundServer(sim_app) as simulator:
            settings = Settings(data_dir=data / "state", port=0).model_copy(
                update={
                    f"{case.name}_api_key": SecretStr("sim-wallclock"),
                    f"{case.name}_base_url": simulator.url,
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
                        provider=case.name,
                        model=case.model,
                        out_dir=data / "out",
                        show_progress=False,
                        console=Console(quiet=True),
                    )
                    status = await client.status(summary.job_id)
        stats = sim_app.state.simulator.stats.providers[case.name]
    started = datetime.fromisoformat(str(status["started_processing_at"]))
    finished = datetime.fromisoformat(str(status["completed_at"]))
    return (finished - started).total_seconds(), stats.rate_limited, stats.requests


def _markdown(case: Case, real: WallclockResult, twin: WallclockResult) -> str:
    gap = abs(real.ratio - twin.ratio) / twin.ratio
    rows = "\n".join(
        f"| {r.label} | {r.makespan:,.1f} | {r.ratio:.3f} | {r.limited:,} ({r.share_429:.2%}) |"
        for r in (real, twin)
    )
    return (
        f"## {case.name}: {case.title}\n\n"
        f"{case.limits.rpm:,} RPM, {case.limits.tpm:,} TPM, latency median "
        f"{case.latency_median:g} s, {case.prompts:,} example prompts. "
        f"T* = {twin.ideal:,.1f} s.\n\n"
        "| run | makespan (s) | ÷ T* | 429s |\n|---|---:|---:|---:|\n"
        f"{rows}\n\n"
        f"The two ratios differ by {gap:.1%} (goal: within 10 %).\n"
    )


_HEADER = (
    "# Rate control: wall clock against the simulation\n\n"
    "Generated by `promptforge bench rate --wallclock`: the embedded runtime "
    "(`promptforge serve`'s code: SQLite store, in-process dispatcher, controller loop, "
    "httpx) against the provider simulator over HTTP on 127.0.0.1, in real time, and the "
    "discrete-event simulation of the same prompts (same token counts) and limits. "
    "Makespan = from the job's processing start to its completion.\n\n"
)


async def run_case(case: Case, seed: int) -> tuple[WallclockResult, WallclockResult]:
    """One case, for real and simulated."""
    config = SimulatorConfig(
        limits={case.name: case.limits},
        latency_median=case.latency_median,
        latency_sigma=LATENCY_SIGMA,
        seed=seed,
    )
    lines = _lines(case.prompts)
    prompts = _prompts(lines, config)
    twin = des_twin(case, prompts, seed)
    makespan, limited, calls = await _real_run(case, lines, config)
    real = WallclockResult("wall clock (embedded runtime)", makespan, twin.ideal, limited, calls)
    return real, twin


async def run_wallclock(out: Path, *, seed: int = 0, cases: list[str] | None = None) -> int:
    """Run the cases (default: all), print and write the comparison (Markdown at ``out``).

    Returns 0 when every case's two makespan ratios are within 10 % of each other.
    """
    logging.getLogger("promptforge").setLevel(logging.WARNING)
    sections, close = [], True
    for name in cases or list(CASES):
        case = CASES[name]
        real, twin = await run_case(case, seed)
        section = _markdown(case, real, twin)
        print(section)
        sections.append(section)
        close = close and abs(real.ratio - twin.ratio) <= 0.1 * twin.ratio
    await anyio.Path(out.parent).mkdir(parents=True, exist_ok=True)
    await anyio.Path(out).write_text(_HEADER + "\n".join(sections), encoding="utf-8")
    return 0 if close else 1
