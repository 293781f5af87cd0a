"""The Google path for the fault suite: emulators, the four functions, fault proxies, a simulator.

Like ``tests/gcp/test_google_path.py``, every piece is a process on 127.0.0.1: the
Firestore emulator, the GCS stand-in (V4 signatures, finalize CloudEvents), the Cloud
Tasks emulator, the api/ingest/worker/controller functions on functions-framework, and
the provider simulator. Added for the faults:

- a redelivery proxy (``_redeliver_proxy``) in front of the worker, the controller and
  the ingest function (for the worker and the controller, in front of the stand-in for
  Cloud Run's front end, which checks and strips the task's token): the queue and the
  finalize notifications go through it, and a test switches on which kinds of requests
  it delivers three times;
- the simulator on a fixed port, restarted with each fault's options (the functions
  read its URL once);
- functions restarted (SIGTERM) or killed (SIGKILL) and started again on their ports.

The worker's lease is short (``LEASE_SECONDS``): on Google Cloud nothing releases the
lease of a killed instance, so its prompt is claimable again only once the lease ends.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from promptforge.clock import SystemClock
from promptforge.core.auth import create_api_key
from promptforge.gcp.firestore_store import FirestoreJobStore
from tests.e2e.processes import Process, promptforge
from tests.gcp.emulators import FirestoreEmulator, close_client
from tests.gcp.stand_ins import (
    GcsStandIn,
    StandIn,
    TasksStandIn,
    cloud_run_env,
    create_fixed_queues,
    free_port,
    front_end,
    gcs_stand_in,
    launch_reporting_port,
    make_signing_key,
    spawn_function,
    tasks_stand_in,
    wait_until_serving,
)

FUNCTIONS = ("api", "ingest", "worker", "controller")
PROXIED = ("ingest", "worker", "controller")
PRIVATE = ("worker", "controller")
INPUT, OUTPUT = "pf-faults-input", "pf-faults-output"
PROVIDER_KEY = "sk-test-provider-key-0123456789"
LEASE_SECONDS = 4.0
PROVIDER_TIMEOUT = 1.0
SLICE_LINES = 50
LINES_PER_PART = 100
"""All faults at once (120 prompts) finalize in two parts and a merge, each a task of its
own (``core.finalize_steps``), their deliveries tripled too; a single fault's 60 prompts
stay one part. (The Cloud Tasks emulator does not dedupe task names and sends one task at
a time per queue, so tripled steps multiply down the tree: more parts cost every run
seconds that named tasks on Cloud Tasks would not.)"""


@dataclass
class GoogleStack:
    """The running stack and the levers the fault runs pull."""

    tmp: Path
    ports: dict[str, int]
    env: dict[str, str]
    gcs: GcsStandIn
    tasks: TasksStandIn
    firestore: FirestoreEmulator
    project: str
    api_key: str
    sim_port: int
    functions: dict[str, StandIn] = field(default_factory=dict)
    proxies: dict[str, StandIn] = field(default_factory=dict)
    sim: Process | None = None

    @property
    def api(self) -> str:
        """The api function's URL."""
        return f"http://127.0.0.1:{self.ports['api']}"

    @property
    def sim_url(self) -> str:
        """The simulator's URL (the same across restarts)."""
        return f"http://127.0.0.1:{self.sim_port}"

    def start_simulator(self, *args: str) -> None:
        """(Re)start the simulator on its port with these options: fresh stats and clock."""
        if self.sim is not None:
            self.sim.stop()
        self.sim = Process(
            promptforge("simulate", "--port", str(self.sim_port), *args),
            dict(os.environ),
            self.tmp / "simulator.log",
            self.sim_url,
        )
        self.sim.start("/_sim/stats")

    def triple(self, proxy: str, kinds: list[str], race_every: int = 1) -> None:
        """Have ``proxy`` deliver requests of these kinds three times (``[]``: once).

        One in ``race_every`` goes out twice at once (then once more), the others three
        times in a row.
        """
        url = f"{self.proxies[proxy].url}/_fault"
        settings = {"kinds": kinds, "race_every": race_every}
        httpx.put(url, json=settings, timeout=10).raise_for_status()

    def proxy_counts(self, proxy: str) -> dict[str, Any]:
        """How many requests ``proxy`` forwarded, tripled and raced, and the answers' statuses."""
        got = httpx.get(f"{self.proxies[proxy].url}/_fault", timeout=10)
        got.raise_for_status()
        counts: dict[str, Any] = got.json()
        return counts

    def no_faults(self) -> None:
        """Every proxy back to single delivery."""
        for name in PROXIED:
            self.triple(name, [])

    def start_function(self, name: str) -> None:
        """Start ``functions/<name>/main.py`` on its port and wait until it serves."""
        log = self.tmp / f"{name}-function.log"
        self.functions[name] = spawn_function(name, self.ports[name], self.env, log)
        wait_until_serving([self.functions[name]])

    def kill_function(self, name: str) -> None:
        """SIGKILL the function's process group: no clean shutdown, like a crashed instance."""
        process = self.functions[name].process
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def restart_functions(self, names: tuple[str, ...] = FUNCTIONS) -> None:
        """SIGTERM the functions (they finish what they serve), then start them all again."""
        for name in names:
            os.killpg(self.functions[name].process.pid, signal.SIGTERM)
        for name in names:
            self.functions[name].stop()  # waits for the exit (SIGKILL after a grace period)
        for name in names:
            log = self.tmp / f"{name}-function.log"
            self.functions[name] = spawn_function(name, self.ports[name], self.env, log)
        wait_until_serving([self.functions[name] for name in names])

    def logs(self) -> str:
        """The end of every function's log, for failure messages."""
        return "\n".join(f"--- {s.name}\n{s.tail(20)}" for s in self.functions.values())


