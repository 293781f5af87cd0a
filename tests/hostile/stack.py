"""A live `promptforge serve` (and optionally the simulator) for hostile-input tests.

Keys are made in-process in the server's SQLite store before it starts (the CLI makes
one key per process start, which is slow for the dozen these tests rotate over); the
side-effect probes read the same store and the blob folder read-only.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx

from promptforge.clock import SystemClock
from promptforge.core.auth import create_api_key
from promptforge.jobstore.sqlite import SqliteJobStore
from tests.e2e.processes import Process, promptforge, server, simulator

SEED_BODY = {"provider": "openai", "model": "gpt-4o-mini"}
NO_PROVIDER = "http://127.0.0.1:9"
"""A provider base URL nothing answers on: for stacks that never run a prompt."""


@dataclass(frozen=True)
class ApiKey:
    """A key as shown once, with the id `promptforge keys revoke` takes."""

    key: str
    key_id: str
    tenant: str


@dataclass
class Stack:
    """A running server, its data directory and the keys made for it."""

    proc: Process
    data: Path
    keys: list[ApiKey]
    _cycles: dict[str, Iterator[ApiKey]] = field(default_factory=dict, init=False, repr=False)

    @property
    def url(self) -> str:
        """The server's base URL."""
        return self.proc.url

    def key(self, tenant: str, index: int = 0) -> ApiKey:
        """The ``index``-th key made for ``tenant``."""
        return [key for key in self.keys if key.tenant == tenant][index]

    def next_key(self, tenant: str) -> str:
        """The next of ``tenant``'s keys in turn (spreads many calls over several keys' limits)."""
        if tenant not in self._cycles:
            self._cycles[tenant] = itertools.cycle([k for k in self.keys if k.tenant == tenant])
        return next(self._cycles[tenant]).key

    def job_count(self) -> int:
        """How many jobs the store holds (read-only; the server keeps writing)."""
        with contextlib.closing(
            sqlite3.connect(f"file:{self.data / 'jobs.db'}?mode=ro", uri=True)
        ) as db:
            (count,) = db.execute("SELECT COUNT(*) FROM jobs").fetchone()
            return int(count)

    def stored_blobs(self) -> list[Path]:
        """Every file in the blob store, sidecars included."""
        return sorted(p for p in (self.data / "blobs").rglob("*") if p.is_file())

    def revoke(self, key: ApiKey) -> None:
        """Revoke ``key`` with the CLI, as an operator would, while the server runs."""
        subprocess.run(
            promptforge("keys", "revoke", key.key_id, "--data-dir", str(self.data)),
            capture_output=True,
            check=True,
            timeout=60,
        )


def error_of(response: httpx.Response | tuple[int, bytes]) -> dict[str, Any]:
    """The error object of a refusal, checked for its shape (code, status, a real message)."""
    status, content = (
        (response.status_code, response.content)
        if isinstance(response, httpx.Response)
        else response
    )
    error: dict[str, Any] = json.loads(content)["error"]
    assert error["status"] == status
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and len(error["message"]) > 10
    return error


def raw_request(
    url: str, method: str, raw_path: bytes, headers: dict[str, str]
) -> tuple[int, bytes]:
    """Send ``raw_path`` byte for byte (httpx would resolve ``..`` and refuse non-ASCII)."""
    host, port = url.removeprefix("http://").split(":")
    head = b"".join(f"{name}: {value}\r\n".encode() for name, value in headers.items())
    request = (
        method.encode()
        + b" "
        + raw_path
        + b" HTTP/1.1\r\n"
        + f"Host: {host}:{port}\r\nConnection: close\r\n".encode()
        + head
        + b"\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    _, _, body = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), body


def make_keys(data: Path, tenants: list[str]) -> list[ApiKey]:
    """One key for each entry of ``tenants`` (repeat a tenant for several keys)."""

    async def create() -> list[ApiKey]:
        async with SqliteJobStore(data / "jobs.db") as store:
            made = []
            for tenant in tenants:
                key, record = await create_api_key(store, SystemClock(), tenant)
                made.append(ApiKey(key, record.key_id, tenant))
            return made

    data.mkdir(parents=True, exist_ok=True)
    return anyio.run(create)


@contextlib.contextmanager
def start_stack(
    tmp: Path,
    *,
    keys: int = 1,
    tenants: list[str] | None = None,
    with_simulator: bool = False,
    **env: str,
) -> Iterator[Stack]:
    """A started server with ``keys`` keys of tenant ``t`` (or one key per ``tenants``).

    ``env``: extra ``PROMPTFORGE_*`` settings for the server.
    """
    data = tmp / "data"
    made = make_keys(data, tenants if tenants is not None else ["t"] * keys)
    with contextlib.ExitStack() as stack:
        provider = NO_PROVIDER
        if with_simulator:
            provider = stack.enter_context(simulator(tmp, "--latency", "0.01")).url
        proc = server(data, provider, **env)
        proc.start("/healthz")
        stack.callback(proc.stop)
        yield Stack(proc, data, made)
