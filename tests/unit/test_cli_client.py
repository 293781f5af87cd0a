"""The CLI's client side against a fake PromptForge server on a real loopback socket.

The fake speaks the public contract: init → signed PUT → status that moves from
PROCESSING to COMPLETED over a few polls → results with signed file URLs.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import promptforge
from promptforge.cli.progress import JobProgress
from promptforge.cli.submit import (
    InputFileError,
    fetch_results,
    submit_file,
    wait_for_job,
)
from promptforge.client import CHUNK_SIZE, ClientError, PromptForgeClient
from promptforge.embedded.server import BackgroundServer

pytestmark = pytest.mark.anyio

API_KEY = "pf-test-key"
REPO = Path(__file__).resolve().parents[2]
EXAMPLE_FILE = Path(promptforge.__file__).parent / "data" / "example_prompts.jsonl"


@dataclass
class FakeJob:
    """One job in the fake server."""

    job_id: str
    init_body: dict[str, Any]
    status: str = "WAITING_FOR_UPLOAD"
    uploaded: bytes = b""
    upload_chunks: int = 0
    upload_headers: dict[str, str] = field(default_factory=dict)
    prompt_count: int = 0
    polls: int = 0
    files: dict[str, bytes] = field(default_factory=dict)


class FakePromptForge:
    """A small Starlette app with the PromptForge API's shapes and error bodies."""

    def __init__(self, *, polls_to_finish: int = 3, final: str = "COMPLETED") -> None:
        self.jobs: dict[str, FakeJob] = {}
        self.polls_to_finish = polls_to_finish
        self.final = final
        self.status_failures: list[int] = []  # statuses to answer before the real one
        self.expired_urls_left = 0  # results listings whose file URLs are expired
        self.results_calls = 0
        self.polled_twice = asyncio.Event()
        self.app = Starlette(
            routes=[
                Route("/v1/jobs/init", self.init, methods=["POST"]),
                Route("/upload/{job_id}", self.upload, methods=["PUT"]),
                Route("/v1/jobs/{job_id}/status", self.status, methods=["GET"]),
                Route("/v1/jobs/{job_id}/results", self.results, methods=["GET"]),
                Route("/files/{job_id}/{name}", self.file, methods=["GET"]),
                Route("/expired/{name}", self.expired, methods=["GET"]),
            ]
        )

    @staticmethod
    def error(status: int, code: str, message: str, **headers: str) -> JSONResponse:
        body = {"error": {"code": code, "message": message, "status": status}}
        return JSONResponse(body, status_code=status, headers=headers)

    def _job(self, request: Request) -> FakeJob | None:
        return self.jobs.get(request.path_params["job_id"])

    async def init(self, request: Request) -> Response:
        if request.headers.get("x-api-key") != API_KEY:
            return self.error(401, "invalid_api_key", "The X-API-Key header is not a valid key.")
        body = await request.json()
        if body.get("provider") not in ("openai", "anthropic", "gemini", "mistral"):
            return self.error(422, "unsupported_provider", f"Unknown provider {body['provider']}.")
        job = FakeJob(job_id=str(uuid.uuid4()), init_body=body)
        self.jobs[job.job_id] = job
        upload_url = f"{str(request.base_url).rstrip('/')}/upload/{job.job_id}?sig=abc"
        return JSONResponse(
            {"job_id": job.job_id, "upload_url": upload_url, "expires_at": "2030-01-01T00:15:00Z"},
            status_code=202,
        )

    async def upload(self, request: Request) -> Response:
        job = self._job(request)
        if job is None or request.query_params.get("sig") != "abc":
            return Response("<Error><Code>SignatureDoesNotMatch</Code></Error>", 403)
        job.upload_headers = dict(request.headers)
        data = bytearray()
        async for chunk in request.stream():
            if chunk:
                job.upload_chunks += 1
                data.extend(chunk)
        job.uploaded = bytes(data)
        lines = [line for line in job.uploaded.splitlines() if line.strip()]
        job.prompt_count = len(lines)
        job.status = "PROCESSING"
        failed = [json.loads(line)["prompt_id"] for line in lines[:1]]
        results = [
            json.dumps({"prompt_id": json.loads(line)["prompt_id"], "result": "ok"})
            for line in lines[1:]
        ]
        job.files = {
            "results_part_001.jsonl": ("\n".join(results) + "\n").encode(),
            "errors.jsonl": json.dumps({"prompt_id": failed[0], "error": "x"}).encode() + b"\n",
        }
        return Response(status_code=200)

    async def status(self, request: Request) -> Response:
        if request.headers.get("x-api-key") != API_KEY:
            return self.error(401, "invalid_api_key", "The X-API-Key header is not a valid key.")
        if self.status_failures:
            code = self.status_failures.pop(0)
            return self.error(code, "unavailable", "Try again.", **{"Retry-After": "0"})
        job = self._job(request)
        if job is None:
            return self.error(404, "job_not_found", "No such job for this API key.")
        body: dict[str, Any] = {
            "job_id": job.job_id,
            "status": job.status,
            "prompt_count": job.prompt_count,
            "completed_count": 0,
            "failed_count": 0,
            "created_at": "2030-01-01T00:00:00Z",
            "started_processing_at": None,
            "completed_at": None,
            "dispatch_rate_rpm": None,
        }
        if job.status == "PROCESSING":
            job.polls += 1
            if job.polls >= 2:
                self.polled_twice.set()
            share = min(1.0, job.polls / self.polls_to_finish)
            body["completed_count"] = int((job.prompt_count - 1) * share)
            body["failed_count"] = 1 if share >= 1.0 else 0
            body["dispatch_rate_rpm"] = 60.0 * job.polls
            if job.polls >= self.polls_to_finish:
                job.status = body["status"] = self.final
                if self.final == "FAILED":
                    body["error"] = {"code": "provider_auth", "message": "Provider key rejected."}
        return JSONResponse(body)

    async def results(self, request: Request) -> Response:
        self.results_calls += 1
        job = self._job(request)
        if job is None:
            return self.error(404, "job_not_found", "No such job for this API key.")
        if job.status not in ("COMPLETED", "FAILED"):
            return self.error(409, "job_not_finished", f"The job is {job.status}.")
        base = str(request.base_url).rstrip("/")
        expired = self.expired_urls_left > 0
        self.expired_urls_left -= 1
        files = [
            {
                "filename": name,
                "url": f"{base}/expired/{name}" if expired else f"{base}/files/{job.job_id}/{name}",
                "expires_at": "2030-01-01T01:00:00Z",
            }
            for name in job.files
        ]
        return JSONResponse({"job_id": job.job_id, "status": job.status, "files": files})

    async def file(self, request: Request) -> Response:
        job = self._job(request)
        if job is None or request.path_params["name"] not in job.files:
            return Response(status_code=404)
        return Response(job.files[request.path_params["name"]], media_type="application/x-ndjson")

    async def expired(self, request: Request) -> Response:
        xml = (
            "<?xml version='1.0' encoding='UTF-8'?><Error><Code>ExpiredToken</Code>"
            "<Message>The provided token has expired.</Message></Error>"
        )
        return Response(xml, status_code=400, media_type="application/xml")


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakePromptForge, str]]:
    server = FakePromptForge()
    async with BackgroundServer(server.app) as running:
        yield server, running.url


