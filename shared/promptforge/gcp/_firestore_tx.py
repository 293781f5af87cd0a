"""Running a body in a Firestore transaction, and reading documents inside one.

Server client libraries run pessimistic transactions: a read locks the document until
commit, a conflicting transaction is aborted (``ABORTED``) and retried. The client library
retries an aborted *commit* itself, keeping the transaction's place in line; an abort
raised by a *read*, or commits still aborted after its attempts, surface here and are
retried with a fresh transaction after a short jittered pause. A body must therefore be
free of side effects outside the transaction and rebuild its result on every attempt.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from google.api_core.exceptions import Aborted
from google.cloud.firestore import (
    AsyncClient,
    AsyncDocumentReference,
    AsyncTransaction,
    DocumentSnapshot,
    async_transactional,
)

_T = TypeVar("_T")

Snapshot = DocumentSnapshot[AsyncDocumentReference]
"""A document as read through the async client."""

WRITE_CHUNK = 400
"""Documents written per commit: under Firestore's 500, leaving room for a counter shard."""

ATTEMPTS = 6
"""Fresh transactions tried before giving up (each retries its commit up to 5 times)."""

_FIRST_PAUSE = 0.05
_MAX_PAUSE = 2.0


async def run_transaction(
    client: AsyncClient, body: Callable[[AsyncTransaction], Awaitable[_T]]
) -> _T:
    """Run ``body(transaction)`` and commit; retried whole while Firestore aborts it."""
    wrapped = async_transactional(body)
    pause = _FIRST_PAUSE
    for _ in range(ATTEMPTS - 1):
        try:
            return await wrapped(client.transaction())
        except (Aborted, ValueError) as exc:
            if not aborted(exc):
                raise
        await asyncio.sleep(pause * (0.5 + random.random()))
        pause = min(_MAX_PAUSE, pause * 2)
    return await wrapped(client.transaction())


def aborted(exc: Exception) -> bool:
    """An abort from a read, or the library's "failed to commit in N attempts" after aborts."""
    return isinstance(exc, Aborted) or isinstance(exc.__cause__, Aborted)


async def read_documents(
    client: AsyncClient,
    refs: Sequence[AsyncDocumentReference],
    transaction: AsyncTransaction | None = None,
) -> dict[str, Snapshot]:
    """Snapshots of ``refs`` (missing ones included, ``exists`` False), keyed by path.

    One ``BatchGetDocuments`` call; within ``transaction`` the documents are locked.
    """
    if not refs:
        return {}
    snapshots = client.get_all(list(refs), transaction=transaction)
    return {snapshot.reference.path: snapshot async for snapshot in snapshots}
