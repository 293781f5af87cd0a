"""The figures a run is judged by: makespan against the physical limit, 429s, ramp, recovery.

``ideal_time`` is T* generalised to limits that move: the earliest time by which the
capacity left to this job (each limit's refill, minus what other clients on the key
take) covers every request and every charged token of the job, as a fluid bound
(no burst credit, no latency). With fixed limits it is max(N / RPM, tokens / TPM).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from promptforge.providers.base import CallOutcome
from promptforge.sim.providers.config import LimitSpec
from promptforge.sim.providers.limits import LimitKind
from promptforge.sim.rates.provider import ProviderModel, charges
from promptforge.sim.rates.recorder import Recorder
from promptforge.sim.rates.workload import Prompt

__all__ = ["Figures", "figures", "ideal_time", "limit_series", "rolling_mean"]

_WINDOW = 10  # seconds of the rolling averages
_REACHED = 0.9
_SETTLED_429 = 0.05


def _per_minute(spec: LimitSpec, kind: LimitKind) -> float:
    values = {
        LimitKind.REQUESTS: spec.rpm,
        LimitKind.TOKENS: spec.tpm,
        LimitKind.INPUT_TOKENS: spec.input_tpm,
        LimitKind.OUTPUT_TOKENS: spec.output_tpm,
    }
    value = values[kind]
    return math.inf if value is None else float(value)


def _segments(model: ProviderModel) -> list[float]:
    """The moments the capacity changes."""
    moments = {0.0}
    moments.update(at for at, _ in model.changes)
    for neighbour in model.background:
        moments.add(neighbour.start)
        if math.isfinite(neighbour.end):
            moments.add(neighbour.end)
    return sorted(moments)


def _capacity(model: ProviderModel, moment: float, kind: LimitKind) -> float:
    """Per second of ``kind`` left to the job at ``moment``."""
    spec = model.limits
    for at, changed in model.changes:
        if at <= moment:
            spec = changed
    total = _per_minute(spec, kind) / 60.0
    for neighbour in model.background:
        if neighbour.start <= moment < neighbour.end:
            prompt = Prompt(-1, neighbour.input_tokens, neighbour.output_tokens, None)
            used = charges(model.style, prompt, spec).get(kind, 0.0) * neighbour.rpm / 60.0
            total -= min(used, total)
    return total


def _demand(model: ProviderModel, prompts: Sequence[Prompt]) -> dict[LimitKind, float]:
    totals: dict[LimitKind, float] = {}
    for prompt in prompts:
        for kind, amount in charges(model.style, prompt, model.limits).items():
            totals[kind] = totals.get(kind, 0.0) + amount
    return totals


def ideal_time(model: ProviderModel, prompts: Sequence[Prompt]) -> float:
    """T*: the fluid lower bound on the makespan."""
    worst = 0.0
    moments = _segments(model)
    for kind, need in _demand(model, prompts).items():
        left = need
        for index, start in enumerate(moments):
            rate = _capacity(model, start, kind)
            end = moments[index + 1] if index + 1 < len(moments) else math.inf
            if rate <= 0:
                continue
            if math.isinf(rate) or left <= rate * (end - start):
                worst = max(worst, start + (0.0 if math.isinf(rate) else left / rate))
                break
            left -= rate * (end - start)
        else:
            return math.inf
    return worst


def mean_charges(model: ProviderModel, prompts: Sequence[Prompt]) -> dict[LimitKind, float]:
    """The average charge of one prompt against each limit."""
    return {kind: total / len(prompts) for kind, total in _demand(model, prompts).items()}


def limit_series(model: ProviderModel, prompts: Sequence[Prompt], seconds: int) -> list[float]:
    """Requests per second the limits leave to the job, second by second."""
    per = mean_charges(model, prompts)
    series = []
    for second in range(seconds):
        caps = [
            _capacity(model, second + 0.5, kind) / amount
            for kind, amount in per.items()
            if amount > 0
        ]
        series.append(min(caps))
    return series


@dataclass(frozen=True)
class Figures:
    """One client's run of one scenario."""

    client: str
    makespan: float | None  # None: did not finish within the horizon
    ideal: float
    calls: int
    successes: int
    limited: int
    transient: int
    failed: int
    reach_90: float | None  # seconds until the achieved rate first reached 90 % of the limit
    recovery: float | None  # seconds after the limit moved until it was met again

    @property
    def ratio(self) -> float | None:
        """Makespan / T*."""
        return None if self.makespan is None else self.makespan / self.ideal

    @property
    def share_429(self) -> float:
        """Share of provider calls answered 429."""
        return self.limited / self.calls if self.calls else 0.0

    @property
    def wasted(self) -> int:
        """Provider calls that produced no result."""
        return self.calls - self.successes


def rolling_mean(values: Sequence[float], window: int) -> list[float]:
    """The mean of each value and up to ``window - 1`` before it (per-second series)."""
    out = []
    total = 0.0
    for index, value in enumerate(values):
        total += value
        if index >= window:
            total -= values[index - window]
        out.append(total / min(index + 1, window))
    return out


def figures(
    client: str,
    recorder: Recorder,
    ideal: float,
    limits: Sequence[float],
    change_at: float | None,
) -> Figures:
    """The figures of one run; ``limits`` is :func:`limit_series` over the run."""
    ok = recorder.series(CallOutcome.SUCCESS)
    limited = recorder.series(CallOutcome.RATE_LIMITED)
    calls = [a + b for a, b in zip(ok, limited, strict=True)]
    achieved = rolling_mean(ok, _WINDOW)
    refused = rolling_mean(limited, _WINDOW)
    tried = rolling_mean(calls, _WINDOW)
    span = min(len(achieved), len(limits))
    reach = next(
        (float(t) for t in range(span) if achieved[t] >= _REACHED * limits[t]),
        None,
    )
    recovery = None
    if change_at is not None:
        start = math.ceil(change_at) + _WINDOW
        recovery = next(
            (
                float(t) - change_at
                for t in range(start, span)
                if achieved[t] >= _REACHED * limits[t]
                and refused[t] <= _SETTLED_429 * max(tried[t], 1e-9)
            ),
            None,
        )
    return Figures(
        client=client,
        makespan=recorder.makespan,
        ideal=ideal,
        calls=recorder.calls,
        successes=recorder.total(CallOutcome.SUCCESS),
        limited=recorder.total(CallOutcome.RATE_LIMITED),
        transient=recorder.total(CallOutcome.TRANSIENT),
        failed=recorder.failed,
        reach_90=reach,
        recovery=recovery,
    )
