"""Signed webhooks: the secret, the URL rules, and each attempt against a real receiver.

The handler runs on the embedded runtime's stores with its dispatcher stopped, so each
attempt is one explicit call; the receiver is a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from standardwebhooks import Webhook

from promptforge.clock import SystemClock
from promptforge.core.auth import create_api_key
from promptforge.core.deps import CONTROL_QUEUE
from promptforge.core.models import DeliveryState, JobError, JobStatus, WebhookDelivery
from promptforge.core.requests import InitRequest
from promptforge.core.service import init_job
from promptforge.core.tasknames import TaskTarget
from promptforge.core.webhooks import (
    RETRY_DELAYS,
    check_webhook_url,
    handle_webhook,
    new_webhook_secret,
    on_job_ended,
    webhook_id_for,
)
from promptforge.embedded.runtime import EmbeddedRuntime
from promptforge.errors import BadRequest
from promptforge.settings import Settings
from promptforge.tasks.base import Delivery
from tests.e2e.receiver import Receiver, receiver
from tests.unit._embedded import idle_runtime

pytestmark = pytest.mark.anyio


def test_a_secret_is_whsec_and_32_random_bytes() -> None:
    secret = new_webhook_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert secret != new_webhook_secret()
    Webhook(secret)  # the reference library takes it as it is


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/computeMetadata/v1/",
        "http://100.64.0.1/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[fe80::1]/hook",
        "http://0.0.0.0/hook",
        "http://224.0.0.1/hook",
    ],
)
async def test_urls_reaching_a_non_public_address_are_refused(url: str) -> None:
    with pytest.raises(BadRequest) as refused:
        await check_webhook_url(url, allow_private=False)
    assert refused.value.code == "private_webhook_url"
    assert "not a public address" in refused.value.message
    await check_webhook_url(url, allow_private=True)  # what tests and local receivers use


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "https:///no-host",
        "https://user:pass@example.com/hook",
        "https://example.com:99999/hook",
        "hooks.example.com/no-scheme",
        "https://example.com/" + "x" * 2100,
        "https://no-such-host.invalid/hook",
    ],
)
async def test_unusable_urls_are_refused(url: str) -> None:
    with pytest.raises(BadRequest) as refused:
        await check_webhook_url(url, allow_private=True)
    assert refused.value.code == "invalid_webhook_url"


async def test_a_public_address_is_accepted() -> None:
    await check_webhook_url("https://93.184.215.14:8443/hooks?x=1", allow_private=False)


# --- attempts -----------------------------------------------------------------------------------


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[EmbeddedRuntime]:
    """The embedded stores, dispatcher not started: the test makes each attempt itself."""
    async with idle_runtime(Settings(data_dir=tmp_path, webhook_allow_private=True)) as built:
        yield built


async def ended_job(runtime: EmbeddedRuntime, url: str) -> tuple[str, str]:
    """A job with a webhook that just FAILED (its upload never came); (job_id, secret)."""
    created = await init_job(
        runtime.deps,
        "tenant-w",
        InitRequest(provider="openai", model="gpt-4o-mini", webhook_url=url),
    )
    job_id = str(created["job_id"])
    assert await runtime.store.transition(
        job_id,
        JobStatus.WAITING_FOR_UPLOAD,
        JobStatus.FAILED,
        completed_at=runtime.clock.now(),
        error=JobError("upload_expired", "no upload"),
    )
    await on_job_ended(runtime.deps, job_id)
    return job_id, str(created["webhook_secret"])


async def attempt(runtime: EmbeddedRuntime, job_id: str, number: int) -> int:
    payload = {
        "job_id": job_id,
        "webhook_id": webhook_id_for(job_id, "job.failed"),
        "attempt": number,
    }
    result = await handle_webhook(
        runtime.deps, Delivery(CONTROL_QUEUE, TaskTarget.WEBHOOK, "t", payload, attempt=1)
    )
    return result.status


async def stored(runtime: EmbeddedRuntime, job_id: str) -> WebhookDelivery:
    record = await runtime.store.get_webhook_delivery(job_id, webhook_id_for(job_id, "job.failed"))
    assert record is not None
    return record


def verify(sink: Receiver, secret: str) -> list[dict[str, object]]:
    """Every request verified with the reference library: the parsed events."""
    return [Webhook(secret).verify(r.body, r.headers) for r in sink.received]


async def test_a_failed_attempt_is_retried_with_the_same_id_and_a_valid_signature(
    runtime: EmbeddedRuntime,
) -> None:
    with receiver([500, 200]) as sink:
        job_id, secret = await ended_job(runtime, sink.url)
        assert await runtime.tasks.pending(CONTROL_QUEUE) >= 1  # attempt 1 is queued
        assert await attempt(runtime, job_id, 1) == 200
        first = await stored(runtime, job_id)
        assert (first.attempts, first.state, first.last_status) == (1, DeliveryState.PENDING, 500)
        assert first.next_attempt_at is not None
        wait = (first.next_attempt_at - runtime.clock.now()).total_seconds()
        assert RETRY_DELAYS[0] * 0.85 <= wait <= RETRY_DELAYS[0] * 1.1
        assert await attempt(runtime, job_id, 1) == 200  # a replayed task: nothing sent
        assert await attempt(runtime, job_id, 3) == 409  # ahead of its record: later (not 503,
        # which would slow the whole control queue)
        assert len(sink.received) == 1
        assert await attempt(runtime, job_id, 2) == 200
        events = verify(sink, secret)
    done = await stored(runtime, job_id)
    assert (done.attempts, done.state, done.last_status) == (2, DeliveryState.DELIVERED, 200)
    ids = {r.headers["webhook-id"] for r in sink.received}
    assert ids == {webhook_id_for(job_id, "job.failed")}
    assert events[0] == events[1]
    event = events[0]
    assert event["type"] == "job.failed"
    data = event["data"]
    assert isinstance(data, dict)
    assert data["job_id"] == job_id and data["status"] == "FAILED"
    assert data["error"] == {"code": "upload_expired", "message": "no upload"}
    assert "webhook_secret" not in sink.received[0].body.decode()
    assert sink.received[0].body == done.body.encode()  # the stored bytes, signed as sent


async def test_on_job_ended_twice_makes_one_delivery(runtime: EmbeddedRuntime) -> None:
    with receiver([200]) as sink:
        job_id, _ = await ended_job(runtime, sink.url)
        before = await runtime.tasks.pending(CONTROL_QUEUE)
        await on_job_ended(runtime.deps, job_id)
        assert await runtime.tasks.pending(CONTROL_QUEUE) == before  # the named task exists
        assert await attempt(runtime, job_id, 1) == 200
        await on_job_ended(runtime.deps, job_id)  # after the attempt: no new one
        assert await attempt(runtime, job_id, 1) == 200
    assert len(sink.received) == 1


async def test_410_gone_and_the_end_of_the_schedule_give_up(runtime: EmbeddedRuntime) -> None:
    with receiver([410]) as sink:
        job_id, _ = await ended_job(runtime, sink.url)
        await attempt(runtime, job_id, 1)
    gone = await stored(runtime, job_id)
    assert (gone.state, gone.last_status) == (DeliveryState.FAILED, 410)
    with receiver([503]) as sink:
        job_id, _ = await ended_job(runtime, sink.url)
        last = len(RETRY_DELAYS) + 1
        record = await stored(runtime, job_id)
        assert await runtime.store.update_webhook_delivery(
            replace(record, attempts=last - 1), expected_attempts=0
        )
        await attempt(runtime, job_id, last)
    exhausted = await stored(runtime, job_id)
    assert (exhausted.state, exhausted.attempts) == (DeliveryState.FAILED, last)
    assert exhausted.last_error == "the receiver answered HTTP 503"


async def test_a_retry_after_longer_than_the_schedule_is_honoured(
    runtime: EmbeddedRuntime,
) -> None:
    with receiver([429], headers={"Retry-After": "120"}) as sink:
        job_id, _ = await ended_job(runtime, sink.url)
        await attempt(runtime, job_id, 1)
    first = await stored(runtime, job_id)
    assert first.next_attempt_at is not None and first.last_status == 429
    assert first.next_attempt_at - runtime.clock.now() > timedelta(seconds=115)


async def test_a_url_refused_at_send_time_fails_without_a_request(
    runtime: EmbeddedRuntime,
) -> None:
    with receiver([200]) as sink:
        job_id, _ = await ended_job(runtime, sink.url)  # accepted: private allowed at init
        runtime.deps.config = replace(runtime.deps.config, webhook_allow_private=False)
        assert await attempt(runtime, job_id, 1) == 200
    refused = await stored(runtime, job_id)
    assert refused.state is DeliveryState.FAILED and refused.last_status is None
    assert "not a public address" in (refused.last_error or "")
    assert sink.received == []


async def test_init_refuses_a_private_url_and_returns_a_secret_for_a_good_one(
    tmp_path: Path,
) -> None:
    async with idle_runtime(Settings(data_dir=tmp_path)) as runtime:  # no private addresses
        key, _ = await create_api_key(runtime.store, SystemClock(), "tenant-w")
        transport = httpx.ASGITransport(app=runtime.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://pf") as client:
            body = {"provider": "openai", "model": "gpt-4o-mini"}
            private = await client.post(
                "/v1/jobs/init",
                headers={"X-API-Key": key},
                json={**body, "webhook_url": "http://127.0.0.1:9/hook"},
            )
            plain = await client.post("/v1/jobs/init", headers={"X-API-Key": key}, json=body)
        assert private.status_code == 400
        assert private.json()["error"]["code"] == "private_webhook_url"
        assert plain.status_code == 202 and "webhook_secret" not in plain.json()
        assert len(await runtime.store.list_jobs("tenant-w")) == 1
        created = await init_job(
            replace(runtime.deps, config=replace(runtime.deps.config, webhook_allow_private=True)),
            "tenant-w",
            InitRequest(provider="openai", model="gpt-4o-mini", webhook_url="http://127.0.0.1:9/h"),
        )
        job = await runtime.store.get_job(str(created["job_id"]))
        assert job is not None and job.webhook_secret == created["webhook_secret"]
        assert json.loads(json.dumps(created))["webhook_secret"].startswith("whsec_")
