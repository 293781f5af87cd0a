"""Webhook deliveries in Firestore: ``{prefix}_jobs/{job_id}/webhooks/{webhook_id}``.

A job has at most a few events, each one document written once per attempt (hours
apart after the first minutes), far below a document's write rate. ``add`` creates
the document only where none is; ``update`` is a transaction comparing the stored
``attempts`` and ``state``, the SQLite store's compare-and-set.
"""

from __future__ import annotations

from typing import Any

from google.api_core.exceptions import AlreadyExists
from google.cloud.firestore import AsyncTransaction

from promptforge.core.models import DeliveryState, WebhookDelivery
from promptforge.gcp._firestore_codec import from_timestamp
from promptforge.gcp._firestore_layout import Layout
from promptforge.gcp._firestore_tx import read_documents, run_transaction
from promptforge.jobstore.fields import to_utc

_TIMES = ("created_at", "next_attempt_at", "ended_at")


async def add(layout: Layout, delivery: WebhookDelivery) -> WebhookDelivery:
    """Create the document unless it exists; the stored record."""
    ref = layout.webhook(delivery.job_id, delivery.webhook_id)
    try:
        await ref.create(_encode(delivery) | layout.expiry())
    except AlreadyExists:
        stored = await get(layout, delivery.job_id, delivery.webhook_id)
        if stored is not None:
            return stored
        raise
    return delivery


async def get(layout: Layout, job_id: str, webhook_id: str) -> WebhookDelivery | None:
    """The stored delivery, or None."""
    data = (await layout.webhook(job_id, webhook_id).get()).to_dict()
    return None if data is None else _decode(job_id, webhook_id, data)


async def update(layout: Layout, delivery: WebhookDelivery, expected_attempts: int) -> bool:
    """Replace the document if it is PENDING at ``expected_attempts``."""
    ref = layout.webhook(delivery.job_id, delivery.webhook_id)
    values = _encode(delivery) | layout.expiry()

    async def body(transaction: AsyncTransaction) -> bool:
        data = (await read_documents(layout.client, [ref], transaction))[ref.path].to_dict()
        if (
            data is None
            or data["attempts"] != expected_attempts
            or data["state"] != DeliveryState.PENDING.value
        ):
            return False
        transaction.set(ref, values)
        return True

    return await run_transaction(layout.client, body)


def _encode(delivery: WebhookDelivery) -> dict[str, Any]:
    values: dict[str, Any] = {
        "event_type": delivery.event_type,
        "body": delivery.body,
        "attempts": delivery.attempts,
        "state": DeliveryState(delivery.state).value,
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
    }
    for name in _TIMES:
        moment = getattr(delivery, name)
        values[name] = None if moment is None else to_utc(moment)
    return values


def _decode(job_id: str, webhook_id: str, data: dict[str, Any]) -> WebhookDelivery:
    times = {
        name: None if data.get(name) is None else from_timestamp(data[name]) for name in _TIMES
    }
    return WebhookDelivery(
        job_id=job_id,
        webhook_id=webhook_id,
        event_type=str(data["event_type"]),
        body=str(data["body"]),
        attempts=int(data["attempts"]),
        state=DeliveryState(data["state"]),
        last_status=data.get("last_status"),
        last_error=data.get("last_error"),
        created_at=times["created_at"] or from_timestamp(data["created_at"]),
        next_attempt_at=times["next_attempt_at"],
        ended_at=times["ended_at"],
    )
