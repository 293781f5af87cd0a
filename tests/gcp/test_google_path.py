"""The seed quickstart on the Google path: four functions on functions-framework, real stand-ins.

Everything runs as its own process on 127.0.0.1, started here and stopped at the end:
the Firestore emulator (Cloud SDK), the GCS stand-in (gcp-storage-emulator, checking V4
signatures and announcing uploads as finalize CloudEvents to the ingest function), the
Cloud Tasks emulator, the provider simulator, and the api, ingest, worker and controller
functions served by functions-framework from ``functions/*/main.py``.

init → PUT to the V4 signed URL → finalize event → ingest → slice tasks → prompt tasks
→ worker → finalize → status → results, downloaded through V4 signed URLs.

The worker and the controller run as on Cloud Run: ``K_SERVICE`` set, behind a stand-in
for Cloud Run's front end that gives each task the token Cloud Tasks would attach (the
emulator sends none), checks it and strips its signature; the functions check the
claims. The control queue is created first, as Terraform does.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import httpx
import pytest
from phoenix.client import Client as PhoenixClient
from phoenix.client.types import PromptVersion
from standardwebhooks import Webhook

from promptforge.clock import SystemClock
from promptforge.core.auth import create_api_key
from promptforge.core.chunk_tasks import chunk_task
from promptforge.core.chunks import CHECKPOINT_ANSWERS
from promptforge.core.ingest import prompt_task
from promptforge.core.models import PromptTask, RateKey
from promptforge.devstack.cloudevents import finalize_event
from promptforge.devstack.gcs import NOTIFY_ATTEMPTS
from promptforge.gcp.cloud_tasks import CloudTasksQueue
from promptforge.gcp.firestore_store import FirestoreJobStore
from tests.e2e.jobs import Finished, assert_exactly_once, jsonl, make_prompts
from tests.e2e.processes import anthropic_and_gemini_at, simulator
from tests.e2e.receiver import receiver
from tests.e2e.test_chat_jobs import chat_rows
from tests.faults.checks import sim_key
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
    make_signing_key,
    serving_functions,
    spawn_function,
    tasks_stand_in,
    wait_until_serving,
)

pytestmark = [pytest.mark.anyio, pytest.mark.e2e, pytest.mark.slow]

FUNCTIONS = ["api", "ingest", "worker", "controller"]
PRIVATE = ("worker", "controller")
INPUT, OUTPUT = "pf-e2e-input", "pf-e2e-output"
PROVIDER_KEY = "sk-test-provider-key-0123456789"
SLICE_LINES = 7
CONTROL_PERIOD = 1.0
RETIRE_AFTER = 4.0
LEASE_SECONDS = 12.0
# Gemini hides its limit (no headers, 429s with RetryInfo only): 60 RPM in buckets of
# five seconds, 120 RPM from HIDDEN_RISE seconds after a reset of the simulator.
HIDDEN_RISE = 40.0
SIMULATOR_ARGS = (  # the default of the ``simulator_args`` fixture (tests/gcp/conftest.py)
    *("--rpm", "6000", "--latency", "0.02", "--limit", "anthropic:rpm=90"),
    *("--limit", "gemini:rpm=60,burst_seconds=5", "--no-quota-failure"),
    *("--limit-change", f"{HIDDEN_RISE:g}:gemini:rpm=120,burst_seconds=5"),
)
SEED_PROMPTS = [
    {
        "prompt_id": "p001",
        "prompt": "Summarize the following in one sentence: The Eiffel Tower was built in 1889.",
    },
    {"prompt_id": "p002", "prompt": "Translate to French: Hello, how are you?"},
    {"prompt_id": "p003", "prompt": "Write a haiku about distributed systems."},
]


@dataclass
class GoogleStack:
    """The running stack: function URLs, stand-ins, and a tenant's API key."""

    urls: dict[str, str]
    functions: dict[str, StandIn]
    gcs: GcsStandIn
    tasks: TasksStandIn
    firestore: FirestoreEmulator
    project: str
    api_key: str
    simulator_url: str
    env: dict[str, str]
    tmp: Path

    @property
    def api(self) -> str:
        return self.urls["api"]

    def logs(self) -> str:
        """The end of every function's log, for failure messages."""
        return "\n".join(f"--- {s.name}\n{s.tail(25)}" for s in self.functions.values())

    def task_queue(self) -> CloudTasksQueue:
        """A CloudTasksQueue on the emulator addressing the functions (create it in a loop)."""
        return CloudTasksQueue(
            self.tasks.client(),
            project=self.project,
            location="us-central1",
            worker_url=self.urls["worker"],
            controller_url=self.urls["controller"],
            service_account=None,
        )


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    firestore_emulator: FirestoreEmulator,
    simulator_args: tuple[str, ...],
) -> Iterator[GoogleStack]:
    tmp = tmp_path_factory.mktemp("google-path")
    signing = make_signing_key(tmp)
    project = firestore_emulator.project()
    ports = {name: free_port() for name in FUNCTIONS}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    with ExitStack() as running:
        for name in PRIVATE:  # tasks go to the front end, which passes them on
            urls[name] = running.enter_context(front_end(tmp, name, urls[name])).url
        sim = running.enter_context(simulator(tmp, *simulator_args))
        gcs = running.enter_context(
            gcs_stand_in(tmp, signing, [INPUT, OUTPUT], notify=urls["ingest"], notify_bucket=INPUT)
        )
        # Queues dispatch at their configured rates, as Cloud Tasks does (the emulator alone
        # ignores them): the controller's queue rate is what reaches the provider.
        tasks = running.enter_context(tasks_stand_in(tmp, enforce_rates=True))
        create_fixed_queues(tasks, project)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PROMPTFORGE_")},
            **firestore_emulator.env(project),
            **gcs.env(),
            "PROMPTFORGE_GCP_PROJECT": project,
            "PROMPTFORGE_INPUT_BUCKET": INPUT,
            "PROMPTFORGE_OUTPUT_BUCKET": OUTPUT,
            "PROMPTFORGE_WORKER_URL": urls["worker"],
            "PROMPTFORGE_CONTROLLER_URL": urls["controller"],
            "PROMPTFORGE_TASKS_EMULATOR_HOST": tasks.host,
            **cloud_run_env(f"{urls['worker']}/_certs"),
            "PROMPTFORGE_SIGNING_KEY_FILE": str(signing.key_file),
            "PROMPTFORGE_STORAGE_SIGNING_ENDPOINT": gcs.url,
            "PROMPTFORGE_PROVIDER_KEYS_FROM": "environment",
            "PROMPTFORGE_OPENAI_API_KEY": PROVIDER_KEY,
            "PROMPTFORGE_OPENAI_BASE_URL": sim.url,
            **anthropic_and_gemini_at(sim.url),
            "PROMPTFORGE_CONTROL_PERIOD": str(CONTROL_PERIOD),
            "PROMPTFORGE_INGEST_SLICE_LINES": str(SLICE_LINES),
            "PROMPTFORGE_QUEUE_RETIRE_AFTER": str(RETIRE_AFTER),
            "PROMPTFORGE_WEBHOOK_ALLOW_PRIVATE": "true",  # test only: a receiver on 127.0.0.1
            # A killed worker's prompts are BUSY until their lease ends: keep it short.
            "PROMPTFORGE_LEASE_SECONDS": str(LEASE_SECONDS),
            "PROMPTFORGE_PROVIDER_TIMEOUT": str(LEASE_SECONDS / 2),
        }
        functions = running.enter_context(serving_functions(FUNCTIONS, ports, env, tmp))
        api_key = asyncio.run(_create_key(firestore_emulator, project))
        yield GoogleStack(
            urls, functions, gcs, tasks, firestore_emulator, project, api_key, sim.url, env, tmp
        )


