"""Local stand-ins for GCS, Cloud Tasks and Cloud Functions, started by the tests on 127.0.0.1.

- **GCS**: ``gcp-storage-emulator`` (in ``.venv``) via ``_gcs_emulator.py``, which checks
  V4 signatures against the test signing key and announces finalized uploads as
  CloudEvents (the emulator has neither).
- **Cloud Tasks**: ``gcloud-tasks-emulator==0.6.2`` via ``_tasks_emulator.py`` in
  ``.venv-tasks-emulator`` (it needs protobuf<5; ``make`` creates that virtualenv).
- **Functions**: ``functions-framework --target NAME`` on each ``functions/NAME/main.py``;
  the worker and the controller behind Cloud Run's front end (``front_end``: it checks the
  task's token and strips its signature) with Cloud Run's environment (``cloud_run_env``).
- **Terraform's queues**: ``create_fixed_queues`` (the functions create none at start-up).

Every process binds 127.0.0.1 on a free port, runs in its own process group, and is
stopped with its group when the fixture ends.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.cloud import storage, tasks_v2

from promptforge.core.deps import CONTROL_QUEUE
from promptforge.core.queues import CONTROL_QUEUE_CONFIG
from promptforge.gcp.cloud_tasks import CloudTasksQueue, emulator_client

ROOT = Path(__file__).resolve().parents[2]
TASKS_VENV = ROOT / ".venv-tasks-emulator"
START_TIMEOUT = 60.0
SIGNER_EMAIL = "pf-signer@pf-test.iam.gserviceaccount.com"


class StandIn:
    """A stand-in process: its port, its log, and how to stop it."""

    def __init__(self, name: str, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.name, self.process, self.port, self.log = name, process, port, log

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host}"

    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.process.poll() is None

    def tail(self, lines: int = 60) -> str:
        """The end of its log."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Stop the whole process group: SIGTERM, then SIGKILL."""
        for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        if self.process.stdout is not None:
            self.process.stdout.close()


def launch_reporting_port(
    name: str, argv: list[str], log: Path, env: dict[str, str] | None = None
) -> StandIn:
    """Start a launcher that prints ``PORT <n>`` on stdout once it listens."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env or dict(os.environ),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=out,
            start_new_session=True,
        )
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT
    line = b""
    while time.monotonic() < deadline and process.poll() is None:
        ready, _, _ = select.select([process.stdout], [], [], 0.2)
        if ready:
            line = process.stdout.readline()
            if line.startswith(b"PORT "):
                return StandIn(name, process, int(line.split()[1]), log)
    stand_in = StandIn(name, process, 0, log)
    stand_in.stop()
    pytest.fail(f"{name} did not start ({line!r}); its log:\n{stand_in.tail()}", pytrace=False)


# --- signing key -----------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    """A locally generated service-account key: real V4 signatures, checked by the GCS stand-in."""

    key_file: Path  # service-account JSON, for PROMPTFORGE_SIGNING_KEY_FILE
    public_pem: Path
    public_key: rsa.RSAPublicKey
    info: dict[str, str]


def make_signing_key(directory: Path) -> SigningKey:
    """Generate an RSA key and write it as a service-account key file and a public PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "pf-test",
        "private_key_id": "local-test-key",
        "private_key": private,
        "client_email": SIGNER_EMAIL,
        "client_id": "1",
        "token_uri": "http://127.0.0.1:9/token",  # never called: signing needs no token
    }
    key_file = directory / "signer.json"
    key_file.write_text(json.dumps(info))
    key_file.chmod(0o600)
    public_pem = directory / "signer.pub.pem"
    public_pem.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return SigningKey(key_file, public_pem, key.public_key(), info)


# --- GCS -------------------------------------------------------------------------------


class GcsStandIn(StandIn):
    """The GCS emulator with signature checks and finalize notifications."""

    def env(self) -> dict[str, str]:
        """What points a process's storage client at the emulator."""
        return {"STORAGE_EMULATOR_HOST": self.url}

    def client(self, project: str = "pf-test") -> Any:
        """A ``storage.Client`` on the emulator (the variable is set for the constructor only)."""
        with mock.patch.dict(os.environ, self.env()):
            return storage.Client(project=project)


@contextmanager
def gcs_stand_in(
    tmp: Path,
    key: SigningKey,
    buckets: list[str],
    *,
    notify: str | None = None,
    notify_bucket: str | None = None,
) -> Iterator[GcsStandIn]:
    """Run the GCS stand-in with ``buckets`` created."""
    argv = [sys.executable, "-m", "tests.gcp._gcs_emulator", "--public-key", str(key.public_pem)]
    for bucket in buckets:
        argv += ["--bucket", bucket]
    if notify:
        argv += ["--notify", notify, "--notify-bucket", notify_bucket or buckets[0]]
    started = launch_reporting_port("GCS stand-in", argv, tmp / "gcs-emulator.log")
    gcs = GcsStandIn(started.name, started.process, started.port, started.log)
    try:
        yield gcs
    finally:
        gcs.stop()


# --- Cloud Tasks -----------------------------------------------------------------------


