"""Idempotency-Key on init, in process against the embedded runtime's app."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from promptforge.clock import SystemClock
from promptforge.core.auth import create_api_key, hash_key
from promptforge.core.idempotency import IDEMPOTENCY_TTL, request_hash
from promptforge.core.requests import parse_init_request
from promptforge.embedded.runtime import EmbeddedRuntime
from promptforge.jobstore.base import IdempotencyRecord
from promptforge.settings import Settings

pytestmark = pytest.mark.anyio

BODY = b'{"provider": "openai", "model": "gpt-4o-mini", "name": "n"}'


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[EmbeddedRuntime, httpx.AsyncClient, str]]:
    async with EmbeddedRuntime(Settings(data_dir=tmp_path)) as runtime:
        key, _ = await create_api_key(runtime.store, SystemClock(), "tenant")
        transport = httpx.ASGITransport(app=runtime.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://pf") as client:
            yield runtime, client, key


async def _init(client: httpx.AsyncClient, key: str, idem: str, body: bytes) -> httpx.Response:
    return await client.post(
        "/v1/jobs/init",
        content=body,
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": idem},
    )


async def test_the_same_key_and_body_answer_one_job(
    api: tuple[EmbeddedRuntime, httpx.AsyncClient, str],
) -> None:
    _, client, key = api
    first = await _init(client, key, "k1", BODY)
    spaced = await _init(client, key, "k1", BODY.replace(b", ", b",   "))  # same JSON
    assert first.status_code == spaced.status_code == 202
    assert first.json()["job_id"] == spaced.json()["job_id"]
    other = await _init(client, key, "k1", BODY.replace(b'"n"', b'"m"'))
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
    fresh = await _init(client, key, "k2", BODY)
    assert fresh.json()["job_id"] != first.json()["job_id"]
    bad = await _init(client, key, "\x7f", BODY)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_idempotency_key"


async def test_a_retry_creates_the_job_a_dead_first_request_never_did(
    api: tuple[EmbeddedRuntime, httpx.AsyncClient, str],
) -> None:
    runtime, client, key = api
    record = await runtime.store.find_api_key(hash_key(key))
    assert record is not None
    orphan = str(uuid.uuid4())  # the first request remembered the key, then died
    now = runtime.clock.now()
    digest = request_hash(parse_init_request(BODY))
    await runtime.store.remember_idempotency_key(
        IdempotencyRecord(record.tenant_id, "k3", digest, orphan, now + IDEMPOTENCY_TTL),
        now - timedelta(seconds=1),
    )
    retry = await _init(client, key, "k3", BODY)
    assert retry.status_code == 202, retry.text
    assert retry.json()["job_id"] == orphan
    assert await runtime.store.get_job(orphan) is not None


def _hash(key: str) -> str:
    from promptforge.core.auth import hash_key

    return hash_key(key)