async def _create_key(emulator: FirestoreEmulator, project: str) -> str:
    client = emulator.client(project)
    try:
        key, _ = await create_api_key(FirestoreJobStore(client), SystemClock(), "tenant-g")
    finally:
        await close_client(client)
    return key


# --- the client side of the quickstart ------------------------------------------------------


async def _init(http: httpx.AsyncClient, stack: GoogleStack, **body: Any) -> dict[str, Any]:
    init = {"provider": "openai", "model": "gpt-4o-mini", "max_retries": 3, **body}
    created = await http.post(
        f"{stack.api}/v1/jobs/init", headers={"X-API-Key": stack.api_key}, json=init
    )
    assert created.status_code == 202, created.text
    job: dict[str, Any] = created.json()
    return job


async def _put(http: httpx.AsyncClient, url: str, body: bytes) -> None:
    put = await http.put(url, content=body, headers={"Content-Type": "application/octet-stream"})
    assert put.status_code == 200, put.text


async def _status(http: httpx.AsyncClient, stack: GoogleStack, job_id: str) -> dict[str, Any]:
    got = await http.get(
        f"{stack.api}/v1/jobs/{job_id}/status", headers={"X-API-Key": stack.api_key}
    )
    assert got.status_code == 200, got.text
    body: dict[str, Any] = got.json()
    return body