@pytest.fixture
async def client(fake: tuple[FakePromptForge, str]) -> AsyncIterator[PromptForgeClient]:
    async with PromptForgeClient(fake[1], API_KEY) as pf:
        yield pf


def write_prompts(path: Path, count: int) -> bytes:
    """A prompts file of ``count`` lines; returns its bytes."""
    data = "".join(
        json.dumps({"prompt_id": f"p{i:04d}", "prompt": f"Say {i}."}) + "\n" for i in range(count)
    ).encode()
    path.write_bytes(data)
    return data


def quiet_console() -> tuple[Console, io.StringIO]:
    """A non-terminal console writing into a buffer (like a CI log)."""
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=False, width=200), buffer


async def test_init_upload_status_results_download(
    fake: tuple[FakePromptForge, str], client: PromptForgeClient, tmp_path: Path
) -> None:
    server, _ = fake
    prompts = tmp_path / "prompts.jsonl"
    sent = write_prompts(prompts, 10)

    job = await client.init_job(
        "openai", "gpt-4o-mini", max_retries=5, rpm=100, params={"temperature": 0.2}
    )
    fake_job = server.jobs[job["job_id"]]
    assert fake_job.init_body == {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "max_retries": 5,
        "rpm": 100,
        "temperature": 0.2,
    }
    await client.upload(job["upload_url"], prompts)
    assert fake_job.uploaded == sent
    assert fake_job.upload_headers["content-type"] == "application/octet-stream"
    assert "x-api-key" not in fake_job.upload_headers  # the URL is pre-signed

    seen = [await client.status(job["job_id"]) for _ in range(3)]
    assert [s["status"] for s in seen] == ["PROCESSING", "PROCESSING", "COMPLETED"]
    assert [s["completed_count"] for s in seen] == [3, 6, 9]
    assert seen[-1]["failed_count"] == 1

    listing = await client.results(job["job_id"])
    names = [f["filename"] for f in listing["files"]]
    assert names == ["results_part_001.jsonl", "errors.jsonl"]
    dest = tmp_path / "part.jsonl"
    size = await client.download(listing["files"][0]["url"], dest)
    assert dest.read_bytes() == fake_job.files["results_part_001.jsonl"]
    assert size == len(dest.read_bytes())
    assert not dest.with_name("part.jsonl.part").exists()


