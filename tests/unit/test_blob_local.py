"""The embedded blob store: streaming, atomic publish, generations, and its HTTP routes."""

from __future__ import annotations

import os
import random
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette

from promptforge.blobstore import local as local_module
from promptforge.blobstore.base import BlobInfo, BlobStore
from promptforge.blobstore.http import blob_routes
from promptforge.blobstore.local import LocalBlobStore
from promptforge.blobstore.signing import UrlSigner
from promptforge.clock import FakeClock
from promptforge.embedded.server import BackgroundServer
from promptforge.errors import BlobExistsError, SignatureError

pytestmark = pytest.mark.anyio

SECRET = b"test-secret-test-secret-32-bytes"
IN = "promptforge-input"
OUT = "promptforge-output"
OCTET = "application/octet-stream"
MAX_UPLOAD = 4 << 20


def _payload(size: int, seed: int = 7) -> bytes:
    """Deterministic pseudo-random bytes."""
    return random.Random(seed).randbytes(size)


def _files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs", UrlSigner(SECRET, "http://127.0.0.1:1"))


async def _write(store: LocalBlobStore, bucket: str, name: str, data: bytes) -> BlobInfo:
    writer = await store.open_writer(bucket, name)
    for start in range(0, len(data), 64 << 10):
        await writer.write(data[start : start + (64 << 10)])
    return await writer.close()


async def _read(store: LocalBlobStore, bucket: str, name: str, chunk_size: int = 1 << 20) -> bytes:
    return b"".join([chunk async for chunk in store.read(bucket, name, chunk_size)])


def test_local_store_satisfies_the_port(store: LocalBlobStore) -> None:
    port: BlobStore = store  # checked by mypy; at runtime the attributes exist
    assert (port.input_bucket, port.output_bucket) == (IN, OUT)


