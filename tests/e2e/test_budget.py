"""The cost cap and the price before running, on `promptforge serve` against the simulator.

A 2,000-prompt file is priced by validate, then run with ``max_cost_usd`` at half its
worst case: the job stops at the cap, every prompt ends as a result or a
``budget_exceeded`` error, and the simulator's request log shows that exactly the prompts
with results reached the provider and none of those refused did, at a price (the
simulator's own token counts) under the cap. That no reservation is granted once one was
refused is the ledger's contract (``tests/contract/test_spend_ledger.py``). The same file
run without a cap costs an amount inside validate's bracket.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from promptforge.data import read_text
from promptforge.providers.catalogue import Catalogue
from tests.e2e.jobs import Finished, assert_exactly_once, run_job
from tests.e2e.processes import Process, create_key, server, simulator

pytestmark = pytest.mark.e2e

PROMPTS = 2000
MAX_TOKENS = 64
MODEL = "gpt-4o-mini"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Process, Process, str]]:
    """The simulator (limits far above the job's pace), a server, a key."""
    tmp = tmp_path_factory.mktemp("budget")
    data = tmp / "data"
    key = create_key(data, "tenant-budget")
    with simulator(tmp, "--rpm", "200000", "--tpm", "100000000", "--latency", "0.02") as sim:
        proc = server(data, sim.url)
        proc.start("/healthz")
        try:
            yield sim, proc, key
        finally:
            proc.stop()


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    """The first 2,000 shipped example prompts."""
    lines = read_text("example_prompts.jsonl").splitlines()[:PROMPTS]
    return [json.loads(line) for line in lines]


def _body(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def _estimate(client: httpx.Client, url: str, key: str, body: bytes) -> dict[str, Any]:
    answer = client.post(
        f"{url}/v1/jobs/validate",
        params={"provider": "openai", "model": MODEL, "max_tokens": str(MAX_TOKENS)},
        content=body,
        headers={"X-API-Key": key},
    )
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["valid"], report
    estimate: dict[str, Any] = report["estimate"]
    return estimate


def _sent_prompts(client: httpx.Client, sim_url: str) -> list[str]:
    log = client.get(f"{sim_url}/_sim/requests").json()
    return [entry["body"]["messages"][-1]["content"] for entry in log]


@dataclass(frozen=True)
class _Run:
    """A priced run: validate's estimate, the finished job, what the simulator served."""

    estimate: dict[str, Any]
    finished: Finished
    sent: list[str]
    served: dict[str, Any]
    actual_usd: float


def _priced_run(
    stack: tuple[Process, Process, str], rows: list[dict[str, Any]], cap_share: float | None
) -> _Run:
    """Validate the file, reset the simulator, run the job (capped at ``cap_share`` of the
    estimate's worst case, if given) and read the simulator's log and counters."""
    sim, proc, key = stack
    body = _body(rows)
    with httpx.Client(timeout=30) as client:
        estimate = _estimate(client, proc.url, key, body)
        init: dict[str, Any] = {"model": MODEL, "max_tokens": MAX_TOKENS}
        if cap_share is not None:
            init["max_cost_usd"] = round(estimate["usd_high"] * cap_share, 6)
        assert client.post(f"{sim.url}/_sim/reset").status_code == 200
        finished = run_job(client, proc.url, key, body, **init)
        sent = _sent_prompts(client, sim.url)
        served = client.get(f"{sim.url}/_sim/stats").json()["openai"]
    info = Catalogue.load().find("openai", MODEL)
    assert info is not None
    actual = Catalogue.estimate_cost(info, served["input_tokens"], served["output_tokens"])
    return _Run(estimate, finished, sent, served, actual)


def test_a_capped_job_stops_at_the_cap(
    stack: tuple[Process, Process, str], rows: list[dict[str, Any]]
) -> None:
    run = _priced_run(stack, rows, cap_share=0.5)
    status, finished = run.finished.status, run.finished
    cap = round(run.estimate["usd_high"] * 0.5, 6)
    assert status["status"] == "COMPLETED"
    assert status["stopped_reason"] == "budget"
    assert status["max_cost_usd"] == cap
    assert status["reserved_usd"] == 0
    assert status["spent_usd"] <= cap
    assert status["spent_usd"] == pytest.approx(run.actual_usd, rel=1e-6, abs=1e-8)
    assert_exactly_once(finished, [row["prompt_id"] for row in rows])
    assert {row["error"]["code"] for row in finished.errors} == {"budget_exceeded"}
    assert 0 < len(finished.results) < PROMPTS
    # The request log: the prompts with results reached the provider, and those refused
    # never did; what the provider served (its own token counts) is under the cap.
    text_of = {row["prompt_id"]: row["prompt"] for row in rows}
    assert set(run.sent) == {text_of[row["prompt_id"]] for row in finished.results}
    refused = {text_of[row["prompt_id"]] for row in finished.errors}
    assert refused.isdisjoint(run.sent)
    assert run.actual_usd <= cap


def test_validate_brackets_what_the_file_costs(
    stack: tuple[Process, Process, str], rows: list[dict[str, Any]]
) -> None:
    run = _priced_run(stack, rows, cap_share=None)
    estimate, finished = run.estimate, run.finished
    assert finished.status["status"] == "COMPLETED"
    assert len(finished.results) == PROMPTS
    assert finished.status["spent_usd"] is None  # no cap: no ledger kept
    assert estimate["usd_low"] <= run.actual_usd <= estimate["usd_high"]
    assert estimate["output_tokens_max"] == PROMPTS * MAX_TOKENS
    # The simulator counts four characters a token, as the approximation does.
    assert estimate["input_tokens"] == run.served["input_tokens"]
