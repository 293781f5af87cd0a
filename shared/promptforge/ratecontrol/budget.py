"""Stated limits: what the provider's headers say, and the rate they allow now.

A response may state per-minute limits (requests, tokens, input and output tokens)
and what remains of each. Requests cost one each; a token limit is turned into
requests through the average usage per request *times the share of that usage the
provider charges*, learnt from the headers: while a budget is nearly full, what is
missing from it right after a call was admitted is that call's charge (OpenAI charges
``max(max_tokens, prompt)``, not the completion it has not generated yet).

The rate a stated limit allows is its refill rate plus the spare budget spread over a
horizon: a full budget is spent at up to ``burst_max`` above the limit, a budget
under ``reserve`` is refilled by running below it. Where a 429 came although every
stated budget had room (enforcement per second, an acceleration limit), budgets are
not spendable in bursts and the rate is ``header_headroom`` of the limit.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from promptforge.providers.base import CallOutcome, RateSignals
from promptforge.ratecontrol.base import Observation, Reading
from promptforge.ratecontrol.measure import ControllerConfig, dispatched_rate, ewma
from promptforge.ratecontrol.state import ControllerState

__all__ = [
    "KINDS",
    "charge_ratio",
    "latest_readings",
    "named_at",
    "stated_cap",
    "stated_floor",
    "stated_limits",
    "stated_refill",
]

KINDS = ("requests", "tokens", "input_tokens", "output_tokens")
_MAX_RATIO = 4.0  # a charge counts as at most this many times the usage
_NEIGHBOURS = 1.5  # calls started less than this many dispatch gaps apart are neighbours
_COARSE = 1000  # budgets that are all multiples of this are rounded
_TOGETHER = 0.001  # calls started this close together may have been admitted in any order
_ONE_CALL = 1.5  # calls admitted between two readings: this many or more is not one
_FLOOR = 0.5  # a budget below its reserve slows the rate to no less than this x the limit


def _pair(signals: RateSignals, kind: str) -> tuple[int | None, int | None]:
    """(limit, remaining) of ``kind`` in ``signals``."""
    return (
        getattr(signals, f"limit_{kind}"),
        getattr(signals, f"remaining_{kind}"),
    )


def _usage(obs: Observation, kind: str) -> int:
    if kind == "input_tokens":
        return obs.input_tokens
    if kind == "output_tokens":
        return obs.output_tokens
    return obs.input_tokens + obs.output_tokens


def latest_readings(
    previous: Sequence[Reading], observations: Sequence[Observation]
) -> tuple[Reading, ...]:
    """Per kind, the reading of the latest-started call that stated one."""
    best = {reading.kind: reading for reading in previous}
    for obs in observations:
        started = obs.at - max(obs.latency, 0.0)
        for kind in KINDS:
            limit, remaining = _pair(obs.signals, kind)
            if limit is None or remaining is None or limit <= 0:
                continue
            known = best.get(kind)
            if known is None or started >= known.at:
                best[kind] = Reading(kind, float(remaining), started)
    return tuple(best[kind] for kind in KINDS if kind in best)


def named_at(previous: float | None, observations: Sequence[Observation]) -> float | None:
    """When a call last named a limit without stating what remains of it (a 429's quota)."""
    latest = previous
    for obs in observations:
        for kind in KINDS:
            limit, remaining = _pair(obs.signals, kind)
            if limit is not None and limit > 0 and remaining is None:
                latest = obs.at if latest is None else max(latest, obs.at)
    return latest


def charge_ratio(
    previous: float | None,
    observations: Sequence[Observation],
    kind: str,
    rate: float,
    weight: float,
) -> float | None:
    """The ratio of what the provider charges against ``kind`` to the usage it reports.

    Each response states what was missing from the budget right after its call was
    admitted. Between two calls dispatched one after the other (started less than
    ``_NEIGHBOURS`` dispatch gaps apart at ``rate``, so no call of ours came between)
    the budget refilled at the limit's rate, so what the second call added to what was
    missing is its charge; that charge over its own usage is one sample (at most
    ``_MAX_RATIO``: OpenAI charges ``max(max_tokens, prompt)`` up front, which may be far
    above the usage). Budgets stated to the thousand (Anthropic) are too coarse to tell.
    Where the request budget is stated it counts the calls admitted between the two: a
    pair with another call between (several queues dispatch at once; the call between
    answered in another period) would count two charges as one.
    """
    points: list[tuple[float, float, int, Observation]] = []
    for obs in observations:
        limit, remaining = _pair(obs.signals, kind)
        if limit is None or remaining is None or limit <= 0:
            continue
        points.append((obs.at - max(obs.latency, 0.0), float(limit - remaining), limit, obs))
    points = _admission_order(points)
    gap = _NEIGHBOURS / max(rate, 1e-9)
    samples = []
    for (start0, missing0, _, prev), (start1, missing1, limit, obs) in itertools.pairwise(points):
        used = _usage(obs, kind)
        if obs.outcome is not CallOutcome.SUCCESS or used <= 0 or start1 - start0 > gap:
            continue
        if missing0 % _COARSE == 0 and missing1 % _COARSE == 0:
            continue
        if _admitted_between(prev, obs, start1 - start0) >= _ONE_CALL:
            continue  # another call (a queue beside ours, another client) came between
        refilled = max(0.0, missing0 - limit / 60.0 * (start1 - start0))
        charge = missing1 - refilled
        if charge > 0:
            samples.append(min(_MAX_RATIO, charge / used))
    return ewma(previous, samples, weight)


def _admitted_between(first: Observation, second: Observation, elapsed: float) -> float:
    """How many calls the provider admitted after ``first`` up to ``second``, by the stated
    request budget (what was missing grew by the calls admitted, less what refilled over
    ``elapsed``); 1 when no request budget is stated.

    Exact for calls started together; within one either way otherwise (budgets are
    stated in whole requests).
    """
    limit0, remaining0 = _pair(first.signals, "requests")
    limit1, remaining1 = _pair(second.signals, "requests")
    if limit0 is None or remaining0 is None or limit1 is None or remaining1 is None:
        return 1.0
    if limit1 <= 0 or limit0 != limit1:
        return 1.0
    return float(remaining0 - remaining1) + limit1 / 60.0 * max(elapsed, 0.0)


def _admission_order(
    points: list[tuple[float, float, int, Observation]],
) -> list[tuple[float, float, int, Observation]]:
    """``points`` (start, missing, limit, call) in the order the provider admitted them.

    By start; calls started within ``_TOGETHER`` of each other (several queues dispatch
    at once) by what was missing after each: the order they answered in says nothing.
    """
    points = sorted(points, key=lambda p: p[0])
    ordered: list[tuple[float, float, int, Observation]] = []
    group: list[tuple[float, float, int, Observation]] = []
    for point in points:
        if group and point[0] - group[0][0] > _TOGETHER:
            ordered.extend(sorted(group, key=lambda p: p[1]))
            group = []
        group.append(point)
    ordered.extend(sorted(group, key=lambda p: p[1]))
    return ordered


def stated_limits(
    state: ControllerState, config: ControllerConfig
) -> list[tuple[str, float, float]]:
    """(kind, per-minute limit, charge per request) of every stated limit."""
    split = state.limit_input_tokens is not None or state.limit_output_tokens is not None
    usage = {
        "tokens": state.tokens_per_request or config.tokens_prior,
        "input_tokens": state.input_tokens_per_request,
        "output_tokens": state.output_tokens_per_request,
    }
    ratios = {
        "tokens": state.charge_tokens,
        "input_tokens": state.charge_input_tokens,
        "output_tokens": state.charge_output_tokens,
    }
    limits = {
        "requests": state.limit_requests,
        "tokens": None if split else state.limit_tokens,
        "input_tokens": state.limit_input_tokens,
        "output_tokens": state.limit_output_tokens,
    }
    out = []
    for kind in KINDS:
        limit = limits[kind]
        if limit is None or limit <= 0:
            continue
        if kind == "requests":
            out.append((kind, limit, 1.0))
            continue
        per = usage[kind]
        if not per:
            continue
        ratio = ratios[kind]
        out.append((kind, limit, per * (ratio if ratio is not None and ratio > 0 else 1.0)))
    return out


def stated_refill(state: ControllerState, config: ControllerConfig) -> float | None:
    """Requests per second the stated limits refill at (the tightest); ``None`` if none.

    What a spent budget, refilled continuously, takes in from now on: a key need not wait
    for the whole budget to come back (its reset) to run at it.
    """
    refills = [limit / 60.0 / per for _, limit, per in stated_limits(state, config)]
    return min(refills) if refills else None


def stated_cap(state: ControllerState, config: ControllerConfig, now: float) -> float | None:
    """Requests per second the stated limits allow now; ``None`` if none is stated."""
    horizon = config.budget_horizon + config.apply_delay + config.control_period
    readings = {reading.kind: reading for reading in state.readings}
    caps = []
    for kind, limit, per in stated_limits(state, config):
        refill = limit / 60.0 / per
        reading = readings.get(kind)
        fresh = reading is not None and now - reading.at <= config.budget_max_age
        if state.burst_ok and fresh and reading is not None:
            remaining = _projected(state, reading, limit, per, now, config)
            spare = (remaining - config.reserve * limit) / horizon / per
            spare = min(config.burst_max * refill, max(-_FLOOR * refill, spare))
            caps.append(refill + spare)
        else:
            caps.append(config.header_headroom * refill)
    return min(caps) if caps else None


def stated_floor(state: ControllerState, config: ControllerConfig, now: float) -> float | None:
    """Requests per second the stated budgets say are free, whatever else refuses calls.

    When every stated limit has a fresh reading with more than its ``reserve`` left, the
    provider's own accounting has room: refusals then come from something finer (per-second
    enforcement, an acceleration limit), and the rate need not go under ``free_floor``
    times the tightest stated limit to avoid them. ``None`` when a budget is spent or unread.
    """
    readings = {reading.kind: reading for reading in state.readings}
    floors = []
    for kind, limit, per in stated_limits(state, config):
        reading = readings.get(kind)
        if reading is None or now - reading.at > config.budget_max_age:
            return None
        if reading.remaining <= config.reserve * limit:
            return None
        floors.append(config.free_floor * limit / 60.0 / per)
    return min(floors) if floors else None


def _projected(  # noqa: PLR0917 - one formula's inputs
    state: ControllerState,
    reading: Reading,
    limit: float,
    per: float,
    now: float,
    config: ControllerConfig,
) -> float:
    """What remains of a stated budget now, from a reading taken when its call started.

    A reading is a latency old: since then the budget refilled at the limit's rate and
    our calls dispatched since took ``per`` each (the rates dispatched at, from the
    state's history: never fewer than were sent, so the projection errs low). Without
    it, a stale reading is spent again by every step until a fresher one arrives.
    """
    elapsed = max(0.0, now - reading.at)
    if elapsed <= 0.0:
        return reading.remaining
    sent = dispatched_rate(state.history, reading.at, now, config, state.configured) * elapsed
    refilled = limit / 60.0 * elapsed
    return min(float(limit), reading.remaining + refilled - sent * per)
