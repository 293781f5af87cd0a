"""A stored upload whose report fails, and a full disk, on the blob PUT route (issue 19).

``blob_routes`` stores the file, then reports it (``on_upload``: the embedded runtime
enqueues the ingest). When the report fails the file stays stored: the client gets 500
``upload_not_reported`` (507 ``insufficient_storage`` for a full disk), and a retried PUT
reports the stored file again before answering 409 ``upload_exists``, so the job starts.
A full disk while writing is a 507 whose partial file is dropped, on a connection that
stays usable.
"""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from promptforge.blobstore.base import BlobInfo
from promptforge.blobstore.http import blob_routes
from promptforge.blobstore.local import LocalBlobStore, LocalBlobWriter
from promptforge.blobstore.signing import UrlSigner
from promptforge.clock import FakeClock
from promptforge.embedded.server import BackgroundServer

pytestmark = pytest.mark.anyio

SECRET = b"test-secret-test-secret-32-bytes"
IN = "promptforge-input"
OCTET = {"Content-Type": "application/octet-stream"}


class _FullDiskStore(LocalBlobStore):
    """A store whose disk fills up after ``room`` bytes of writing (ENOSPC, as the kernel says)."""

    room: int | None = None

    async def open_writer(
        self, bucket: str, name: str, *, if_absent: bool = False
    ) -> LocalBlobWriter:
        writer = await super().open_writer(bucket, name, if_absent=if_absent)
        room = self.room
        if room is None:
            return writer
        write = writer.write

        async def write_until_full(data: bytes) -> None:
            nonlocal room
            if room is not None and len(data) > room:
                raise OSError(errno.ENOSPC, "No space left on device")
            room = None if room is None else room - len(data)
            await write(data)

        writer.write = write_until_full  # type: ignore[method-assign]
        return writer


class _Reporter:
    """``on_upload`` that fails with the next of ``failures`` (None: succeeds)."""

    def __init__(self) -> None:
        self.failures: list[Exception] = []
        self.reported: list[BlobInfo] = []

    async def __call__(self, info: BlobInfo) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.reported.append(info)


class _Served:
    def __init__(self, root: Path) -> None:
        self.clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
        app = Starlette()
        self.server = BackgroundServer(app)
        self.store = _FullDiskStore(root, UrlSigner(SECRET, self.server.url))
        self.report = _Reporter()
        app.router.routes.extend(
            blob_routes(
                self.store, max_upload_bytes=1 << 20, on_upload=self.report, clock=self.clock
            )
        )

    def url(self, name: str) -> str:
        expires = self.clock.now() + timedelta(minutes=15)
        return self.store.signer.sign(
            IN, name, method="PUT", expires_at=expires, content_type=OCTET["Content-Type"]
        )


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[_Served]:
    served = _Served(tmp_path / "blobs")
    async with served.server:
        yield served


async def test_a_failed_report_keeps_the_file_and_a_retried_put_reports_it(
    served: _Served,
) -> None:
    served.report.failures = [RuntimeError("the task queue is down")]
    async with httpx.AsyncClient(timeout=10) as client:
        first = await client.put(served.url("t/j/prompts.jsonl"), content=b"abc", headers=OCTET)
        assert first.status_code == 500
        assert first.json()["error"]["code"] == "upload_not_reported"
        assert "PUT the same URL again" in first.json()["error"]["message"]
        stored = await served.store.stat(IN, "t/j/prompts.jsonl")
        assert stored is not None and served.report.reported == []

        again = await client.put(served.url("t/j/prompts.jsonl"), content=b"abc", headers=OCTET)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "upload_exists"
    assert served.report.reported == [stored]  # reported now: the job starts


async def test_a_full_disk_when_reporting_is_507_and_the_retry_reports_it(served: _Served) -> None:
    served.report.failures = [sqlite3.OperationalError("database or disk is full")]
    async with httpx.AsyncClient(timeout=10) as client:
        first = await client.put(served.url("t/j/prompts.jsonl"), content=b"abc", headers=OCTET)
        assert first.status_code == 507
        assert first.json()["error"]["code"] == "insufficient_storage"
        again = await client.put(served.url("t/j/prompts.jsonl"), content=b"abc", headers=OCTET)
    assert again.status_code == 409
    assert [info.name for info in served.report.reported] == ["t/j/prompts.jsonl"]


async def test_a_full_disk_while_writing_is_507_on_a_connection_that_stays_usable(
    served: _Served,
) -> None:
    served.store.room = 4096
    body = b"x" * (300 << 10)  # several 256 KiB buffers: the disk fills mid-body
    async with httpx.AsyncClient(timeout=10) as client:
        full = await client.put(served.url("t/j/prompts.jsonl"), content=body, headers=OCTET)
        assert full.status_code == 507, full.text
        assert full.json()["error"]["code"] == "insufficient_storage"
        assert "disk is full" in full.json()["error"]["message"]
        assert full.headers.get("connection") != "close"
        assert await served.store.stat(IN, "t/j/prompts.jsonl") is None  # the partial is gone
        assert served.report.reported == []

        served.store.room = None  # space freed: the same connection takes the retry
        again = await client.put(served.url("t/j/prompts.jsonl"), content=body, headers=OCTET)
        assert again.status_code == 200, again.text
        assert served.report.reported[0].size == len(body)
    # The same connection carried both requests: the 507 did not close it.
    assert again.extensions["network_stream"] is full.extensions["network_stream"]