async def _wait_final(
    http: httpx.AsyncClient, stack: GoogleStack, job_id: str, within: float = 120.0
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = await _status(http, stack, job_id)
        if status["status"] in ("COMPLETED", "FAILED", "CANCELLED"):
            return status
        await asyncio.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish: {status}\n{stack.logs()}")


async def _download(
    http: httpx.AsyncClient, stack: GoogleStack, job_id: str
) -> dict[str, list[dict[str, Any]]]:
    listing = await http.get(
        f"{stack.api}/v1/jobs/{job_id}/results", headers={"X-API-Key": stack.api_key}
    )
    assert listing.status_code == 200, listing.text
    files: dict[str, list[dict[str, Any]]] = {}
    for entry in listing.json()["files"]:
        assert entry["url"].startswith(stack.gcs.url) and "X-Goog-Signature=" in entry["url"]
        got = await http.get(entry["url"])  # the stand-in checks the V4 signature
        assert got.status_code == 200, got.text
        files[entry["filename"]] = [json.loads(line) for line in got.text.splitlines()]
    return files


async def _generation(http: httpx.AsyncClient, stack: GoogleStack, name: str) -> int:
    got = await http.get(f"{stack.gcs.url}/storage/v1/b/{INPUT}/o/{quote(name, safe='')}")
    assert got.status_code == 200, got.text
    return int(got.json()["generation"])


async def _finalize_event(
    http: httpx.AsyncClient, stack: GoogleStack, name: str, generation: int
) -> None:
    """Deliver the finalize CloudEvent again, as Eventarc does when it redelivers."""
    headers, data = finalize_event(INPUT, name, generation)
    got = await http.post(stack.urls["ingest"], json=data, headers=headers)
    assert got.status_code == 200, got.text


def _upload_object(job_id: str) -> str:
    return f"tenant-g/{job_id}/prompts.jsonl"


# --- tests ------------------------------------------------------------------------------------


async def test_seed_quickstart_runs_on_the_google_path(stack: GoogleStack) -> None:
    prompts = SEED_PROMPTS + make_prompts(30)
    bad = b"{not json\n" + b'{"prompt_id": "p001", "prompt": "a duplicate id"}\n' + b"\n"
    body = jsonl(prompts[:20]) + bad + jsonl(prompts[20:])
    async with httpx.AsyncClient(timeout=30) as http:
        job = await _init(http, stack)
        assert job["upload_url"].startswith(f"{stack.gcs.url}/{INPUT}/tenant-g/")
        assert "X-Goog-Signature=" in job["upload_url"]
        await _put(http, job["upload_url"], body)  # nothing else: the finalize event starts it
        status = await _wait_final(http, stack, job["job_id"])
        files = await _download(http, stack, job["job_id"])
    assert status["status"] == "COMPLETED", f"{status}\n{stack.logs()}"
    finished = Finished(status, files)
    assert_exactly_once(finished, [p["prompt_id"] for p in prompts], invalid_lines={21, 22})
    assert status["prompt_count"] == len(prompts) + 2  # the blank line is not a prompt
    assert sorted(row["error"]["code"] for row in finished.errors) == [
        "duplicate_prompt_id",
        "invalid_json",
    ]
    first = next(r for r in finished.results if r["prompt_id"] == "p001")
    assert first["model"] == "gpt-4o-mini" and first["tokens_used"] > 0 and first["result"]
    assert set(files) == {"results_part_001.jsonl", "errors.jsonl"}
    for field in ("created_at", "started_processing_at", "completed_at"):
        assert status[field] and status[field].endswith("Z")


async def test_replayed_events_and_duplicated_tasks_leave_one_result_per_prompt(
    stack: GoogleStack,
) -> None:
    prompts = make_prompts(24, prefix="r")
    body = jsonl(prompts)
    async with httpx.AsyncClient(timeout=30) as http:
        job = await _init(http, stack)
        job_id, name = job["job_id"], _upload_object(job["job_id"])
        await _put(http, job["upload_url"], body)
        generation = await _generation(http, stack, name)
        # Eventarc delivers at least once: the same event twice more, at once.
        await asyncio.gather(*(_finalize_event(http, stack, name, generation) for _ in range(2)))
        # Cloud Tasks delivers at least once: every prompt's task created again (the
        # emulator does not dedupe names, so each is delivered twice), and some posted
        # straight to the worker twice at the same moment.
        queue = stack.task_queue()
        await _wait_registered(http, stack, job_id)
        rate_queue = await _key_queue(stack, RateKey("openai", "gpt-4o-mini"))
        tasks = [
            prompt_task(rate_queue, PromptTask(job_id, p["prompt_id"], i + 1, p["prompt"]))
            for i, p in enumerate(prompts)
        ]
        try:
            assert await queue.enqueue(tasks) == len(tasks)
        finally:
            await queue.aclose()
        await asyncio.gather(*(_deliver(http, stack, task.payload) for task in tasks[:6] * 2))
        # And whole chunks of them, twice at once: each prompt is claimed once per generation.
        chunk = chunk_task(rate_queue, [PromptTask.from_dict(t.payload) for t in tasks[6:18]])
        await asyncio.gather(*(_deliver(http, stack, chunk.payload, "chunk") for _ in range(2)))
        status = await _wait_final(http, stack, job_id)
        files = await _download(http, stack, job_id)
        assert status["status"] == "COMPLETED", f"{status}\n{stack.logs()}"
        finished = Finished(status, files)
        assert_exactly_once(finished, [p["prompt_id"] for p in prompts])
        assert len(finished.results) == 24 and status["completed_count"] == 24

        # After the end: the old event again, an overwrite of the object through the
        # still-valid upload URL (a new generation, announced like any upload), and a
        # late duplicate task. None of them may start or count anything.
        await _finalize_event(http, stack, name, generation)
        await _put(http, job["upload_url"], jsonl(make_prompts(5, prefix="late")))
        assert await _generation(http, stack, name) != generation
        assert (await _deliver(http, stack, tasks[0].payload)) == 200
        await asyncio.sleep(3.0)
        after = await _status(http, stack, job_id)
        again = await _download(http, stack, job_id)
    assert after == status
    assert again == files


async def test_a_worker_killed_mid_chunk_loses_nothing_and_repeats_only_its_window(
    stack: GoogleStack,
) -> None:
    """SIGKILL the worker function while it runs a chunk, start it again: Cloud Tasks
    redelivers the chunk; prompts already recorded are not called again, the ones whose
    answers the kill cut off (the checkpoint window plus the calls in flight) are called
    once more after their lease, and every prompt ends in one result line."""
    tag = uuid.uuid4().hex[:8]
    prompts = [{"prompt_id": f"k{i:03d}", "prompt": f"Kill {tag}: item {i}."} for i in range(60)]
    worker = stack.functions["worker"]
    async with httpx.AsyncClient(timeout=30) as http:
        job = await _init(http, stack)
        await _put(http, job["upload_url"], jsonl(prompts))
        deadline = time.monotonic() + 120.0
        while (await _status(http, stack, job["job_id"]))["completed_count"] < 15:
            assert time.monotonic() < deadline, f"no chunk made progress\n{stack.logs()}"
            await asyncio.sleep(0.05)
        os.killpg(worker.process.pid, signal.SIGKILL)
        worker.process.wait(10)
        killed_at = (await _status(http, stack, job["job_id"]))["completed_count"]
        log = stack.tmp / "worker-function.log"
        stack.functions["worker"] = spawn_function("worker", worker.port, stack.env, log)
        wait_until_serving([stack.functions["worker"]])
        status = await _wait_final(http, stack, job["job_id"], within=240.0)
        files = await _download(http, stack, job["job_id"])
        stats = (await http.get(f"{stack.simulator_url}/_sim/stats")).json()
    assert status["status"] == "COMPLETED", status
    assert killed_at < len(prompts), "the chunk had ended before the kill"
    assert_exactly_once(Finished(status, files), [p["prompt_id"] for p in prompts])
    billed = [stats["calls_per_prompt"].get(sim_key(p["prompt"]), 0) for p in prompts]
    assert min(billed) == 1, "a result the provider never produced"
    # What a kill may repeat: the answers since the last checkpoint, one checkpoint being
    # written, and the calls in flight (the chunk paces calls; the simulator answers in
    # 20 ms, so a few at most): docs/reliability.md.
    repeated = sum(1 for n in billed if n > 1)
    assert max(billed) <= 2 and repeated <= 2 * CHECKPOINT_ANSWERS + 5, billed


async def _key_queue(stack: GoogleStack, key: RateKey) -> str:
    """The queue the key's prompts go to now (its name changes once its queues retire)."""
    client = stack.firestore.client(stack.project)
    try:
        state = await FirestoreJobStore(client).load_rate_state(key.id)
    finally:
        await close_client(client)
    assert state is not None and state.queue is not None, state
    return state.queue


async def _wait_registered(
    http: httpx.AsyncClient, stack: GoogleStack, job_id: str, within: float = 30.0
) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        status = await _status(http, stack, job_id)
        if status["status"] != "WAITING_FOR_UPLOAD" and status["ingest_complete"]:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} was never ingested\n{stack.logs()}")


