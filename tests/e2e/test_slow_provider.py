"""A provider slower than the timeout is not paid on every attempt (issue 19, defect 3).

The simulator answers every call after 4 s; the server times out at 3 s. A timed-out
call is served and billed all the same. Before: three attempts of 3 s each, all billed,
and every prompt ended ``retries_exhausted`` (59 billed calls for 20 prompts, no result).
Now each timeout doubles the next call's timeout (``core.retry_policy``): the second
attempt waits 6 s and gets the answer, so each prompt is billed twice (the timed-out
call and the answered one), its result line says ``timeouts: 1``, and no prompt is billed
``max_retries + 1`` times.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.jobs import (
    Finished,
    assert_exactly_once,
    download,
    init_and_upload,
    jsonl,
    wait_final,
)
from tests.e2e.processes import create_key, server, simulator
from tests.faults.checks import fault_prompts, sim_key

pytestmark = [pytest.mark.e2e]

PROMPTS = 20
MAX_RETRIES = 2


def test_a_provider_slower_than_the_timeout_is_not_billed_on_every_attempt(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    key = create_key(data, "t")
    prompts = fault_prompts(PROMPTS, "slow")
    with (
        simulator(tmp_path, "--latency", "4", "--latency-sigma", "0") as sim,
        httpx.Client(timeout=30) as client,
    ):
        proc = server(data, sim.url, PROMPTFORGE_PROVIDER_TIMEOUT="3")
        proc.start("/healthz")
        try:
            job_id = init_and_upload(client, proc.url, key, jsonl(prompts), max_retries=MAX_RETRIES)
            status = wait_final(client, proc.url, key, job_id, timeout=180)
            finished = Finished(status, download(client, proc.url, key, job_id))
        finally:
            proc.stop()
        billed = client.get(f"{sim.url}/_sim/stats").json()["calls_per_prompt"]
    assert_exactly_once(finished, [p["prompt_id"] for p in prompts])
    assert status["completed_count"] == PROMPTS, status
    for row in finished.results:
        assert row["timeouts"] == 1, row  # the first call timed out, the second was answered
    calls = [billed[sim_key(p["prompt"])] for p in prompts]
    assert max(calls) < MAX_RETRIES + 1, calls
    assert sum(calls) <= 2 * PROMPTS, calls