class TasksStandIn(StandIn):
    """The Cloud Tasks emulator."""

    def client(self) -> tasks_v2.CloudTasksAsyncClient:
        """An async client on the emulator (create it inside the test's event loop)."""
        return emulator_client(self.host)


@contextmanager
def tasks_stand_in(tmp: Path) -> Iterator[TasksStandIn]:
    """Run the Cloud Tasks emulator from its own virtualenv."""
    python = TASKS_VENV / "bin" / "python"
    if not python.exists():
        pytest.fail(
            f"{TASKS_VENV.name} is missing: the Cloud Tasks emulator needs protobuf<5 and "
            "lives in its own virtualenv, which `make test` creates (or: make "
            ".venv-tasks-emulator/bin/gcloud-tasks-emulator)",
            pytrace=False,
        )
    argv = [str(python), "-m", "tests.gcp._tasks_emulator"]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHONWARNINGS"] = "ignore::FutureWarning"
    started = launch_reporting_port("Cloud Tasks emulator", argv, tmp / "tasks-emulator.log", env)
    tasks = TasksStandIn(started.name, started.process, started.port, started.log)
    try:
        yield tasks
    finally:
        tasks.stop()


def create_fixed_queues(tasks: TasksStandIn, project: str, location: str = "us-central1") -> None:
    """Create what Terraform creates (``queues.tf``): the functions create no queue at start-up."""

    async def create() -> None:
        queue = CloudTasksQueue(
            tasks.client(),
            project=project,
            location=location,
            worker_url="",
            controller_url="",
            service_account=None,
        )
        try:
            await queue.ensure_queue(CONTROL_QUEUE, CONTROL_QUEUE_CONFIG)
        finally:
            await queue.aclose()

    asyncio.run(create())


# --- Cloud Run's front end ---------------------------------------------------------------

TASKS_SERVICE_ACCOUNT = "pf-tasks@pf-test.iam.gserviceaccount.com"


def cloud_run_env(certs_url: str) -> dict[str, str]:
    """The settings a function has on Cloud Run: ``K_SERVICE``, the task account, the key URL."""
    return {
        "K_SERVICE": "promptforge-local",
        "PROMPTFORGE_TASKS_SERVICE_ACCOUNT": TASKS_SERVICE_ACCOUNT,
        "PROMPTFORGE_OIDC_CERTS_URL": certs_url,
    }


@contextmanager
def front_end(
    tmp: Path, name: str, upstream: str, audience: str | None = None
) -> Iterator[StandIn]:
    """Cloud Run's front end before ``upstream`` (``promptforge.devstack.front_end``)."""
    argv = [sys.executable, "-m", "promptforge.devstack.front_end", "--upstream", upstream]
    argv += ["--invoker", TASKS_SERVICE_ACCOUNT]
    if audience is not None:
        argv += ["--audience", audience]
    started = launch_reporting_port(f"{name} front end", argv, tmp / f"{name}-front-end.log")
    try:
        yield started
    finally:
        started.stop()


# --- functions ---------------------------------------------------------------------------


def functions_framework() -> str:
    """The functions-framework command of this interpreter's environment."""
    return str(Path(sys.executable).parent / "functions-framework")


def spawn_function(
    name: str,
    port: int,
    env: dict[str, str],
    log: Path,
    *,
    source: Path | None = None,
    command: str | None = None,
) -> StandIn:
    """Start serving ``functions/<name>/main.py`` (or ``source``) with functions-framework."""
    main = source or ROOT / "functions" / name / "main.py"
    argv = [command or functions_framework(), "--target", name, "--source", str(main)]
    argv += ["--host", "127.0.0.1", "--port", str(port)]
    if name == "ingest":
        argv += ["--signature-type", "cloudevent"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv,
            cwd=main.parent,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return StandIn(f"{name} function", process, port, log)


def wait_until_serving(servers: list[StandIn], timeout: float = START_TIMEOUT) -> None:
    """Wait until every server answers HTTP (any status); fail with the log of one that won't."""
    deadline = time.monotonic() + timeout
    for server in servers:
        while True:
            if not server.alive():
                pytest.fail(f"{server.name} exited; its log:\n{server.tail()}", pytrace=False)
            try:
                httpx.get(f"{server.url}/healthz", timeout=2.0)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"{server.name} did not answer; its log:\n{server.tail()}", pytrace=False
                    )
                time.sleep(0.1)


@contextmanager
def serving_functions(
    names: list[str], ports: dict[str, int], env: dict[str, str], logs: Path, **kwargs: Any
) -> Iterator[dict[str, StandIn]]:
    """Start the functions side by side, wait for all of them, stop them all at the end."""
    servers: dict[str, StandIn] = {}
    try:
        for name in names:
            servers[name] = spawn_function(
                name, ports[name], env, logs / f"{name}-function.log", **kwargs
            )
        wait_until_serving(list(servers.values()))
        yield servers
    finally:
        for server in servers.values():
            server.stop()


def free_port() -> int:
    """A port nothing listens on right now (for a server that must be told its port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