@contextmanager
def google_stack(tmp: Path, firestore: FirestoreEmulator) -> Iterator[GoogleStack]:
    """Start the whole stack; stop every process at the end."""
    signing = make_signing_key(tmp)
    project = firestore.project()
    ports = {name: free_port() for name in FUNCTIONS}
    with ExitStack() as running:
        upstreams = {name: f"http://127.0.0.1:{ports[name]}" for name in PROXIED}
        proxies: dict[str, StandIn] = {}
        for name in PROXIED:
            if name in PRIVATE:  # queue → redelivery proxy → Cloud Run's front end → function
                proxy_port = free_port()
                audience = f"http://127.0.0.1:{proxy_port}"
                front = running.enter_context(front_end(tmp, name, upstreams[name], audience))
                proxies[name] = running.enter_context(_proxy(tmp, name, front.url, proxy_port))
            else:
                proxies[name] = running.enter_context(_proxy(tmp, name, upstreams[name]))
        gcs = running.enter_context(
            gcs_stand_in(
                tmp, signing, [INPUT, OUTPUT], notify=proxies["ingest"].url, notify_bucket=INPUT
            )
        )
        tasks = running.enter_context(tasks_stand_in(tmp))
        create_fixed_queues(tasks, project)
        sim_port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PROMPTFORGE_")},
            **firestore.env(project),
            **gcs.env(),
            "PROMPTFORGE_GCP_PROJECT": project,
            "PROMPTFORGE_INPUT_BUCKET": INPUT,
            "PROMPTFORGE_OUTPUT_BUCKET": OUTPUT,
            "PROMPTFORGE_WORKER_URL": proxies["worker"].url,
            "PROMPTFORGE_CONTROLLER_URL": proxies["controller"].url,
            "PROMPTFORGE_TASKS_EMULATOR_HOST": tasks.host,
            **cloud_run_env("http://127.0.0.1:9/certs"),  # every token arrives stripped
            "PROMPTFORGE_SIGNING_KEY_FILE": str(signing.key_file),
            "PROMPTFORGE_STORAGE_SIGNING_ENDPOINT": gcs.url,
            "PROMPTFORGE_PROVIDER_KEYS_FROM": "environment",
            "PROMPTFORGE_CONTROL_PERIOD": "1.0",
            "PROMPTFORGE_INGEST_SLICE_LINES": str(SLICE_LINES),
            "PROMPTFORGE_LINES_PER_PART": str(LINES_PER_PART),
            "PROMPTFORGE_LEASE_SECONDS": str(LEASE_SECONDS),
            "PROMPTFORGE_PROVIDER_TIMEOUT": str(PROVIDER_TIMEOUT),
        }
        for provider in ("OPENAI", "ANTHROPIC"):
            env[f"PROMPTFORGE_{provider}_API_KEY"] = PROVIDER_KEY
            env[f"PROMPTFORGE_{provider}_BASE_URL"] = f"http://127.0.0.1:{sim_port}"
        stack = GoogleStack(
            tmp,
            ports,
            env,
            gcs,
            tasks,
            firestore,
            project,
            asyncio.run(_create_key(firestore, project)),
            sim_port,
            proxies=proxies,
        )
        try:
            for name in FUNCTIONS:
                stack.start_function(name)
            yield stack
        finally:
            for function in stack.functions.values():
                function.stop()
            if stack.sim is not None:
                stack.sim.stop()


@contextmanager
def _proxy(tmp: Path, name: str, upstream: str, port: int = 0) -> Iterator[StandIn]:
    argv = [sys.executable, "-m", "tests.faults._redeliver_proxy"]
    argv += ["--upstream", upstream, "--port", str(port)]
    proxy = launch_reporting_port(f"{name} proxy", argv, tmp / f"{name}-proxy.log")
    try:
        yield proxy
    finally:
        proxy.stop()


async def _create_key(emulator: FirestoreEmulator, project: str) -> str:
    client = emulator.client(project)
    try:
        key, _ = await create_api_key(FirestoreJobStore(client), SystemClock(), "tenant-f")
    finally:
        await close_client(client)
    return key
