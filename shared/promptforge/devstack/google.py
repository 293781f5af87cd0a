"""PromptForge's Google path on this machine: the emulators, the four functions as deployed.

``google_dev_stack`` starts, each as its own process on 127.0.0.1:

- the Firestore emulator (``gcloud emulators firestore start``, from the Cloud SDK);
- the GCS stand-in (``devstack.gcs``: V4 signatures checked, uploads announced to the
  ingest function as Eventarc's finalize CloudEvents);
- the Cloud Tasks emulator (``devstack.tasks_emulator``, in ``.venv-tasks-emulator``),
  with the control queue created as Terraform does;
- the api, ingest, worker and controller functions under functions-framework, each from
  ``functions/NAME/main.py`` with the environment Terraform gives it plus ``K_SERVICE``;
- in front of the worker and the controller, a stand-in for Cloud Run's front end
  (``devstack.front_end``): it gives each task Cloud Tasks' token, checks it and strips
  its signature, so the functions check the claims as on Cloud Run.

It creates an API key in Firestore, yields, and stops every process it started (each in
its own process group, listed in ``processes.json`` beside the logs) whatever happens.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import httpx

from promptforge.clock import SystemClock
from promptforge.core.auth import create_api_key
from promptforge.core.deps import CONTROL_QUEUE
from promptforge.core.queues import CONTROL_QUEUE_CONFIG
from promptforge.devstack.processes import (
    REPO,
    START_TIMEOUT,
    StandIn,
    StandInError,
    free_port,
    launch_reporting_port,
    spawn_function,
    wait_until_serving,
)
from promptforge.devstack.reaper import popen_group
from promptforge.devstack.signing import make_signing_key
from promptforge.gcp.cloud_tasks import CloudTasksQueue, emulator_client

FUNCTIONS = ("api", "ingest", "worker", "controller")
PRIVATE = ("worker", "controller")
INPUT, OUTPUT = "pf-dev-uploads", "pf-dev-results"
TASKS_ACCOUNT = "pf-tasks@promptforge-dev.iam.gserviceaccount.com"
SIGNER = "pf-signer@promptforge-dev.iam.gserviceaccount.com"
LOCATION = "us-central1"
TASKS_PYTHON = REPO / ".venv-tasks-emulator" / "bin" / "python"


@dataclass(frozen=True)
class GoogleDevStack:
    """The running stack: where the API is, the tenant's key, every process."""

    api_url: str
    api_key: str
    project: str
    processes: tuple[StandIn, ...]


@contextlib.asynccontextmanager
async def google_dev_stack(
    logs: Path,
    provider_env: dict[str, str],
    *,
    control_period: float = 1.0,
    function_source: Callable[[str], Path] | None = None,
) -> AsyncIterator[GoogleDevStack]:
    """Start everything (``provider_env``: the functions' provider keys and base URLs).

    ``function_source(name)``, when given, is the file served as function ``name``
    instead of ``functions/NAME/main.py`` (``bench cloud`` serves metered wrappers).
    """
    _check_prerequisites()
    project = f"promptforge-dev-{uuid.uuid4().hex[:8]}"
    ports = {name: free_port() for name in FUNCTIONS}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    with contextlib.ExitStack() as running:
        started: list[StandIn] = []

        def start(stand_in: StandIn) -> StandIn:
            started.append(stand_in)
            running.callback(stand_in.stop)
            _record(logs, started)
            return stand_in

        firestore = start(_firestore(logs / "firestore.log"))
        signing = make_signing_key(logs, SIGNER)
        gcs = start(_gcs(logs, signing.public_pem, notify=urls["ingest"]))
        tasks = start(_tasks_emulator(logs))
        for name in PRIVATE:  # tasks go to the front end, which passes them on
            front = _front_end(logs, name, upstream=urls[name])
            urls[name] = start(front).url
        await create_control_queue(tasks.host, project)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PROMPTFORGE_")},
            "FIRESTORE_EMULATOR_HOST": firestore.host,
            "GOOGLE_CLOUD_PROJECT": project,
            "STORAGE_EMULATOR_HOST": gcs.url,
            "K_SERVICE": "promptforge-dev",
            "PROMPTFORGE_GCP_PROJECT": project,
            "PROMPTFORGE_INPUT_BUCKET": INPUT,
            "PROMPTFORGE_OUTPUT_BUCKET": OUTPUT,
            "PROMPTFORGE_WORKER_URL": urls["worker"],
            "PROMPTFORGE_CONTROLLER_URL": urls["controller"],
            "PROMPTFORGE_TASKS_SERVICE_ACCOUNT": TASKS_ACCOUNT,
            "PROMPTFORGE_OIDC_CERTS_URL": f"{urls['worker']}/_certs",
            "PROMPTFORGE_TASKS_EMULATOR_HOST": tasks.host,
            "PROMPTFORGE_SIGNING_KEY_FILE": str(signing.key_file),
            "PROMPTFORGE_STORAGE_SIGNING_ENDPOINT": gcs.url,
            "PROMPTFORGE_PROVIDER_KEYS_FROM": "environment",
            "PROMPTFORGE_CONTROL_PERIOD": str(control_period),
            **provider_env,
        }
        functions = [
            start(
                spawn_function(
                    name,
                    port,
                    env,
                    logs / f"{name}-function.log",
                    source=function_source(name) if function_source else None,
                )
            )
            for name, port in ports.items()
        ]
        wait_until_serving(functions)
        api_key = await _create_api_key(firestore.host, project)
        yield GoogleDevStack(urls["api"], api_key, project, tuple(started))