async def _deliver(
    http: httpx.AsyncClient, stack: GoogleStack, payload: dict[str, Any], target: str = "worker"
) -> int:
    """POST a worker (or chunk) task the way Cloud Tasks does (a duplicate delivery)."""
    got = await http.post(
        stack.urls["worker"],
        json={"target": target, "payload": payload},
        headers={"X-CloudTasks-TaskName": "duplicate", "X-CloudTasks-TaskRetryCount": "0"},
    )
    assert got.status_code in (200, 409), got.text
    return got.status_code


async def test_an_upload_stored_while_the_ingest_function_is_down_runs_by_the_expiry_check(
    stack: GoogleStack,
) -> None:
    """The upload is stored, its finalize event never handled (the ingest function down for
    longer than the notifier retries): the ``expire`` task starts its ingest, where it used
    to see the file and leave the job waiting for ever."""
    prompts = make_prompts(12, prefix="down")
    ingest = stack.functions["ingest"]
    ingest.stop()
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            job = await _init(http, stack)
            await _put(http, job["upload_url"], jsonl(prompts))
            await _wait_for_log(stack.gcs.log, "not delivered", count=NOTIFY_ATTEMPTS)
            assert (await _status(http, stack, job["job_id"]))["status"] == "WAITING_FOR_UPLOAD"
    finally:
        log = stack.tmp / "ingest-function.log"
        stack.functions["ingest"] = spawn_function("ingest", ingest.port, stack.env, log)
        wait_until_serving([stack.functions["ingest"]])
    async with httpx.AsyncClient(timeout=30) as http:
        await _expire_now(stack, job["job_id"])
        got = await http.post(
            stack.urls["controller"],
            json={"target": "expire", "payload": {"job_id": job["job_id"]}},
        )
        assert got.status_code == 200, got.text
        status = await _wait_final(http, stack, job["job_id"])
        files = await _download(http, stack, job["job_id"])
    assert status["status"] == "COMPLETED", status
    assert_exactly_once(Finished(status, files), [p["prompt_id"] for p in prompts])


