"""Simulated providers, T*, and whole runs of small scenarios (deterministic under a seed)."""

from __future__ import annotations

import argparse
import dataclasses
import math
from pathlib import Path

import pytest

from promptforge.providers.base import CallOutcome
from promptforge.sim.providers.config import LimitSpec
from promptforge.sim.rates import cli
from promptforge.sim.rates.engine import EventLoop
from promptforge.sim.rates.metrics import ideal_time
from promptforge.sim.rates.provider import Background, ProviderModel, SimulatedProvider
from promptforge.sim.rates.report import judge, render_report
from promptforge.sim.rates.runner import ClientKind, run_scenario
from promptforge.sim.rates.scenarios import SCENARIOS, Scenario
from promptforge.sim.rates.signals import Style
from promptforge.sim.rates.workload import Prompt, WorkloadSpec, make_prompts

SMALL = 0.1  # a tenth of each scenario's prompts: a minute or so of virtual time


def _small(name: str) -> Scenario:
    return SCENARIOS[name].scaled(SMALL)


def test_the_provider_enforces_its_limit_and_shares_it_with_a_neighbour() -> None:
    loop = EventLoop()
    model = ProviderModel(
        Style.OPENAI,
        LimitSpec(rpm=600, tpm=10_000_000, burst_seconds=1.0),
        background=(Background(start=10.0, rpm=300),),
    )
    provider = SimulatedProvider(model, loop, seed=1)
    prompt = Prompt(0, 50, 50, None)
    admitted = [0, 0, 0]

    def call(phase: int) -> None:
        admitted[phase] += provider.call(prompt).outcome is CallOutcome.SUCCESS

    for k in range(1_000):  # 100 calls/s for 5 s against 10/s
        loop.at(k * 0.005, lambda: call(0))
    for k in range(100):  # 10/s from 10 s to 20 s: alone at first, then sharing
        loop.at(10.0 + k * 0.1, lambda k=k: call(1 if k < 50 else 2))
    loop.run(until=20.0)
    assert admitted[0] == pytest.approx(10 + 5 * 10, abs=2)  # burst of a second, then 10/s
    assert admitted[2] < 0.8 * admitted[1]  # the neighbour takes its share


def test_slow_calls_time_out_as_transient_and_limits_change_on_schedule() -> None:
    loop = EventLoop()
    model = ProviderModel(
        Style.GEMINI,
        LimitSpec(rpm=60, tpm=10_000_000, burst_seconds=1.0),
        changes=((5.0, LimitSpec(rpm=6_000, tpm=10_000_000, burst_seconds=1.0)),),
        latency_median=10.0,
        latency_sigma=0.0,
    )
    provider = SimulatedProvider(model, loop, seed=1)
    response = provider.call(Prompt(0, 10, 10, None), timeout=3.0)
    assert (response.outcome, response.latency) == (CallOutcome.TRANSIENT, 3.0)
    assert provider.call(Prompt(1, 10, 10, None)).outcome is CallOutcome.RATE_LIMITED
    loop.run(until=6.0)
    outcomes = {provider.call(Prompt(i, 10, 10, None)).outcome for i in range(50)}
    assert outcomes == {CallOutcome.SUCCESS}


def test_ideal_time_is_the_binding_limit_and_integrates_moving_limits() -> None:
    prompts = [Prompt(i, 1_000, 500, None) for i in range(600)]
    rpm_bound = ProviderModel(Style.MISTRAL, LimitSpec(rpm=60, tpm=10_000_000))
    assert ideal_time(rpm_bound, prompts) == pytest.approx(600.0)
    tpm_bound = ProviderModel(Style.MISTRAL, LimitSpec(rpm=6_000, tpm=90_000))
    assert ideal_time(tpm_bound, prompts) == pytest.approx(600 * 1_500 / 1_500)
    doubled = dataclasses.replace(rpm_bound, changes=((300.0, LimitSpec(rpm=120, tpm=10_000_000)),))
    assert ideal_time(doubled, prompts) == pytest.approx(300 + 300 / 2)
    shared = dataclasses.replace(rpm_bound, background=(Background(start=0.0, rpm=30),))
    assert ideal_time(shared, prompts) == pytest.approx(1_200.0)


