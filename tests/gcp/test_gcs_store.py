"""GcsBlobStore against the GCS stand-in: real V4 signatures, streamed reads, resumable writes."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from promptforge.gcp.gcs_signing import IamSigner, KeySigner
from promptforge.gcp.gcs_store import GcsBlobStore
from tests.gcp.stand_ins import GcsStandIn, SigningKey, gcs_stand_in, make_signing_key

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

INPUT, OUTPUT = "pf-test-input", "pf-test-output"


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    return make_signing_key(tmp_path_factory.mktemp("signing"))


@pytest.fixture(scope="module")
def gcs(tmp_path_factory: pytest.TempPathFactory, key: SigningKey) -> Iterator[GcsStandIn]:
    with gcs_stand_in(tmp_path_factory.mktemp("gcs"), key, [INPUT, OUTPUT]) as stand_in:
        yield stand_in


@pytest.fixture
def store(gcs: GcsStandIn, key: SigningKey) -> GcsBlobStore:
    return GcsBlobStore(
        gcs.client(),
        input_bucket=INPUT,
        output_bucket=OUTPUT,
        signer=KeySigner.from_file(key.key_file, gcs.url),
        write_chunk=256 * 1024,
    )


def _name(tag: str) -> str:
    return f"tenant/{tag}-{time.monotonic_ns()}/prompts.jsonl"


async def test_signed_put_url_uploads_with_the_signed_content_type(store: GcsBlobStore) -> None:
    name = _name("put")
    expires = datetime.now(UTC) + timedelta(minutes=15)
    url = await store.signed_url(
        INPUT, name, method="PUT", expires_at=expires, content_type="application/octet-stream"
    )
    query = parse_qs(urlsplit(url).query)
    assert query["X-Goog-Algorithm"] == ["GOOG4-RSA-SHA256"]
    assert 895 <= int(query["X-Goog-Expires"][0]) <= 900
    assert query["X-Goog-SignedHeaders"] == ["content-type;host"]
    body = b'{"prompt_id": "p1", "prompt": "hi"}\n'
    async with httpx.AsyncClient() as http:
        put = await http.put(
            url, content=body, headers={"Content-Type": "application/octet-stream"}
        )
    assert put.status_code == 200, put.text
    info = await store.stat(INPUT, name)
    assert info is not None and info.size == len(body) and info.generation > 0


async def test_signed_urls_are_bound_to_method_object_and_content_type(
    store: GcsBlobStore,
) -> None:
    name = _name("bound")
    expires = datetime.now(UTC) + timedelta(minutes=15)
    url = await store.signed_url(
        INPUT, name, method="PUT", expires_at=expires, content_type="application/octet-stream"
    )
    async with httpx.AsyncClient() as http:
        wrong_type = await http.put(url, content=b"x", headers={"Content-Type": "text/plain"})
        as_get = await http.get(url)
        other_object = await http.put(
            url.replace("prompts.jsonl", "other.jsonl"),
            content=b"x",
            headers={"Content-Type": "application/octet-stream"},
        )
    assert wrong_type.status_code == 403 and b"SignatureDoesNotMatch" in wrong_type.content
    assert as_get.status_code == 403
    assert other_object.status_code == 403
    assert await store.stat(INPUT, name) is None
    assert await store.stat(INPUT, name.replace("prompts.jsonl", "other.jsonl")) is None


async def test_an_expired_url_is_refused(store: GcsBlobStore) -> None:
    name = _name("expired")
    url = await store.signed_url(
        INPUT,
        name,
        method="PUT",
        expires_at=datetime.now(UTC) + timedelta(seconds=1),
        content_type="application/octet-stream",
    )
    await asyncio.sleep(2.1)
    async with httpx.AsyncClient() as http:
        put = await http.put(
            url, content=b"x", headers={"Content-Type": "application/octet-stream"}
        )
    assert put.status_code == 400 and b"ExpiredToken" in put.content


async def test_writer_streams_chunks_and_signed_get_downloads(store: GcsBlobStore) -> None:
    name = f"tenant/job-{time.monotonic_ns()}/results_part_001.jsonl"
    lines = [f'{{"prompt_id": "p{i:05d}", "result": "{"x" * 90}"}}\n'.encode() for i in range(9000)]
    writer = await store.open_writer(OUTPUT, name)
    for line in lines:
        await writer.write(line)
    assert await store.stat(OUTPUT, name) is None  # nothing is published before close
    info = await writer.close()
    expected = b"".join(lines)
    assert len(expected) > 3 * 256 * 1024  # several resumable chunks
    assert info.size == len(expected) and info.name == name and info.generation > 0
    url = await store.signed_url(
        OUTPUT, name, method="GET", expires_at=datetime.now(UTC) + timedelta(minutes=60)
    )
    assert 3595 <= int(parse_qs(urlsplit(url).query)["X-Goog-Expires"][0]) <= 3600
    async with httpx.AsyncClient() as http:
        got = await http.get(url)
    assert got.status_code == 200 and got.content == expected


async def test_reads_stream_in_chunks_and_ranges(store: GcsBlobStore) -> None:
    name = f"tenant/read-{time.monotonic_ns()}/prompts.jsonl"
    data = bytes(range(256)) * 400
    writer = await store.open_writer(INPUT, name)
    await writer.write(data)
    info = await writer.close()
    chunks = [chunk async for chunk in store.read(INPUT, name, chunk_size=10_000)]
    assert b"".join(chunks) == data
    assert max(len(c) for c in chunks) == 10_000 and len(chunks) == 11
    ranged = [
        c
        async for c in store.read_range(
            INPUT, name, 1234, 56_789, generation=info.generation, chunk_size=7000
        )
    ]
    assert b"".join(ranged) == data[1234:56_789]
    with pytest.raises(FileNotFoundError):
        async for _ in store.read(INPUT, "tenant/missing/prompts.jsonl"):
            pass
    with pytest.raises(FileNotFoundError):  # pinned to a generation that is not the live one
        async for _ in store.read_range(INPUT, name, 0, None, generation=info.generation + 1):
            pass


async def test_aborted_or_abandoned_writers_publish_nothing(store: GcsBlobStore) -> None:
    aborted = f"tenant/abort-{time.monotonic_ns()}/errors.jsonl"
    writer = await store.open_writer(OUTPUT, aborted)
    await writer.write(b"x" * (600 * 1024))  # past one chunk: the upload session has started
    await writer.abort()
    assert await store.stat(OUTPUT, aborted) is None

    dropped = f"tenant/drop-{time.monotonic_ns()}/errors.jsonl"
    writer = await store.open_writer(OUTPUT, dropped)
    await writer.write(b"y" * (600 * 1024))
    del writer
    gc.collect()  # a collected writer must not finalize a partial object
    assert await store.stat(OUTPUT, dropped) is None
    with pytest.raises(ValueError, match="closed"):
        closed = await store.open_writer(OUTPUT, dropped)
        await closed.close()
        await closed.write(b"z")


class _FakeCredentials:
    def __init__(self) -> None:
        self.valid = False
        self.token: str | None = None
        self.service_account_email = "default"
        self.refreshes = 0

    def refresh(self, _request: Any) -> None:
        self.refreshes += 1
        self.valid, self.token = True, f"token-{self.refreshes}"
        self.service_account_email = "fn@pf-prod.iam.gserviceaccount.com"


class _RecordingBlob:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def generate_signed_url(self, **kwargs: Any) -> str:
        self.calls.append(kwargs)
        return "https://signed.example/url"


def test_iam_signer_signs_as_the_runtime_account_with_a_fresh_token() -> None:
    credentials = _FakeCredentials()
    signer = IamSigner(None, "https://storage.googleapis.com", credentials)  # type: ignore[arg-type]
    blob = _RecordingBlob()
    expires = datetime.now(UTC) + timedelta(minutes=15)
    for _ in range(2):
        signer.sign(blob, method="PUT", expiration=expires, content_type="application/octet-stream")
    assert credentials.refreshes == 1  # the token is reused while valid
    call = blob.calls[0]
    assert call["version"] == "v4" and call["method"] == "PUT"
    assert call["service_account_email"] == "fn@pf-prod.iam.gserviceaccount.com"
    assert call["access_token"] == "token-1"
    assert call["content_type"] == "application/octet-stream"
    assert call["api_access_endpoint"] == "https://storage.googleapis.com"


def test_key_signer_reads_a_service_account_key(key: SigningKey, tmp_path: Path) -> None:
    signer = KeySigner.from_file(key.key_file, "http://127.0.0.1:1/")
    assert signer.email == key.info["client_email"]
