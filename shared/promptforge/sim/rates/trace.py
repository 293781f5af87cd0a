"""Both sides of a wall-clock comparison, second by second, instrumented the same way.

A ``CallTrace`` holds what the provider saw (each call's arrival time and whether it was
admitted, refused with a 429, or failed) and what the controller decided (each applied
rate and when), on a clock that starts at the first provider call. The wall-clock run
fills one from the provider simulator's side of the HTTP connection and the controller's
step log; the simulation from its provider and its ticks. ``per_second`` bins them
alike, and ``render_diff`` lays a real run beside its simulation and marks the first
second they part, which is where a difference between the model and real time begins.
"""

from __future__ import annotations

import cmath
import csv
import io
import math
from dataclasses import dataclass, field

__all__ = ["CallTrace", "Second", "first_parting", "per_second", "render_diff"]

ADMITTED, REFUSED, FAILED = "ok", "429", "error"


@dataclass
class CallTrace:
    """Provider calls by arrival ``(seconds, outcome)`` and applied rates ``(seconds, rate)``."""

    calls: list[tuple[float, str]] = field(default_factory=list)
    rates: list[tuple[float, float]] = field(default_factory=list)

    def call(self, at: float, outcome: str) -> None:
        """A provider call arrived at ``at`` and was ``ADMITTED``, ``REFUSED`` or ``FAILED``."""
        self.calls.append((at, outcome))

    def rate(self, at: float, rate: float) -> None:
        """The controller applied ``rate`` (calls per second) at ``at``."""
        self.rates.append((at, rate))

    def step_phase(self, period: float) -> float | None:
        """Where the controller's steps fell between the first call's periods, as a
        fraction of ``period`` (their circular mean); None without a step."""
        if not self.rates:
            return None
        turns = sum(cmath.exp(2j * math.pi * (at / period)) for at, _ in self.rates)
        return (cmath.phase(turns) / (2 * math.pi)) % 1.0


@dataclass(frozen=True)
class Second:
    """One second of a trace: calls arriving, of them admitted and refused, the rate then."""

    second: int
    arrivals: int
    admitted: int
    refused: int
    rate: float


def per_second(trace: CallTrace) -> list[Second]:
    """The trace binned by the second a call arrived; ``rate`` is the last applied by then."""
    if not trace.calls:
        return []
    end = int(max(at for at, _ in trace.calls)) + 1
    counts = [[0, 0, 0] for _ in range(end)]
    for at, outcome in trace.calls:
        row = counts[max(0, int(at))]
        row[0] += 1
        row[1] += outcome == ADMITTED
        row[2] += outcome == REFUSED
    rates = sorted(trace.rates)
    out, rate, index = [], 0.0, 0
    for second, (arrivals, admitted, refused) in enumerate(counts):
        while index < len(rates) and rates[index][0] < second + 1:
            rate = rates[index][1]
            index += 1
        out.append(Second(second, arrivals, admitted, refused, rate))
    return out


def first_parting(real: list[Second], twin: list[Second], tolerance: float = 0.2) -> int | None:
    """The first second whose arrivals differ by more than ``tolerance`` of the larger (and
    by more than two calls), or whose refusals differ by more than two; None if none do."""
    for a, b in zip(real, twin, strict=False):
        arrivals = abs(a.arrivals - b.arrivals)
        if arrivals > 2 and arrivals > tolerance * max(a.arrivals, b.arrivals):
            return a.second
        if abs(a.refused - b.refused) > 2:
            return a.second
    return None


def render_diff(real: CallTrace, twin: CallTrace) -> str:
    """CSV: per second, the real run's arrivals, admitted, 429s and rate beside the
    simulation's, and a ``parting`` column marking the first second they part."""
    a, b = per_second(real), per_second(twin)
    parting = first_parting(a, b)
    empty = Second(0, 0, 0, 0, 0.0)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            *("second", "real_calls", "real_ok", "real_429", "real_rate"),
            *("sim_calls", "sim_ok", "sim_429", "sim_rate", "parting"),
        ]
    )
    for second in range(max(len(a), len(b))):
        x = a[second] if second < len(a) else empty
        y = b[second] if second < len(b) else empty
        writer.writerow(
            [
                *(second, x.arrivals, x.admitted, x.refused, f"{x.rate:.2f}"),
                *(y.arrivals, y.admitted, y.refused, f"{y.rate:.2f}", int(second == parting)),
            ]
        )
    return buffer.getvalue()
