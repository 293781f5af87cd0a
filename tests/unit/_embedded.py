"""The embedded runtime at rest: its stores and control queue open, its dispatcher not started."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from promptforge.core.queues import ensure_control_queue
from promptforge.embedded.runtime import EmbeddedRuntime
from promptforge.settings import Settings


@asynccontextmanager
async def idle_runtime(settings: Settings) -> AsyncIterator[EmbeddedRuntime]:
    """A runtime whose tasks run only when a test delivers them to a handler itself."""
    built = EmbeddedRuntime(settings)
    await built.store.open()
    await built.tasks.open()
    await ensure_control_queue(built.deps)
    try:
        yield built
    finally:
        await built.close()
