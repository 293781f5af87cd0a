"""The blob-store port: objects in buckets, streamed, with signed URLs.

Uploads arrive through a signed ``PUT`` URL; results leave through signed ``GET``
URLs. Reads and writes stream in chunks so memory never grows with object size.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

COMPOSE_SOURCES = 32
"""The most objects one ``compose`` joins (GCS's limit for one compose request)."""


@dataclass(frozen=True)
class BlobInfo:
    """Metadata of a stored object; ``generation`` changes on every overwrite."""

    bucket: str
    name: str
    size: int
    generation: int


class BlobWriter(Protocol):
    """A streaming writer; the object appears only when ``close`` succeeds."""

    async def write(self, data: bytes) -> None:
        """Append bytes."""
        ...

    async def close(self) -> BlobInfo:
        """Publish the object atomically."""
        ...

    async def abort(self) -> None:
        """Discard what was written."""
        ...


class BlobStore(Protocol):
    """Buckets of objects with streaming I/O and signed URLs."""

    input_bucket: str
    output_bucket: str

    async def stat(self, bucket: str, name: str) -> BlobInfo | None:
        """Metadata, or None if the object does not exist."""
        ...

    def read(self, bucket: str, name: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        """Stream an object's bytes; raises ``FileNotFoundError`` if it is missing."""
        ...

    async def open_writer(self, bucket: str, name: str) -> BlobWriter:
        """Start writing an object (replacing any previous one when closed)."""
        ...

    async def compose(self, bucket: str, sources: Sequence[str], name: str) -> BlobInfo:
        """Write ``name`` as the concatenation of 1 to ``COMPOSE_SOURCES`` objects of the
        same bucket, in order (replacing any previous ``name``); ``FileNotFoundError`` if
        a source is missing."""
        ...

    async def delete(self, bucket: str, name: str) -> None:
        """Delete an object; a no-op if it does not exist."""
        ...

    async def signed_url(
        self,
        bucket: str,
        name: str,
        *,
        method: str,
        expires_at: datetime,
        content_type: str | None = None,
    ) -> str:
        """A URL that allows exactly ``method`` on this object until ``expires_at``."""
        ...
