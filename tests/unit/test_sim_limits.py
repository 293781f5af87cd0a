"""The simulator's rate limits: token buckets on a fake clock, no sleeping."""

from __future__ import annotations

import math

import pytest

from promptforge.sim.providers.anthropic import AnthropicWire
from promptforge.sim.providers.config import LimitChange, LimitSpec, SimulatorConfig
from promptforge.sim.providers.limits import Cost, LimitKind, ProviderLimiter, SimulatorLimiter
from promptforge.sim.providers.openai import OpenAIWire
from promptforge.sim.providers.text import complete
from promptforge.sim.providers.wire import SimRequest


class FakeTime:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _admitted(limiter: ProviderLimiter, count: int, now: float) -> int:
    return sum(limiter.decide(Cost(), now).admitted for _ in range(count))


def test_rpm_admits_the_limit_then_refuses_with_the_wait_and_usage() -> None:
    limiter = ProviderLimiter(LimitSpec(rpm=60, tpm=1_000_000), now=0.0)
    assert _admitted(limiter, 60, now=0.0) == 60
    decision = limiter.decide(Cost(), now=0.0)
    assert not decision.admitted
    assert decision.refusal is not None
    assert decision.refusal.kind is LimitKind.REQUESTS
    assert (decision.refusal.limit, decision.refusal.used, decision.refusal.requested) == (
        60,
        60,
        1,
    )
    assert decision.retry_after == pytest.approx(1.0)
    assert decision.views[LimitKind.REQUESTS].remaining == 0
    assert decision.views[LimitKind.REQUESTS].reset == pytest.approx(60.0)


def test_refill_is_continuous_not_a_minute_window() -> None:
    limiter = ProviderLimiter(LimitSpec(rpm=60, tpm=1_000_000), now=0.0)
    _admitted(limiter, 60, now=0.0)
    assert not limiter.decide(Cost(), now=0.5).admitted
    assert limiter.decide(Cost(), now=1.0).admitted
    assert not limiter.decide(Cost(), now=1.0).admitted
    # Ten seconds refill ten requests, not the whole minute's worth.
    assert _admitted(limiter, 20, now=11.0) == 10


def test_a_fixed_window_refuses_until_the_next_window_then_admits_all_of_it() -> None:
    """``window_seconds``: 1,200 RPM counted per 5 s window (100 each), not refilled."""
    limiter = ProviderLimiter(LimitSpec(rpm=1_200, tpm=10**8, window_seconds=5.0), now=0.0)
    assert _admitted(limiter, 120, now=1.0) == 100
    refused = limiter.decide(Cost(), now=3.5)  # a bucket would have refilled 50 by now
    assert not refused.admitted
    assert refused.retry_after == pytest.approx(1.5)  # the window's end, not a refill
    assert refused.views[LimitKind.REQUESTS].reset == pytest.approx(1.5)
    assert _admitted(limiter, 120, now=5.0) == 100  # the next window: all of it back
    assert _admitted(limiter, 1, now=9.99) == 0
    # A window left untouched is full; a raise applies from the current window on.
    limiter.apply(LimitSpec(rpm=2_400, tpm=10**8, window_seconds=5.0), now=12.0)
    assert _admitted(limiter, 250, now=12.0) == 200
    assert limiter.decide(Cost(), now=12.0).retry_after == pytest.approx(3.0)


def test_refused_requests_are_not_charged() -> None:
    limiter = ProviderLimiter(LimitSpec(rpm=60, tpm=100), now=0.0)
    assert limiter.decide(Cost(tokens=80), now=0.0).admitted
    for _ in range(5):
        assert not limiter.decide(Cost(tokens=80), now=0.0).admitted
    # Only the admitted request used anything: 59 requests and 20 tokens are left.
    views = limiter.views(now=0.0)
    assert views[LimitKind.REQUESTS].remaining == 59
    assert views[LimitKind.TOKENS].remaining == 20


