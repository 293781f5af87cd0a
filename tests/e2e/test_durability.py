"""Kill `promptforge serve` mid-job (SIGKILL), start it again: nothing lost, nothing twice."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.jobs import (
    Finished,
    assert_exactly_once,
    download,
    init_and_upload,
    jsonl,
    make_prompts,
    wait_final,
)
from tests.e2e.processes import create_key, server, simulator

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_killed_server_resumes_the_job_exactly_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    key = create_key(data, "t")
    prompts = make_prompts(600)
    with (
        simulator(tmp_path, "--rpm", "3000", "--latency", "0.3") as sim,
        httpx.Client(timeout=30) as client,
    ):
        first = server(data, sim.url)
        first.start("/healthz")
        try:
            job_id = init_and_upload(client, first.url, key, jsonl(prompts), rpm=1800)
            deadline = time.monotonic() + 60
            done = 0
            while time.monotonic() < deadline:
                status = client.get(
                    f"{first.url}/v1/jobs/{job_id}/status", headers={"X-API-Key": key}
                ).json()
                done = status["completed_count"] + status["failed_count"]
                if done >= 150:
                    break
                time.sleep(0.1)
            assert 150 <= done < 600, f"kill point missed: {done} done"
        finally:
            first.kill()
        second = server(data, sim.url)
        second.start("/healthz")
        try:
            status = wait_final(client, second.url, key, job_id, timeout=180)
            finished = Finished(status, download(client, second.url, key, job_id))
        finally:
            second.stop()
        stats = client.get(f"{sim.url}/_sim/stats").json()
    assert status["status"] == "COMPLETED"
    assert_exactly_once(finished, [p["prompt_id"] for p in prompts])
    calls = stats["calls_per_prompt"]
    assert len(calls) == 600
    # Only the calls in flight at the kill may be repeated, and at most once each.
    assert max(calls.values()) <= 2
    assert sum(1 for c in calls.values() if c == 2) <= 150
