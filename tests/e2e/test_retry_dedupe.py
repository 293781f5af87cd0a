"""Rerun the failures and pay once for duplicates, on `promptforge serve` and the simulator.

Two simulators: OpenAI calls go to one that answers 5% of calls with a 5xx, Anthropic
calls to one without faults, so each test's provider count is its own.

- A job at ``max_retries: 0`` ends with its 5xx prompts in ``errors.jsonl``;
  ``promptforge jobs retry`` runs exactly those prompts again as a child job, and the
  two jobs together answer every prompt once.
- 1,000 lines holding 300 distinct requests with ``dedupe: true``: the simulator serves
  300 calls and the job writes 1,000 result lines (700 of them copies).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.jobs import download, init_and_upload, jsonl, make_prompts, run_job, wait_final
from tests.e2e.processes import (
    Process,
    anthropic_and_gemini_at,
    create_key,
    promptforge,
    server,
    simulator,
)

pytestmark = pytest.mark.e2e

FAULT_RATE = "0.05"


@dataclass
class Stack:
    """The faulty OpenAI simulator, the clean one, the server and a tenant's key."""

    faulty: Process
    clean: Process
    server: Process
    key: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("retry-dedupe")
    data = tmp / "data"
    key = create_key(data, "tenant-retry")
    fast = ("--rpm", "6000", "--latency", "0.02")
    faulty_dir, clean_dir = tmp / "faulty", tmp / "clean"
    faulty_dir.mkdir()
    clean_dir.mkdir()
    with (
        simulator(faulty_dir, *fast, "--error-rate", FAULT_RATE, "--seed", "17") as faulty,
        simulator(clean_dir, *fast) as clean,
    ):
        proc = server(data, faulty.url, **anthropic_and_gemini_at(clean.url))
        proc.start("/healthz")
        try:
            yield Stack(faulty, clean, proc, key)
        finally:
            proc.stop()


def _retry_cli(stack: Stack, job_id: str) -> dict[str, Any]:
    """``promptforge jobs retry JOB_ID --json``, as a user runs it."""
    env = dict(os.environ, PROMPTFORGE_API_KEY=stack.key)
    argv = promptforge("jobs", "retry", job_id, "--url", stack.server.url, "--json")
    done = subprocess.run(argv, env=env, capture_output=True, check=True, timeout=120)
    created: dict[str, Any] = json.loads(done.stdout)
    return created


def test_retry_reruns_exactly_the_transient_failures_and_together_they_cover_every_id(
    stack: Stack,
) -> None:
    prompts = make_prompts(400, prefix="r")
    ids = {row["prompt_id"] for row in prompts}
    with httpx.Client(timeout=30) as client:
        parent = run_job(client, stack.server.url, stack.key, jsonl(prompts), max_retries=0)
        assert parent.status["status"] == "COMPLETED", parent.status
        failed = {row["prompt_id"]: row["error"]["code"] for row in parent.errors}
        assert failed, "5% of 400 calls fail: some prompt must have"
        assert set(failed.values()) == {"retries_exhausted"}, failed
        answered = {row["prompt_id"] for row in parent.results}
        assert answered | set(failed) == ids and not answered & set(failed)

        created = _retry_cli(stack, parent.status["job_id"])
        assert created["parent_job_id"] == parent.status["job_id"]
        assert created["retried_count"] == len(failed)
        assert created["codes"] == {"retries_exhausted": len(failed)}
        child_status = wait_final(client, stack.server.url, stack.key, created["job_id"])
        child_files = download(client, stack.server.url, stack.key, created["job_id"])
        listing = client.get(f"{stack.server.url}/v1/jobs", headers={"X-API-Key": stack.key}).json()
        again = client.post(
            f"{stack.server.url}/v1/jobs/{parent.status['job_id']}/retry",
            headers={"X-API-Key": stack.key},
            json={"codes": ["invalid_json"]},
        )
    assert (
        child_status["status"] == "COMPLETED"
        and child_status["parent_job_id"] == (parent.status["job_id"])
    )
    child_ids = [row["prompt_id"] for name, rows in child_files.items() for row in rows if name]
    assert sorted(child_ids) == sorted(failed), "exactly the parent's retryable errors, once"
    assert answered | set(child_ids) == ids
    assert child_status["prompt_count"] == len(failed)
    listed = {job["job_id"]: job for job in listing["data"]}
    assert listed[created["job_id"]]["parent_job_id"] == parent.status["job_id"]
    assert listed[parent.status["job_id"]]["parent_job_id"] is None
    assert again.status_code == 400 and again.json()["error"]["code"] == "unknown_error_code"
    child_errors = len(child_files.get("errors.jsonl", []))
    print(  # the figure of docs/benchmarks.md (pytest -s shows it)
        f"retry: parent {len(answered)} results + {len(failed)} retryable errors of "
        f"{len(ids)}; child re-ran {len(child_ids)}: {child_status['completed_count']} results, "
        f"{child_errors} errors"
    )


def test_dedupe_calls_each_distinct_request_once_and_writes_every_line(stack: Stack) -> None:
    rng = random.Random(3)
    questions = [f"Name a capital city, variant {i % 300}." for i in range(1000)]
    rng.shuffle(questions)
    rows = [{"prompt_id": f"d{i:04d}", "prompt": q} for i, q in enumerate(questions)]
    model = {"provider": "gemini", "model": "gemini-2.5-flash"}
    with httpx.Client(timeout=30) as client:
        assert client.post(f"{stack.clean.url}/_sim/reset").status_code == 200
        finished = run_job(
            client, stack.server.url, stack.key, jsonl(rows), dedupe=True, max_tokens=64, **model
        )
        served = client.get(f"{stack.clean.url}/_sim/stats").json()["gemini"]
    assert finished.status["status"] == "COMPLETED", finished.status
    assert served["successes"] == 300 and served["requests"] - served["rate_limited"] == 300
    results = finished.results
    assert len(results) == 1000 and not finished.errors
    assert sorted(r["prompt_id"] for r in results) == sorted(r["prompt_id"] for r in rows)
    copies = [r for r in results if "deduplicated_from" in r]
    assert len(copies) == 700 and finished.status["deduplicated_count"] == 700
    by_id = {r["prompt_id"]: r for r in results}
    question = {r["prompt_id"]: r["prompt"] for r in rows}
    for copy in copies:
        canonical = by_id[copy["deduplicated_from"]]
        assert "deduplicated_from" not in canonical
        assert question[canonical["prompt_id"]] == question[copy["prompt_id"]]
        assert copy["result"] == canonical["result"]
    print(  # the figure of docs/benchmarks.md (pytest -s shows it)
        f"dedupe: {len(rows)} lines, 300 distinct requests: {served['requests']} provider "
        f"requests ({served['successes']} served, {served['rate_limited']} 429s), "
        f"{len(results)} result lines, {len(copies)} copies"
    )


def test_dedupe_is_off_by_default(stack: Stack) -> None:
    rows = [{"prompt_id": f"s{i}", "prompt": "Pick a number."} for i in range(5)]
    model = {"provider": "gemini", "model": "gemini-2.5-flash"}
    with httpx.Client(timeout=30) as client:
        before = client.get(f"{stack.clean.url}/_sim/stats").json()["gemini"]["successes"]
        job_id = init_and_upload(client, stack.server.url, stack.key, jsonl(rows), **model)
        status = wait_final(client, stack.server.url, stack.key, job_id)
        after = client.get(f"{stack.clean.url}/_sim/stats").json()["gemini"]["successes"]
    assert status["dedupe"] is False and status["deduplicated_count"] == 0
    assert after - before == 5
