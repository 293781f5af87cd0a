"""What a simulated client did, second by second: calls by outcome, prompts finished, rates."""

from __future__ import annotations

from dataclasses import dataclass, field

from promptforge.providers.base import CallOutcome
from promptforge.sim.rates.engine import EventLoop

_SLOTS = {
    CallOutcome.SUCCESS: 0,
    CallOutcome.RATE_LIMITED: 1,
    CallOutcome.TRANSIENT: 2,
    CallOutcome.PERMANENT: 3,
}


@dataclass
class Recorder:
    """Counts per one-second bin (by answer time) and the job's progress.

    ``expected`` prompts must each finish once (a result or a final error); the loop
    stops when the last one does, and ``makespan`` is that moment.
    """

    loop: EventLoop
    expected: int
    bins: list[list[int]] = field(default_factory=lambda: [[], [], [], []])
    finished: int = 0
    failed: int = 0
    makespan: float | None = None
    rates: list[tuple[float, float]] = field(default_factory=list)  # (time, configured rate)

    def call(self, outcome: CallOutcome) -> None:
        """A provider call answered now."""
        second = int(self.loop.now)
        series = self.bins[_SLOTS[outcome]]
        if second >= len(series):
            grow = second + 1 - len(series)
            for column in self.bins:
                column.extend([0] * grow)
        series[second] += 1

    def finish(self, *, failed: bool = False) -> None:
        """A prompt reached its final outcome now."""
        self.finished += 1
        self.failed += failed
        if self.finished >= self.expected:
            self.makespan = self.loop.now
            self.loop.stop()

    def rate(self, rate: float) -> None:
        """The client set its dispatch rate (requests per second) now."""
        self.rates.append((self.loop.now, rate))

    def total(self, outcome: CallOutcome) -> int:
        """Calls answered with ``outcome``."""
        return sum(self.bins[_SLOTS[outcome]])

    @property
    def calls(self) -> int:
        """Every provider call answered."""
        return sum(sum(column) for column in self.bins)

    def series(self, outcome: CallOutcome) -> list[int]:
        """Calls answered with ``outcome`` per second."""
        return list(self.bins[_SLOTS[outcome]])
