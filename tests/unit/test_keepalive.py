"""A server never closes an idle connection that one of its clients may still reuse.

When a server's keep-alive runs out first, a client can pick the connection up just as
it closes: the request is sent, the server never reads it, and the call fails with
``httpx.ReadError`` (issue 19: one prompt of the 429-storm fault run failed so, with
``max_retries=0``). The provider client and ``promptforge serve``/``simulate`` both kept
idle connections 30 s, and the server's clock starts first (when it sends the response).
"""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from promptforge.embedded.server import SERVER_KEEPALIVE_SECONDS, BackgroundServer
from promptforge.providers.http import KEEPALIVE_SECONDS

pytestmark = pytest.mark.anyio

SDK_KEEPALIVE_SECONDS = 5.0  # httpx's default, which the provider SDKs keep
MARGIN_SECONDS = 30.0  # a loaded machine may run a timer this late and the server still wins


def test_servers_outlast_every_client_keepalive_by_a_margin() -> None:
    for client_seconds in (KEEPALIVE_SECONDS, SDK_KEEPALIVE_SECONDS):
        assert client_seconds + MARGIN_SECONDS <= SERVER_KEEPALIVE_SECONDS


async def test_the_background_server_uses_the_server_keepalive() -> None:
    """Both ``promptforge serve`` and ``promptforge simulate`` run on ``BackgroundServer``."""
    app = Starlette(routes=[Route("/", lambda _: PlainTextResponse("ok"))])
    async with BackgroundServer(app) as background, httpx.AsyncClient() as client:
        got = await client.get(background.url)
        assert got.text == "ok"
        assert got.headers.get("connection", "keep-alive") == "keep-alive"
        assert background._server is not None
        config = background._server.config
        assert config.timeout_keep_alive == SERVER_KEEPALIVE_SECONDS
