"""PooledTransport against a real server on 127.0.0.1: connections reused, capped, given back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from promptforge.embedded.server import BackgroundServer
from promptforge.providers.http import PooledTransport, provider_client

pytestmark = pytest.mark.anyio


@dataclass
class _Server:
    """Which client ports the server saw, and how many requests it held at once."""

    url: str = ""
    ports: set[int] = field(default_factory=set)
    cookie_headers: list[str | None] = field(default_factory=list)
    holding: int = 0
    most_held: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    three_held: asyncio.Event = field(default_factory=asyncio.Event)


@pytest.fixture
async def server() -> AsyncIterator[_Server]:
    seen = _Server()

    async def quick(request: Request) -> Response:
        assert request.client is not None
        seen.ports.add(request.client.port)
        return JSONResponse({"ok": True})

    async def held(request: Request) -> Response:
        assert request.client is not None
        seen.ports.add(request.client.port)
        seen.holding += 1
        seen.most_held = max(seen.most_held, seen.holding)
        if seen.holding == 3:
            seen.three_held.set()
        await seen.release.wait()
        seen.holding -= 1
        return JSONResponse({"ok": True})

    async def cookie(request: Request) -> Response:
        seen.cookie_headers.append(request.headers.get("cookie"))
        response = JSONResponse({"ok": True})
        response.set_cookie("__cf_bm", "tenant-a-session")
        return response

    async def broken(request: Request) -> Response:
        return Response(b"x" * 10, headers={"content-length": "1000"})  # body cut short

    routes = [("/quick", quick), ("/held", held), ("/broken", broken), ("/cookie", cookie)]
    app = Starlette(routes=[Route(path, endpoint) for path, endpoint in routes])
    async with BackgroundServer(app) as background:
        seen.url = background.url
        yield seen


async def test_sequential_calls_reuse_one_connection(server: _Server) -> None:
    async with provider_client(50, timeout=10) as client:
        for _ in range(20):
            assert (await client.get(f"{server.url}/quick")).json() == {"ok": True}
    assert len(server.ports) == 1


async def test_concurrent_calls_never_exceed_the_cap(server: _Server) -> None:
    async with httpx.AsyncClient(transport=PooledTransport(3), timeout=10) as client:
        calls = [asyncio.ensure_future(client.get(f"{server.url}/held")) for _ in range(8)]
        await asyncio.wait_for(server.three_held.wait(), timeout=5)
        await asyncio.sleep(0.1)  # time for a fourth connection, if the cap leaked
        assert server.holding == 3
        server.release.set()
        answers = await asyncio.gather(*calls)
    assert all(answer.status_code == 200 for answer in answers)
    assert server.most_held == 3
    assert len(server.ports) == 3


async def test_a_failed_response_gives_its_connection_back(server: _Server) -> None:
    async with httpx.AsyncClient(transport=PooledTransport(1), timeout=5) as client:
        for _ in range(3):
            with pytest.raises(httpx.RemoteProtocolError):
                await client.get(f"{server.url}/broken")
        # With one connection allowed, a slot still held would make this wait for ever.
        answer = await asyncio.wait_for(client.get(f"{server.url}/quick"), timeout=5)
    assert answer.status_code == 200


async def test_a_cookie_set_by_one_call_never_rides_on_the_next(server: _Server) -> None:
    async with provider_client(4, timeout=10) as client:
        for _ in range(3):
            answer = await client.get(f"{server.url}/cookie")
            assert "__cf_bm" in answer.headers["set-cookie"]  # the server did set one
        client.cookies = {"planted": "x"}  # type: ignore[assignment]
        await client.get(f"{server.url}/cookie")
        assert not client.cookies
    assert server.cookie_headers == [None, None, None, None]


async def test_the_cap_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        PooledTransport(0)
