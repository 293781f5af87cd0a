"""The simulation against the wall clock: both sides traced alike, the controller's step
phase in the model, the embedded controller loop on its period's grid (issue 21)."""

from __future__ import annotations

import dataclasses
import math
import random
from typing import Any

import pytest

from promptforge.embedded.runtime import next_step_delay
from promptforge.sim.providers.config import LimitSpec
from promptforge.sim.rates import wallclock
from promptforge.sim.rates.cases import CASES
from promptforge.sim.rates.engine import EventLoop
from promptforge.sim.rates.forge import ForgeClient
from promptforge.sim.rates.provider import ProviderModel, SimulatedProvider
from promptforge.sim.rates.realrun import _Timed
from promptforge.sim.rates.recorder import Recorder
from promptforge.sim.rates.signals import Style
from promptforge.sim.rates.trace import (
    ADMITTED,
    FAILED,
    REFUSED,
    CallTrace,
    first_parting,
    per_second,
    render_diff,
)
from promptforge.sim.rates.workload import Prompt


def _trace(calls: list[tuple[float, str]], rates: list[tuple[float, float]]) -> CallTrace:
    trace = CallTrace()
    for at, outcome in calls:
        trace.call(at, outcome)
    for at, rate in rates:
        trace.rate(at, rate)
    return trace


def test_per_second_bins_calls_by_arrival_and_carries_the_last_rate() -> None:
    trace = _trace(
        [(0.1, ADMITTED), (0.9, REFUSED), (1.5, ADMITTED), (3.2, FAILED)],
        [(0.0, 1.0), (1.2, 5.0), (1.8, 6.0)],
    )
    seconds = per_second(trace)
    assert [(s.arrivals, s.admitted, s.refused) for s in seconds] == [
        (2, 1, 1),
        (1, 1, 0),
        (0, 0, 0),
        (1, 0, 0),
    ]
    assert [s.rate for s in seconds] == [1.0, 6.0, 6.0, 6.0]


def test_the_step_phase_is_where_the_steps_fell_within_the_period() -> None:
    assert CallTrace().step_phase(2.0) is None
    assert _trace([], [(1.0, 1.0), (3.0, 2.0), (5.04, 4.0)]).step_phase(2.0) == pytest.approx(
        0.507, abs=0.005
    )
    wrapped = _trace([], [(1.98, 1.0), (4.02, 2.0)]).step_phase(2.0)
    assert wrapped is not None
    assert min(wrapped, 1.0 - wrapped) == pytest.approx(0.0, abs=1e-6)  # not 0.5


def test_the_first_parting_is_the_first_second_that_differs_beyond_noise() -> None:
    steady = [(s + k / 20, ADMITTED) for s in range(6) for k in range(20)]
    storm = [(at, REFUSED if 4 <= at < 5 and round(at * 20) % 2 else ok) for at, ok in steady]
    real, twin = per_second(_trace(storm, [])), per_second(_trace(steady, []))
    assert first_parting(real, twin) == 4
    assert first_parting(twin, twin) is None
    slower = per_second(_trace([c for c in steady if c[0] < 2 or round(c[0] * 20) % 2], []))
    assert first_parting(slower, twin) == 2
    lines = render_diff(_trace(storm, []), _trace(steady, [])).splitlines()
    assert lines[0].startswith("second,real_calls,real_ok,real_429,real_rate,sim_calls")
    assert [line.rsplit(",", 1)[1] for line in lines[1:]] == ["0", "0", "0", "0", "1", "0"]


def test_the_simulated_controller_first_steps_at_its_phase() -> None:
    loop = EventLoop()
    model = ProviderModel(Style.OPENAI, LimitSpec(rpm=600, tpm=10**8), latency_median=0.2)
    prompts = [Prompt(i, 10, 10, None) for i in range(40)]
    recorder = Recorder(loop, len(prompts))
    options = dataclasses.replace(wallclock.embedded_options(0), tick_phase=0.25)
    client = ForgeClient(
        loop, SimulatedProvider(model, loop, 0), prompts, recorder, options=options, seed=0
    )
    client.start()
    loop.run(until=3.0)
    assert [at for at, _ in recorder.rates] == pytest.approx([0.0, 0.5, 2.5])