def test_tpm_is_charged_up_front_and_a_refusal_says_how_long() -> None:
    limiter = ProviderLimiter(LimitSpec(rpm=1000, tpm=1200), now=0.0)
    assert limiter.decide(Cost(tokens=1000), now=0.0).admitted
    decision = limiter.decide(Cost(tokens=600), now=0.0)
    assert decision.refusal is not None
    assert decision.refusal.kind is LimitKind.TOKENS
    assert (decision.refusal.used, decision.refusal.requested) == (1000, 600)
    # 400 missing tokens at 20 tokens/s.
    assert decision.retry_after == pytest.approx(20.0)
    assert limiter.decide(Cost(tokens=600), now=20.0).admitted


def test_openai_charges_max_of_max_tokens_and_prompt_tokens() -> None:
    wire = OpenAIWire()
    completion = complete(0, "hi", None, 50)
    long_prompt = SimRequest("gpt-4o-mini", "x" * 4000, ("x" * 4000,), max_tokens=10)
    short_prompt = SimRequest("gpt-4o-mini", "hi", ("hi",), max_tokens=700)
    assert wire.cost(long_prompt, completion).tokens == long_prompt.input_tokens > 1000
    assert wire.cost(short_prompt, completion).tokens == 700


def test_a_request_larger_than_the_whole_tpm_is_too_large() -> None:
    limiter = ProviderLimiter(LimitSpec(rpm=100, tpm=1000), now=0.0)
    decision = limiter.decide(Cost(tokens=1500), now=0.0)
    assert decision.refusal is not None
    assert decision.refusal.too_large
    assert decision.refusal.requested == 1500


def test_burst_seconds_enforces_rpm_per_second_but_headers_stay_per_minute() -> None:
    limiter = ProviderLimiter(LimitSpec(rpm=60, tpm=100_000, burst_seconds=1.0), now=0.0)
    first = limiter.decide(Cost(), now=0.0)
    assert first.admitted
    assert first.views[LimitKind.REQUESTS].limit == 60
    assert first.views[LimitKind.REQUESTS].remaining == 59
    second = limiter.decide(Cost(), now=0.2)
    assert not second.admitted
    assert second.retry_after == pytest.approx(0.8)
    assert limiter.decide(Cost(), now=1.0).admitted


def test_anthropic_input_and_output_have_separate_buckets_and_unused_output_returns() -> None:
    spec = LimitSpec(rpm=1000, tpm=1500, input_tpm=1000, output_tpm=500)
    limiter = ProviderLimiter(spec, now=0.0)
    assert LimitKind.TOKENS not in limiter.views(0.0)
    wire = AnthropicWire()
    request = SimRequest("claude", "hello", ("hello",), max_tokens=400)
    completion = complete(0, "hello", 400, mean_tokens=30)
    assert completion.tokens < 100
    cost = wire.cost(request, completion)
    assert (cost.input_tokens, cost.output_tokens) == (request.input_tokens, 400)
    assert limiter.decide(cost, now=0.0).admitted
    refused = limiter.decide(cost, now=0.0)
    assert refused.refusal is not None
    assert refused.refusal.kind is LimitKind.OUTPUT_TOKENS  # input has plenty left
    limiter.refund(wire.unused(request, completion), now=0.0)
    assert limiter.views(0.0)[LimitKind.OUTPUT_TOKENS].remaining == 500 - completion.tokens
    assert limiter.decide(cost, now=0.0).admitted


