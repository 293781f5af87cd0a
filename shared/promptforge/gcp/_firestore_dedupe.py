"""The Firestore side of ``core.dedupe``: who holds a request key, and one outcome by key.

A request key's holder is an item of the job like a prompt (``items/{sha256("r:" + key)}``,
so it shares the items' TTL policy): ``key`` and ``holder``, and neither ``prompt_line``
nor ``kind``, so no prompt or outcome query ever returns it.
"""

from __future__ import annotations

import json

from google.api_core.exceptions import AlreadyExists

from promptforge.core.models import Outcome, OutcomeKind
from promptforge.gcp._firestore_layout import Layout

REQUEST_PREFIX = "r:"


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


async def get_outcome(layout: Layout, job_id: str, key: str) -> Outcome | None:
    """The outcome recorded under ``key``, or None (a prompt with no outcome yet included)."""
    data = (await layout.item(job_id, key).get()).to_dict()
    if data is None or "kind" not in data:
        return None
    return Outcome(
        key,
        OutcomeKind(data["kind"]),
        int(data["line"]),
        json.loads(data["record"]),
        int(data["input_tokens"]),
        int(data["output_tokens"]),
    )
