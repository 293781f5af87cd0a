"""The embedded runtime served on a free port with an API key: a whole PromptForge to call.

What the demo and the benchmarks start (``promptforge demo``, ``bench pipeline``): the
server's socket is bound first so the runtime, which signs URLs with its own base URL,
is built knowing the port.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from promptforge.clock import SystemClock
from promptforge.core.auth import create_api_key
from promptforge.embedded.runtime import EmbeddedRuntime
from promptforge.embedded.server import BackgroundServer
from promptforge.settings import Settings

__all__ = ["ServedRuntime", "serve_runtime"]


@dataclass(frozen=True)
class ServedRuntime:
    """An open runtime, the base URL it is served at, and an API key of one tenant."""

    runtime: EmbeddedRuntime
    url: str
    api_key: str


@contextlib.asynccontextmanager
async def serve_runtime(settings: Settings, tenant: str) -> AsyncIterator[ServedRuntime]:
    """Open the runtime of ``settings`` on a free port of ``settings.host`` (its ``port``
    is replaced), with a new API key for ``tenant``; closed on exit."""
    server = BackgroundServer(None, settings.host, 0)
    runtime = EmbeddedRuntime(settings.model_copy(update={"port": server.port}))
    server.set_app(runtime.app)
    async with runtime, server:
        key, _ = await create_api_key(runtime.store, SystemClock(), tenant)
        yield ServedRuntime(runtime, server.url, key)
