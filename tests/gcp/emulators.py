"""Google Cloud emulators for the tests: the Firestore emulator from the Cloud SDK.

``firestore_emulator`` is a session fixture: one emulator process for the whole run,
started with ``gcloud emulators firestore start`` on a free 127.0.0.1 port in its own
process group (the gcloud wrapper starts a Java child that killing the wrapper alone
would orphan), and stopped with its group at session end (or by ``devstack.reaper`` if the
test process is killed first). Tests isolate themselves by project: ``emulator.project()``
is a fresh project id, and the emulator keeps projects apart. A missing ``gcloud`` fails
the tests that need it (CI machines have the Cloud SDK).

Use it from a conftest with ``from tests.gcp.emulators import firestore_emulator``::

    async def test_something(firestore_emulator: FirestoreEmulator) -> None:
        async with firestore_emulator.connect() as client:    # a fresh, empty project
            store = FirestoreJobStore(client)
            env = firestore_emulator.env(client.project)     # for a child process

Close every client before its test's event loop ends (``connect`` does; else call
``close_client``): gRPC's asyncio poller delivers late completions to the loop a call
began on, and one delivered to a closed loop fails whichever test runs next.
"""

from __future__ import annotations

import gc
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import httpx
import pytest
from google.cloud.firestore import AsyncClient

from promptforge.devstack.reaper import forget, popen_group

START_TIMEOUT = 60.0
"""Seconds to wait for the emulator to answer (it takes about 2 s)."""

EMULATOR_HOST_VAR = "FIRESTORE_EMULATOR_HOST"


@dataclass
class FirestoreEmulator:
    """A running Firestore emulator: where it listens and how to reach it."""

    host: str  # "127.0.0.1:PORT"
    process: subprocess.Popen[bytes]
    log: Path
    started_in: float  # seconds from spawn to the first answer

    @property
    def url(self) -> str:
        """The emulator's REST base URL."""
        return f"http://{self.host}"

    @staticmethod
    def project() -> str:
        """A fresh project id: the emulator keeps each project's data apart."""
        return f"pf-test-{uuid.uuid4().hex[:12]}"

    def client(self, project: str | None = None) -> AsyncClient:
        """An ``AsyncClient`` on the emulator, for ``project`` (a fresh one by default).

        The client library reads ``FIRESTORE_EMULATOR_HOST`` only while it is built, so
        the variable is set for the constructor alone, not for the rest of the process.
        """
        with mock.patch.dict(os.environ, {EMULATOR_HOST_VAR: self.host}):
            return AsyncClient(project=project or self.project())

    @asynccontextmanager
    async def connect(self, project: str | None = None) -> AsyncIterator[AsyncClient]:
        """``client(project)``, closed on exit."""
        client = self.client(project)
        try:
            yield client
        finally:
            await close_client(client)

    def env(self, project: str) -> dict[str, str]:
        """Environment variables that point a child process at the emulator and ``project``."""
        return {EMULATOR_HOST_VAR: self.host, "GOOGLE_CLOUD_PROJECT": project}

    def reset(self, project: str) -> None:
        """Delete every document of ``project``."""
        url = f"{self.url}/emulator/v1/projects/{project}/databases/(default)/documents"
        httpx.delete(url, timeout=10.0).raise_for_status()


async def close_client(client: AsyncClient) -> None:
    """Close the client's gRPC channel (else it outlives the test's event loop)."""
    # AsyncClient has no public close; its generated API client owns the channel.
    if client._firestore_api_internal is not None:
        await client._firestore_api.transport.close()
    gc.collect()  # finalize finished calls now, while their event loop still runs


def start_firestore_emulator(log: Path, *, timeout: float = START_TIMEOUT) -> FirestoreEmulator:
    """Start the emulator on a free port and wait until it answers; fail the test if it can't."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        pytest.fail(
            "the Firestore tests need the Google Cloud SDK: `gcloud` is not on PATH. Install "
            "it with the cloud-firestore-emulator component (and Java 11+): "
            "https://cloud.google.com/sdk/docs/install",
            pytrace=False,
        )
    host = f"127.0.0.1:{_free_port()}"
    env = {**os.environ, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"}
    env.pop(EMULATOR_HOST_VAR, None)
    began = time.monotonic()
    with log.open("wb") as out:
        process = popen_group(  # its own process group, Java child included
            [gcloud, "emulators", "firestore", "start", f"--host-port={host}"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    emulator = FirestoreEmulator(host, process, log, 0.0)
    try:
        _wait_until_ready(emulator, began + timeout)
    except BaseException:
        stop_firestore_emulator(emulator)
        raise
    emulator.started_in = time.monotonic() - began
    return emulator


def stop_firestore_emulator(emulator: FirestoreEmulator) -> None:
    """Kill the emulator's whole process group: gcloud, its shell and the Java server.

    SIGKILL cannot be ignored, so nothing of the group survives; the data lived in memory.
    """
    with suppress(ProcessLookupError):
        os.killpg(emulator.process.pid, signal.SIGKILL)
    emulator.process.wait(timeout=10.0)
    forget(emulator.process.pid)


@pytest.fixture(scope="session")
def firestore_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FirestoreEmulator]:
    """One Firestore emulator for the test session (see the module docstring)."""
    # Each conftest that imports this fixture defines a fixture of its own; they share
    # one process, stopped when the last of them is torn down at session end.
    emulator = _shared.emulator
    if emulator is None:
        log = tmp_path_factory.mktemp("firestore-emulator") / "emulator.log"
        emulator = _shared.emulator = start_firestore_emulator(log)
    _shared.users += 1
    try:
        yield emulator
    finally:
        _shared.users -= 1
        if _shared.users == 0:
            _shared.emulator = None
            stop_firestore_emulator(emulator)


@dataclass
class _Shared:
    emulator: FirestoreEmulator | None = None
    users: int = 0


_shared = _Shared()


def _wait_until_ready(emulator: FirestoreEmulator, deadline: float) -> None:
    while time.monotonic() < deadline:
        if emulator.process.poll() is not None:
            pytest.fail(
                f"the Firestore emulator exited with {emulator.process.returncode} before "
                f"answering; its log:\n{_tail(emulator.log)}",
                pytrace=False,
            )
        try:
            if httpx.get(emulator.url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(
        f"the Firestore emulator did not answer on {emulator.host} within "
        f"{START_TIMEOUT:.0f} s; its log:\n{_tail(emulator.log)}",
        pytrace=False,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
