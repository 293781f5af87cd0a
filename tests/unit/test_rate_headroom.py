"""Queue headroom: the queue runs ahead of a ramping rate, the gate and the measures follow."""

from __future__ import annotations

import dataclasses
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from promptforge.core.deps import CoreConfig
from promptforge.core.queues import rate_moved
from promptforge.providers.base import CallOutcome
from promptforge.ratecontrol.base import Observation
from promptforge.ratecontrol.controller import ControllerState, initial_state, step
from promptforge.ratecontrol.gate import admission
from promptforge.ratecontrol.headroom import queue_history, queue_rate, record_queue_rate
from promptforge.ratecontrol.measure import DEFAULT_CONFIG, dispatched_rate

GATED = dataclasses.replace(DEFAULT_CONFIG, apply_delay=5.0, gated=True)
NOW = 1_000.0

_rates = st.floats(0.01, 2_000.0)


@settings(max_examples=300, deadline=None)
@given(
    rate=_rates,
    delivered=st.none() | _rates,
    estimate=st.none() | _rates,
    stated=st.booleans(),
    gentle=st.booleans(),
    paused=st.booleans(),
    answered=st.booleans(),
    gated=st.booleans(),
    delay=st.sampled_from([0.0, 5.0, 15.0]),
    upper=_rates,
    cap=st.sampled_from([500.0, 1_000.0, 2_500.0]),
)
def test_the_queue_rate_is_at_least_the_decided_one_and_within_every_cap(
    rate: float,
    delivered: float | None,
    estimate: float | None,
    stated: bool,
    gentle: bool,
    paused: bool,
    answered: bool,
    gated: bool,
    delay: float,
    upper: float,
    cap: float,
) -> None:
    """Never under the decided rate; headroom only gated, unpaused, in a headerless ramp
    (or before any call has answered)."""
    config = dataclasses.replace(DEFAULT_CONFIG, apply_delay=delay, gated=gated)
    state = ControllerState(
        rate=rate,
        updated_at=NOW,
        delivered=delivered,
        limit_estimate=estimate,
        limit_requests=600.0 if stated else None,
        gentle=gentle,
        paused_until=NOW + 30.0 if paused else None,
        latency=1.0 if answered else None,
    )
    got = queue_rate(state, NOW, upper, cap=cap, config=config)
    assert got >= rate
    # Above the decided rate only within the bounds, the queues' cap and one ramp step
    # (before the first answer: the first-answer headroom).
    factor = config.gentle_factor if gentle else config.slow_start_factor
    if not answered and delivered is None:
        factor = config.first_answer_headroom
    assert got <= max(rate, min(upper, cap, rate * factor)) * (1 + 1e-12)
    if delivered is not None:
        assert got <= max(rate, config.slow_start_lead * delivered) * (1 + 1e-12)
    ramping = estimate is None and not stated and not paused and gated and delay > 0
    if not ramping:
        assert got == rate


def test_before_the_first_answer_the_queue_runs_ahead_by_the_first_answer_headroom() -> None:
    fresh = initial_state(NOW, initial_rate=1.0, config=GATED)
    assert fresh.rate == 1.0
    assert queue_history(fresh)[-1][1] == GATED.first_answer_headroom
    # Once a call has answered, a headerless ramp runs one slow-start step ahead.
    answered = dataclasses.replace(fresh, latency=1.0, delivered=1.0)
    assert queue_rate(answered, NOW, 2_000.0, cap=500.0, config=GATED) == 2.0
    # Ungated (the embedded dispatcher applies rates at once): no headroom at all.
    assert queue_history(initial_state(NOW, initial_rate=1.0))[-1][1] == 1.0


def test_a_headerless_ramp_gets_its_next_step_within_the_lead_and_the_caps() -> None:
    state = ControllerState(rate=10.0, updated_at=NOW, delivered=10.0, latency=1.0)
    assert queue_rate(state, NOW, 2_000.0, cap=500.0, config=GATED) == 20.0
    slow = dataclasses.replace(state, delivered=4.0)  # 3 x delivered = 12 < 2 x 10
    assert queue_rate(slow, NOW, 2_000.0, cap=500.0, config=GATED) == GATED.slow_start_lead * 4.0
    assert queue_rate(state, NOW, 15.0, cap=500.0, config=GATED) == 15.0  # a user ceiling
    assert queue_rate(state, NOW, 2_000.0, cap=14.0, config=GATED) == 14.0  # the queues' cap
    fast = dataclasses.replace(state, rate=800.0, delivered=800.0)
    assert queue_rate(fast, NOW, 2_000.0, cap=500.0, config=GATED) == 800.0  # never under


