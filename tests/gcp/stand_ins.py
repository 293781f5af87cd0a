"""Local stand-ins for GCS, Cloud Tasks and Cloud Functions, started by the tests on 127.0.0.1.

- **GCS**: ``gcp-storage-emulator`` (in ``.venv``) via ``promptforge.devstack.gcs``, which checks
  V4 signatures against the test signing key and announces finalized uploads as
  CloudEvents (the emulator has neither).
- **Cloud Tasks**: ``gcloud-tasks-emulator==0.6.2`` via ``promptforge.devstack.tasks_emulator`` in
  ``.venv-tasks-emulator`` (it needs protobuf<5; ``make`` creates that virtualenv).
- **Functions**: ``functions-framework --target NAME`` on each ``functions/NAME/main.py``;
  the worker and the controller behind Cloud Run's front end (``front_end``: it checks the
  task's token and strips its signature) with Cloud Run's environment (``cloud_run_env``).
- **Terraform's queues**: ``create_fixed_queues`` (the functions create none at start-up).

Every process binds 127.0.0.1 on a free port, runs in its own process group, and is
stopped with its group when the fixture ends (``promptforge.devstack.processes``).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from google.cloud import storage, tasks_v2

from promptforge.devstack.google import create_control_queue
from promptforge.devstack.processes import (
    REPO,
    StandIn,
    free_port,
    launch_reporting_port,
    spawn_function,
    wait_until_serving,
)
from promptforge.devstack.signing import SigningKey, make_signing_key
from promptforge.gcp.cloud_tasks import emulator_client

__all__ = [  # the library's helpers, for the tests that import them from here
    "ROOT",
    "SigningKey",
    "StandIn",
    "free_port",
    "launch_reporting_port",
    "make_signing_key",
    "spawn_function",
    "wait_until_serving",
]

ROOT = REPO
TASKS_VENV = ROOT / ".venv-tasks-emulator"


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
    argv = [sys.executable, "-m", "promptforge.devstack.gcs", "--public-key", str(key.public_pem)]
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
def tasks_stand_in(tmp: Path, *, enforce_rates: bool = False) -> Iterator[TasksStandIn]:
    """Run the Cloud Tasks emulator from its own virtualenv (``enforce_rates``: queues
    dispatch at their configured rates, see ``devstack.tasks_emulator``)."""
    python = TASKS_VENV / "bin" / "python"
    if not python.exists():
        pytest.fail(
            f"{TASKS_VENV.name} is missing: the Cloud Tasks emulator needs protobuf<5 and "
            "lives in its own virtualenv, which `make test` creates (or: make "
            ".venv-tasks-emulator/bin/gcloud-tasks-emulator)",
            pytrace=False,
        )
    argv = [str(python), "-m", "promptforge.devstack.tasks_emulator"]
    if enforce_rates:
        argv.append("--enforce-rates")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHONWARNINGS"] = "ignore::FutureWarning"
    log = tmp / "tasks-emulator.log"
    # Its virtualenv has no promptforge: the launcher is imported from the source tree.
    started = launch_reporting_port("Cloud Tasks emulator", argv, log, env, cwd=ROOT / "shared")
    tasks = TasksStandIn(started.name, started.process, started.port, started.log)
    try:
        yield tasks
    finally:
        tasks.stop()


def create_fixed_queues(tasks: TasksStandIn, project: str) -> None:
    """Create what Terraform creates (``queues.tf``): the functions create no queue at start-up."""
    asyncio.run(create_control_queue(tasks.host, project))


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