async def _wait_for_log(log: Path, needle: str, count: int, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while (await anyio.Path(log).read_text(errors="replace")).count(needle) < count:
        assert time.monotonic() < deadline, f"{needle!r} not logged {count} times in {log}"
        await asyncio.sleep(0.2)


async def _expire_now(stack: GoogleStack, job_id: str) -> None:
    """Move the job's upload expiry into the past: the 15 minutes have passed."""
    async with stack.firestore.connect(stack.project) as client:
        past = datetime.now(UTC) - timedelta(seconds=1)
        await client.collection("pf_jobs").document(job_id).update({"upload_expires_at": past})


async def test_the_private_functions_accept_only_what_the_front_end_passed_on(
    stack: GoogleStack,
) -> None:
    """The whole path above ran through the front end; straight to a function, no token: 401."""
    body = {"target": "worker", "payload": {}}
    async with httpx.AsyncClient(timeout=30) as http:
        for name in PRIVATE:
            direct = await http.post(stack.functions[name].url, json=body)
            assert direct.status_code == 401, (name, direct.text)
            forged = await http.post(
                stack.urls[name], json=body, headers={"Authorization": "Bearer a.b.c"}
            )
            assert forged.status_code == 401, (name, forged.text)


# --- jobs as users manage them (issue 14), through the api function --------------------------


async def _get(
    http: httpx.AsyncClient, stack: GoogleStack, path: str, **params: Any
) -> httpx.Response:
    return await http.get(
        f"{stack.api}{path}", params=params, headers={"Authorization": f"Bearer {stack.api_key}"}
    )


async def test_managed_jobs_on_the_google_path(stack: GoogleStack) -> None:
    """Idempotent named init of a chat job, validate, list pages, streamed results, cancel of
    3,000 (the webhook of the same flow: the test below)."""
    settings = {"name": "google nightly", "metadata": {"team": "search"}}
    headers = {"X-API-Key": stack.api_key, "Idempotency-Key": "google-nightly"}
    body = {"provider": "openai", "model": "gpt-4o-mini", **settings}
    async with httpx.AsyncClient(timeout=60) as http:
        first = await http.post(f"{stack.api}/v1/jobs/init", json=body, headers=headers)
        again = await http.post(f"{stack.api}/v1/jobs/init", json=body, headers=headers)
        other = await http.post(
            f"{stack.api}/v1/jobs/init", json={**body, "name": "x"}, headers=headers
        )
        assert first.status_code == again.status_code == 202, first.text
        assert first.json()["job_id"] == again.json()["job_id"]
        assert other.status_code == 409, other.text
        job = first.json()
        prompts = chat_rows(30)  # `messages` lines
        await _put(http, job["upload_url"], jsonl(prompts))
        status = await _wait_final(http, stack, job["job_id"])
        assert status["status"] == "COMPLETED", f"{status}\n{stack.logs()}"
        assert (status["name"], status["metadata"]) == ("google nightly", {"team": "search"})
        streamed = await _get(
            http, stack, f"/v1/jobs/{job['job_id']}/results", output_type="stream"
        )
        assert streamed.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in streamed.text.splitlines()]
        assert sorted(row["prompt_id"] for row in lines) == sorted(
            str(p["prompt_id"]) for p in prompts
        )

        report = await http.post(
            f"{stack.api}/v1/jobs/validate",
            params={"provider": "openai", "model": "gpt-4o-mini"},
            content=b'{"prompt_id": "a", "prompt": "x"}\n{bad\n{"prompt_id": "a", "prompt": "y"}\n'
            b'{"prompt": "no id"}\n',
            headers={"X-API-Key": stack.api_key},
        )
        assert report.status_code == 200, report.text
        assert (report.json()["valid"], report.json()["prompt_count"]) == (False, 1)
        assert len(report.json()["errors"]) == 3

        big = await _init(http, stack)
        await _put(http, big["upload_url"], jsonl(make_prompts(3000, prefix="x")))
        started = time.monotonic()
        while (await _status(http, stack, big["job_id"]))["completed_count"] == 0:
            assert time.monotonic() - started < 120, stack.logs()
            await asyncio.sleep(0.3)
        await asyncio.sleep(max(0.0, 5 - (time.monotonic() - started)))
        cancel = await http.post(
            f"{stack.api}/v1/jobs/{big['job_id']}/cancel", headers={"X-API-Key": stack.api_key}
        )
        assert cancel.status_code == 202, cancel.text
        ended = await _wait_final(http, stack, big["job_id"], within=300)
        assert ended["status"] == "CANCELLED", f"{ended}\n{stack.logs()}"
        files = await _download(http, stack, big["job_id"])
        results = [r for name, rows in files.items() if name.startswith("results_") for r in rows]
        errors = files["errors.jsonl"]
        assert {row["error"]["code"] for row in errors} == {"cancelled"}
        ids = [row["prompt_id"] for row in [*results, *errors]]
        assert len(ids) == len(set(ids)) == 3000
        assert ended["completed_count"] == len(results) < 3000

        page = await _get(http, stack, "/v1/jobs", limit=1)
        assert [j["job_id"] for j in page.json()["data"]] == [big["job_id"]]
        assert page.json()["has_more"] is True
        rest = await _get(http, stack, "/v1/jobs", limit=100, after=big["job_id"])
        assert job["job_id"] in [j["job_id"] for j in rest.json()["data"]]
        unknown = await _get(http, stack, "/v1/jobs", after=str(uuid.uuid4()))
        assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "invalid_cursor"