def test_seeds_spread_the_step_phase_over_the_period() -> None:
    phases = [wallclock.tick_phase(seed) for seed in range(3)]
    assert phases == pytest.approx([0.5, 0.118, 0.736], abs=1e-3)
    assert all(0 <= p < 1 for p in (wallclock.tick_phase(s) for s in range(100)))
    assert wallclock.embedded_options(1).tick_phase == phases[1]


def test_a_header_rows_429s_follow_where_the_step_falls_after_the_bank_runs_dry() -> None:
    # The 5 s bank runs dry about 11.9 s in while the budgets (per minute, always "full")
    # are spent at 1.5 times the limit: a step just after cuts at once (one 429); a step
    # that falls just before waits a whole period at ten refusals a second.
    case = CASES["openai-1200"]
    prompts = wallclock._prompts(wallclock._lines(case.prompts), wallclock._config(case, 0))
    refusals = {}
    for seed in (0, 1):  # steps at 0.50 and 0.12 of the period
        refusals[seed] = wallclock.des_twin(case, prompts, seed, matched=True).limited
    assert refusals[0] <= 2
    assert 15 <= refusals[1] <= 25


def test_the_controller_loop_steps_on_its_periods_grid() -> None:
    assert next_step_delay(0.0, 0.3, 2.0) == pytest.approx(1.7)
    assert next_step_delay(10.0, 12.5, 2.0) == pytest.approx(1.5)  # a round of 0.5 s
    assert next_step_delay(0.0, 4.0, 2.0) == pytest.approx(2.0)
    assert next_step_delay(0.0, 6.9, 2.0) == pytest.approx(1.1)  # a tick missed: skipped


@pytest.mark.anyio
async def test_the_real_run_notes_each_calls_arrival_and_outcome() -> None:
    statuses = iter([200, 429, 503])
    resets: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": next(statuses), "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def ignore(message: Any) -> None:
        return None

    async def nothing() -> Any:
        return {"type": "http.request"}

    trace = CallTrace()
    timed = _Timed(app, lambda: resets.append(1), trace)
    for path in ("/v1/chat/completions", "/v1/chat/completions", "/v1/chat/completions"):
        await timed({"type": "http", "path": path}, nothing, ignore)
    assert [outcome for _, outcome in trace.calls] == [ADMITTED, REFUSED, FAILED]
    assert resets == [1]
    assert trace.calls[0][0] == pytest.approx(0.0, abs=0.05)
    assert timed.first is not None
    assert timed.last is not None
    assert timed.last >= timed.first


@pytest.mark.anyio
async def test_the_real_run_counts_a_prompt_called_again_after_its_success() -> None:
    """Issue 21: no prompt is called twice except after a 429 or a 5xx. A retry after
    either is fine; a call of a prompt already answered is counted (and fails the run)."""
    answers = iter([(b"a", 429), (b"a", 503), (b"a", 200), (b"b", 200), (b"b", 200)])

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": scope["status"], "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def ignore(message: Any) -> None:
        return None

    timed = _Timed(app, lambda: None, CallTrace())
    for body, status in answers:

        async def request(body: bytes = body) -> Any:
            return {"type": "http.request", "body": body, "more_body": False}

        scope = {"type": "http", "path": "/v1/chat/completions", "status": status}
        await timed(scope, request, ignore)
    assert timed.repeated == 1  # b, answered, called again; a's retries are not counted


def test_a_twin_draws_the_latencies_the_simulator_draws_for_its_seed() -> None:
    # The real run of seed k and its twin see the same latencies in admission order (as
    # they see the same token counts): the simulator draws four fault numbers, then the
    # latency's normal, for each admitted call (``Simulator.handle``).
    model = ProviderModel(
        Style.GEMINI, LimitSpec(rpm=6000, tpm=10**8), latency_median=0.5, latency_sigma=0.5
    )
    provider = wallclock._TwinProvider(model, EventLoop(), 7, None)
    rng = random.Random(7)
    expected = []
    for _ in range(5):
        for _ in range(4):
            rng.random()
        expected.append(0.5 * math.exp(0.5 * rng.gauss(0.0, 1.0)))
    got = [provider.call(Prompt(i, 10, 10, None)).latency for i in range(5)]
    assert got == pytest.approx(expected)
