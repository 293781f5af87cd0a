"""An answer the provider sent is recorded before anything gives it up.

A provider call that returned has been served, and usually billed: losing its answer
means calling (and paying) again. ``AnswerKeeper.keep`` runs what follows the answer
(the settle: record the outcome or enqueue the retry) as a task of its own, shielded
from the handler's cancellation, and ``drain`` waits for every such task: a runtime
that shuts down cancels handlers, then drains the keeper before it closes its stores.
``with_store_retries`` retries that settle on a store error (a locked or briefly
unavailable database) for about ``STORE_RETRY_SECONDS`` before letting it fail: the
settle is idempotent (insert-if-absent, named tasks, compare-and-set), so repeating
it records once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

_T = TypeVar("_T")

STORE_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0)
"""Pauses between tries of a settle that hit a store error."""
STORE_RETRY_SECONDS = sum(STORE_RETRY_DELAYS)


class AnswerKeeper:
    """The settles in progress; each runs to its end even if its handler is cancelled."""

    def __init__(self) -> None:
        self._running: set[asyncio.Task[Any]] = set()

    async def keep(self, work: Coroutine[Any, Any, _T]) -> _T:
        """Run ``work`` shielded: cancelling the caller does not stop it."""
        task = asyncio.ensure_future(work)
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return await asyncio.shield(task)

    @property
    def pending(self) -> int:
        """Settles still running."""
        return len(self._running)

    async def drain(self) -> None:
        """Wait until every kept settle has ended (their errors are logged where they run)."""
        while self._running:
            await asyncio.gather(*self._running, return_exceptions=True)


async def with_store_retries(
    what: str, attempt: Callable[[], Awaitable[_T]], delays: tuple[float, ...] = STORE_RETRY_DELAYS
) -> _T:
    """``attempt()``, tried again after each of ``delays`` while it raises; then its error."""
    for delay in delays:
        try:
            return await attempt()
        except Exception as exc:
            log.warning("%s failed (%s); trying again in %.1f s", what, exc, delay)
        await asyncio.sleep(delay)
    return await attempt()
