"""The Firestore job store's prompts and outcomes: the ``JobStore`` methods on items.

``FirestoreJobStore`` inherits these; each is a thin loop over the item transactions of
``_firestore_items`` (one document per prompt and its outcome), in commits Firestore
and its emulator accept.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from promptforge.core.models import ClaimResult, Outcome, OutcomeKind
from promptforge.core.outcome_sets import merge_line_ordered
from promptforge.gcp import _firestore_chunks as chunks
from promptforge.gcp import _firestore_items as items
from promptforge.gcp._firestore_layout import Layout
from promptforge.gcp._firestore_tx import WRITE_CHUNK
from promptforge.jobstore.base import LineRange, PendingPrompt
from promptforge.jobstore.fields import to_utc

__all__ = ["COMMIT_BYTES", "FirestoreItems"]

COMMIT_BYTES = 3 * 1024 * 1024
"""About how many bytes of outcomes go in one commit.

Firestore takes 10 MiB per request, but the emulator refuses gRPC messages over 4 MiB;
3 MiB suits both, and only outcomes of several KiB each ever reach it before
``WRITE_CHUNK`` does."""


class FirestoreItems:
    """The prompt and outcome methods of ``FirestoreJobStore`` (which sets ``_layout``,
    ``_shards`` and ``_page_size``)."""

    _layout: Layout
    _shards: int
    _page_size: int

    # Prompts
    async def register_prompts(
        self, job_id: str, prompts: Sequence[tuple[str, int]]
    ) -> list[int | None]:
        """Register ``(prompt_id, line)`` pairs, ``WRITE_CHUNK`` prompts per transaction.

        Per pair: None when the prompt is new or was registered with the same line (a
        replay), else the line stored first (a duplicate ``prompt_id``), including a
        duplicate of an earlier pair in the same call.
        """
        return await self._register(job_id, prompts, chunked=False)

    async def register_chunk_prompts(
        self, job_id: str, prompts: Sequence[tuple[str, int]]
    ) -> list[int | None]:
        """``register_prompts`` for prompts that run in chunks with records: their items say
        so, and their claims and outcomes are their chunks' (``_firestore_chunks``)."""
        return await self._register(job_id, prompts, chunked=True)

    async def _register(
        self, job_id: str, prompts: Sequence[tuple[str, int]], *, chunked: bool
    ) -> list[int | None]:
        firsts: dict[str, int] = {}  # each prompt_id's first line in this call
        for prompt_id, line in prompts:
            firsts.setdefault(prompt_id, line)
        stored: dict[str, int] = {}  # lines registered before this call
        ids = list(firsts)
        for start in range(0, len(ids), WRITE_CHUNK):
            chunk = {prompt_id: firsts[prompt_id] for prompt_id in ids[start : start + WRITE_CHUNK]}
            stored.update(await items.register(self._layout, job_id, chunk, chunked=chunked))
        answers: list[int | None] = []
        for prompt_id, line in prompts:
            first = stored.get(prompt_id, firsts[prompt_id])
            answers.append(None if first == line else first)
        return answers

    async def claim(  # noqa: PLR0917 (the port's signature)
        self,
        job_id: str,
        prompt_id: str,
        generation: int,
        holder: str,
        lease_until: datetime,
        now: datetime,
    ) -> ClaimResult:
        """Take the prompt's lease for this generation before calling the provider.

        MISSING, DONE, STALE (a newer generation is stored), BUSY (another holder's
        lease is live) or CLAIMED. The same holder claiming again is CLAIMED; an older
        stored generation is moved up to ``generation`` and claimed.
        """
        until, at = to_utc(lease_until), to_utc(now)
        return await items.claim(self._layout, job_id, prompt_id, generation, holder, until, at)

    async def advance(self, job_id: str, prompt_id: str, generation: int) -> bool:
        """Move the prompt to ``generation + 1``, drop the lease; False if not at ``generation``."""
        return await items.advance(self._layout, job_id, prompt_id, generation)

    async def pending_prompts(
        self, job_id: str, after: str | None, limit: int
    ) -> tuple[list[PendingPrompt], str | None]:
        """The prompts without an outcome among the next ``limit`` items of the job (in
        document order, after the cursor: the last document id read); the page and the
        next cursor. Item fields carry no index to filter by, so a page may hold fewer."""
        return await items.pending(self._layout, job_id, after, limit)

    # Outcomes
    async def record_outcomes(self, job_id: str, outcomes: Sequence[Outcome]) -> int:
        """Write the outcomes not yet recorded and count them; returns how many were new.

        Each commit (at most ``WRITE_CHUNK`` outcomes) is atomic, and a replay of any part
        counts nothing twice. ValueError if the job does not exist.
        """
        if not outcomes:
            return 0
        if not (await self._layout.job(job_id).get()).exists:  # jobs are never deleted
            raise ValueError(f"no job {job_id!r}")
        distinct: dict[str, Outcome] = {}
        for outcome in outcomes:
            distinct.setdefault(outcome.key, outcome)  # the first record of a key wins
        recorded = 0
        for chunk in _chunks(list(distinct.values())):
            recorded += await items.record(self._layout, job_id, chunk, self._shards)
        return recorded

    async def iter_outcomes(
        self, job_id: str, kind: OutcomeKind, lines: LineRange | None = None
    ) -> AsyncIterator[Outcome]:
        """Outcomes of one kind ordered by (line, key), read ``page_size`` at a time: those
        recorded on their items and those chunks published in outcome sets, merged; with
        ``lines`` only those of lines ``[start, end)``."""
        kind = OutcomeKind(kind)
        alone = self._item_outcomes(job_id, kind, lines)
        in_sets = chunks.iter_set_outcomes(self._layout, job_id, kind, self._page_size, lines)
        async for outcome in merge_line_ordered(alone, in_sets):
            yield outcome

    async def _item_outcomes(
        self, job_id: str, kind: OutcomeKind, lines: LineRange | None
    ) -> AsyncIterator[Outcome]:
        after: tuple[int, str] | None = None
        while True:
            page = await items.outcome_page(
                self._layout, job_id, kind, after, self._page_size, lines
            )
            for outcome in page:
                yield outcome
            if len(page) < self._page_size:
                return
            after = (page[-1].line, page[-1].key)


def _chunks(outcomes: Sequence[Outcome]) -> list[list[Outcome]]:
    """Split into commits of at most ``WRITE_CHUNK`` outcomes and about ``COMMIT_BYTES``."""
    chunks: list[list[Outcome]] = []
    current: list[Outcome] = []
    size = 0
    for outcome in outcomes:
        weight = items.encoded_size(outcome)
        if current and (len(current) >= WRITE_CHUNK or size + weight > COMMIT_BYTES):
            chunks.append(current)
            current, size = [], 0
        current.append(outcome)
        size += weight
    if current:
        chunks.append(current)
    return chunks
