"""Headerless keys: how much the provider banks, learnt at slow start's cliff, and what it
buys (issue 21): probes past the estimate are proven clean once that bank would be
spent, so a provider that banks seconds has its risen limit found in seconds.

Runs of the real controller against the provider simulator's limiter (``sim.rates``), on
both runtimes' queues: the embedded dispatcher and Cloud Tasks (5 s apply delay, gate).
"""

from __future__ import annotations

import pytest

from promptforge.providers.base import CallOutcome
from promptforge.ratecontrol.controller import ControllerState
from promptforge.sim.providers.config import LimitSpec
from promptforge.sim.rates.cloudtasks import CloudTasksSpec
from promptforge.sim.rates.engine import EventLoop
from promptforge.sim.rates.forge import ForgeClient, ForgeOptions
from promptforge.sim.rates.provider import ProviderModel, SimulatedProvider
from promptforge.sim.rates.recorder import Recorder
from promptforge.sim.rates.signals import Style
from promptforge.sim.rates.workload import WorkloadSpec, make_prompts
from tests.unit._rate_calls import CFG

_QUEUES = {
    "embedded": ForgeOptions(queue=CloudTasksSpec(apply_delay=0.0), gate=False),
    "cloud-tasks": ForgeOptions(queue=CloudTasksSpec(apply_delay=5.0), gate=True),
}
_RISE_AT = 120.0


def _headerless(
    rpm: int, bank: float, queue: str, *, seed: int = 0, rises_to: int | None = None
) -> tuple[ControllerState, Recorder]:
    """A Gemini-like key (no headers, 429s with RetryInfo only) banking ``bank`` seconds."""

    def limits(per_minute: int) -> LimitSpec:
        return LimitSpec(rpm=per_minute, tpm=10**9, burst_seconds=bank)

    changes = () if rises_to is None else ((_RISE_AT, limits(rises_to)),)
    model = ProviderModel(
        Style.GEMINI,
        limits(rpm),
        changes=changes,
        latency_median=0.5,
        latency_sigma=0.5,
        quota_details=False,
    )
    loop = EventLoop()
    prompts = make_prompts(WorkloadSpec(count=rpm * 10), seed)
    recorder = Recorder(loop, len(prompts))
    provider = SimulatedProvider(model, loop, seed)
    client = ForgeClient(loop, provider, prompts, recorder, options=_QUEUES[queue], seed=seed)
    client.start()
    loop.run(until=_RISE_AT + 60.0 if rises_to is not None else 60.0)
    return client.state, recorder


@pytest.mark.parametrize("bank", [5.0, 20.0, 60.0])
def test_the_bank_is_measured_at_the_cliff_that_ends_slow_start(bank: float) -> None:
    state, _ = _headerless(600, bank, "embedded")
    assert state.bank_seconds is not None
    assert state.bank_seconds == pytest.approx(bank, rel=0.25)


@pytest.mark.parametrize("queue", sorted(_QUEUES))
def test_the_bank_stays_within_its_bounds(queue: str) -> None:
    for bank in (1.0, 5.0, 120.0):
        state, _ = _headerless(600, bank, queue)
        assert state.bank_seconds is not None
        assert 2 * CFG.control_period <= state.bank_seconds <= CFG.burst_horizon


@pytest.mark.parametrize("queue", sorted(_QUEUES))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_risen_limit_is_found_within_seconds_where_the_bank_is_short(
    queue: str, seed: int
) -> None:
    """600 RPM in 5-second buckets, 1,200 from 120 s: 90 % of the new limit delivered over
    ten seconds within 45 s of the rise (against a minute's bank the same takes minutes:
    each probe must outlast what the provider may have banked)."""
    _, recorder = _headerless(600, 5.0, queue, seed=seed, rises_to=1_200)
    ok = recorder.series(CallOutcome.SUCCESS)
    start = int(_RISE_AT)
    wanted = 0.9 * 1_200 / 60.0 * 10
    found = [t for t in range(start, start + 45) if sum(ok[t : t + 10]) >= wanted]
    counts = [sum(ok[t : t + 10]) for t in range(start, start + 60, 10)]
    assert found, f"10 s success counts after the rise: {counts}"
