"""The seed quickstart over real HTTP against `promptforge serve` and `promptforge simulate`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from tests.e2e.jobs import (
    assert_exactly_once,
    init_and_upload,
    jsonl,
    make_prompts,
    run_job,
    wait_final,
)
from tests.e2e.processes import Process, create_key, server, simulator

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Process, str, str]]:
    """A simulator (600 RPM, told to no one), a server, and two tenants' keys."""
    tmp = tmp_path_factory.mktemp("quickstart")
    data = tmp / "data"
    key_a = create_key(data, "tenant-a")
    key_b = create_key(data, "tenant-b")
    with simulator(tmp, "--rpm", "600", "--latency", "0.05") as sim:
        proc = server(data, sim.url)
        proc.start("/healthz")
        try:
            yield proc, key_a, key_b
        finally:
            proc.stop()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as http:
        yield http


def test_seed_quickstart_every_prompt_exactly_once(
    stack: tuple[Process, str, str], client: httpx.Client
) -> None:
    proc, key, _ = stack
    prompts = make_prompts(150)
    finished = run_job(client, proc.url, key, jsonl(prompts))
    assert finished.status["status"] == "COMPLETED"
    assert_exactly_once(finished, [p["prompt_id"] for p in prompts])
    assert len(finished.results) == 150
    first = finished.results[0]
    assert set(first) >= {"prompt_id", "result", "model", "tokens_used"}
    assert first["model"] == "gpt-4o-mini" and first["tokens_used"] > 0 and first["result"]
    assert finished.status["tokens_used"] == sum(r["tokens_used"] for r in finished.results)
    assert finished.status["estimated_cost_usd"] > 0
    assert finished.status["started_processing_at"] and finished.status["completed_at"]
    assert "results_part_001.jsonl" in finished.files and "errors.jsonl" in finished.files


def test_bad_lines_end_in_errors_with_line_numbers(
    stack: tuple[Process, str, str], client: httpx.Client
) -> None:
    proc, key, _ = stack
    body = (
        b'{"prompt_id": "a", "prompt": "fine"}\n'
        b"{broken json\n"
        b"\n"
        b'{"prompt_id": "a", "prompt": "duplicate id"}\n'
        b'{"prompt_id": "b", "prompt": "caf\xe9 is latin-1"}\n'
        b'{"prompt_id": "c", "prompt": "also fine"}\n'
        b'{"prompt": "no id"}\n'
    )
    finished = run_job(client, proc.url, key, body)
    assert finished.status["status"] == "COMPLETED"
    assert_exactly_once(finished, ["a", "c"], invalid_lines={2, 4, 5, 7})
    codes = {row["line"]: row["error"]["code"] for row in finished.errors}
    assert codes == {
        2: "invalid_json",
        4: "duplicate_prompt_id",
        5: "invalid_utf8",
        7: "missing_prompt_id",
    }
    assert "line 1" in next(r for r in finished.errors if r["line"] == 4)["error"]["message"]


def test_results_are_sharded_by_lines_per_part(tmp_path: Path, client: httpx.Client) -> None:
    data = tmp_path / "data"
    key = create_key(data, "t")
    with simulator(tmp_path, "--latency", "0.01") as sim:
        proc = server(data, sim.url, PROMPTFORGE_LINES_PER_PART="40")
        proc.start("/healthz")
        try:
            prompts = make_prompts(100)
            finished = run_job(client, proc.url, key, jsonl(prompts), rpm=6000)
        finally:
            proc.stop()
    parts = sorted(name for name in finished.files if name.startswith("results_part_"))
    assert parts == ["results_part_001.jsonl", "results_part_002.jsonl", "results_part_003.jsonl"]
    assert [len(finished.files[p]) for p in parts] == [40, 40, 20]
    assert_exactly_once(finished, [p["prompt_id"] for p in prompts])


