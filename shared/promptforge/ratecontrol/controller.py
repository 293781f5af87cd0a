"""The rate controller: one pure state machine per rate key (provider, model, credential).

``step(state, observations, now) -> (state, decision)`` reads no clock, draws no random
numbers and does no I/O, so a discrete-event simulation can drive it in virtual time
and the runtime can persist its state as JSON between invocations.

The policy, in requests per second:

- **Slow start**: the rate doubles per measurement window while the calls show it is
  used (app-limited rates do not grow), until the first 429 or a stated limit. Growth
  is clocked by what comes back: from the rate the observed calls were dispatched at.
- **Stated limits** (rate-limit headers, user ``rpm``/``tpm``) cap the rate directly;
  token limits are turned into requests through running averages of real usage and of
  the share of it the provider charges (``budget.py``). Remaining budgets are spent
  down to a reserve, so a stated limit is met at 100 %, not at a safety margin.
- **Fresh 429s** (on calls started after the last cut) set the estimate to the rate
  the provider *accepted* in the window and cut the rate to ``target`` times that: a
  cut by exactly the measured excess, not by a fixed factor. Then **avoidance**: climb
  back to the target, hold it for a few clean windows, then probe past it in doubling
  steps, raising the estimate to every rate accepted cleanly, so a raised limit is
  found and a shared one is given up within a period.
- A 429 that came although every stated budget had room (per-second enforcement, an
  acceleration limit) makes growth gentle and budgets unspendable in bursts.
- ``retry-after`` pauses dispatch only when most calls were 429 or the wait is long;
  a per-day quota pauses until the daily reset. Transient and permanent errors do not
  move the rate.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from promptforge.providers.base import CallOutcome
from promptforge.ratecontrol.bank import banked_credit, delivered_rate
from promptforge.ratecontrol.base import Observation
from promptforge.ratecontrol.brake import measuring
from promptforge.ratecontrol.budget import (
    KINDS,
    charge_ratio,
    latest_readings,
    named_at,
    stated_cap,
    stated_floor,
)
from promptforge.ratecontrol.headroom import queue_rate, record_queue_rate
from promptforge.ratecontrol.measure import (
    CONTROL_PERIOD,
    DEFAULT_CONFIG,
    ControllerConfig,
    ewma,
    latest_limit,
    observation_order,
    record_rate,
    tally,
    unit_hash,
)
from promptforge.ratecontrol.policy import (
    close_window,
    cut,
    pause_until,
    reset_window,
    stated_start,
    window_done,
)
from promptforge.ratecontrol.state import NO_CEILINGS, Ceilings, ControllerState, Decision

__all__ = [
    "CONTROL_PERIOD",
    "DEFAULT_CONFIG",
    "Ceilings",
    "ControllerConfig",
    "ControllerState",
    "Decision",
    "initial_state",
    "named_max_age",
    "retry_delay",
    "step",
]


def initial_state(
    now: float,
    ceilings: Ceilings = NO_CEILINGS,
    *,
    initial_rate: float = 1.0,
    config: ControllerConfig = DEFAULT_CONFIG,
) -> ControllerState:
    """A fresh key: slow start from ``initial_rate``, or straight at the user's ceilings."""
    if not (math.isfinite(initial_rate) and initial_rate > 0):
        raise ValueError(f"initial_rate must be a positive number, got {initial_rate!r}")
    blank = ControllerState(rate=initial_rate, updated_at=now, probe_step=config.probe_start)
    lower, upper = _bounds(blank, ceilings, now, config)
    given = ceilings.rpm is not None or ceilings.tpm is not None
    rate = upper if given else min(max(initial_rate, lower), upper)
    state = dataclasses.replace(blank, rate=rate, window_start=now, history=((now, rate),))
    queued = queue_rate(state, now, upper, cap=math.inf, config=config)
    return dataclasses.replace(state, configured=((now, queued),))


