"""``compose`` for a blob store without a server-side one: the sources streamed into one writer."""

from __future__ import annotations

from collections.abc import Sequence

from promptforge.blobstore.base import COMPOSE_SOURCES, BlobInfo, BlobStore

__all__ = ["check_sources", "concatenate"]


def check_sources(sources: Sequence[str]) -> None:
    """ValueError unless there are 1 to ``COMPOSE_SOURCES`` sources (GCS's rule, kept by all)."""
    if not 1 <= len(sources) <= COMPOSE_SOURCES:
        raise ValueError(f"compose takes 1 to {COMPOSE_SOURCES} sources, not {len(sources)}")


async def concatenate(blobs: BlobStore, bucket: str, sources: Sequence[str], name: str) -> BlobInfo:
    """Write ``name`` as ``sources`` one after another, streamed (memory: one chunk);
    ``FileNotFoundError`` if a source is missing, and then nothing is written."""
    check_sources(sources)
    writer = await blobs.open_writer(bucket, name)
    try:
        for source in sources:
            async for chunk in blobs.read(bucket, source):
                await writer.write(chunk)
    except BaseException:
        await writer.abort()
        raise
    return await writer.close()
