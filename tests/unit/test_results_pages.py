"""/results for a very large job: URLs signed concurrently (bounded), listed in pages.

On Google each signature is an IAM signBlob call; a 10-million-prompt job has 1,001
files, so signing them one after another would outlast the api function's timeout.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime
from types import SimpleNamespace
from typing import Any, cast

import pytest

from promptforge.clock import FakeClock
from promptforge.core.deps import CoreConfig, Deps
from promptforge.core.finalize import ERRORS_FILE, result_part_name
from promptforge.core.models import JobStatus
from promptforge.core.service import RESULTS_PAGE_SIZE, SIGNING_CONCURRENCY, job_results
from promptforge.errors import BadRequest
from tests.contract._jobstore_data import make_job

pytestmark = pytest.mark.anyio

SHARDS = 10_000


class CountingSigner:
    """A blob store whose signing takes a moment and counts how many run at once."""

    output_bucket = "pf-out"

    def __init__(self) -> None:
        self.running = self.most = self.signed = 0

    async def signed_url(
        self, bucket: str, name: str, *, method: str, expires_at: datetime, **_: Any
    ) -> str:
        self.running += 1
        self.most = max(self.most, self.running)
        await asyncio.sleep(0.001)
        self.running -= 1
        self.signed += 1
        return f"https://signed.example/{bucket}/{name}?m={method}"


def _deps(signer: CountingSigner) -> Deps:
    return cast(Deps, SimpleNamespace(blobs=signer, clock=FakeClock(), config=CoreConfig()))


async def test_a_ten_thousand_shard_listing_is_signed_concurrently_and_paged() -> None:
    names = (*(result_part_name(i) for i in range(1, SHARDS + 1)), ERRORS_FILE)
    job = replace(make_job(), status=JobStatus.COMPLETED, result_files=names)
    signer = CountingSigner()
    listed: list[str] = []
    pages = 0
    token: str | None = None
    while True:
        page = await job_results(_deps(signer), job, page_token=token)
        pages += 1
        assert len(page["files"]) <= RESULTS_PAGE_SIZE
        listed += [f["filename"] for f in page["files"]]
        assert all(f["url"].endswith(f"/{f['filename']}?m=GET") for f in page["files"])
        token = page.get("next_page_token")
        if token is None:
            break
    assert listed == list(names)  # every file once, in order
    assert pages == -(-len(names) // RESULTS_PAGE_SIZE) == 11
    assert signer.signed == len(names)  # each page signs only its own files
    assert 1 < signer.most <= SIGNING_CONCURRENCY


async def test_page_size_and_tokens_are_checked() -> None:
    names = tuple(result_part_name(i) for i in range(1, 6))
    job = replace(make_job(), status=JobStatus.COMPLETED, result_files=names)
    deps = _deps(CountingSigner())
    first = await job_results(deps, job, page_size=2)
    assert [f["filename"] for f in first["files"]] == list(names[:2])
    assert first["next_page_token"] == "2"
    last = await job_results(deps, job, page_size=2, page_token="4")
    assert [f["filename"] for f in last["files"]] == [names[4]] and "next_page_token" not in last
    for size, token, code in (
        (0, None, "invalid_page_size"),
        (RESULTS_PAGE_SIZE + 1, None, "invalid_page_size"),
        (None, "5", "invalid_page_token"),
        (None, "-1", "invalid_page_token"),
        (None, "٣", "invalid_page_token"),
    ):
        with pytest.raises(BadRequest) as refused:
            await job_results(deps, job, page_size=size, page_token=token)
        assert refused.value.code == code
