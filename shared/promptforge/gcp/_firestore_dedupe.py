"""The Firestore side of ``core.dedupe``: who holds a request key, and one outcome by key.

A request key's holder is an item of the job like a prompt (``items/{sha256("r:" + key)}``,
so it shares the items' TTL policy): ``key`` and ``holder``, and neither ``prompt_line``
nor ``kind``, so no prompt or outcome query ever returns it.
"""

from __future__ import annotations

import json

from google.cloud.firestore import AsyncTransaction

from promptforge.core.models import Outcome, OutcomeKind
from promptforge.gcp._firestore_layout import Layout
from promptforge.gcp._firestore_tx import read_documents, run_transaction

REQUEST_PREFIX = "r:"


async def claim_request(layout: Layout, job_id: str, request_key: str, prompt_id: str) -> str:
    """Create the key's item holding ``prompt_id`` unless it exists; the holder stored."""
    key = REQUEST_PREFIX + request_key
    ref = layout.item(job_id, key)

    async def body(transaction: AsyncTransaction) -> str:
        data = (await read_documents(layout.client, [ref], transaction))[ref.path].to_dict()
        if data is not None:
            return str(data["holder"])
        transaction.create(ref, {"key": key, "holder": prompt_id} | layout.expiry())
        return prompt_id

    return await run_transaction(layout.client, body)


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