async def test_error_bodies_become_client_errors(
    fake: tuple[FakePromptForge, str], client: PromptForgeClient
) -> None:
    async with PromptForgeClient(fake[1], "wrong-key") as bad:
        with pytest.raises(ClientError) as unauthorized:
            await bad.init_job("openai", "gpt-4o-mini")
    assert (unauthorized.value.status, unauthorized.value.code) == (401, "invalid_api_key")
    assert unauthorized.value.message == "The X-API-Key header is not a valid key."
    assert "PROMPTFORGE_API_KEY" in str(unauthorized.value)

    with pytest.raises(ClientError) as unsupported:
        await client.init_job("acme", "m1")
    assert (unsupported.value.status, unsupported.value.code) == (422, "unsupported_provider")
    assert "--provider" in str(unsupported.value)

    with pytest.raises(ClientError) as missing:
        await client.status(str(uuid.uuid4()))
    assert (missing.value.status, missing.value.code) == (404, "job_not_found")
    assert not missing.value.retryable

    job = await client.init_job("openai", "gpt-4o-mini")
    with pytest.raises(ClientError) as early:
        await client.results(job["job_id"])
    assert (early.value.status, early.value.code) == (409, "job_not_finished")
    assert "promptforge jobs status" in str(early.value)


async def test_storage_xml_error_and_no_partial_file(
    fake: tuple[FakePromptForge, str], client: PromptForgeClient, tmp_path: Path
) -> None:
    dest = tmp_path / "out.jsonl"
    with pytest.raises(ClientError) as expired:
        await client.download(f"{fake[1]}/expired/out.jsonl?X-Goog-Signature=secret", dest)
    assert (expired.value.status, expired.value.code) == (400, "ExpiredToken")
    assert expired.value.message == "The provided token has expired."
    assert "promptforge results" in str(expired.value)
    assert os.listdir(tmp_path) == []


async def test_network_error_names_the_url(tmp_path: Path) -> None:
    async with BackgroundServer(Starlette()) as gone:
        url = gone.url  # a port that was just free: nothing listens after the block
    async with PromptForgeClient(url, API_KEY) as pf:
        with pytest.raises(ClientError) as failure:
            await pf.status("abc")
    assert failure.value.status == 0 and failure.value.code == "network_error"
    assert f"{url}/v1/jobs/abc/status" in str(failure.value)
    assert failure.value.retryable
    assert isinstance(failure.value.__cause__, httpx.ConnectError)


