"""Every file of the hostile corpus through a real `promptforge serve` job.

All jobs are submitted at once to one server (with the provider simulator) and each
finished job is checked line by line: every bad line is in errors.jsonl once, with its
line number, its code and a message that says what to fix; every good line has exactly
one result; the counters agree; and a file with no valid line FAILS with a reason.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.jobs import Finished, download, init_and_upload, wait_final
from tests.hostile import corpus
from tests.hostile.stack import Stack, start_stack

pytestmark = pytest.mark.e2e

CASES = {build.__name__: build for build in (*corpus.SMALL_CASES, *corpus.BIG_CASES)}


@pytest.fixture(scope="module")
def finished(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, tuple[corpus.Case, Finished, float]]]:
    """Each case's expectations, its finished job and how long the job took."""
    tmp = tmp_path_factory.mktemp("corpus")
    with start_stack(tmp, tenants=["corpus"], with_simulator=True) as stack:
        yield _run_all(stack)


def _run_all(stack: Stack) -> dict[str, tuple[corpus.Case, Finished, float]]:
    key = stack.keys[0].key
    cases = {name: build() for name, build in CASES.items()}
    done: dict[str, tuple[corpus.Case, Finished, float]] = {}
    with httpx.Client(timeout=120) as client:
        started = {}
        for name, case in cases.items():
            job_id = init_and_upload(client, stack.url, key, case.body, rpm=6000)
            started[name] = (job_id, time.monotonic())
        for name, (job_id, t0) in started.items():
            status = wait_final(client, stack.url, key, job_id, timeout=240)
            took = time.monotonic() - t0
            done[name] = (
                cases[name],
                Finished(status, download(client, stack.url, key, job_id)),
                took,
            )
    return done


@pytest.mark.parametrize("name", list(CASES))
def test_each_line_gets_its_verdict(
    finished: dict[str, tuple[corpus.Case, Finished, float]], name: str
) -> None:
    case, job, _ = finished[name]
    assert job.status["status"] == case.final_status, job.status
    if case.final_status == "FAILED":
        assert job.status["error"]["code"] == "no_valid_prompts"
        assert "errors.jsonl" in job.status["error"]["message"]

    # Every bad line once, at its own line number, with the right code.
    lines = Counter(row["line"] for row in job.errors)
    assert [line for line, n in lines.items() if n > 1] == []
    got = {row["line"]: row["error"]["code"] for row in job.errors}
    assert got == case.errors
    assert set(got.values()) <= corpus.LINE_CODES
    for row in job.errors:
        message = row["error"]["message"]
        assert message, row
        hint = case.hints.get(row["line"])
        assert hint is None or hint in message, (hint, row)

    # Every good line exactly once, as a result.
    results = Counter(row["prompt_id"] for row in job.results)
    assert results == Counter(list(case.valid))
    assert job.status["completed_count"] == len(case.valid)
    assert job.status["failed_count"] == len(case.errors)
    assert job.status["prompt_count"] == len(case.valid) + len(case.errors)


def test_error_lines_name_the_prompt_when_there_is_one(
    finished: dict[str, tuple[corpus.Case, Finished, float]],
) -> None:
    _, job, _ = finished["prompt_ids"]
    by_line: dict[int, dict[str, Any]] = {row["line"]: row for row in job.errors}
    duplicate = by_line[2]
    assert duplicate["prompt_id"] == "dup" and "line 1" in duplicate["error"]["message"]
    assert by_line[3]["prompt_id"] is None  # no id on the line: none is made up
    _, job, _ = finished["prompts"]
    assert {row["prompt_id"] for row in job.errors} == {f"e{i}" for i in range(1, 8)}


def test_big_files_finish_in_bounded_time(
    finished: dict[str, tuple[corpus.Case, Finished, float]],
) -> None:
    """A 10 MB line and 100,000 error lines are not slow paths (all jobs ran concurrently)."""
    for name in ("ten_megabyte_line", "hundred_thousand_errors"):
        _, job, took = finished[name]
        assert took < 120, (name, took)
    _, job, _ = finished["hundred_thousand_errors"]
    assert len(job.errors) == 100_000
    assert [row["line"] for row in job.errors] == sorted(row["line"] for row in job.errors)
