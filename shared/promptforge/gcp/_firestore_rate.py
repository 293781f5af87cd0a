"""Rate-control records in Firestore: append-only observations and the controller's state.

Workers append the observations of one call of ``append`` (a prompt's provider call, or
a chunk's checkpoint) as a new document with a random id under
``{prefix}_rate_keys/{key}/observations``: nothing is ever rewritten, so appends
scale with the number of writers, not with one document's write rate. The controller
drains them in transactions of at most ``DRAIN_CHUNK`` documents (read, then delete what
was read), so two drains never both return one observation. Documents are visited by id
once per drain, so a drain ends even while workers keep appending; what lands behind its
cursor waits for the next one. The drained list is sorted by commit time (then by the
appending call's clock and position) to give oldest-first order without an index on a
monotonically increasing field.

The key's state is a log of versions (``states/{version:012d}``), not one document: a
save of version ``n + 1`` creates its document and deletes version ``n``'s in one
commit, with preconditions (create: absent; delete: present), so it lands only while
``n`` is current (the compare-and-set ``core.ratestate.update_rate_state`` relies on)
and one document stays, beside the empty marker the first save creates
(``states/000000000000``: what a writer that read no state at all must fail to create).
Each document takes one write and one delete over its life, however long the key runs;
the state is still written once per control period, now spread over documents
(``docs/scale.md``, "Hottest documents"). A read is one query for the highest
``version`` (billed one read, like a get; its single-field index is automatic). A key
saved before states were versioned has its state in the rate key's own document: it is
read as version 0, and deleted by the first save.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from google.api_core.exceptions import AlreadyExists, FailedPrecondition, NotFound
from google.cloud.firestore import (
    SERVER_TIMESTAMP,
    AsyncQuery,
    AsyncTransaction,
    Query,
)

from promptforge.core.ratestate import RateKeyState
from promptforge.gcp._firestore_layout import Layout
from promptforge.gcp._firestore_tx import WRITE_CHUNK, Snapshot, run_transaction
from promptforge.jobstore.fields import dumps
from promptforge.ratecontrol.base import Observation

DRAIN_CHUNK = 400
"""Observation documents read and deleted per drain transaction."""
PER_DOCUMENT = 500
"""Observations per document (about 200 bytes each: far under Firestore's 1 MiB)."""
VERSION = "version"
"""A state document's version, the field its newest is found by (the emulator, unlike
Firestore, cannot order document ids descending)."""


async def append(layout: Layout, rate_key: str, observations: Sequence[Observation]) -> None:
    """Queue observations: one new document per ``PER_DOCUMENT`` of them (a chunk's
    checkpoint is one write, one read and one delete, not one per call)."""
    collection = layout.observations(rate_key)
    call = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"  # orders one process's calls
    documents = range(0, len(observations), PER_DOCUMENT)
    for start in range(0, len(documents), WRITE_CHUNK):
        batch = layout.client.batch()
        for n in documents[start : start + WRITE_CHUNK]:
            group = [o.to_dict() for o in observations[n : n + PER_DOCUMENT]]
            fields = {
                "data": dumps(group),
                "appended_at": SERVER_TIMESTAMP,
                "call": call,
                "n": n,
                **layout.expiry(),
            }
            batch.create(collection.document(), fields)
        await batch.commit()


async def drain(layout: Layout, rate_key: str) -> list[Observation]:
    """Take and delete every queued observation of ``rate_key``, oldest first."""
    collection = layout.observations(rate_key)
    taken: list[dict[str, Any]] = []
    after: Snapshot | None = None
    while True:
        query = collection.order_by("__name__").limit(DRAIN_CHUNK)
        chunk = await _take(layout, query if after is None else query.start_after(after))
        taken.extend(snapshot.to_dict() or {} for snapshot in chunk)
        if len(chunk) < DRAIN_CHUNK:
            break
        after = chunk[-1]
    taken.sort(key=_order)
    return [Observation.from_dict(item) for data in taken for item in _items(data["data"])]


async def _take(layout: Layout, query: AsyncQuery) -> list[Snapshot]:
    """Read the documents of ``query`` and delete them, in one transaction."""

    async def body(transaction: AsyncTransaction) -> list[Snapshot]:
        snapshots = [snapshot async for snapshot in await transaction.get(query)]
        for snapshot in snapshots:
            transaction.delete(snapshot.reference)
        return snapshots

    return await run_transaction(layout.client, body)


async def load_state(layout: Layout, rate_key: str) -> RateKeyState | None:
    """The current state of ``rate_key``: its highest version (``version`` set)."""
    newest = layout.rate_states(rate_key).order_by(VERSION, direction=Query.DESCENDING)
    async for snapshot in newest.limit(1).stream():
        return _decode(snapshot.to_dict(), int(snapshot.get(VERSION)))
    legacy = await layout.rate_key(rate_key).get()  # saved before states were versioned
    return _decode(legacy.to_dict(), 0)


async def save_state(layout: Layout, rate_key: str, state: RateKeyState) -> bool:
    """Create version ``state.version + 1`` and delete ``state.version`` in one commit;
    False (nothing written) if the next version exists or the read one is gone."""
    states = layout.rate_states(rate_key)
    batch = layout.client.batch()
    version = state.version + 1
    document = {
        "rate_key": rate_key,
        VERSION: version,
        "state": dumps(state.to_dict()),
        **layout.expiry(),
    }
    batch.create(states.document(_version_id(version)), document)
    if state.version:
        present = layout.client.write_option(exists=True)
        batch.delete(states.document(_version_id(state.version)), option=present)
    else:
        # Version 0 has no document to delete: the first save creates a marker that stays,
        # so a writer that read "nothing yet" fails once anyone has saved.
        marker = {"rate_key": rate_key, VERSION: 0, **layout.expiry()}
        batch.create(states.document(_version_id(0)), marker)
        batch.delete(layout.rate_key(rate_key))  # a state saved before versions, if any
    try:
        await batch.commit()
    except (AlreadyExists, FailedPrecondition, NotFound):
        return False
    return True


def _version_id(version: int) -> str:
    """A version's document id: zero-padded, so ids sort as the versions do."""
    return f"{version:012d}"


def _decode(data: dict[str, Any] | None, version: int) -> RateKeyState | None:
    if data is None or "state" not in data:  # none, or the first save's marker
        return None
    return dataclasses.replace(RateKeyState.from_dict(json.loads(data["state"])), version=version)


def _items(data: str) -> list[dict[str, Any]]:
    """The observations of one document: a list (or, written before chunks, one)."""
    decoded = json.loads(data)
    return decoded if isinstance(decoded, list) else [decoded]


def _order(data: dict[str, Any]) -> tuple[datetime, str, int]:
    return data["appended_at"], str(data["call"]), int(data["n"])
