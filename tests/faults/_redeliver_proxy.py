"""A fault-injecting HTTP proxy: what Cloud Tasks' and Eventarc's at-least-once delivery can do.

Run as a process in front of one function::

    python -m tests.faults._redeliver_proxy --upstream http://127.0.0.1:PORT

It binds 127.0.0.1 on a free port and prints ``PORT <n>``. Every POST is forwarded to
the upstream with its headers. For a request whose kind is switched on, the proxy
delivers it three times: one in ``race_every`` of them as two deliveries at once, then a
third after both answered; the others one after another. The caller gets a 2xx if any
delivery gave one (a queue drops a task once a delivery succeeds), else the first
delivery's answer. The kind of a task is its JSON ``target``
(``worker``, ``ingest``, ``slice``, ``finalize``, ``control``...); a CloudEvent's is
``event``.

``PUT /_fault`` with ``{"kinds": [...], "race_every": n}`` (``"*"`` for all kinds;
``race_every`` 1 by default) switches kinds on, replacing the previous set; ``GET /_fault``
answers the settings, how many requests were forwarded, tripled and raced since, and
how many deliveries got each status (``answers``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
from collections import Counter
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

_HOP_BY_HOP = frozenset(
    {"host", "content-length", "connection", "keep-alive", "transfer-encoding", "upgrade"}
)
UPSTREAM_TIMEOUT = 120.0


class Redeliverer:
    """The proxy's state: which kinds to triple, the upstream client, counts."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.kinds: set[str] = set()
        self.race_every = 1
        self.forwarded = 0
        self.answers: Counter[int] = Counter()
        self.tripled = 0
        self.raced = 0
        self.client = httpx.AsyncClient(timeout=UPSTREAM_TIMEOUT)

    async def configure(self, request: Request) -> Response:
        """``PUT`` sets the kinds to triple and how often to race; ``GET`` reports."""
        if request.method == "PUT":
            settings = await request.json()
            self.kinds = set(settings["kinds"])
            self.race_every = max(1, int(settings.get("race_every", 1)))
            self.forwarded = self.tripled = self.raced = 0
            self.answers.clear()
        return JSONResponse(
            {
                "kinds": sorted(self.kinds),
                "race_every": self.race_every,
                "forwarded": self.forwarded,
                "tripled": self.tripled,
                "raced": self.raced,
                "answers": dict(self.answers),
            }
        )

    async def forward(self, request: Request) -> Response:
        """Deliver the request once, or three times if its kind is switched on."""
        body = await request.body()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        url = self.upstream + request.url.path
        self.forwarded += 1
        if "*" not in self.kinds and _kind(body, headers) not in self.kinds:
            return await self._send(url, body, headers)
        self.tripled += 1
        if self.tripled % self.race_every == 0:
            self.raced += 1
            answers = list(
                await asyncio.gather(self._send(url, body, headers), self._send(url, body, headers))
            )
        else:
            answers = [await self._send(url, body, headers)]
            answers.append(await self._send(url, body, headers))
        answers.append(await self._send(url, body, headers))
        for answer in answers:
            if 200 <= answer.status_code < 300:
                return answer
        return answers[0]

    async def _send(self, url: str, body: bytes, headers: dict[str, str]) -> Response:
        try:
            got = await self.client.post(url, content=body, headers=headers)
        except httpx.TransportError as exc:  # the function is down: what a queue sees too
            print(f"upstream {url}: {exc!r}", file=sys.stderr, flush=True)
            self.answers[502] += 1
            return JSONResponse({"proxy_error": type(exc).__name__}, status_code=502)
        self.answers[got.status_code] += 1
        keep = {k: v for k, v in got.headers.items() if k.lower() not in _HOP_BY_HOP}
        keep.pop("content-encoding", None)  # httpx decoded the body
        return Response(got.content, status_code=got.status_code, headers=keep)


def _kind(body: bytes, headers: dict[str, str]) -> str:
    if any(k.lower() == "ce-type" for k in headers):
        return "event"
    try:
        decoded: Any = json.loads(body)
    except ValueError:
        return ""
    return str(decoded.get("target", "")) if isinstance(decoded, dict) else ""


def main() -> int:
    """Serve until killed."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    args = parser.parse_args()
    proxy = Redeliverer(args.upstream)
    app = Starlette(
        routes=[
            Route("/_fault", proxy.configure, methods=["GET", "PUT"]),
            Route("/{path:path}", proxy.forward, methods=["POST"]),
        ]
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(128)
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