def test_step_configures_the_queue_ahead_of_a_gated_ramp_and_remembers_it() -> None:
    state = initial_state(0.0, initial_rate=5.0, config=GATED)
    calls = [
        Observation(at=1.0 + i / 10, outcome=CallOutcome.SUCCESS, latency=0.5) for i in range(10)
    ]
    state, decision = step(state, calls, 2.0, config=GATED, queue_cap=500.0)
    assert decision.queue_rate > decision.rate
    assert queue_history(state)[-1] == (2.0, decision.queue_rate)
    assert state.history[-1][1] == decision.rate
    restored = ControllerState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert restored.configured == state.configured
    _, decision = step(state, [], 4.0, config=GATED, queue_cap=decision.rate)
    assert decision.queue_rate == decision.rate
    ungated = dataclasses.replace(GATED, gated=False)
    _, decision = step(initial_state(0.0, initial_rate=5.0), calls, 2.0, config=ungated)
    assert decision.queue_rate == decision.rate


def test_a_raise_within_the_headroom_reaches_calls_at_once() -> None:
    decided = ((0.0, 10.0), (10.0, 20.0))
    configured = ((0.0, 20.0), (10.0, 40.0))
    # The queue configured at 20/s since t=0 dispatches 20/s by t=5: the raise at t=10 counts.
    assert dispatched_rate(decided, 10.0, 12.0, GATED, configured) == 20.0
    # Without headroom it waits for the queue (apply_delay 5 s) ...
    assert dispatched_rate(decided, 10.0, 12.0, GATED) == 10.0
    # ... and a queue above the decided rate never lets more than the decided rate through.
    assert dispatched_rate(decided, 5.0, 8.0, GATED, configured) == 10.0


def test_the_gate_thins_the_headroom_down_to_the_decided_rate() -> None:
    state = ControllerState(
        rate=10.0,
        updated_at=NOW,
        history=((NOW - 60.0, 10.0),),
        configured=((NOW - 60.0, 20.0),),
    )
    deferred = [admission(state, NOW, salt=f"p{i}", config=GATED) for i in range(2_000)]
    share = sum(d is not None for d in deferred) / len(deferred)
    assert 0.45 < share < 0.55  # the queue dispatches 20/s, the controller wants 10/s
    level = record_queue_rate(state, NOW - 30.0, 10.0)
    assert level.configured == ((NOW - 60.0, 20.0), (NOW - 30.0, 10.0))
    assert all(admission(level, NOW, salt=f"p{i}", config=GATED) is None for i in range(200))
    # A state saved before the queue rate was kept: the decided history stands for it.
    older = dataclasses.replace(state, configured=())
    assert all(admission(older, NOW, salt=f"p{i}", config=GATED) is None for i in range(200))


def test_in_avoidance_the_queue_runs_one_update_step_ahead_so_small_probes_reach_calls() -> None:
    """The Google runtime sends a queue rate only when it moved ``queue_rate_step`` (10 %)
    from the one last sent (``core.queues.rate_moved``): probes of 1, 2 and 4 % would
    wait for the sum. Configured one step above the decided rate, the queue already
    dispatches every probe under the step (the gate thins it to the decided rate)."""
    config = dataclasses.replace(GATED, queue_step=0.1)
    held = ControllerState(rate=10.0, updated_at=NOW, limit_estimate=10.1, latency=1.0)
    sent = queue_rate(held, NOW, 2_000.0, cap=500.0, config=config)
    assert sent == 10.0 * 1.1
    for probe in (10.1, 10.3, 10.7):  # +1, +2, +4 % of the estimate
        probing = dataclasses.replace(held, rate=probe)
        wanted = queue_rate(probing, NOW, 2_000.0, cap=500.0, config=config)
        assert not rate_moved(sent, wanted, config.queue_step)  # no UpdateQueue ...
        assert min(sent, probe) == probe  # ... and the queue dispatches the probe anyway
    assert queue_rate(held, NOW, 10.5, cap=500.0, config=config) == 10.5  # within the bounds
    assert queue_rate(held, NOW, 2_000.0, cap=500.0, config=GATED) == 10.0  # no step: none
    ungated = dataclasses.replace(config, gated=False)
    assert queue_rate(held, NOW, 2_000.0, cap=500.0, config=ungated) == 10.0
    assert CoreConfig(queue_apply_delay=5.0, queue_rate_step=0.1).rate_control.queue_step == 0.1
