"""The blob store on Google Cloud Storage: streamed ranged reads, resumable writes, V4 signed URLs.

The storage library is synchronous; every call runs in a worker thread, one chunk
at a time, so memory stays bounded by ``chunk_size`` whatever the object's size.
Reads pin the generation they started on: an object overwritten mid-read is still
read from that generation where the bucket keeps noncurrent versions (the input
bucket does, for a day), and fails the read (``FileNotFoundError``) where it does
not, never mixing two uploads. Each output file is its
own object written once per finalize, so no object sees more than one mutation at a
time (GCS allows about one per second per object).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from google.api_core import exceptions as google_exceptions
from google.cloud.storage import Client  # type: ignore[import-untyped]
from google.cloud.storage.fileio import BlobWriter as _FileWriter  # type: ignore[import-untyped]

from promptforge.blobstore.base import BlobInfo
from promptforge.blobstore.concat import check_sources
from promptforge.gcp.gcs_signing import V4Signer

READ_CHUNK = 1 << 20
WRITE_CHUNK = 8 << 20
"""Resumable-upload chunk (a multiple of 256 KiB): the most a writer holds in memory."""

OUTPUT_CONTENT_TYPE = "application/x-ndjson"


class _Upload(_FileWriter):  # type: ignore[misc]
    """A resumable upload that publishes only on ``commit``.

    The library's writer finalizes the object when closed, and ``io`` closes on garbage
    collection: a writer dropped after an error would publish a partial object. Here
    ``close`` (and so collection) only discards; an unfinished upload session expires.
    """

    def commit(self) -> None:
        """Send what is buffered and finalize the object."""
        _FileWriter.close(self)

    def close(self) -> None:
        """Discard without any network call."""
        self._buffer.close()


class GcsBlobWriter:
    """Streams one object to GCS; it appears only when ``close`` succeeds."""

    def __init__(self, blob: Any, chunk_size: int, content_type: str) -> None:
        self._blob = blob
        self._upload = _Upload(blob, chunk_size=chunk_size, content_type=content_type)
        self._chunk_size = chunk_size
        self._pending = bytearray()
        self._done = False

    async def write(self, data: bytes) -> None:
        """Append bytes; a full chunk is sent before returning."""
        self._check_open()
        self._pending += data
        if len(self._pending) >= self._chunk_size:
            block, self._pending = bytes(self._pending), bytearray()
            await asyncio.to_thread(self._upload.write, block)

    async def close(self) -> BlobInfo:
        """Finalize the object and return its metadata."""
        self._check_open()
        self._done = True
        block, self._pending = bytes(self._pending), bytearray()
        await asyncio.to_thread(self._finish, block)
        return _info(self._blob)

    async def abort(self) -> None:
        """Cancel the upload session; nothing is published."""
        if self._done:
            return
        self._done = True
        self._pending = bytearray()
        try:
            await asyncio.to_thread(self._upload.terminate)
        except google_exceptions.GoogleAPIError:
            self._upload.close()  # the session expires on its own

    def _finish(self, block: bytes) -> None:
        if block:
            self._upload.write(block)
        self._upload.commit()
        self._blob.reload()

    def _check_open(self) -> None:
        if self._done:
            raise ValueError("this blob writer is closed")


class GcsBlobStore:
    """``BlobStore`` on GCS buckets."""

    def __init__(
        self,
        client: Any,
        *,
        input_bucket: str,
        output_bucket: str,
        signer: V4Signer,
        write_chunk: int = WRITE_CHUNK,
    ) -> None:
        self._client = client
        self.input_bucket = input_bucket
        self.output_bucket = output_bucket
        self._signer = signer
        self._write_chunk = write_chunk

    @classmethod
    def from_client(cls, project: str, **kwargs: Any) -> GcsBlobStore:
        """A store on a new storage client (``STORAGE_EMULATOR_HOST`` points it at an emulator)."""
        return cls(Client(project=project), **kwargs)

    def _blob(self, bucket: str, name: str, generation: int | None = None) -> Any:
        return self._client.bucket(bucket).blob(name, generation=generation)

    async def stat(self, bucket: str, name: str) -> BlobInfo | None:
        """Metadata of the live generation, or None."""
        blob = await asyncio.to_thread(self._client.bucket(bucket).get_blob, name)
        return None if blob is None else _info(blob)

    async def _stat_generation(
        self, bucket: str, name: str, generation: int | None
    ) -> BlobInfo | None:
        """Metadata of one generation (a noncurrent one too, where the bucket keeps versions)."""
        if generation is None:
            return await self.stat(bucket, name)
        get = self._client.bucket(bucket).get_blob
        blob = await asyncio.to_thread(get, name, generation=generation)
        if blob is None or int(blob.generation or 0) != generation:
            return None
        return _info(blob)

    def read(self, bucket: str, name: str, chunk_size: int = READ_CHUNK) -> AsyncIterator[bytes]:
        """Stream the whole object; ``FileNotFoundError`` if it is missing."""
        return self.read_range(bucket, name, 0, None, chunk_size=chunk_size)

    async def read_range(
        self,
        bucket: str,
        name: str,
        start: int,
        end: int | None,
        *,
        generation: int | None = None,
        chunk_size: int = READ_CHUNK,
    ) -> AsyncIterator[bytes]:
        """Stream bytes ``[start, end)`` of one generation (default: the live one)."""
        if generation is None or end is None:
            info = await self._stat_generation(bucket, name, generation)
            if info is None:
                raise FileNotFoundError(f"gs://{bucket}/{name} (generation {generation})")
            generation = info.generation
            end = info.size if end is None else min(end, info.size)
        blob = self._blob(bucket, name, generation)
        position = start
        while position < end:
            last = min(position + chunk_size, end) - 1
            chunk = await asyncio.to_thread(_download, blob, position, last)
            if not chunk:
                break
            position += len(chunk)
            yield chunk

    async def open_writer(self, bucket: str, name: str) -> GcsBlobWriter:
        """A resumable upload to ``gs://bucket/name`` (replaces the object when closed)."""
        return GcsBlobWriter(self._blob(bucket, name), self._write_chunk, OUTPUT_CONTENT_TYPE)

    async def compose(self, bucket: str, sources: Sequence[str], name: str) -> BlobInfo:
        """One GCS compose request: ``name`` = ``sources`` joined in order, in the server
        (no byte passes through here); ``FileNotFoundError`` if a source is missing."""
        check_sources(sources)
        target = self._blob(bucket, name)
        target.content_type = OUTPUT_CONTENT_TYPE
        parts = [self._blob(bucket, source) for source in sources]
        try:
            await asyncio.to_thread(target.compose, parts)
        except google_exceptions.NotFound as exc:
            raise FileNotFoundError(f"gs://{bucket}: a source of {name} is missing") from exc
        return _info(target)

    async def delete(self, bucket: str, name: str) -> None:
        """Delete the live object; a no-op if there is none (deletes are free on GCS)."""
        with contextlib.suppress(google_exceptions.NotFound):
            await asyncio.to_thread(self._blob(bucket, name).delete)

    async def signed_url(
        self,
        bucket: str,
        name: str,
        *,
        method: str,
        expires_at: datetime,
        content_type: str | None = None,
    ) -> str:
        """A V4 signed URL for ``method`` on this object (and this content type) until then."""
        blob = self._blob(bucket, name)
        return await asyncio.to_thread(
            self._signer.sign,
            blob,
            method=method,
            expiration=expires_at,
            content_type=content_type,
        )


def _download(blob: Any, first: int, last: int) -> bytes:
    try:
        data: bytes = blob.download_as_bytes(start=first, end=last, checksum=None)
    except google_exceptions.NotFound as exc:
        raise FileNotFoundError(
            f"gs://{blob.bucket.name}/{blob.name} (generation {blob.generation})"
        ) from exc
    return data


def _info(blob: Any) -> BlobInfo:
    return BlobInfo(
        bucket=str(blob.bucket.name),
        name=str(blob.name),
        size=int(blob.size or 0),
        generation=int(blob.generation or 0),
    )
