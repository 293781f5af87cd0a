"""API keys: shown once at creation, stored only as a SHA-256 hash, checked in constant time.

A presented key is found by its hash (an indexed lookup), never by comparing it with
stored keys one by one. The lookup's timing can depend on the stored hashes, but what it
could reveal is at most a stored *hash*: the key behind it carries 256 random bits, so
the hash is no help in forging it (SHA-256 is preimage resistant). The found record's
hash is then compared with ``hmac.compare_digest``, which costs nothing and keeps a store
whose lookup is looser than byte equality from letting a near-miss through.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid

from promptforge.clock import Clock
from promptforge.errors import Unauthorized
from promptforge.jobstore.base import ApiKeyRecord, JobStore

KEY_PREFIX = "pf_"


def hash_key(api_key: str) -> str:
    """The stored form of a key. Keys carry 256 random bits, so a plain hash is enough."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


async def create_api_key(store: JobStore, clock: Clock, tenant_id: str) -> tuple[str, ApiKeyRecord]:
    """Create a key for ``tenant_id``; returns the key (shown once) and its stored record."""
    api_key = KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKeyRecord(
        key_hash=hash_key(api_key),
        key_id=uuid.uuid4().hex[:12],
        tenant_id=tenant_id,
        created_at=clock.now(),
    )
    await store.save_api_key(record)
    return api_key, record


async def authenticate(store: JobStore, api_key: str | None) -> str:
    """The tenant that owns ``api_key``, or ``Unauthorized`` saying what is wrong."""
    return (await authenticate_key(store, api_key)).tenant_id


async def authenticate_key(store: JobStore, api_key: str | None) -> ApiKeyRecord:
    """The stored record of a valid, unrevoked ``api_key``, or ``Unauthorized``."""
    if not api_key:
        raise Unauthorized(
            "missing_api_key", "send your PromptForge API key in the X-API-Key header"
        )
    digest = hash_key(api_key)
    record = await store.find_api_key(digest)
    if record is None or not hmac.compare_digest(record.key_hash, digest) or record.revoked:
        raise Unauthorized(
            "invalid_api_key", "the X-API-Key is not valid (unknown or revoked); check the key"
        )
    return record
