"""The Firestore job store's chunk records: the ``core.chunk_records.ChunkStore`` methods.

``FirestoreJobStore`` inherits these; each is a thin call into ``_firestore_chunks`` (one
record per chunk); ``register_chunk_prompts`` is an item method (``_firestore_job_items``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from promptforge.core.chunk_records import Checkpoint, ChunkRecord, ChunkSpec
from promptforge.core.models import ClaimResult, Outcome
from promptforge.gcp import _firestore_chunks as chunks
from promptforge.gcp._firestore_layout import Layout
from promptforge.gcp._firestore_tx import WRITE_CHUNK
from promptforge.jobstore.fields import to_utc

__all__ = ["FirestoreChunks"]


class FirestoreChunks:
    """The chunk-record methods of ``FirestoreJobStore`` (which sets ``_layout`` and
    ``_shards``)."""

    _layout: Layout
    _shards: int

    async def create_chunks(self, job_id: str, specs: Sequence[ChunkSpec]) -> int:
        """Create the records of the chunks not created yet, ``WRITE_CHUNK`` per commit."""
        created = 0
        for start in range(0, len(specs), WRITE_CHUNK):
            created += await chunks.create(self._layout, job_id, specs[start : start + WRITE_CHUNK])
        return created

    async def claim_chunk(
        self, job_id: str, chunk_id: str, holder: str, lease_until: datetime, now: datetime
    ) -> tuple[ClaimResult, ChunkRecord | None]:
        """Take or renew the chunk's lease (``core.chunk_records.claim_chunk``)."""
        until, at = to_utc(lease_until), to_utc(now)
        return await chunks.claim(self._layout, job_id, chunk_id, holder, until, at)

    async def get_chunk(self, job_id: str, chunk_id: str) -> ChunkRecord | None:
        """The chunk's record, or None."""
        return await chunks.chunk_record(self._layout, job_id, chunk_id)

    async def write_checkpoint(
        self,
        job_id: str,
        chunk_id: str,
        outcomes: Sequence[Outcome],
        handoffs: Sequence[ChunkSpec],
    ) -> Checkpoint:
        """One checkpoint of the chunk in one transaction (``_firestore_chunks``)."""
        return await chunks.write_checkpoint(
            self._layout, job_id, chunk_id, outcomes, handoffs, self._shards
        )

    async def chunks_not_done(
        self, job_id: str, after: str | None, limit: int
    ) -> tuple[list[ChunkRecord], str | None]:
        """A page of the job's chunks with unsettled prompts, and the next cursor."""
        return await chunks.chunks_not_done(self._layout, job_id, after, limit)