def step(
    state: ControllerState,
    observations: Sequence[Observation],
    now: float,
    ceilings: Ceilings = NO_CEILINGS,
    *,
    config: ControllerConfig = DEFAULT_CONFIG,
    queue_cap: float = math.inf,
) -> tuple[ControllerState, Decision]:
    """Fold one control period's observations into the state and decide the next rate.

    ``queue_cap``: the most the key's queues can dispatch per second (Cloud Tasks: 500
    per queue); the queue rate (``Decision.queue_rate``) stays under it.
    """
    now = max(now, state.updated_at)
    obs = sorted(observations, key=observation_order)
    fresh_after = None
    if state.decreased_at is not None:
        # A cut reaches calls at once through the workers' gate, else when the queue applies it.
        fresh_after = state.decreased_at + config.settle
        if not config.gated:
            fresh_after += config.apply_delay
    counts = tally(obs, fresh_after, config.reserve)
    learned = _expire_named(_learn(state, obs, config), now, config)
    learned = dataclasses.replace(
        learned,
        # Answered calls, 429s and transient failures aside: what the provider took in.
        delivered=delivered_rate(
            state, counts.calls - counts.limited - counts.transient, now - state.updated_at, config
        ),
        credit=banked_credit(state, now - state.updated_at, config),
    )
    paused_until = pause_until(learned, counts, now, config)
    window = dataclasses.replace(
        learned,
        window_calls=state.window_calls + counts.calls,
        window_ok=state.window_ok + counts.ok,
        window_transient=state.window_transient + counts.transient,
        window_limited=state.window_limited + counts.fresh_limited,
    )
    if counts.fresh_limited and measuring(state, now, config):
        # A worker braked moments ago: cut once calls at the braked rate have answered.
        decided = dataclasses.replace(window, dry_at=state.dry_at or counts.first_fresh)
    elif counts.fresh_limited or state.window_limited:
        decided = cut(window, counts, now, config)
    elif state.saw_429 or counts.limited:
        # The period after a 429, or one with stale 429s, is no clean window: hold.
        decided = reset_window(window, now)
    elif not window_done(state, now, config) and not stated_start(window, config):
        decided = window  # keep measuring
    else:
        decided = close_window(window, now, paused_until is not None, config)
    lower, upper = _bounds(decided, ceilings, now, config)
    free = stated_floor(decided, config, now)
    if free is not None:
        # What the headers say is free stops any cut; after a 429 it raises nothing.
        held = state.rate if state.saw_429 or counts.limited else math.inf
        lower = max(lower, min(free, upper, held))
    rate = min(max(decided.rate, lower), upper)
    new_state = dataclasses.replace(
        decided,
        rate=rate,
        updated_at=now,
        paused_until=paused_until,
        saw_429=counts.limited > 0,
        history=record_rate(state.history, now, rate),
    )
    queued = queue_rate(new_state, now, upper, cap=queue_cap, config=config)
    new_state = record_queue_rate(new_state, now, queued)
    return new_state, _decide(new_state, now, upper, ceilings, queued)


def retry_delay(
    state: ControllerState,
    now: float,
    observed_retry_after: float | None,
    *,
    salt: str = "",
    config: ControllerConfig = DEFAULT_CONFIG,
) -> float:
    """Seconds a rate-limited prompt waits before it is re-enqueued.

    At least the provider's ``retry-after`` and the rest of any pause, else half a control
    period; plus a spread of up to half that wait (at least a period, at most
    ``max_spread``) so re-enqueued prompts come back spread out. The queue paces them at
    the key's rate like any task, and a refusal at slow start's cliff brakes the key at
    once (``brake.py``): the wait no longer gives the controller time to react (two
    periods until round 8; the last refused prompts of a short job then set its end).
    The spread is a hash of ``now`` and ``salt`` (pass the prompt id): deterministic,
    yet different for prompts limited at the same moment.
    """
    wait = 0.0
    if observed_retry_after is not None and math.isfinite(observed_retry_after):
        wait = max(wait, observed_retry_after)
    if state.paused_until is not None:
        wait = max(wait, state.paused_until - now)
    if wait <= 0.0:
        wait = 0.5 * config.control_period
    spread = min(max(0.5 * wait, config.control_period), config.max_spread)
    return wait + spread * unit_hash(f"{now!r}|{salt}")