async def test_upload_streams_the_exact_bytes(
    fake: tuple[FakePromptForge, str], tmp_path: Path
) -> None:
    server, url = fake
    prompts = tmp_path / "big.jsonl"
    sent = write_prompts(prompts, 40_000)  # about 1.6 MB: several client chunks
    assert len(sent) > 4 * CHUNK_SIZE
    streams: list[object] = []

    async def record(request: httpx.Request) -> None:
        if request.method == "PUT":
            streams.append(request.stream)

    async with (
        httpx.AsyncClient(event_hooks={"request": [record]}) as http,
        PromptForgeClient(url, API_KEY, http=http) as pf,
    ):
        job = await pf.init_job("mistral", "mistral-small-latest")
        await pf.upload(job["upload_url"], prompts)
    fake_job = server.jobs[job["job_id"]]
    assert fake_job.uploaded == sent
    assert fake_job.upload_headers["content-length"] == str(len(sent))
    assert fake_job.upload_chunks > 1
    assert len(streams) == 1 and not isinstance(streams[0], httpx.ByteStream)  # not in memory


async def test_submit_file_downloads_every_file(
    fake: tuple[FakePromptForge, str], client: PromptForgeClient, tmp_path: Path
) -> None:
    server, _ = fake
    prompts = tmp_path / "prompts.jsonl"
    write_prompts(prompts, 25)
    out = tmp_path / "out"

    summary = await submit_file(
        client,
        prompts,
        provider="anthropic",
        model="claude-3-haiku-20240307",
        out_dir=out,
        tpm=5000,
        poll_interval=0.01,
        show_progress=False,
    )
    job = server.jobs[summary.job_id]
    assert job.init_body["tpm"] == 5000 and "rpm" not in job.init_body
    assert (summary.status, summary.prompt_count) == ("COMPLETED", 25)
    assert (summary.completed_count, summary.failed_count) == (24, 1)
    assert summary.error is None
    assert summary.files == [
        out / summary.job_id / "results_part_001.jsonl",
        out / summary.job_id / "errors.jsonl",
    ]
    for path in summary.files:
        assert path.read_bytes() == job.files[path.name]
    assert sorted(p.name for p in (out / summary.job_id).iterdir()) == [
        "errors.jsonl",
        "results_part_001.jsonl",
    ]
    assert summary.elapsed_seconds > 0


async def test_submit_file_failed_job_reports_error(tmp_path: Path) -> None:
    server = FakePromptForge(polls_to_finish=2, final="FAILED")
    prompts = tmp_path / "prompts.jsonl"
    write_prompts(prompts, 4)
    console, buffer = quiet_console()
    async with (
        BackgroundServer(server.app) as running,
        PromptForgeClient(running.url, API_KEY) as pf,
    ):
        summary = await submit_file(
            client=pf,
            path=prompts,
            provider="gemini",
            model="gemini-1.5-flash",
            out_dir=tmp_path / "out",
            poll_interval=0.01,
            console=console,
        )
    assert summary.status == "FAILED"
    assert summary.error == {"code": "provider_auth", "message": "Provider key rejected."}
    assert len(summary.files) == 2
    assert f"job {summary.job_id} FAILED" in buffer.getvalue()


async def test_submit_file_checks_the_file_before_init(
    fake: tuple[FakePromptForge, str], client: PromptForgeClient, tmp_path: Path
) -> None:
    server, _ = fake
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    cases = [(tmp_path / "missing.jsonl", "file_not_found"), (tmp_path, "not_a_file")]
    for path, code in [*cases, (empty, "file_empty")]:
        with pytest.raises(InputFileError) as bad:
            await submit_file(client, path, provider="openai", model="m", out_dir=tmp_path)
        assert bad.value.code == code
        assert str(path) in str(bad.value)
    assert server.jobs == {}


async def test_wait_for_job_retries_transient_errors(
    fake: tuple[FakePromptForge, str], client: PromptForgeClient, tmp_path: Path
) -> None:
    server, _ = fake
    prompts = tmp_path / "p.jsonl"
    write_prompts(prompts, 5)
    job = await client.init_job("openai", "gpt-4o-mini")
    await client.upload(job["upload_url"], prompts)
    server.status_failures = [503, 429]
    seen: list[str] = []
    retries: list[tuple[int, float]] = []
    final = await wait_for_job(
        client,
        job["job_id"],
        poll_interval=0.001,
        on_status=lambda s: seen.append(s["status"]),
        on_retry=lambda exc, delay: retries.append((exc.status, delay)),
    )
    assert final["status"] == "COMPLETED"
    assert seen == ["PROCESSING", "PROCESSING", "COMPLETED"]
    assert retries == [(503, 0.002), (429, 0.004)]  # backoff doubles; Retry-After is 0
    assert server.status_failures == []

    server.status_failures = [401]
    with pytest.raises(ClientError) as fatal:
        await wait_for_job(client, job["job_id"], poll_interval=0.001)
    assert fatal.value.status == 401