def test_an_empty_file_fails_the_job_with_a_reason(
    stack: tuple[Process, str, str], client: httpx.Client
) -> None:
    proc, key, _ = stack
    job_id = init_and_upload(client, proc.url, key, b"\n\n")
    status = wait_final(client, proc.url, key, job_id)
    assert status["status"] == "FAILED"
    assert status["error"]["code"] == "empty_file"


def _error(response: httpx.Response) -> tuple[int, str]:
    body = response.json()["error"]
    assert body["message"] and body["status"] == response.status_code
    return response.status_code, body["code"]


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({}, {"provider": "openai", "model": "gpt-4o-mini"}, (401, "missing_api_key")),
        (
            {"X-API-Key": "pf_wrong"},
            {"provider": "openai", "model": "gpt-4o-mini"},
            (401, "invalid_api_key"),
        ),
        (None, "{not json", (400, "malformed_json")),
        (None, {"model": "gpt-4o-mini"}, (400, "missing_field")),
        (None, {"provider": "cohere", "model": "command-r"}, (422, "unsupported_provider")),
        (None, {"provider": "openai", "model": "gpt-9000"}, (422, "unsupported_model")),
    ],
)
def test_init_errors(
    stack: tuple[Process, str, str],
    client: httpx.Client,
    headers: dict[str, str] | None,
    body: object,
    expected: tuple[int, str],
) -> None:
    proc, key, _ = stack
    sent_headers = {"X-API-Key": key} if headers is None else headers
    content = body if isinstance(body, str) else json.dumps(body)
    response = client.post(
        f"{proc.url}/v1/jobs/init",
        headers={**sent_headers, "Content-Type": "application/json"},
        content=content,
    )
    assert _error(response) == expected
    if expected[1] == "unsupported_model":
        assert "gpt-4o-mini" in response.json()["error"]["message"]


def _tamper(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_signed_upload_url_refuses_tampering_and_expiry(
    tmp_path: Path, client: httpx.Client
) -> None:
    data = tmp_path / "data"
    key = create_key(data, "t")
    with simulator(tmp_path) as sim:
        proc = server(data, sim.url, PROMPTFORGE_UPLOAD_URL_TTL="2")
        proc.start("/healthz")
        try:
            created = client.post(
                f"{proc.url}/v1/jobs/init",
                headers={"X-API-Key": key},
                json={"provider": "openai", "model": "gpt-4o-mini"},
            ).json()
            url = created["upload_url"]
            headers = {"Content-Type": "application/octet-stream"}
            body = jsonl(make_prompts(1))
            signature = dict(parse_qsl(urlsplit(url).query))["X-PF-Signature"]
            forged = _tamper(
                url, **{"X-PF-Signature": ("0" if signature[0] != "0" else "1") + signature[1:]}
            )
            assert client.put(forged, content=body, headers=headers).status_code == 403
            other = url.replace(created["job_id"], "00000000-0000-4000-8000-000000000000")
            assert client.put(other, content=body, headers=headers).status_code == 403
            assert client.get(url).status_code == 403  # signed for PUT only
            import time

            time.sleep(2.5)
            expired = client.put(url, content=body, headers=headers)
            assert _error(expired) == (403, "url_expired")
            status = wait_final(client, proc.url, key, created["job_id"], timeout=120)
        finally:
            proc.stop()
    assert status["status"] == "FAILED" and status["error"]["code"] == "upload_expired"


def test_another_tenants_job_is_not_found(
    stack: tuple[Process, str, str], client: httpx.Client
) -> None:
    proc, key_a, key_b = stack
    job_id = init_and_upload(client, proc.url, key_a, jsonl(make_prompts(2)))
    theirs = client.get(f"{proc.url}/v1/jobs/{job_id}/status", headers={"X-API-Key": key_b})
    missing = client.get(
        f"{proc.url}/v1/jobs/00000000-0000-4000-8000-000000000000/status",
        headers={"X-API-Key": key_b},
    )
    assert _error(theirs) == _error(missing) == (404, "job_not_found")
    assert _error(
        client.get(f"{proc.url}/v1/jobs/..%2F..%2Fetc/status", headers={"X-API-Key": key_b})
    )[0] in (400, 404)
