"""The simulation against the wall clock: both sides traced alike, the controller's step
phase in the model, the embedded controller loop on its period's grid (issue 21)."""

from __future__ import annotations

import dataclasses
import math
import random
import time
from typing import Any

import httpx
import pytest

from promptforge.embedded.runtime import next_step_delay
from promptforge.embedded.server import BackgroundServer
from promptforge.sim.providers.config import LimitSpec, SimulatorConfig
from promptforge.sim.providers.server import create_app
from promptforge.sim.rates import wallclock
from promptforge.sim.rates.cases import (
    CASES,
    SHORT_CASES,
    STAND_IN_REFUSAL_LATENCY,
    case_model,
)
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


def test_a_header_rows_429s_follow_whether_the_first_refusal_beats_the_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Slow start spends the per-minute budgets (always about "full") at 1.5 times the
    # limit, so the 5 s bank (100 calls) runs dry 10 s (five periods) after the rise, in
    # the last dispatch gap before a step, at any phase. A refusal answered before that
    # step is cut at once (one 429); one answered after it waits a whole period at ten
    # refusals a second. The stand-in answers in 2 ms: one 429 at every phase, as the real
    # runs (1-2); a provider 50 ms away: 21 at half the phases (round 9).
    case = CASES["openai-1200"]
    prompts = wallclock._prompts(wallclock._lines(case.prompts), wallclock._config(case, 0))
    phases = [0.0, 0.1, 0.25, 0.5, 0.6, 0.75]
    near = [wallclock.des_twin(case, prompts, 0, matched=True, phase=p).limited for p in phases]
    assert max(near) <= 2
    far = dataclasses.replace(case_model(case), reject_latency=0.05)
    monkeypatch.setattr(wallclock, "case_model", lambda _: far)
    refusals = [wallclock.des_twin(case, prompts, 0, matched=True, phase=p).limited for p in phases]
    assert min(refusals) <= 2
    assert sum(15 <= r <= 25 for r in refusals) >= 3


@pytest.mark.anyio
async def test_the_stand_in_refuses_at_once_as_the_model_does() -> None:
    # The stand-in sleeps its latency (30 s here) for an answer, not for a 429: a refusal
    # is an HTTP round trip, which the model's stand-in cases take as 2 ms. (A 50 ms
    # refusal put a spent window's last 429s after the controller's step: the twin of a
    # real gemini-window run then cut by the window where the run cut by its dispatches,
    # 1.153 against 1.275 x T*.)
    config = SimulatorConfig(
        limits={"gemini": LimitSpec(rpm=1_000, tpm=1)}, latency_median=30.0, latency_sigma=0.0
    )
    body = {"contents": [{"role": "user", "parts": [{"text": "more than one token"}]}]}
    async with (
        BackgroundServer(create_app(config)) as server,
        httpx.AsyncClient(base_url=server.url, timeout=60.0) as client,
    ):
        started = time.monotonic()
        refused = await client.post(
            "/v1beta/models/gemini-2.5-flash:generateContent",
            json=body,
            headers={"x-goog-api-key": "AIza-test"},
        )
        elapsed = time.monotonic() - started
    assert refused.status_code == 429
    assert elapsed < 10.0  # an HTTP round trip, not the 30 s latency
    for case in SHORT_CASES.values():
        assert case_model(case).reject_latency == STAND_IN_REFUSAL_LATENCY < 0.01


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
