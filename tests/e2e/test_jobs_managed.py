"""Jobs as users manage them, over real HTTP against `promptforge serve` and the simulator:
name, metadata and Idempotency-Key at init, list pages, validate, cancel, streamed results,
Bearer auth, and each bad input refused with its code."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from tests.e2e.jobs import download, init_job, jsonl, make_prompts, wait_final
from tests.e2e.processes import Process, create_key, promptforge, server, simulator
from tests.e2e.receiver import receiver
from tests.e2e.test_chat_jobs import chat_rows

pytestmark = pytest.mark.e2e


class Stack:
    """A running server and three tenants' keys (``a`` and ``b`` share nothing)."""

    def __init__(self, proc: Process, keys: dict[str, str], data: Path) -> None:
        self.url, self.keys, self.data = proc.url, keys, data


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A simulator at 600 RPM (10 calls a second: a 3,000-prompt job runs for minutes)."""
    tmp = tmp_path_factory.mktemp("managed")
    data = tmp / "data"
    keys = {name: create_key(data, f"tenant-{name}") for name in ("a", "b", "lister")}
    with simulator(tmp, "--rpm", "600", "--latency", "0.05") as sim:
        proc = server(data, sim.url, PROMPTFORGE_WEBHOOK_ALLOW_PRIVATE="true")
        proc.start("/healthz")
        try:
            yield Stack(proc, keys, data)
        finally:
            proc.stop()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60) as http:
        yield http


def _auth(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def _upload(client: httpx.Client, job: dict[str, Any], body: bytes) -> None:
    put = client.put(
        job["upload_url"], content=body, headers={"Content-Type": "application/octet-stream"}
    )
    assert put.status_code == 200, put.text


def _stream(client: httpx.Client, url: str, key: str, job_id: str) -> list[dict[str, Any]]:
    with client.stream(
        "GET",
        f"{url}/v1/jobs/{job_id}/results",
        params={"output_type": "stream"},
        headers={"Authorization": f"Bearer {key}"},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        return [json.loads(line) for line in response.iter_lines() if line]


def test_a_named_idempotent_chat_job_completes_streams_and_calls_its_webhook(
    stack: Stack, client: httpx.Client
) -> None:
    """The issue's flow: 30 `messages` lines, name, metadata, a webhook whose receiver
    answers 500 first, and an Idempotency-Key (the second identical init: the same job)."""
    key = stack.keys["a"]
    rows = chat_rows(30)
    with receiver([500, 200]) as sink:
        settings = {
            "provider": "openai",
            "model": "gpt-4o-mini",
            "name": "nightly eval",
            "metadata": {"team": "search", "run": "42"},
            "webhook_url": sink.url,
        }
        headers = {**_auth(key), "Idempotency-Key": "nightly-42"}
        first = client.post(f"{stack.url}/v1/jobs/init", json=settings, headers=headers)
        assert first.status_code == 202, first.text
        again = client.post(f"{stack.url}/v1/jobs/init", json=settings, headers=headers)
        assert again.status_code == 202, again.text
        job = first.json()
        assert again.json()["job_id"] == job["job_id"]
        other = client.post(
            f"{stack.url}/v1/jobs/init", json={**settings, "name": "another"}, headers=headers
        )
        assert other.status_code == 409
        assert other.json()["error"]["code"] == "idempotency_key_reused"

        _upload(client, job, jsonl(rows))
        status = wait_final(client, stack.url, key, job["job_id"])
        got = sink.wait_for(2, 90.0)
    assert status["status"] == "COMPLETED" and status["completed_count"] == 30
    assert status["name"] == "nightly eval"
    assert status["metadata"] == {"team": "search", "run": "42"}
    assert [r.answered for r in got[:2]] == [500, 200]
    assert got[0].headers["webhook-id"] == got[1].headers["webhook-id"]
    event = Webhook(job["webhook_secret"]).verify(got[1].body, got[1].headers)
    assert (event["type"], event["data"]["job_id"]) == ("job.completed", job["job_id"])
    streamed = _stream(client, stack.url, key, job["job_id"])
    assert sorted(row["prompt_id"] for row in streamed) == sorted(str(r["prompt_id"]) for r in rows)
    assert all(row["result"] for row in streamed)


def test_validate_reports_each_bad_line_and_creates_nothing(
    stack: Stack, client: httpx.Client
) -> None:
    key = stack.keys["b"]
    before = client.get(f"{stack.url}/v1/jobs", params={"limit": 100}, headers=_auth(key)).json()
    body = (
        b'{"prompt_id": "a", "prompt": "fine"}\n'
        b"{broken json\n"
        b'{"prompt_id": "a", "prompt": "duplicate id"}\n'
        b'{"prompt": "no id"}\n'
    )
    answer = client.post(
        f"{stack.url}/v1/jobs/validate",
        params={"provider": "openai", "model": "gpt-4o-mini"},
        content=body,
        headers={**_auth(key), "Content-Type": "application/x-ndjson"},
    )
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["valid"] is False and report["prompt_count"] == 1
    assert [error["line"] for error in report["errors"]] == [2, 3, 4]
    after = client.get(f"{stack.url}/v1/jobs", params={"limit": 100}, headers=_auth(key)).json()
    assert after == before
    unknown = client.post(
        f"{stack.url}/v1/jobs/validate",
        params={"provider": "openai", "model": "no-such-model"},
        content=body,
        headers=_auth(key),
    )
    assert unknown.status_code == 200 and unknown.json()["valid"] is False
    problems = [(error["line"], error["code"]) for error in unknown.json()["errors"]]
    assert (None, "unsupported_model") in problems


def test_a_cancelled_job_keeps_what_ran_and_cancels_the_rest(
    stack: Stack, client: httpx.Client
) -> None:
    key = stack.keys["a"]
    prompts = make_prompts(3000, prefix="c")
    job = init_job(client, stack.url, key)
    _upload(client, job, jsonl(prompts))
    job_id = job["job_id"]
    started = time.monotonic()
    running = _status(client, stack.url, key, job_id)
    deadline = started + 60
    while running["completed_count"] == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
        running = _status(client, stack.url, key, job_id)
    assert running["status"] == "PROCESSING" and running["completed_count"] > 0
    so_far = _stream(client, stack.url, key, job_id)  # allowed while the job runs
    assert 0 < len(so_far) < 3000
    time.sleep(max(0.0, 5 - (time.monotonic() - started)))  # the "after 5 s"

    cancel = client.post(f"{stack.url}/v1/jobs/{job_id}/cancel", headers=_auth(key))
    assert cancel.status_code == 202, cancel.text
    assert cancel.json()["cancel_requested_at"] is not None
    stranger = client.post(f"{stack.url}/v1/jobs/{job_id}/cancel", headers=_auth(stack.keys["b"]))
    assert stranger.status_code == 404 and stranger.json()["error"]["code"] == "job_not_found"

    status = wait_final(client, stack.url, key, job_id, timeout=180)
    assert status["status"] == "CANCELLED"
    files = download(client, stack.url, key, job_id)
    results = [row for name, rows in files.items() if name.startswith("results_") for row in rows]
    errors = files["errors.jsonl"]
    assert {row["error"]["code"] for row in errors} == {"cancelled"}
    seen = Counter(row["prompt_id"] for row in [*results, *errors])
    assert set(seen) == {p["prompt_id"] for p in prompts} and max(seen.values()) == 1
    assert status["completed_count"] == len(results) and status["failed_count"] == len(errors)
    assert len(results) < 3000 - 100  # it stopped: at 10 calls a second most never ran
    ended = client.post(f"{stack.url}/v1/jobs/{job_id}/cancel", headers=_auth(key))
    assert ended.status_code == 409 and ended.json()["error"]["code"] == "job_ended"
    # Its queued tasks were deleted: a job on the same key is not stuck behind ~2,900 dead
    # tasks dispatched at 10 a second (that would take about 5 minutes).
    after = init_job(client, stack.url, key)
    _upload(client, after, jsonl(make_prompts(3, prefix="next")))
    assert wait_final(client, stack.url, key, after["job_id"], timeout=90)["completed_count"] == 3


def _status(client: httpx.Client, url: str, key: str, job_id: str) -> dict[str, Any]:
    answer = client.get(f"{url}/v1/jobs/{job_id}/status", headers=_auth(key))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_list_pages_newest_first_for_the_caller_only(stack: Stack, client: httpx.Client) -> None:
    key = stack.keys["lister"]
    made = [init_job(client, stack.url, key, name=f"job {i}")["job_id"] for i in range(3)]
    init_job(client, stack.url, stack.keys["b"])  # another tenant's: never listed

    first = client.get(f"{stack.url}/v1/jobs", params={"limit": 1}, headers=_auth(key)).json()
    assert [job["job_id"] for job in first["data"]] == [made[2]] and first["has_more"]
    assert first["data"][0]["name"] == "job 2"
    rest = client.get(
        f"{stack.url}/v1/jobs", params={"limit": 5, "after": made[2]}, headers=_auth(key)
    ).json()
    assert [job["job_id"] for job in rest["data"]] == [made[1], made[0]]
    assert rest["has_more"] is False
    bearer = client.get(f"{stack.url}/v1/jobs", headers={"Authorization": f"Bearer {key}"})
    assert [job["job_id"] for job in bearer.json()["data"]] == made[::-1]


_UNKNOWN = "1c1a3cc4-0000-4000-8000-000000000000"


@pytest.mark.parametrize(
    ("what", "call", "status", "code"),
    [
        (
            "oversized metadata",
            {"json": {"metadata": {f"k{i}": "v" for i in range(17)}}},
            400,
            "invalid_field",
        ),
        ("a long metadata value", {"json": {"metadata": {"k": "v" * 513}}}, 400, "invalid_field"),
        ("a name over 256", {"json": {"name": "n" * 257}}, 400, "invalid_field"),
        ("an unknown cursor", {"list": {"after": _UNKNOWN}}, 400, "invalid_cursor"),
        ("a limit over 100", {"list": {"limit": "101"}}, 400, "invalid_parameter"),
        ("a limit of 0", {"list": {"limit": "0"}}, 400, "invalid_parameter"),
        ("no key", {"list": {}, "key": ""}, 401, "missing_api_key"),
        ("a bad Bearer key", {"list": {}, "bearer": "pf_nope"}, 401, "invalid_api_key"),
        ("a bad output_type", {"stream": "zip"}, 400, "invalid_parameter"),
    ],
)  # fmt: skip
def test_bad_inputs_are_refused_with_their_code(
    stack: Stack, client: httpx.Client, what: str, call: dict[str, Any], status: int, code: str
) -> None:
    key = call.get("key", stack.keys["b"])
    headers = {"Authorization": f"Bearer {call['bearer']}"} if "bearer" in call else _auth(key)
    if "json" in call:
        body = {"provider": "openai", "model": "gpt-4o-mini", **call["json"]}
        answer = client.post(f"{stack.url}/v1/jobs/init", json=body, headers=headers)
    elif "list" in call:
        answer = client.get(f"{stack.url}/v1/jobs", params=call["list"], headers=headers)
    else:
        job_id = init_job(client, stack.url, key)["job_id"]
        answer = client.get(
            f"{stack.url}/v1/jobs/{job_id}/results",
            params={"output_type": call["stream"]},
            headers=headers,
        )
    assert answer.status_code == status, (what, answer.text)
    assert answer.json()["error"]["code"] == code, what


def test_a_job_waiting_for_its_upload_cancels_at_once(stack: Stack, client: httpx.Client) -> None:
    key = stack.keys["b"]
    job = init_job(client, stack.url, key)
    cancel = client.post(f"{stack.url}/v1/jobs/{job['job_id']}/cancel", headers=_auth(key))
    assert cancel.status_code == 202 and cancel.json()["status"] == "CANCELLED"
    listing = client.get(f"{stack.url}/v1/jobs/{job['job_id']}/results", headers=_auth(key))
    assert listing.status_code == 200 and listing.json()["status"] == "CANCELLED"


def _cli(stack: Stack, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PROMPTFORGE_API_KEY=key, PROMPTFORGE_URL=stack.url)
    return subprocess.run(
        promptforge("jobs", *args),
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_cli_manages_jobs_scriptably(
    stack: Stack, client: httpx.Client, tmp_path: Path
) -> None:
    key = create_key(stack.data, "tenant-cli")
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_bytes(jsonl(make_prompts(3)))
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"prompt_id": "a", "prompt": "fine"}\n{broken\n')

    model = ("--provider", "openai", "--model", "gpt-4o-mini")
    checked = _cli(stack, key, "validate", str(bad), *model, "--json")
    assert checked.returncode == 1 and json.loads(checked.stdout)["prompt_count"] == 1
    assert _cli(stack, key, "validate", str(prompts), *model).returncode == 0

    job = init_job(client, stack.url, key, name="from the cli")
    _upload(client, job, prompts.read_bytes())
    wait_final(client, stack.url, key, job["job_id"])
    listed = json.loads(_cli(stack, key, "list", "--limit", "1", "--json").stdout)
    assert [row["job_id"] for row in listed["data"]] == [job["job_id"]]
    status = json.loads(_cli(stack, key, "status", job["job_id"], "--json").stdout)
    assert status["name"] == "from the cli" and status["completed_count"] == 3
    streamed = _cli(stack, key, "results", job["job_id"], "--stream")
    assert streamed.returncode == 0 and len(streamed.stdout.splitlines()) == 3
    ended = _cli(stack, key, "cancel", job["job_id"])
    assert ended.returncode == 1 and "job_ended" in ended.stderr
    waiting = init_job(client, stack.url, key)
    cancelled = json.loads(_cli(stack, key, "cancel", waiting["job_id"], "--json").stdout)
    assert cancelled["status"] == "CANCELLED"
    helped = _cli(stack, key, "results", "--help")
    assert "examples:" in helped.stdout and "--stream" in helped.stdout