def test_acceleration_refuses_a_ramp_from_idle_but_not_after_a_gradual_warm_up() -> None:
    spec = LimitSpec(rpm=6000, tpm=10**9, burst_seconds=1.0, acceleration_floor_rpm=240)
    cold = ProviderLimiter(spec, now=0.0)
    burst = [cold.decide(Cost(), now=0.0) for _ in range(10)]
    assert sum(d.admitted for d in burst) == 4  # the floor: 4 requests a second
    refusal = burst[-1].refusal
    assert refusal is not None
    assert refusal.kind is LimitKind.ACCELERATION
    # The request bucket alone (100 a second) would have admitted all ten.
    assert burst[-1].views[LimitKind.REQUESTS].remaining > 5000

    def admitted_at(limiter: ProviderLimiter, rate: float, start: float, seconds: float) -> int:
        n = int(rate * seconds)
        return sum(limiter.decide(Cost(), start + i / rate).admitted for i in range(n))

    cold_rate = admitted_at(ProviderLimiter(spec, now=0.0), rate=7.0, start=0.0, seconds=10.0)
    warm = ProviderLimiter(spec, now=0.0)
    assert admitted_at(warm, rate=3.5, start=0.0, seconds=60.0) == 210
    warm_rate = admitted_at(warm, rate=7.0, start=60.0, seconds=10.0)
    assert cold_rate < 60  # refused while ramping straight to 7/s
    assert warm_rate == 70  # doubling a sustained rate is allowed


def test_requests_per_day_is_a_fixed_daily_window() -> None:
    limiter = ProviderLimiter(LimitSpec(rpm=1000, tpm=10**6, rpd=3), now=0.0)
    assert _admitted(limiter, 3, now=100.0) == 3
    decision = limiter.decide(Cost(), now=200.0)
    assert decision.refusal is not None
    assert decision.refusal.kind is LimitKind.REQUESTS_PER_DAY
    assert decision.retry_after == pytest.approx(86_400 - 200)
    assert not limiter.decide(Cost(), now=86_000.0).admitted
    assert _admitted(limiter, 4, now=86_400.0) == 3


def test_schedule_changes_limits_at_their_time_and_usage_carries_over() -> None:
    clock = FakeTime()
    schedule = [LimitChange(at=10.0, provider="openai", limits=LimitSpec(rpm=120, tpm=1000))]
    limiter = SimulatorLimiter({"openai": LimitSpec(rpm=60, tpm=1000)}, schedule, clock=clock)
    assert sum(limiter.admit("openai", Cost()).admitted for _ in range(70)) == 60
    clock.now += 9.0
    assert limiter.views("openai")[LimitKind.REQUESTS].limit == 60
    assert limiter.views("openai")[LimitKind.REQUESTS].remaining == 9
    clock.now += 1.0
    views = limiter.views("openai")
    assert limiter.spec("openai").rpm == 120
    # 60 used, 10 refilled at 1/s before the change: 50 used of the new 120.
    assert views[LimitKind.REQUESTS].limit == 120
    assert views[LimitKind.REQUESTS].remaining == 70
    clock.now += 1.0  # now refilling at 2/s
    assert limiter.views("openai")[LimitKind.REQUESTS].remaining == 72


def test_reset_refills_and_restarts_the_schedule() -> None:
    clock = FakeTime()
    schedule = [LimitChange(at=5.0, provider="openai", limits=LimitSpec(rpm=1, tpm=1000))]
    limiter = SimulatorLimiter({"openai": LimitSpec(rpm=2, tpm=1000)}, schedule, clock=clock)
    clock.now += 6.0
    assert limiter.spec("openai").rpm == 1
    limiter.admit("openai", Cost())
    limiter.reset()
    assert limiter.spec("openai").rpm == 2
    assert limiter.views("openai")[LimitKind.REQUESTS].remaining == 2


def test_time_scale_speeds_refill_and_reports_clock_seconds() -> None:
    clock = FakeTime()
    limiter = SimulatorLimiter(
        {"openai": LimitSpec(rpm=60, tpm=1000)}, clock=clock, time_scale=10.0
    )
    for _ in range(60):
        limiter.admit("openai", Cost())
    refused = limiter.admit("openai", Cost())
    assert not refused.admitted
    assert refused.retry_after == pytest.approx(0.1)
    assert refused.views[LimitKind.REQUESTS].reset == pytest.approx(6.0)
    clock.now += 0.1
    assert limiter.admit("openai", Cost()).admitted


