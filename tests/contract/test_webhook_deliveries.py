"""Webhook deliveries in every job store: created once, each attempt recorded by compare-and-set."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest

from promptforge.core.models import DeliveryState, WebhookDelivery
from tests.contract._jobstore_data import T0, make_job
from tests.contract.conftest import ListingJobStore

pytestmark = pytest.mark.anyio


def delivery(**changes: object) -> WebhookDelivery:
    base = WebhookDelivery(
        job_id="job-1",
        webhook_id="msg_0123456789abcdef",
        event_type="job.completed",
        body='{"type":"job.completed","data":{"job_id":"job-1","note":"ünïcode"}}',
        created_at=T0,
        next_attempt_at=T0,
    )
    return replace(base, **changes)


async def test_the_job_keeps_its_webhook_url_and_secret(store: ListingJobStore) -> None:
    job = make_job(webhook_url="https://hooks.example.com/pf?x=1", webhook_secret="whsec_abc=")
    await store.create_job(job)
    assert await store.get_job("job-1") == job


async def test_a_delivery_is_created_once_and_read_back_whole(store: ListingJobStore) -> None:
    await store.create_job(make_job())
    first = delivery()
    assert await store.add_webhook_delivery(first) == first
    again = delivery(body="{}", created_at=T0 + timedelta(seconds=9))
    assert await store.add_webhook_delivery(again) == first  # the stored one wins
    assert await store.get_webhook_delivery("job-1", first.webhook_id) == first
    assert await store.get_webhook_delivery("job-1", "msg_other") is None
    assert await store.get_webhook_delivery("job-2", first.webhook_id) is None


async def test_each_attempt_is_recorded_once(store: ListingJobStore) -> None:
    await store.create_job(make_job())
    await store.add_webhook_delivery(delivery())
    tried = delivery(
        attempts=1,
        last_status=500,
        last_error="the receiver answered HTTP 500",
        next_attempt_at=T0 + timedelta(seconds=5, microseconds=7),
    )
    assert await store.update_webhook_delivery(tried, expected_attempts=0)
    assert not await store.update_webhook_delivery(tried, expected_attempts=0)  # a replay
    assert await store.get_webhook_delivery("job-1", tried.webhook_id) == tried
    done = replace(
        tried,
        attempts=2,
        state=DeliveryState.DELIVERED,
        last_status=200,
        last_error=None,
        next_attempt_at=None,
        ended_at=T0 + timedelta(seconds=6),
    )
    assert await store.update_webhook_delivery(done, expected_attempts=1)
    assert await store.get_webhook_delivery("job-1", done.webhook_id) == done
    late = replace(done, attempts=3, state=DeliveryState.FAILED)
    assert not await store.update_webhook_delivery(late, expected_attempts=2)  # ended


async def test_concurrent_records_of_one_attempt_let_one_win(store: ListingJobStore) -> None:
    await store.create_job(make_job())
    await store.add_webhook_delivery(delivery())
    versions = [delivery(attempts=1, last_status=status) for status in (500, 502, 503, 504)]
    won = await asyncio.gather(
        *(store.update_webhook_delivery(v, expected_attempts=0) for v in versions)
    )
    assert sorted(won) == [False, False, False, True]
    stored = await store.get_webhook_delivery("job-1", versions[0].webhook_id)
    assert stored == versions[won.index(True)]