def test_workloads_and_runs_are_deterministic_under_a_seed() -> None:
    spec = WorkloadSpec(count=50, max_tokens=100)
    assert make_prompts(spec, 3) == make_prompts(spec, 3) != make_prompts(spec, 4)
    assert all(p.output_tokens <= 100 for p in make_prompts(spec, 3))
    scenario = _small("gemini-no-headers")
    first = run_scenario(scenario, ClientKind.PROMPTFORGE, seed=7)
    again = run_scenario(scenario, ClientKind.PROMPTFORGE, seed=7)
    other = run_scenario(scenario, ClientKind.PROMPTFORGE, seed=8)
    assert first.figures == again.figures and first.successes == again.successes
    assert other.successes != first.successes


def test_a_token_bucket_told_the_limit_gets_no_429s() -> None:
    scenario = _small("openai-rpm")
    told = run_scenario(scenario, ClientKind.BUCKET_100).figures
    assert told.limited == 0
    assert told.successes == scenario.workload.count


@pytest.mark.parametrize("name", ["openai-rpm", "tpm-bound", "anthropic-accel"])
def test_the_oracle_is_the_floor_under_every_client(name: str) -> None:
    """Reading the provider's buckets, it never meets a 429, finishes every prompt and
    finishes no later than any client (ties: the told bucket where the limit is all)."""
    scenario = _small(name)
    runs = {kind: run_scenario(scenario, kind).figures for kind in ClientKind}
    oracle = runs[ClientKind.ORACLE]
    assert oracle.limited == 0 and oracle.successes == scenario.workload.count
    assert oracle.makespan is not None
    for kind, figures in runs.items():
        if figures.makespan is not None:
            assert oracle.makespan <= figures.makespan * (1 + 1e-3), kind


def test_a_fixed_pool_storms_a_small_limit() -> None:
    pool = run_scenario(SCENARIOS["openai-rpm"].scaled(0.5), ClientKind.POOL).figures
    assert pool.share_429 > 0.3


@pytest.mark.parametrize("name", ["openai-rpm", "gemini-no-headers", "limit-halves"])
def test_promptforge_finishes_every_prompt_near_the_limit(name: str) -> None:
    scenario = SCENARIOS[name].scaled(0.4)
    run = run_scenario(scenario, ClientKind.PROMPTFORGE)
    figures = run.figures
    assert figures.successes == scenario.workload.count and figures.failed == 0
    assert figures.ratio is not None and figures.ratio < 1.25
    assert figures.share_429 < 0.05
    assert figures.reach_90 is not None
    assert math.isfinite(figures.ideal)


def test_promptforge_spreads_a_huge_limit_over_several_queues() -> None:
    scenario = SCENARIOS["huge-limit"].scaled(0.02)
    assert scenario.peak_rate is not None and scenario.peak_rate > 500
    run = run_scenario(scenario, ClientKind.PROMPTFORGE)
    assert max(rate for _, rate in run.rates) > 500  # more than one queue can dispatch
    assert run.figures.successes == scenario.workload.count


def test_the_report_judges_the_goals() -> None:
    scenario = SCENARIOS["openai-rpm"].scaled(0.5)
    runs = [run_scenario(scenario, kind) for kind in ClientKind]
    verdict = judge(scenario, runs)
    assert verdict.goal == 1.05
    assert verdict.beats_75 and verdict.share_ok
    assert verdict.fewer_429 is None  # the told bucket had no 429s to beat
    text = render_report([scenario], {scenario.name: runs}, plot_dir="plots")
    assert scenario.title in text and "](plots/openai-rpm.png)" in text
    assert text.count("| PromptForge |") == 1


def test_the_cli_writes_a_report_and_plots(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    out = tmp_path / "bench" / "rate.md"
    args = parser.parse_args(
        [
            "--scenario",
            "tiny-limit",
            "--scale",
            "0.3",
            "--out",
            str(out),
            "--plots",
            str(tmp_path / "bench" / "png"),
        ]
    )
    assert cli.run(args) == 0
    assert "Tiny limit" in out.read_text()
    assert (tmp_path / "bench" / "png" / "tiny-limit.png").stat().st_size > 1_000