def test_unknown_provider_is_an_error() -> None:
    limiter = SimulatorLimiter({"openai": LimitSpec(rpm=1, tpm=1)}, clock=FakeTime())
    with pytest.raises(ValueError, match="cohere"):
        limiter.admit("cohere", Cost())


@pytest.mark.parametrize(
    "kwargs",
    [{"rpm": 0, "tpm": 1}, {"rpm": 1, "tpm": -5}, {"rpm": 1, "tpm": 1, "burst_seconds": 0.0}],
)
def test_limit_spec_rejects_non_positive_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="LimitSpec"):
        LimitSpec(**kwargs)  # type: ignore[arg-type]


def test_config_fills_missing_providers_and_checks_rates() -> None:
    config = SimulatorConfig(limits={"openai": LimitSpec(rpm=5, tpm=50)})
    assert config.limits["openai"].rpm == 5
    assert set(config.limits) == {"openai", "anthropic", "gemini", "mistral"}
    assert config.limits["anthropic"].split_tokens
    with pytest.raises(ValueError, match="error_rate"):
        SimulatorConfig(error_rate=1.5)
    with pytest.raises(ValueError, match="unknown providers"):
        SimulatorConfig(limits={"cohere": LimitSpec(rpm=1, tpm=1)})


def test_config_from_dict_builds_limits_and_schedule() -> None:
    config = SimulatorConfig.from_dict(
        {
            "limits": {"gemini": {"rpm": 10, "tpm": 1000, "rpd": 100}},
            "schedule": [{"at": 30, "provider": "gemini", "limits": {"rpm": 5, "tpm": 1000}}],
            "api_keys": ["k1"],
            "seed": 7,
        }
    )
    assert config.limits["gemini"].rpd == 100
    assert config.schedule[0].limits.rpm == 5
    assert config.api_keys == frozenset({"k1"})
    assert math.isclose(config.schedule[0].at, 30.0)


@pytest.mark.parametrize(
    "spec",
    [
        LimitSpec(rpm=60, tpm=1_000_000),
        LimitSpec(rpm=6_000, tpm=10_000, burst_seconds=1.0),
        LimitSpec(rpm=600, tpm=1_000_000, rpd=50),
        LimitSpec(rpm=100_000, tpm=10**9, burst_seconds=1.0, acceleration_floor_rpm=600),
    ],
)
def test_wait_says_exactly_when_a_call_would_be_admitted(spec: LimitSpec) -> None:
    """``wait`` charges nothing: 0 means ``decide`` admits now; otherwise it refuses until
    the wait has passed, and admits then (the oracle baseline relies on it)."""
    limiter = ProviderLimiter(spec, now=0.0)
    cost = Cost(tokens=100)
    now, admitted, refused = 0.0, 0, 0
    while now < 120.0 and admitted < 500:
        wait = limiter.wait(cost, now)
        assert limiter.wait(cost, now) == wait  # asking charged nothing
        if wait > 0:
            if math.isinf(wait):  # the daily quota: nothing before the day turns
                assert not limiter.decide(cost, now).admitted
                break
            if wait > 1e-6:  # (a wait of rounding size may be over halfway through)
                assert not limiter.decide(cost, now + 0.5 * wait).admitted
            refused += 1
            now += wait + 1e-6
            continue
        assert limiter.decide(cost, now).admitted
        admitted += 1
    assert admitted > 0 and refused > 0


def test_wait_is_infinite_for_a_call_larger_than_a_budget() -> None:
    limiter = ProviderLimiter(LimitSpec(rpm=60, tpm=1_000), now=0.0)
    assert limiter.wait(Cost(tokens=1_001), 0.0) == math.inf
    assert limiter.wait(Cost(tokens=1_000), 0.0) == 0.0
