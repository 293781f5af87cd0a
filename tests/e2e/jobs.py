"""Client-side helpers for end-to-end tests: run the seed quickstart over real HTTP."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx


def make_prompts(count: int, prefix: str = "p") -> list[dict[str, str]]:
    """Distinct, realistic-length prompts."""
    return [
        {
            "prompt_id": f"{prefix}{i:05d}",
            "prompt": f"Summarise item {i} of the catalogue in one line.",
        }
        for i in range(count)
    ]


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    """Rows as JSONL bytes."""
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


@dataclass
class Finished:
    """A finished job's status and downloaded files."""

    status: dict[str, Any]
    files: dict[str, list[dict[str, Any]]]

    @property
    def results(self) -> list[dict[str, Any]]:
        """Every result line across the parts."""
        return [
            row for name, rows in self.files.items() if name.startswith("results_") for row in rows
        ]

    @property
    def errors(self) -> list[dict[str, Any]]:
        """Every line of errors.jsonl."""
        return self.files.get("errors.jsonl", [])


def init_job(client: httpx.Client, url: str, key: str, **init: Any) -> dict[str, Any]:
    """``POST /v1/jobs/init`` (gpt-4o-mini on OpenAI, 3 retries, unless ``init`` says
    otherwise); returns the created job (``job_id``, ``upload_url``, ...)."""
    payload = {"provider": "openai", "model": "gpt-4o-mini", "max_retries": 3, **init}
    created = client.post(f"{url}/v1/jobs/init", headers={"X-API-Key": key}, json=payload)
    assert created.status_code == 202, created.text
    job: dict[str, Any] = created.json()
    return job


def init_and_upload(client: httpx.Client, url: str, key: str, body: bytes, **init: Any) -> str:
    """Init a job and PUT ``body`` to its signed URL; returns the job id."""
    job = init_job(client, url, key, **init)
    put = client.put(
        job["upload_url"], content=body, headers={"Content-Type": "application/octet-stream"}
    )
    assert put.status_code == 200, put.text
    return str(job["job_id"])


def wait_final(
    client: httpx.Client, url: str, key: str, job_id: str, timeout: float = 120
) -> dict[str, Any]:
    """Poll status until the job has ended (COMPLETED, FAILED or CANCELLED)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"{url}/v1/jobs/{job_id}/status", headers={"X-API-Key": key})
        assert status.status_code == 200, status.text
        body: dict[str, Any] = status.json()
        if body["status"] in ("COMPLETED", "FAILED", "CANCELLED"):
            return body
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish in {timeout}s: {body}")


def download(
    client: httpx.Client, url: str, key: str, job_id: str
) -> dict[str, list[dict[str, Any]]]:
    """Fetch the results listing and download every file through its signed URL."""
    listing = client.get(f"{url}/v1/jobs/{job_id}/results", headers={"X-API-Key": key})
    assert listing.status_code == 200, listing.text
    files: dict[str, list[dict[str, Any]]] = {}
    for entry in listing.json()["files"]:
        got = client.get(entry["url"])
        assert got.status_code == 200, got.text
        files[entry["filename"]] = [json.loads(line) for line in got.text.splitlines()]
    return files


def run_job(client: httpx.Client, url: str, key: str, body: bytes, **init: Any) -> Finished:
    """The whole seed quickstart for one file."""
    job_id = init_and_upload(client, url, key, body, **init)
    status = wait_final(client, url, key, job_id)
    return Finished(status, download(client, url, key, job_id))


def assert_exactly_once(
    finished: Finished, prompt_ids: list[str], invalid_lines: set[int] | None = None
) -> None:
    """Every prompt exactly once across results and errors; each bad line once; counters match."""
    invalid = invalid_lines or set()
    line_errors = sorted(row["line"] for row in finished.errors if row.get("line") in invalid)
    assert line_errors == sorted(invalid)
    seen = Counter(row["prompt_id"] for row in finished.results)
    seen.update(row["prompt_id"] for row in finished.errors if row.get("line") not in invalid)
    assert [k for k, v in seen.items() if v > 1] == []
    assert set(seen) == set(prompt_ids)
    assert finished.status["completed_count"] == len(finished.results)
    assert finished.status["failed_count"] == len(finished.errors)
    assert finished.status["prompt_count"] == len(prompt_ids) + len(invalid)
