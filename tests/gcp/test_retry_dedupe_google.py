"""Rerun the failures and pay once for duplicates on the Google path (emulators, four functions).

The fault suite's stack (``tests.faults.google_stack``): the Firestore emulator, the GCS
stand-in, the Cloud Tasks emulator, the api/ingest/worker/controller functions behind
redelivery proxies, and a simulator restarted with each test's options. Ingest cuts the
uploads into slices of 50 lines, so duplicates of one request arrive from several slices.

- retry: a job at ``max_retries: 0`` against 5% transient 5xx, then
  ``POST /v1/jobs/{id}/retry``: the api function reads the stored input from the GCS
  stand-in, the child's prompts are exactly the parent's errors, and together the two jobs
  answer every prompt once;
- dedupe: 120 lines holding 40 distinct requests (three slices), every worker task
  delivered three times by the proxy: 40 provider calls, 120 result lines, 80 copies.
  (The Cloud Tasks emulator sends one task at a time per queue, and a tripled delivery
  answered 409 comes back after the queue's back-off: the embedded e2e test has the
  1,000-line figure.)
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.jobs import Finished, download, init_and_upload, jsonl, make_prompts, wait_final
from tests.faults.google_stack import GoogleStack, google_stack
from tests.gcp.emulators import FirestoreEmulator

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FAST = ("--rpm", "6000", "--latency", "0.02")
FINISH_WITHIN = 600.0  # generous, as the fault suite's: it must pass on a loaded machine
LINES, DISTINCT = 120, 40
DEDUPE_JOB = {"dedupe": True, "rpm": 120_000}  # the controller starts at the job's ceiling


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, firestore_emulator: FirestoreEmulator
) -> Iterator[GoogleStack]:
    with google_stack(tmp_path_factory.mktemp("google-retry"), firestore_emulator) as running:
        yield running


def test_retry_on_the_google_path_reruns_exactly_the_failures(stack: GoogleStack) -> None:
    stack.start_simulator(*FAST, "--error-rate", "0.05", "--seed", "11")
    stack.no_faults()
    prompts = make_prompts(160, prefix="g")
    ids = {row["prompt_id"] for row in prompts}
    with httpx.Client(timeout=60) as client:
        parent_id = init_and_upload(client, stack.api, stack.api_key, jsonl(prompts), max_retries=0)
        parent = wait_final(client, stack.api, stack.api_key, parent_id, FINISH_WITHIN)
        files = download(client, stack.api, stack.api_key, parent_id)
        failed = {row["prompt_id"] for row in files.get("errors.jsonl", [])}
        answered = {
            row["prompt_id"]
            for name, rows in files.items()
            if name != "errors.jsonl"
            for row in rows
        }
        assert parent["status"] == "COMPLETED" and failed, "5% of 160 calls fail: some prompt must"
        stack.start_simulator(*FAST)  # the child's calls succeed
        created = client.post(
            f"{stack.api}/v1/jobs/{parent_id}/retry", headers={"X-API-Key": stack.api_key}
        )
        assert created.status_code == 202, f"{created.text}\n{stack.logs()}"
        child_id = created.json()["job_id"]
        child = wait_final(client, stack.api, stack.api_key, child_id, FINISH_WITHIN)
        child_files = download(client, stack.api, stack.api_key, child_id)
    child_ids = [row["prompt_id"] for rows in child_files.values() for row in rows]
    assert created.json()["retried_count"] == len(failed)
    assert child["parent_job_id"] == parent_id and child["status"] == "COMPLETED"
    assert sorted(child_ids) == sorted(failed), "exactly the parent's errors, each once"
    assert answered | set(child_ids) == ids and child["completed_count"] == len(failed)


def test_dedupe_on_the_google_path_calls_once_per_request_under_redelivery(
    stack: GoogleStack,
) -> None:
    stack.start_simulator(*FAST)
    stack.triple("worker", ["*"])  # every worker task (chunks too) delivered three times
    questions = [f"Which river, variant {i % DISTINCT}?" for i in range(LINES)]
    random.Random(5).shuffle(questions)
    rows = [{"prompt_id": f"q{i:03d}", "prompt": q} for i, q in enumerate(questions)]
    try:
        with httpx.Client(timeout=60) as client:
            body = jsonl(rows)
            job_id = init_and_upload(client, stack.api, stack.api_key, body, **DEDUPE_JOB)
            status = wait_final(client, stack.api, stack.api_key, job_id, FINISH_WITHIN)
            finished = Finished(status, download(client, stack.api, stack.api_key, job_id))
            served = client.get(f"{stack.sim_url}/_sim/stats").json()["openai"]
        tripled = stack.proxy_counts("worker")["tripled"]
    finally:
        stack.no_faults()
    assert finished.status["status"] == "COMPLETED", finished.status
    assert tripled > 0, "the proxy tripled no worker delivery"
    assert served["successes"] == DISTINCT
    assert served["requests"] - served["rate_limited"] == DISTINCT
    results = finished.results
    assert Counter(r["prompt_id"] for r in results) == Counter(r["prompt_id"] for r in rows)
    assert not finished.errors
    copies = [r for r in results if "deduplicated_from" in r]
    assert len(copies) == LINES - DISTINCT
    assert finished.status["deduplicated_count"] == LINES - DISTINCT
    question = {r["prompt_id"]: r["prompt"] for r in rows}
    assert all(question[c["deduplicated_from"]] == question[c["prompt_id"]] for c in copies)