async def test_multi_megabyte_object_streams_in_chunks(store: LocalBlobStore) -> None:
    data = _payload(5 * (1 << 20) + 123)
    info = await _write(store, IN, "t/j/prompts.jsonl", data)
    assert (info.bucket, info.name, info.size) == (IN, "t/j/prompts.jsonl", len(data))
    chunk_size = 256 << 10
    chunks = [c async for c in store.read(IN, "t/j/prompts.jsonl", chunk_size)]
    assert all(0 < len(c) <= chunk_size for c in chunks)
    assert len(chunks) == -(-len(data) // chunk_size)
    assert b"".join(chunks) == data
    assert store.path_for(IN, "t/j/prompts.jsonl").read_bytes() == data


async def test_object_is_invisible_until_close(store: LocalBlobStore) -> None:
    writer = await store.open_writer(IN, "a/b.jsonl")
    await writer.write(_payload(600 << 10))  # past the write buffer: bytes reach the disk
    assert await store.stat(IN, "a/b.jsonl") is None
    assert not store.path_for(IN, "a/b.jsonl").exists()
    with pytest.raises(FileNotFoundError):
        await _read(store, IN, "a/b.jsonl")
    assert await store.list_blobs(IN) == []
    info = await writer.close()
    assert await store.stat(IN, "a/b.jsonl") == info
    assert await _read(store, IN, "a/b.jsonl") == _payload(600 << 10)


async def test_overwrite_keeps_the_old_version_visible_until_close(store: LocalBlobStore) -> None:
    await _write(store, IN, "x", b"old")
    writer = await store.open_writer(IN, "x")
    await writer.write(b"new and longer")
    assert await _read(store, IN, "x") == b"old"
    await writer.close()
    assert await _read(store, IN, "x") == b"new and longer"


async def test_open_reader_keeps_the_version_it_opened(store: LocalBlobStore) -> None:
    first = await _write(store, IN, "x", b"first version")
    reader = await store.open_reader(IN, "x", chunk_size=5)
    await _write(store, IN, "x", b"second")
    assert reader.info == first
    assert b"".join([c async for c in reader]) == b"first version"


async def test_abort_leaves_nothing(store: LocalBlobStore) -> None:
    writer = await store.open_writer(IN, "deep/er/obj")
    await writer.write(_payload(300 << 10))
    await writer.abort()
    await writer.abort()  # twice is fine
    assert await store.stat(IN, "deep/er/obj") is None
    assert _files_under(store.root) == []
    assert not (store.root / IN / "deep").exists()
    with pytest.raises(ValueError, match="aborted"):
        await writer.write(b"more")


async def test_abort_after_close_keeps_the_object(store: LocalBlobStore) -> None:
    writer = await store.open_writer(IN, "kept")
    await writer.write(b"data")
    await writer.close()
    await writer.abort()
    assert await _read(store, IN, "kept") == b"data"
    with pytest.raises(ValueError, match="closed"):
        await writer.close()


async def test_generation_grows_on_every_overwrite(store: LocalBlobStore) -> None:
    generations = [(await _write(store, IN, "g", bytes([i]))).generation for i in range(20)]
    assert generations == sorted(set(generations))
    stat = await store.stat(IN, "g")
    assert stat == BlobInfo(IN, "g", 1, generations[-1])


async def test_generation_grows_within_one_clock_tick(
    store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_module.time, "time_ns", lambda: 1_000)
    first = await _write(store, IN, "g", b"1")
    second = await _write(store, IN, "g", b"2")
    third = await _write(store, IN, "g", b"3")
    assert first.generation < second.generation < third.generation


async def test_sidecar_and_temp_files_stay_out_of_listings(store: LocalBlobStore) -> None:
    await _write(store, OUT, "t/j/results_part_001.jsonl", b"r1")
    await _write(store, OUT, "t/j/errors.jsonl", b"e")
    await _write(store, OUT, "t/other/errors.jsonl", b"o")
    pending = await store.open_writer(OUT, "t/j/results_part_002.jsonl")
    await pending.write(b"unfinished")
    listed = await store.list_blobs(OUT, "t/j/")
    assert [b.name for b in listed] == ["t/j/errors.jsonl", "t/j/results_part_001.jsonl"]
    assert listed[1] == await store.stat(OUT, "t/j/results_part_001.jsonl")
    assert any(name.endswith(".__meta__") for name in _files_under(store.root))
    await pending.abort()


async def test_delete_removes_object_sidecar_and_empty_folders(store: LocalBlobStore) -> None:
    await _write(store, IN, "t/j/prompts.jsonl", b"x")
    await _write(store, IN, "t/keep", b"y")
    await store.delete(IN, "t/j/prompts.jsonl")
    await store.delete(IN, "t/j/prompts.jsonl")  # already gone: a no-op
    assert await store.stat(IN, "t/j/prompts.jsonl") is None
    assert _files_under(store.root / IN) == ["t/keep", "t/keep.__meta__"]


async def test_a_name_whose_folder_is_an_object_is_refused(store: LocalBlobStore) -> None:
    await _write(store, IN, "a", b"file")
    with pytest.raises(FileExistsError):
        await store.open_writer(IN, "a/b")
    await _write(store, IN, "dir/obj", b"x")
    with pytest.raises(IsADirectoryError):
        await store.open_writer(IN, "dir")
    assert await store.stat(IN, "dir") is None


@pytest.mark.parametrize("name", ["../escape", "a/../../b", "/abs", "a\\b", "a\x00b", "x.__meta__"])
async def test_traversal_names_are_refused(store: LocalBlobStore, name: str) -> None:
    with pytest.raises(SignatureError) as caught:
        store.path_for(IN, name)
    assert caught.value.code == "invalid_object_name"
    with pytest.raises(SignatureError):
        await store.open_writer(IN, name)
    with pytest.raises(SignatureError):
        await store.stat(IN, name)
    with pytest.raises(SignatureError):
        store.path_for("..", "x")


def test_path_for_stays_under_the_bucket(store: LocalBlobStore) -> None:
    path = store.path_for(IN, "t/j/prompts.jsonl")
    assert path == store.root / IN / "t" / "j" / "prompts.jsonl"


async def test_signed_url_delegates_to_the_signer(store: LocalBlobStore) -> None:
    expires = datetime(2026, 1, 1, tzinfo=UTC)
    url = await store.signed_url(IN, "a b", method="PUT", expires_at=expires, content_type=OCTET)
    assert url == store.signer.sign(IN, "a b", method="PUT", expires_at=expires, content_type=OCTET)


# The HTTP routes, over a real server. -----------------------------------------------------


class _Harness:
    """A blob store served by ``blob_routes`` on 127.0.0.1, with an upload recorder."""

    def __init__(self, root: Path, drain_bytes: int = 64 << 20) -> None:
        self.clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
        self.uploads: list[BlobInfo] = []
        self.app = Starlette()
        self.server = BackgroundServer(self.app)
        self.store = LocalBlobStore(root, UrlSigner(SECRET, self.server.url))
        self.app.router.routes.extend(
            blob_routes(
                self.store,
                max_upload_bytes=MAX_UPLOAD,
                on_upload=self._record,
                clock=self.clock,
                drain_bytes=drain_bytes,
            )
        )

    async def _record(self, info: BlobInfo) -> None:
        self.uploads.append(info)

    def url(self, name: str, method: str = "PUT", bucket: str = IN, **kwargs: Any) -> str:
        kwargs.setdefault("content_type", OCTET if method == "PUT" else None)
        expires = kwargs.pop("expires_at", self.clock.now() + timedelta(minutes=15))
        return self.store.signer.sign(bucket, name, method=method, expires_at=expires, **kwargs)


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[_Harness]:
    harness = _Harness(tmp_path / "blobs")
    async with harness.server:
        yield harness


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


async def _chunks(data: bytes, size: int = 100_000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_streamed_put_stores_the_object_and_reports_it_once(
    harness: _Harness, client: httpx.AsyncClient
) -> None:
    data = _payload(3 << 20)
    response = await client.put(
        harness.url("t/j/prompts.jsonl"), content=_chunks(data), headers={"Content-Type": OCTET}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    stat = await harness.store.stat(IN, "t/j/prompts.jsonl")
    assert stat is not None
    assert body == {"bucket": IN, "name": "t/j/prompts.jsonl", "size": len(data)} | {
        "generation": stat.generation
    }
    assert harness.uploads == [stat]
    assert await _read(harness.store, IN, "t/j/prompts.jsonl") == data


async def test_put_over_an_existing_object_is_refused(
    harness: _Harness, client: httpx.AsyncClient
) -> None:
    first = await client.put(harness.url("x"), content=b"one", headers={"Content-Type": OCTET})
    second = await client.put(harness.url("x"), content=b"two!", headers={"Content-Type": OCTET})
    assert first.status_code == 200
    assert (second.status_code, second.json()["error"]["code"]) == (409, "upload_exists")
    # The refusal reports the stored object again (so an upload whose report failed still
    # starts its job); the report is of the first file, which stays as it was.
    assert len(harness.uploads) == 2
    assert harness.uploads[0] == harness.uploads[1]
    assert harness.uploads[0].size == 3
    assert await _read(harness.store, IN, "x") == b"one"


async def test_racing_create_only_writers_publish_exactly_one(harness: _Harness) -> None:
    first = await harness.store.open_writer(IN, "race", if_absent=True)
    second = await harness.store.open_writer(IN, "race", if_absent=True)
    await first.write(b"first")
    await second.write(b"second")
    await first.close()
    with pytest.raises(BlobExistsError):
        await second.close()
    assert await _read(harness.store, IN, "race") == b"first"


async def test_upload_of_exactly_the_limit_is_accepted(
    harness: _Harness, client: httpx.AsyncClient
) -> None:
    response = await client.put(
        harness.url("edge"), content=_chunks(b"z" * MAX_UPLOAD), headers={"Content-Type": OCTET}
    )
    assert response.status_code == 200, response.text
    assert response.json()["size"] == MAX_UPLOAD


def _expired(h: _Harness) -> str:
    url = h.url("x")
    h.clock.advance(16 * 60)
    return url


_REFUSALS = [
    ("expired", _expired, "PUT", OCTET, 403, "url_expired"),
    ("tampered", lambda h: h.url("x").replace("/x?", "/y?"), "PUT", OCTET, 403,
     "signature_mismatch"),
    ("wrong method", lambda h: h.url("x", "GET"), "PUT", OCTET, 403, "method_not_allowed"),
    ("content type", lambda h: h.url("x"), "PUT", "text/plain", 403, "content_type_mismatch"),
    ("unsigned", lambda h: h.url("x").partition("?")[0], "PUT", OCTET, 403, "missing_signature"),
    ("traversal", lambda h: h.url("x").replace("/x?", "/%2E%2E/x?"), "PUT", OCTET, 400,
     "invalid_object_name"),
    ("duplicate", lambda h: h.url("x") + "&X-PF-Method=PUT", "PUT", OCTET, 403,
     "malformed_signature"),
    ("other method", lambda h: h.url("x"), "POST", OCTET, 405, "method_not_allowed"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "make_url", "method", "content_type", "status", "code"),
    _REFUSALS,
    ids=[case[0] for case in _REFUSALS],
)
async def test_refused_uploads_store_nothing(
    harness: _Harness,
    client: httpx.AsyncClient,
    case: str,
    make_url: Any,
    method: str,
    content_type: str,
    status: int,
    code: str,
) -> None:
    url = make_url(harness)
    response = await client.request(
        method, url, content=b"payload", headers={"Content-Type": content_type}
    )
    assert response.status_code == status, case
    assert response.json() == {
        "error": {"code": code, "message": response.json()["error"]["message"], "status": status}
    }
    assert harness.uploads == []
    assert _files_under(harness.store.root) == []


async def test_expired_upload_message_says_what_to_do(
    harness: _Harness, client: httpx.AsyncClient
) -> None:
    response = await client.put(_expired(harness), content=b"x", headers={"Content-Type": OCTET})
    assert response.json()["error"]["message"] == (
        "the upload URL expired at 2026-01-01T00:15:00Z; call /v1/jobs/init again for a new one"
    )


async def test_oversize_upload_with_content_length_is_refused_up_front(
    harness: _Harness, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    real_open_writer = harness.store.open_writer

    async def spy(bucket: str, name: str) -> Any:
        opened.append(name)
        return await real_open_writer(bucket, name)

    monkeypatch.setattr(harness.store, "open_writer", spy)
    response = await client.put(
        harness.url("big"), content=b"z" * (MAX_UPLOAD + 1), headers={"Content-Type": OCTET}
    )
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "upload_too_large"
    assert str(MAX_UPLOAD) in error["message"]
    assert opened == []  # refused before a byte was stored
    assert harness.uploads == []
    assert _files_under(harness.store.root) == []


@pytest.mark.parametrize("extra", [1, 3 << 20])
async def test_oversize_chunked_upload_is_refused_while_streaming(
    harness: _Harness, client: httpx.AsyncClient, extra: int
) -> None:
    body = _chunks(b"z" * (MAX_UPLOAD + extra))
    response = await client.put(harness.url("big"), content=body, headers={"Content-Type": OCTET})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "upload_too_large"
    assert harness.uploads == []
    assert _files_under(harness.store.root) == []


@pytest.mark.parametrize("chunked", [True, False])
async def test_oversize_upload_beyond_the_drain_limit_closes_the_connection(
    tmp_path: Path, client: httpx.AsyncClient, chunked: bool
) -> None:
    harness = _Harness(tmp_path / "blobs", drain_bytes=0)
    data = b"z" * (MAX_UPLOAD + (1 << 20))
    async with harness.server:
        try:
            response = await client.put(
                harness.url("big"),
                content=_chunks(data) if chunked else data,
                headers={"Content-Type": OCTET},
            )
        except httpx.TransportError:
            pass  # the server closed while the client was still sending: allowed
        else:
            assert response.status_code == 413
            assert response.headers["connection"] == "close"
        assert harness.uploads == []
        assert _files_under(harness.store.root) == []
        after = await client.put(harness.url("ok"), content=b"1", headers={"Content-Type": OCTET})
        assert after.status_code == 200


async def test_client_that_disconnects_mid_upload_leaves_nothing(
    harness: _Harness, client: httpx.AsyncClient
) -> None:
    class UploadCutError(Exception):
        pass

    async def dying_body() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"x" * 100_000
            await _sleep(0.01)
        raise UploadCutError

    with pytest.raises(UploadCutError):
        await client.put(harness.url("cut"), content=dying_body(), headers={"Content-Type": OCTET})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _files_under(harness.store.root):
        await _sleep(0.02)
    assert _files_under(harness.store.root) == []
    assert harness.uploads == []


async def test_upload_whose_folder_is_an_object_is_a_conflict(
    harness: _Harness, client: httpx.AsyncClient
) -> None:
    await _write(harness.store, IN, "t", b"an object")
    response = await client.put(harness.url("t/x"), content=b"1", headers={"Content-Type": OCTET})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "object_name_conflict"


async def test_signed_download_streams_the_exact_bytes(
    harness: _Harness, client: httpx.AsyncClient
) -> None:
    data = _payload((2 << 20) + 17)
    info = await _write(harness.store, OUT, "t/j/results_part_001.jsonl", data)
    url = harness.url("t/j/results_part_001.jsonl", "GET", bucket=OUT)
    async with client.stream("GET", url) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/x-ndjson"
        assert response.headers["content-length"] == str(len(data))
        assert response.headers["x-pf-generation"] == str(info.generation)
        chunks = [chunk async for chunk in response.aiter_raw()]
    assert len(chunks) > 1
    assert b"".join(chunks) == data
    head = await client.head(url)
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == str(len(data))


async def test_download_refusals(harness: _Harness, client: httpx.AsyncClient) -> None:
    missing = await client.get(harness.url("t/none.jsonl", "GET", bucket=OUT))
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "object_not_found"
    await _write(harness.store, OUT, "r.bin", b"bytes")
    upload_url = await client.get(harness.url("r.bin", bucket=OUT))
    assert upload_url.status_code == 403
    assert upload_url.json()["error"]["code"] == "method_not_allowed"
    url = harness.url("r.bin", "GET", bucket=OUT)
    ok = await client.get(url)
    assert (ok.status_code, ok.content, ok.headers["content-type"]) == (200, b"bytes", OCTET)
    typed = await client.get(harness.url("r.bin", "GET", bucket=OUT, content_type="text/csv"))
    assert typed.headers["content-type"] == "text/csv"
    harness.clock.advance(15 * 60)
    expired = await client.get(url)
    assert expired.status_code == 403
    assert expired.json()["error"]["code"] == "url_expired"


async def test_abandoned_download_closes_the_file(
    harness: _Harness, client: httpx.AsyncClient
) -> None:
    await _write(harness.store, OUT, "big.bin", _payload(8 << 20))
    url = harness.url("big.bin", "GET", bucket=OUT)
    async with client.stream("GET", url) as response:
        async for _ in response.aiter_raw():
            break  # leave after the first chunk; the server must still close its file
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _open_files_under(harness.store.root):
        await _sleep(0.02)
    assert _open_files_under(harness.store.root) == []


def _open_files_under(root: Path) -> list[str]:
    """Files under ``root`` that this process holds open (Linux /proc)."""
    fd_dir = Path("/proc/self/fd")
    if not fd_dir.exists():
        pytest.skip("needs /proc")
    found = []
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith(str(root)):
            found.append(target)
    return found


async def _sleep(seconds: float) -> None:
    await anyio.sleep(seconds)
