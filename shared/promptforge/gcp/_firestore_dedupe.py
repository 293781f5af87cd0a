"""The Firestore side of ``core.dedupe``: who holds a request key, who waits for its answer,
and one outcome by key.

Both are items of the job like a prompt (so they share the items' TTL policy), with
neither ``prompt_line`` nor ``kind``, so no prompt or outcome query ever returns them: a
request key's holder is ``items/{sha256("r:" + key)}`` (``key``, ``holder``), a waiting
prompt ``items/{sha256("w:" + key + ":" + prompt_id)}`` (``key``, ``waits_for``,
``waiter``, ``waiter_line``), found by ``waits_for`` (an automatic single-field index).
"""

from __future__ import annotations

from google.api_core.exceptions import AlreadyExists
from google.cloud.firestore import FieldFilter

from promptforge.core.models import Outcome
from promptforge.gcp import _firestore_chunks as chunks
from promptforge.gcp._firestore_items import outcome_of
from promptforge.gcp._firestore_layout import Layout

REQUEST_PREFIX = "r:"
WAITER_PREFIX = "w:"


async def claim_request(layout: Layout, job_id: str, request_key: str, prompt_id: str) -> str:
    """Create the key's item holding ``prompt_id`` unless it exists; the holder stored.

    A create, not a transaction: it fails if the document exists, so any number of copies
    claiming at once agree without contending for a lock.
    """
    key = REQUEST_PREFIX + request_key
    ref = layout.item(job_id, key)
    try:
        await ref.create({"key": key, "holder": prompt_id} | layout.expiry())
    except AlreadyExists:
        data = (await ref.get()).to_dict() or {}
        return str(data["holder"])
    return prompt_id


async def await_request(
    layout: Layout, job_id: str, request_key: str, prompt_id: str, line: int
) -> None:
    """Write the waiter's item (the same item each time: idempotent)."""
    key = f"{WAITER_PREFIX}{request_key}:{prompt_id}"
    fields = {"key": key, "waits_for": request_key, "waiter": prompt_id, "waiter_line": line}
    await layout.item(job_id, key).set(fields | layout.expiry())


async def request_waiters(layout: Layout, job_id: str, request_key: str) -> list[tuple[str, int]]:
    """Every waiter of ``request_key`` in the job."""
    query = layout.items(job_id).where(filter=FieldFilter("waits_for", "==", request_key))
    waiters: list[tuple[str, int]] = []
    async for snapshot in query.select(["waiter", "waiter_line"]).stream():
        data = snapshot.to_dict() or {}
        waiters.append((str(data["waiter"]), int(data["waiter_line"])))
    return waiters


async def get_outcome(layout: Layout, job_id: str, key: str) -> Outcome | None:
    """The outcome recorded under ``key``, or None (a prompt with no outcome yet included)."""
    data = (await layout.item(job_id, key).get()).to_dict()
    if data is not None and data.get("chunked"):  # its chunk published it in an outcome set
        return await chunks.get_set_outcome(layout, job_id, key)
    if data is None or "kind" not in data:
        return None
    return outcome_of(data)