async def test_a_chat_job_webhook_is_retried_and_signed_on_the_google_path(
    stack: GoogleStack,
) -> None:
    """30 chat lines; the receiver answers 500 then 200: the retry keeps its webhook-id."""
    rows = chat_rows(30)
    with receiver([500, 200]) as sink:
        async with httpx.AsyncClient(timeout=30) as http:
            job = await _init(http, stack, webhook_url=sink.url)
            await _put(http, job["upload_url"], jsonl(rows))
            status = await _wait_final(http, stack, job["job_id"])
            got = await asyncio.to_thread(sink.wait_for, 2, 60.0)
    assert status["status"] == "COMPLETED", f"{status}\n{stack.logs()}"
    assert status["completed_count"] == 30
    assert [r.answered for r in got[:2]] == [500, 200]
    assert got[0].headers["webhook-id"] == got[1].headers["webhook-id"]
    events = [Webhook(job["webhook_secret"]).verify(r.body, r.headers) for r in got[:2]]
    assert events[0] == events[1]
    assert events[0]["type"] == "job.completed"
    assert events[0]["data"]["job_id"] == job["job_id"]
    assert events[0]["data"]["completed_count"] == 30


async def test_a_job_over_a_prompt_version_on_the_google_path(stack: GoogleStack) -> None:
    """Phoenix's client creates a version through the api function (stored in Firestore); a
    job over it renders every row as Phoenix does, and a row missing a variable is an error."""
    phoenix = PhoenixClient(base_url=stack.api, api_key=stack.api_key)
    version = PromptVersion.from_openai(
        {
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "You are {{ persona }}."},
                {"role": "user", "content": "Ticket {{ticket}}: {{ message }}"},
            ],
            "temperature": 0.4,
            "max_tokens": 33,
        }
    )
    created = await asyncio.to_thread(phoenix.prompts.create, version=version, name="g-support")
    assert created.id is not None
    client = stack.firestore.client(stack.project)
    try:
        stored = await FirestoreJobStore(client).get_prompt_version("tenant-g", created.id)
    finally:
        await close_client(client)
    assert stored is not None and stored.data["model_name"] == "gpt-4o-mini"
    rows = [
        {
            "prompt_id": f"g{i}",
            "variables": {"persona": "<b>a</b> & b", "ticket": f"G-{i}", "message": f"m&{i}"},
        }
        for i in range(10)
    ]
    missing = {"prompt_id": "g10", "variables": {"persona": "p", "ticket": "G-x"}}
    async with httpx.AsyncClient(timeout=30) as http:
        await http.post(f"{stack.simulator_url}/_sim/reset")
        created_job = await http.post(
            f"{stack.api}/v1/jobs/init",
            headers={"Authorization": f"Bearer {stack.api_key}"},
            json={"prompt": "g-support"},
        )
        assert created_job.status_code == 202, created_job.text
        job = created_job.json()
        await _put(http, job["upload_url"], jsonl([*rows, missing]))
        status = await _wait_final(http, stack, job["job_id"])
        files = await _download(http, stack, job["job_id"])
        sent = [r["body"] for r in (await http.get(f"{stack.simulator_url}/_sim/requests")).json()]
    assert status["status"] == "COMPLETED", f"{status}\n{stack.logs()}"
    finished = Finished(status, files)
    assert sorted(r["prompt_id"] for r in finished.results) == sorted(r["prompt_id"] for r in rows)
    assert [(e["prompt_id"], e["error"]["code"]) for e in finished.errors] == [
        ("g10", "missing_variable")
    ]
    expected = [created.format(variables=row["variables"])["messages"] for row in rows]
    assert sent and all(body["messages"] in expected for body in sent)
    assert {body["messages"][1]["content"] for body in sent} == {e[1]["content"] for e in expected}
    # The simulator's URL takes OpenAI's legacy max_tokens (the adapter's choice for it).
    assert all((b["temperature"], b["max_tokens"]) == (0.4, 33) for b in sent)
