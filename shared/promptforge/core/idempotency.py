"""``Idempotency-Key`` on init: the same key and request within 24 h answer the first job.

The key is remembered per tenant with a hash of the parsed request (so whitespace or field
order do not make two requests differ) and the id of the job about to be created, before
it is created; a retry of a request whose answer was lost then finds the job the first
one made, or creates it under that same id if the first request died before it could
(two such retries racing create it once: the second insert fails and reads the first).
The same key with another request is refused (409), as Stripe and OpenAI do.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from promptforge.core.deps import Deps
from promptforge.core.models import Job
from promptforge.core.requests import InitRequest
from promptforge.errors import BadRequest, Conflict
from promptforge.jobstore.base import IdempotencyRecord

IDEMPOTENCY_TTL = timedelta(hours=24)
MAX_IDEMPOTENCY_KEY_CHARS = 255


def check_idempotency_key(key: str | None) -> str | None:
    """The header's value if it is a usable key (printable ASCII, 1-255 chars), else a 400."""
    if key is None:
        return None
    if not 0 < len(key) <= MAX_IDEMPOTENCY_KEY_CHARS or not key.isascii() or not key.isprintable():
        raise BadRequest(
            "invalid_idempotency_key",
            f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY_CHARS} printable ASCII characters "
            "(a UUID is a good choice)",
        )
    return key


def request_hash(request: InitRequest) -> str:
    """What makes two init requests the same: their parsed fields, in a fixed order."""
    return hashlib.sha256(request.model_dump_json(by_alias=True).encode()).hexdigest()


async def job_for_key(
    deps: Deps, tenant_id: str, key: str, request: InitRequest, new_job_id: str
) -> tuple[str, Job | None]:
    """The job id to create under ``key`` (``new_job_id``, or the id an earlier request with
    it chose but never created, if it died half-way), or the job an earlier request created.
    409 for the key with another body."""
    now = deps.clock.now()
    digest = request_hash(request)
    record = IdempotencyRecord(tenant_id, key, digest, new_job_id, now + IDEMPOTENCY_TTL)
    stored = await deps.store.remember_idempotency_key(record, now)
    if stored.job_id == new_job_id:
        return new_job_id, None
    if stored.body_hash != digest:
        raise Conflict(
            "idempotency_key_reused",
            "this Idempotency-Key was used in the last 24 h with a different request body; "
            "use a new key for a new job",
            details={"job_id": stored.job_id},
        )
    return stored.job_id, await deps.store.get_job(stored.job_id)
