"""A webhook receiver for tests: a real HTTP server on 127.0.0.1 that records what it gets.

It answers each POST with the next status of its script (the last one repeats), and
keeps every request's headers and exact body bytes for the test to verify.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    """One request the receiver got, and the status it answered."""

    headers: dict[str, str]
    body: bytes
    answered: int
    at: float


class Receiver:
    """The running receiver: its URL and what it received so far."""

    def __init__(self, server: ThreadingHTTPServer, statuses: list[int]) -> None:
        self._server = server
        self._statuses = list(statuses)
        self._lock = threading.Lock()
        self.received: list[Received] = []

    @property
    def url(self) -> str:
        """Where to send webhooks."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hooks/promptforge"

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        """Record a request; the status to answer it with."""
        with self._lock:
            status = self._statuses[min(len(self.received), len(self._statuses) - 1)]
            self.received.append(Received(headers, body, status, time.monotonic()))
            return status

    def wait_for(self, count: int, within: float) -> list[Received]:
        """The first ``count`` requests, waiting up to ``within`` seconds for them."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.05)
        raise AssertionError(f"got {len(self.received)} webhook requests, expected {count}")


@contextmanager
def receiver(statuses: list[int], headers: dict[str, str] | None = None) -> Iterator[Receiver]:
    """A receiver answering ``statuses`` in turn (with ``headers``), stopped on exit."""
    holder: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            status = holder[0].answer({k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder.append(Receiver(server, statuses))
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