def _learn(
    state: ControllerState, obs: Sequence[Observation], config: ControllerConfig
) -> ControllerState:
    """Update stated limits, budgets and the token, charge and latency averages."""
    ok = [o for o in obs if o.outcome is CallOutcome.SUCCESS]
    weight = config.ewma_weight
    used = [o for o in ok if o.input_tokens + o.output_tokens > 0]
    latencies = [o.latency for o in obs if o.latency > 0 and math.isfinite(o.latency)]
    return dataclasses.replace(
        state,
        tokens_per_request=ewma(
            state.tokens_per_request, [o.input_tokens + o.output_tokens for o in used], weight
        ),
        input_tokens_per_request=ewma(
            state.input_tokens_per_request, [o.input_tokens for o in used], weight
        ),
        output_tokens_per_request=ewma(
            state.output_tokens_per_request, [o.output_tokens for o in used], weight
        ),
        charge_tokens=charge_ratio(state.charge_tokens, obs, "tokens", state.rate, weight),
        charge_input_tokens=charge_ratio(
            state.charge_input_tokens, obs, "input_tokens", state.rate, weight
        ),
        charge_output_tokens=charge_ratio(
            state.charge_output_tokens, obs, "output_tokens", state.rate, weight
        ),
        latency=ewma(state.latency, latencies, weight),
        limit_requests=latest_limit(obs, "limit_requests", state.limit_requests),
        limit_tokens=latest_limit(obs, "limit_tokens", state.limit_tokens),
        limit_input_tokens=latest_limit(obs, "limit_input_tokens", state.limit_input_tokens),
        limit_output_tokens=latest_limit(obs, "limit_output_tokens", state.limit_output_tokens),
        readings=latest_readings(state.readings, obs),
        named_at=named_at(state.named_at, obs),
    )


def _expire_named(state: ControllerState, now: float, config: ControllerConfig) -> ControllerState:
    """Drop limits a 429 named (Gemini's ``QuotaFailure``) once none has named them for a while.

    Such a limit comes with no budget to follow: it may have been another quota (a
    transient one, a neighbour's), or the limit may have been raised since. Kept, it
    would cap the key forever; dropped, it is an estimate like any other: the rate
    stays, avoidance probes past it, and a 429 names it again if it still holds.
    Limits whose budgets are stated (headers on every response) are not touched.
    """
    if state.named_at is None or now - state.named_at <= named_max_age(state, config):
        return state
    budgets = {reading.kind for reading in state.readings}
    dropped = {
        f"limit_{kind}": None
        for kind in KINDS
        if kind not in budgets and getattr(state, f"limit_{kind}") is not None
    }
    return dataclasses.replace(state, named_at=None, **dropped)  # type: ignore[arg-type]


def named_max_age(state: ControllerState, config: ControllerConfig) -> float:
    """How long a limit named only in 429s is kept: ``named_max_age``, and at a named
    request limit at least ``named_calls`` calls' time (dropping it costs a probe, so a
    429: at 3 RPM, one every two minutes would be one call in six).
    """
    budgets = {reading.kind for reading in state.readings}
    rpm = state.limit_requests if "requests" not in budgets else None
    if not rpm:
        return config.named_max_age
    return max(config.named_max_age, config.named_calls * 60.0 / rpm)


def _bounds(
    state: ControllerState, ceilings: Ceilings, now: float, config: ControllerConfig
) -> tuple[float, float]:
    """The lowest and highest rate allowed now.

    The floor is ``min_rate`` (lower only for an ``rpm`` ceiling under 1 RPM); token
    limits are converted through the average tokens per request and never push the
    cap under the floor.
    """
    lower = config.min_rate
    upper = config.max_rate
    if ceilings.rpm is not None:
        lower = min(lower, ceilings.rpm / 60.0)
        upper = min(upper, ceilings.rpm / 60.0)
    per_request = state.tokens_per_request or config.tokens_prior
    if ceilings.tpm is not None:
        upper = min(upper, max(config.min_rate, ceilings.tpm / 60.0 / per_request))
    stated = stated_cap(state, config, now)
    if stated is not None:
        upper = min(upper, max(config.min_rate, stated))
    return lower, max(upper, lower)


def _decide(
    state: ControllerState, now: float, upper: float, ceilings: Ceilings, queued: float
) -> Decision:
    """The decision a state stands for, the queues configured at ``queued``."""
    paused = state.paused_until is not None and state.paused_until > now
    if paused:
        phase = "paused"
    elif state.rate >= upper * (1.0 - 1e-9):
        phase = "ceiling"
    elif state.limit_estimate is None:
        phase = "slow_start"
    else:
        phase = "avoidance"
    rpm = [v for v in (state.limit_requests, ceilings.rpm) if v is not None]
    if state.limit_estimate is not None and not rpm:
        rpm.append(state.limit_estimate * 60.0)
    tpm = [v for v in (state.limit_tokens, ceilings.tpm) if v is not None]
    return Decision(
        rate=state.rate,
        paused_until=state.paused_until if paused else None,
        phase=phase,
        rpm_estimate=min(rpm) if rpm else None,
        tpm_estimate=min(tpm) if tpm else None,
        queue_rate=queued,
    )
