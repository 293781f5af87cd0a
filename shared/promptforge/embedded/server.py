"""Run an ASGI app under uvicorn inside the current event loop, on a real socket."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn

from promptforge.lifecycle import AsyncResource

SERVER_KEEPALIVE_SECONDS = 75
"""Seconds a PromptForge server (the API, the simulator) keeps an idle connection open.

Well past what its clients keep one for reuse (the provider client's ``KEEPALIVE_SECONDS``;
httpx and the provider SDKs keep 5 s). A server that closes an idle connection first
races the client picking it up again: the request goes out as the connection closes and
fails with a ``ReadError`` (or "server disconnected") although the server never read it.
With equal timeouts the server's clock, started when it sent the response, always runs
out first. 75 s (nginx's default) leaves 45 s past the provider client's 30 s.
"""


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the program that embeds it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class BackgroundServer(AsyncResource):
    """A uvicorn server bound to ``host:port`` (port 0 picks a free one), run as a task.

    Use as ``async with BackgroundServer(app) as server: server.url``.
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self._app = app
        self._host = host
        # IPPROTO_TCP explicitly: asyncio then sets TCP_NODELAY on accepted connections,
        # without which small responses stall ~40 ms on Nagle + delayed ACK.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.port: int = self._sock.getsockname()[1]
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    def set_app(self, app: Any) -> None:
        """Give the app after binding (when the app needs to know its own port)."""
        self._app = app

    @property
    def url(self) -> str:
        """Base URL, without a trailing slash."""
        return f"http://{self._host}:{self.port}"

    async def open(self) -> None:
        """Start serving and wait until the socket accepts connections."""
        if self._app is None:
            raise RuntimeError("BackgroundServer.open() needs an app; call set_app() first")
        config = uvicorn.Config(
            self._app,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_keep_alive=SERVER_KEEPALIVE_SECONDS,
        )
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[self._sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises the startup error
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._sock.close()
