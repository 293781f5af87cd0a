"""Run one scenario with one client in virtual time, and collect its figures and series."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol

from promptforge.providers.base import CallOutcome
from promptforge.sim.rates.baselines import FixedConcurrencyClient, OracleClient, TokenBucketClient
from promptforge.sim.rates.engine import EventLoop
from promptforge.sim.rates.forge import ForgeClient, ForgeOptions
from promptforge.sim.rates.metrics import Figures, figures, ideal_time, limit_series
from promptforge.sim.rates.provider import SimulatedProvider
from promptforge.sim.rates.recorder import Recorder
from promptforge.sim.rates.scenarios import Scenario
from promptforge.sim.rates.workload import make_prompts

__all__ = ["ClientKind", "Run", "run_scenario"]

POOL_CONCURRENCY = 50
_HORIZON_FACTOR = 5.0
_HORIZON_EXTRA = 900.0


class ClientKind(enum.StrEnum):
    """The clients a scenario is run with."""

    PROMPTFORGE = "promptforge"
    BUCKET_100 = "bucket-100"
    BUCKET_75 = "bucket-75"
    POOL = "pool"
    ORACLE = "oracle"


LABELS = {
    ClientKind.PROMPTFORGE: "PromptForge",
    ClientKind.BUCKET_100: "token bucket, told 100%",
    ClientKind.BUCKET_75: "token bucket, told 75%",
    ClientKind.POOL: f"{POOL_CONCURRENCY} workers + backoff",
    ClientKind.ORACLE: "oracle (reads the buckets)",
}


class _Client(Protocol):
    def start(self) -> None: ...


@dataclass
class Run:
    """One client's run: its figures, and per-second series for the plots."""

    scenario: str
    kind: ClientKind
    figures: Figures
    successes: list[int]
    limited: list[int]
    limits: list[float]
    rates: list[tuple[float, float]] = field(default_factory=list)


def run_scenario(
    scenario: Scenario,
    kind: ClientKind,
    *,
    seed: int = 0,
    options: ForgeOptions | None = None,
) -> Run:
    """Run ``scenario`` with one client; deterministic for a given seed."""
    loop = EventLoop()
    prompts = make_prompts(scenario.workload, seed)
    provider = SimulatedProvider(scenario.provider, loop, seed)
    recorder = Recorder(loop, len(prompts))
    client: _Client
    if kind is ClientKind.PROMPTFORGE:
        options = options or ForgeOptions(peak_rate=scenario.peak_rate)
        client = ForgeClient(loop, provider, prompts, recorder, options=options, seed=seed)
    elif kind is ClientKind.ORACLE:
        client = OracleClient(loop, provider, prompts, recorder)
    elif kind is ClientKind.POOL:
        client = FixedConcurrencyClient(
            loop, provider, prompts, recorder, concurrency=POOL_CONCURRENCY, seed=seed
        )
    else:
        fraction = 1.0 if kind is ClientKind.BUCKET_100 else 0.75
        client = TokenBucketClient(
            loop,
            provider,
            prompts,
            recorder,
            rpm=scenario.told_rpm,
            tpm=scenario.told_tpm,
            fraction=fraction,
        )
    ideal = ideal_time(scenario.provider, prompts)
    client.start()
    loop.run(until=ideal * _HORIZON_FACTOR + _HORIZON_EXTRA)
    seconds = len(recorder.series(CallOutcome.SUCCESS))
    limits = limit_series(scenario.provider, prompts, max(seconds, 1))
    return Run(
        scenario=scenario.name,
        kind=kind,
        figures=figures(LABELS[kind], recorder, ideal, limits, scenario.change_at),
        successes=recorder.series(CallOutcome.SUCCESS),
        limited=recorder.series(CallOutcome.RATE_LIMITED),
        limits=limits,
        rates=recorder.rates,
    )
