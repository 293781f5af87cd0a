"""The cost cap and the price before running on the Google path (emulators, four functions).

The same stack as test_google_path.py: validate prices a file on the api function, then
the file runs with ``max_cost_usd`` at a third of its worst case. The ledger lives in
Firestore (one document per capped job); the job stops at the cap, every prompt ends as a
result or a ``budget_exceeded`` error, and the simulator's request log holds exactly the
prompts with results.
"""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.jobs import Finished, assert_exactly_once, jsonl, make_prompts
from tests.gcp.test_google_path import (
    GoogleStack,
    _download,
    _init,
    _put,
    _wait_final,
    stack,
)

pytestmark = [pytest.mark.anyio, pytest.mark.e2e, pytest.mark.slow]
__all__ = ["stack"]  # the Google stack fixture, one per module

MAX_TOKENS = 32
PROMPTS = 60


async def test_a_capped_job_stops_at_the_cap_on_the_google_path(stack: GoogleStack) -> None:
    prompts = make_prompts(PROMPTS, prefix="b")
    body = jsonl(prompts)
    async with httpx.AsyncClient(timeout=30) as http:
        report = await http.post(
            f"{stack.api}/v1/jobs/validate",
            params={"provider": "openai", "model": "gpt-4o-mini", "max_tokens": str(MAX_TOKENS)},
            content=body,
            headers={"X-API-Key": stack.api_key},
        )
        assert report.status_code == 200, report.text
        estimate = report.json()["estimate"]
        assert estimate["output_tokens_max"] == PROMPTS * MAX_TOKENS
        cap = round(estimate["usd_high"] / 3, 9)
        job = await _init(http, stack, max_tokens=MAX_TOKENS, max_cost_usd=cap, max_retries=0)
        await _put(http, job["upload_url"], body)
        status = await _wait_final(http, stack, job["job_id"])
        files = await _download(http, stack, job["job_id"])
        log = (await http.get(f"{stack.simulator_url}/_sim/requests")).json()
    assert status["status"] == "COMPLETED", f"{status}\n{stack.logs()}"
    assert status["stopped_reason"] == "budget"
    assert status["reserved_usd"] == 0
    assert 0 < status["spent_usd"] <= cap
    finished = Finished(status, files)
    assert_exactly_once(finished, [p["prompt_id"] for p in prompts])
    assert finished.results and finished.errors
    assert {row["error"]["code"] for row in finished.errors} == {"budget_exceeded"}
    sent = [entry["body"]["messages"][-1]["content"] for entry in log]
    text_of = {p["prompt_id"]: p["prompt"] for p in prompts}
    assert sorted(sent) == sorted(text_of[row["prompt_id"]] for row in finished.results)
