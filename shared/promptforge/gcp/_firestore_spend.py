"""The Firestore job store's cost-cap ledger (``core.spend``): one document per capped job.

``{prefix}_jobs/{job_id}/spend/ledger`` holds ``spent`` and ``reserved`` (nano-USD),
``stopped_at``, and ``holds``: the reservation of each call in flight, keyed by the hash
of its prompt key (entries leave on settle, so it holds at most the calls in flight).
Reserve and settle are one transaction on that one document: a capped job pays two
document writes per call, an uncapped job none (it never touches the ledger). The
document takes about one sustained write per second comfortably and bursts beyond that
under contention (transactions retried), so a capped job's call rate on Google is bounded
by it; see docs/api.md.
"""

from __future__ import annotations

import asyncio
import random
import weakref
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar, cast

from google.api_core.exceptions import Aborted
from google.cloud.firestore import (
    AsyncCollectionReference,
    AsyncDocumentReference,
    AsyncTransaction,
)

from promptforge.core.models import Outcome
from promptforge.core.spend import Hold, Ledger, decide_reserve, decide_settle
from promptforge.gcp._firestore_codec import from_timestamp, hashed_id
from promptforge.gcp._firestore_layout import Layout
from promptforge.gcp._firestore_tx import aborted, read_documents, run_transaction

SPEND = "spend"
LEDGER = "ledger"
CONTENDED_ROUNDS = 8
"""Rounds of ``run_transaction`` tried on the one ledger document before giving up: every
call of a capped job writes it, so its transactions abort each other more than others do."""

_T = TypeVar("_T")


_LOCKS: weakref.WeakValueDictionary[tuple[int, str], asyncio.Lock] = weakref.WeakValueDictionary()
"""One lock per (event loop, ledger) while some call holds it: calls of one process take
turns on the ledger instead of aborting each other's transactions (Firestore's locks are
pessimistic: concurrent read-then-write transactions on one document deadlock and wait
for the abort). Processes still contend, and their transactions retry."""


async def _contended(
    layout: Layout, ref: AsyncDocumentReference, body: Callable[[AsyncTransaction], Awaitable[_T]]
) -> _T:
    """``run_transaction`` one at a time per process, tried again while it keeps aborting."""
    key = (id(asyncio.get_running_loop()), ref.path)
    lock = _LOCKS.get(key)
    if lock is None:
        lock = _LOCKS[key] = asyncio.Lock()
    async with lock:
        return await _retried(layout, body)


async def _retried(layout: Layout, body: Callable[[AsyncTransaction], Awaitable[_T]]) -> _T:
    """``run_transaction``, tried again after a jittered pause while it keeps aborting."""
    for round_ in range(CONTENDED_ROUNDS - 1):
        try:
            return await run_transaction(layout.client, body)
        except (Aborted, ValueError) as exc:
            if not aborted(exc):
                raise
        await asyncio.sleep(min(2.0, 0.1 * 2**round_) * (0.5 + random.random()))
    return await run_transaction(layout.client, body)


def _ref(layout: Layout, job_id: str) -> AsyncDocumentReference:
    spend = cast(AsyncCollectionReference, layout.job(job_id).collection(SPEND))
    return spend.document(LEDGER)


def _ledger(data: dict[str, Any] | None) -> Ledger:
    if data is None:
        return Ledger()
    stopped = data.get("stopped_at")
    return Ledger(
        int(data["spent"]),
        int(data["reserved"]),
        None if stopped is None else from_timestamp(stopped),
    )


def _hold(data: dict[str, Any] | None, slot: str) -> Hold | None:
    held = (data or {}).get("holds", {}).get(slot)
    return None if held is None else Hold(int(held["generation"]), int(held["amount"]))


def _document(
    layout: Layout, data: dict[str, Any] | None, ledger: Ledger, slot: str, hold: Hold | None
) -> dict[str, Any]:
    holds = dict((data or {}).get("holds", {}))
    if hold is None:
        holds.pop(slot, None)
    else:
        holds[slot] = {"generation": hold.generation, "amount": hold.amount}
    return {
        "spent": ledger.spent,
        "reserved": ledger.reserved,
        "stopped_at": ledger.stopped_at,
        "holds": holds,
        **layout.expiry(),
    }


class FirestoreSpend:
    """The ``SpendStore`` methods of ``FirestoreJobStore`` (which sets ``_layout``)."""

    _layout: Layout

    async def reserve_spend(  # noqa: PLR0917 - the port's signature
        self, job_id: str, prompt_id: str, generation: int, amount: int, cap: int, now: datetime
    ) -> bool:
        """Reserve ``amount`` nano-USD for the prompt's call under ``cap`` (``core.spend``)."""
        layout = self._layout
        ref = _ref(layout, job_id)
        slot = hashed_id(Outcome.prompt_key(prompt_id))

        async def body(transaction: AsyncTransaction) -> bool:
            data = (await read_documents(layout.client, [ref], transaction))[ref.path].to_dict()
            ledger, hold = _ledger(data), _hold(data, slot)
            verdict = decide_reserve(
                ledger, hold, generation=generation, amount=amount, cap=cap, now=now
            )
            if verdict.ledger != ledger or verdict.hold != hold:
                transaction.set(ref, _document(layout, data, verdict.ledger, slot, verdict.hold))
            return verdict.granted

        return await _contended(layout, ref, body)

    async def settle_spend(
        self, job_id: str, prompt_id: str, generation: int, cost: int | None
    ) -> None:
        """Release the prompt's reservation and charge ``cost`` (None: all of it)."""
        layout = self._layout
        ref = _ref(layout, job_id)
        slot = hashed_id(Outcome.prompt_key(prompt_id))

        async def body(transaction: AsyncTransaction) -> None:
            data = (await read_documents(layout.client, [ref], transaction))[ref.path].to_dict()
            after = decide_settle(
                _ledger(data), _hold(data, slot), generation=generation, cost=cost
            )
            if after is not None:
                transaction.set(ref, _document(layout, data, after, slot, None))

        await _contended(layout, ref, body)

    async def get_ledger(self, job_id: str) -> Ledger | None:
        """The job's ledger, None if it never reserved."""
        data = (await _ref(self._layout, job_id).get()).to_dict()
        return None if data is None else _ledger(data)
