"""``POST /v1/jobs/validate``: ingest's verdicts on a file, before paying, creating nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from promptforge.clock import SystemClock
from promptforge.core.auth import create_api_key
from promptforge.core.validate import MAX_REPORTED_ERRORS, ValidationReport, Validator
from promptforge.embedded.runtime import EmbeddedRuntime
from promptforge.providers.catalogue import Catalogue
from promptforge.settings import Settings

pytestmark = pytest.mark.anyio

GOOD = b'{"prompt_id": "p1", "prompt": "fine"}\n'
THREE_PROBLEMS = (
    GOOD
    + b"{not json\n"
    + b'{"prompt_id": "p1", "prompt": "a duplicate id"}\n'
    + b'{"prompt": "no id"}\n'
)


def run(
    body: bytes, *, provider: str = "openai", model: str = "gpt-4o-mini", **kw: int
) -> ValidationReport:
    validator = Validator(Catalogue.load(None), provider, model, **kw)
    for start in range(0, len(body), 7):  # lines split across chunks, as a network delivers
        validator.feed(body[start : start + 7])
    return validator.close()


def test_bad_json_a_duplicate_and_a_missing_id_are_three_errors_around_one_prompt() -> None:
    report = run(THREE_PROBLEMS)
    assert report.valid is False
    assert report.prompt_count == 1
    assert report.error_count == 3
    assert [(e.line, e.code) for e in report.errors] == [
        (2, "invalid_json"),
        (3, "duplicate_prompt_id"),
        (4, "missing_prompt_id"),
    ]
    assert "line 1" in report.errors[1].message


def test_a_clean_file_with_chat_lines_is_valid() -> None:
    chat = {"prompt_id": "c", "messages": [{"role": "user", "content": "hi"}]}
    report = run(GOOD + b"\n" + json.dumps(chat).encode())  # no final newline, a blank line
    assert (report.valid, report.prompt_count, report.errors) == (True, 2, [])


def test_an_unknown_model_or_provider_is_an_error_without_a_line() -> None:
    report = run(GOOD, model="gpt-nonexistent")
    assert report.valid is False and report.prompt_count == 1
    assert [(e.line, e.code) for e in report.errors] == [(None, "unsupported_model")]
    report = run(GOOD, provider="acme")
    assert [(e.line, e.code) for e in report.errors] == [(None, "unsupported_provider")]


def test_over_long_lines_and_bad_messages_have_their_codes() -> None:
    long = json.dumps({"prompt_id": "big", "prompt": "x" * 5000}).encode() + b"\n"
    chat = {"prompt_id": "c", "messages": [{"role": "bot", "content": "hi"}]}
    report = run(long + json.dumps(chat).encode() + b"\n", max_line_bytes=2048)
    assert [e.code for e in report.errors] == ["line_too_long", "invalid_message_role"]


def test_duplicates_are_still_found_once_the_ids_spill_to_disk() -> None:
    rows = [{"prompt_id": f"p{i}", "prompt": "q"} for i in range(50)]
    rows += [{"prompt_id": "p3", "prompt": "again"}, {"prompt_id": "p49", "prompt": "again"}]
    body = b"".join(json.dumps(r).encode() + b"\n" for r in rows)
    report = run(body, spill_after=10)
    assert report.prompt_count == 50
    assert [(e.line, e.code) for e in report.errors] == [
        (51, "duplicate_prompt_id"),
        (52, "duplicate_prompt_id"),
    ]
    assert "line 4" in report.errors[0].message and "line 50" in report.errors[1].message


def test_an_empty_file_is_the_error_a_job_of_it_would_fail_with() -> None:
    report = run(b"\n  \n")
    assert report.valid is False and report.prompt_count == 0
    assert [(e.line, e.code) for e in report.errors] == [(None, "empty_file")]


def test_the_error_list_stops_but_the_count_does_not() -> None:
    report = run(b"{\n" * (MAX_REPORTED_ERRORS + 5))
    assert report.error_count == MAX_REPORTED_ERRORS + 5
    assert len(report.errors) == MAX_REPORTED_ERRORS


# --- the route ----------------------------------------------------------------------------------


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, EmbeddedRuntime, str]]:
    runtime = EmbeddedRuntime(Settings(data_dir=tmp_path, max_upload_bytes=4096))
    await runtime.store.open()
    try:
        key, _ = await create_api_key(runtime.store, SystemClock(), "tenant-v")
        transport = httpx.ASGITransport(app=runtime.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://pf") as client:
            yield client, runtime, key
    finally:
        await runtime.http.aclose()
        await runtime.store.close()


async def test_the_route_answers_the_report_and_creates_no_job(
    api: tuple[httpx.AsyncClient, EmbeddedRuntime, str],
) -> None:
    client, runtime, key = api
    got = await client.post(
        "/v1/jobs/validate",
        params={"provider": "openai", "model": "gpt-4o-mini"},
        headers={"X-API-Key": key},
        content=THREE_PROBLEMS,
    )
    assert got.status_code == 200, got.text
    body = got.json()
    assert (body["valid"], body["prompt_count"], len(body["errors"])) == (False, 1, 3)
    assert body["errors"][0] == {
        "line": 2,
        "code": "invalid_json",
        "message": body["errors"][0]["message"],
    }
    assert await runtime.store.list_jobs("tenant-v") == []


async def test_the_route_checks_the_key_the_query_and_the_size(
    api: tuple[httpx.AsyncClient, EmbeddedRuntime, str],
) -> None:
    client, _, key = api
    query = {"provider": "openai", "model": "gpt-4o-mini"}
    no_key = await client.post("/v1/jobs/validate", params=query, content=GOOD)
    assert no_key.status_code == 401
    no_model = await client.post(
        "/v1/jobs/validate", params={"provider": "openai"}, headers={"X-API-Key": key}, content=GOOD
    )
    assert no_model.status_code == 400
    assert no_model.json()["error"]["code"] == "missing_parameter"
    extra = await client.post(
        "/v1/jobs/validate",
        params={**query, "dry": "1"},
        headers={"X-API-Key": key},
        content=GOOD,
    )
    assert extra.status_code == 400 and extra.json()["error"]["code"] == "unknown_parameter"
    too_big = await client.post(
        "/v1/jobs/validate", params=query, headers={"X-API-Key": key}, content=GOOD * 200
    )
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "body_too_large"
