"""Signed webhooks on `promptforge serve`: a refused first attempt, a crash, the retry after it.

A chat job with a webhook runs to COMPLETED; the receiver (a real HTTP server on
127.0.0.1, so the server runs with PROMPTFORGE_WEBHOOK_ALLOW_PRIVATE=true) answers the
first attempt 500. Once the server has recorded that attempt, it is killed (SIGKILL) and
started again on the same data: the retry still comes, with the same webhook-id, and
both attempts verify with the job's whsec_ secret through the standardwebhooks package.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path

import httpx
import pytest
from standardwebhooks import Webhook

from tests.e2e.jobs import init_job, jsonl, wait_final
from tests.e2e.processes import create_key, server, simulator
from tests.e2e.receiver import receiver
from tests.e2e.test_chat_jobs import chat_rows

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ALLOW_PRIVATE = {"PROMPTFORGE_WEBHOOK_ALLOW_PRIVATE": "true"}


def attempts_recorded(data: Path, job_id: str) -> int:
    """The attempts the server has recorded for the job's webhook (read-only)."""
    with contextlib.closing(
        sqlite3.connect(f"file:{data / 'jobs.db'}?mode=ro", uri=True, timeout=5)
    ) as db:
        row = db.execute(
            "SELECT MAX(attempts) FROM webhook_deliveries WHERE job_id = ?", (job_id,)
        ).fetchone()
    return int(row[0] or 0)


def test_a_webhook_refused_once_is_retried_across_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    key = create_key(data, "tenant-hooks")
    rows = chat_rows(30)
    with (
        simulator(tmp_path, "--rpm", "6000", "--latency", "0.02") as sim,
        receiver([500, 200]) as sink,
        httpx.Client(timeout=30) as client,
    ):
        first = server(data, sim.url, **ALLOW_PRIVATE)
        first.start("/healthz")
        try:
            job = init_job(client, first.url, key, webhook_url=sink.url)
            secret = job["webhook_secret"]
            put = client.put(
                job["upload_url"],
                content=jsonl(rows),
                headers={"Content-Type": "application/octet-stream"},
            )
            assert put.status_code == 200, put.text
            status = wait_final(client, first.url, key, job["job_id"])
            sink.wait_for(1, within=30)
            deadline = time.monotonic() + 30
            while attempts_recorded(data, job["job_id"]) < 1:
                assert time.monotonic() < deadline, "the first attempt was never recorded"
                time.sleep(0.1)
        finally:
            first.kill()
        assert len(sink.received) == 1  # the retry is due 5 s after the 500
        second = server(data, sim.url, **ALLOW_PRIVATE)
        second.start("/healthz")
        try:
            got = sink.wait_for(2, within=60)
        finally:
            second.stop()
    assert status["status"] == "COMPLETED" and status["completed_count"] == 30
    assert [r.answered for r in got[:2]] == [500, 200]
    assert got[0].headers["webhook-id"] == got[1].headers["webhook-id"]
    assert got[0].headers["webhook-id"].startswith("msg_")
    assert got[1].at - got[0].at >= 4.0  # the schedule's first delay, not an immediate replay
    events = [Webhook(secret).verify(r.body, r.headers) for r in got[:2]]
    assert events[0] == events[1]
    assert events[0]["type"] == "job.completed"
    assert events[0]["data"]["job_id"] == job["job_id"]
    assert events[0]["data"]["completed_count"] == 30
    assert events[0]["data"]["status"] == "COMPLETED"
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "A" * 44).verify(got[0].body, got[0].headers)