def _record(logs: Path, started: list[StandIn]) -> None:
    """``processes.json``: each process group started (stopped with its group at the end)."""
    groups = [{"name": s.name, "pgid": s.process.pid, "port": s.port} for s in started]
    (logs / "processes.json").write_text(json.dumps(groups, indent=2))


def _check_prerequisites() -> None:
    missing = []
    if not (REPO / "functions").is_dir():
        missing.append(f"the functions/ folder of a clone (looked in {REPO})")
    if shutil.which("gcloud") is None:
        missing.append("`gcloud` with the cloud-firestore-emulator component (and Java 11+)")
    if not TASKS_PYTHON.exists():
        missing.append(
            "the Cloud Tasks emulator's virtualenv "
            "(make .venv-tasks-emulator/bin/gcloud-tasks-emulator)"
        )
    if missing:
        raise StandInError("`promptforge dev google` needs " + "; ".join(missing))


def _firestore(log: Path) -> StandIn:
    gcloud = shutil.which("gcloud") or "gcloud"
    port = free_port()
    env = {**os.environ, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"}
    env.pop("FIRESTORE_EMULATOR_HOST", None)
    argv = [gcloud, "emulators", "firestore", "start", f"--host-port=127.0.0.1:{port}"]
    with log.open("wb") as out:
        process = _popen(argv, out, env)
    emulator = StandIn("Firestore emulator", process, port, log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if not emulator.alive():
            raise StandInError(f"the Firestore emulator exited; its log:\n{emulator.tail()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(emulator.url, timeout=1.0).status_code == 200:
                return emulator
        time.sleep(0.1)
    emulator.stop()
    raise StandInError(f"the Firestore emulator did not answer; its log:\n{emulator.tail()}")


def _popen(argv: list[str], out: BinaryIO, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return popen_group(  # its own process group, Java child included
        argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env
    )


def _gcs(logs: Path, public_pem: Path, *, notify: str) -> StandIn:
    argv = [sys.executable, "-m", "promptforge.devstack.gcs", "--public-key", str(public_pem)]
    argv += ["--bucket", INPUT, "--bucket", OUTPUT, "--notify", notify, "--notify-bucket", INPUT]
    return launch_reporting_port("GCS stand-in", argv, logs / "gcs.log")


def _tasks_emulator(logs: Path) -> StandIn:
    argv = [str(TASKS_PYTHON), "-m", "promptforge.devstack.tasks_emulator"]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHONWARNINGS"] = "ignore::FutureWarning"
    log = logs / "tasks-emulator.log"
    return launch_reporting_port("Cloud Tasks emulator", argv, log, env, cwd=REPO / "shared")


def _front_end(logs: Path, name: str, *, upstream: str) -> StandIn:
    argv = [sys.executable, "-m", "promptforge.devstack.front_end", "--upstream", upstream]
    argv += ["--invoker", TASKS_ACCOUNT]
    return launch_reporting_port(f"{name} front end", argv, logs / f"{name}-front-end.log")


async def create_control_queue(host: str, project: str) -> None:
    """What Terraform creates (``queues.tf``): the functions create no queue at start-up."""
    queue = CloudTasksQueue(
        emulator_client(host),
        project=project,
        location=LOCATION,
        worker_url="",
        controller_url="",
        service_account=None,
    )
    try:
        await queue.ensure_queue(CONTROL_QUEUE, CONTROL_QUEUE_CONFIG)
    finally:
        await queue.aclose()


async def _create_api_key(host: str, project: str) -> str:
    from promptforge.gcp.wiring import open_firestore_store

    with _env(FIRESTORE_EMULATOR_HOST=host):
        opened = open_firestore_store(project)
        store = await opened.__aenter__()
    try:
        key, _ = await create_api_key(store, SystemClock(), "dev")
    finally:
        await opened.__aexit__(None, None, None)
    return key


@contextlib.contextmanager
def _env(**values: str) -> Iterator[None]:
    """Set environment variables for a client constructor only (it reads them once)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