async def test_fetch_results_refreshes_expired_urls(
    fake: tuple[FakePromptForge, str], client: PromptForgeClient, tmp_path: Path
) -> None:
    server, _ = fake
    prompts = tmp_path / "p.jsonl"
    write_prompts(prompts, 3)
    job = await client.init_job("openai", "gpt-4o-mini")
    await client.upload(job["upload_url"], prompts)
    await wait_for_job(client, job["job_id"], poll_interval=0.001)
    server.expired_urls_left = 1

    paths = await fetch_results(client, job["job_id"], tmp_path / "out")
    assert server.results_calls == 2
    assert [p.read_bytes() for p in paths] == list(server.jobs[job["job_id"]].files.values())


async def test_ctrl_c_while_polling_says_how_to_resume(
    fake: tuple[FakePromptForge, str], client: PromptForgeClient, tmp_path: Path
) -> None:
    server, _ = fake
    server.polls_to_finish = 10**9
    prompts = tmp_path / "p.jsonl"
    write_prompts(prompts, 3)
    console, buffer = quiet_console()
    task = asyncio.create_task(
        submit_file(
            client,
            prompts,
            provider="openai",
            model="gpt-4o-mini",
            out_dir=tmp_path / "out",
            poll_interval=0.01,
            console=console,
        )
    )
    await asyncio.wait_for(server.polled_twice.wait(), timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    job_id = next(iter(server.jobs))
    text = buffer.getvalue()
    assert f"promptforge status {job_id}" in text
    assert f"promptforge results {job_id} --out {tmp_path / 'out'}" in text
    assert server.jobs[job_id].status == "PROCESSING"  # the job was left running


class FakeTime:
    """A monotonic clock tests move by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def processing(done: int, failed: int = 0, rpm: float | None = 480.0) -> dict[str, Any]:
    return {
        "job_id": "job-1",
        "status": "PROCESSING",
        "prompt_count": 300,
        "completed_count": done - failed,
        "failed_count": failed,
        "dispatch_rate_rpm": rpm,
    }


def test_progress_prints_plain_lines_when_not_a_terminal() -> None:
    console, buffer = quiet_console()
    clock = FakeTime()
    with JobProgress("job-1", console=console, plain_interval=10.0, clock=clock) as progress:
        progress.update(processing(30, rpm=None))
        clock.now += 5
        progress.update(processing(50))  # within the interval: not printed
        clock.now += 25
        progress.update(processing(120, failed=20))  # 90 more in 30 s: 180 left take 60 s
        clock.now += 2
        progress.update(processing(128, failed=20))  # left for close() to print
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[0] == (
        "job job-1 PROCESSING | 30/300 (10.0%) | 30 completed, 0 failed | rate - req/min"
        " | elapsed 0:00:00 | ETA -"
    )
    assert lines[1] == (
        "job job-1 PROCESSING | 120/300 (40.0%) | 100 completed, 20 failed"
        " | rate 480 req/min | elapsed 0:00:30 | ETA 0:01:00"
    )
    assert lines[2].startswith("job job-1 PROCESSING | 128/300")
    assert "elapsed 0:00:32" in lines[2]


def test_progress_prints_on_status_change_and_extra_fields() -> None:
    console, buffer = quiet_console()
    clock = FakeTime()
    with JobProgress("job-2", console=console, plain_interval=60.0, clock=clock) as progress:
        progress.update({"status": "WAITING_FOR_UPLOAD", "prompt_count": 0})
        clock.now += 1
        final = processing(300, failed=3) | {
            "status": "COMPLETED",
            "tokens_used": 12345,
            "estimated_cost_usd": 0.4,
        }
        progress.update(final)
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 2
    assert "WAITING_FOR_UPLOAD | 0/0 |" in lines[0]
    expected = "COMPLETED | 300/300 (100.0%) | 297 completed, 3 failed, 12,345 tokens, ~$0.40"
    assert expected in lines[1]
    assert lines[1].endswith("ETA 0:00:00")


def test_progress_draws_a_bar_on_a_terminal() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=160)
    clock = FakeTime()
    with JobProgress("3f7a1c2e-4b5d", console=console, clock=clock) as progress:
        progress.update(processing(150, failed=5, rpm=2.5))
    text = buffer.getvalue()
    assert "3f7a1c2e PROCESSING" in text
    assert "145 completed, 5 failed" in text
    assert "2.5 req/min" in text
    assert "job 3f7a1c2e-4b5d" not in text  # no plain lines on a terminal


def test_example_prompts_file_is_valid_and_varied() -> None:
    raw = EXAMPLE_FILE.read_bytes()
    assert len(raw) < 1_500_000
    lines = raw.decode("utf-8").splitlines()
    assert len(lines) >= 2500
    rows = [json.loads(line) for line in lines]
    assert all(set(row) == {"prompt_id", "prompt"} for row in rows)
    ids = [row["prompt_id"] for row in rows]
    assert len(set(ids)) == len(ids)
    assert ids[0] == "ex-00001"
    prompts = [row["prompt"] for row in rows]
    assert all(isinstance(p, str) and p.strip() for p in prompts)
    assert len(set(prompts)) == len(prompts)
    words = sorted(len(p.split()) for p in prompts)
    assert words[0] <= 5 and words[-1] >= 200  # from a few words to a few hundred


def test_example_prompts_file_is_what_the_script_builds(tmp_path: Path) -> None:
    out = tmp_path / "rebuilt.jsonl"
    script = REPO / "scripts" / "make_example_prompts.py"
    subprocess.run(
        [sys.executable, str(script), "--out", str(out)], check=True, capture_output=True
    )
    assert out.read_bytes() == EXAMPLE_FILE.read_bytes()


async def test_wait_for_job_polls_less_often_as_the_job_runs(
    fake: tuple[FakePromptForge, str],
    client: PromptForgeClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, _ = fake
    server.polls_to_finish = 8
    prompts = tmp_path / "p.jsonl"
    write_prompts(prompts, 3)
    waits = fake_sleep(monkeypatch)
    job = await client.init_job("openai", "gpt-4o-mini")
    await client.upload(job["upload_url"], prompts)
    await wait_for_job(client, job["job_id"], poll_interval=1.0, max_poll_interval=3.0)
    assert waits[:4] == [1.0, 1.5, 2.25, 3.0]  # each wait half as long again, up to the cap
    assert set(waits[4:]) == {3.0} and len(waits) == 7  # 8 polls, the last one final


def fake_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Make ``wait_for_job``'s sleeps instant and its clock advance by them; returns the waits."""
    waits: list[float] = []
    clock = [1000.0]

    async def record(delay: float) -> None:
        waits.append(delay)
        clock[0] += delay

    monkeypatch.setattr("promptforge.cli.submit.anyio.sleep", record)
    monkeypatch.setattr("promptforge.cli.submit.time.monotonic", lambda: clock[0])
    return waits


async def test_wait_for_job_polls_when_the_pace_says_the_job_ends(
    fake: tuple[FakePromptForge, str],
    client: PromptForgeClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, _ = fake
    server.polls_to_finish = 20  # 5 of 101 prompts finish between two polls
    prompts = tmp_path / "p.jsonl"
    write_prompts(prompts, 101)
    waits = fake_sleep(monkeypatch)
    job = await client.init_job("openai", "gpt-4o-mini")
    await client.upload(job["upload_url"], prompts)
    await wait_for_job(client, job["job_id"], poll_interval=1.0, max_poll_interval=10.0)
    assert len(waits) == 19 and min(waits) >= 1.0  # never faster than the first interval
    assert 10.0 in waits  # a long way from the end: the usual cap
    assert waits[-1] < 10.0  # near the end: the next poll is due when the pace says it ends
