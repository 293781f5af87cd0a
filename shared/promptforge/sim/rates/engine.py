"""A discrete-event loop in virtual time: callbacks run in (time, insertion) order.

Nothing here reads a clock or draws a random number, so a run is a pure function
of its inputs and seeds: an hour of traffic takes as long as its events take to run.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

Callback = Callable[[], None]


class EventLoop:
    """Virtual time and a queue of timed callbacks."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self._queue: list[tuple[float, int, Callback]] = []
        self._order = itertools.count()
        self._stopped = False

    def at(self, moment: float, callback: Callback) -> None:
        """Run ``callback`` at virtual time ``moment`` (never in the past)."""
        heapq.heappush(self._queue, (max(moment, self.now), next(self._order), callback))

    def after(self, delay: float, callback: Callback) -> None:
        """Run ``callback`` ``delay`` seconds from now."""
        self.at(self.now + max(delay, 0.0), callback)

    def stop(self) -> None:
        """Stop the run after the current callback."""
        self._stopped = True

    @property
    def pending(self) -> int:
        """Callbacks waiting to run."""
        return len(self._queue)

    def run(self, until: float) -> None:
        """Run callbacks in time order until ``stop()``, no work is left, or ``until``."""
        self._stopped = False
        queue = self._queue
        while queue and not self._stopped:
            moment, _, callback = queue[0]
            if moment > until:
                self.now = until
                return
            heapq.heappop(queue)
            self.now = moment
            callback()
