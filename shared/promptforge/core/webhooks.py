"""Signed webhooks when a job ends, per the Standard Webhooks spec (www.standardwebhooks.com).

A job created with a ``webhook_url`` gets a secret (``whsec_`` + base64 of 32 random
bytes, shown once by init). When the job ends, ``on_job_ended`` (called by every path
that ends a job: finalize, the failures of ingest and upload expiry, cancel) stores one
delivery per event in the job store and enqueues its first attempt, a ``webhook`` task.
Each attempt POSTs the stored body ``{type, timestamp, data}`` with ``webhook-id`` (the
same on every attempt), ``webhook-timestamp`` (the attempt's) and ``webhook-signature``
(HMAC-SHA256 of ``id.timestamp.body``, made by the ``standardwebhooks`` package).

A 2xx ends the delivery. Anything else (another status, a timeout, a refused
connection) is tried again after ``RETRY_DELAYS`` (the spec's schedule, cut at about a
day: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, each ±10 %, or later when the receiver
sends ``Retry-After``); 410 Gone, a URL that now resolves to a non-public address, or
the end of the schedule fail it. Replays are harmless: the delivery is created once
(its id derives from the job and the event), the next attempt's task is enqueued
before the attempt is recorded (a compare-and-set on ``attempts``), and a task whose
attempt is already recorded does nothing. Deliveries live in the job store and attempts
in the durable task queue, so a restart loses none; a receiver may see an attempt twice
(at-least-once, as the spec says) and dedupes by ``webhook-id``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import random
import secrets
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from standardwebhooks import Webhook

from promptforge.clock import isoformat
from promptforge.core.deps import CONTROL_QUEUE, Deps
from promptforge.core.models import DeliveryState, Job, WebhookDelivery
from promptforge.core.tasknames import webhook_task_name
from promptforge.core.webhook_target import SendResult, check_webhook_url, post
from promptforge.errors import BadRequest
from promptforge.tasks.base import NOT_YET, Delivery, HandlerResult, Task

__all__ = [
    "RETRY_DELAYS",
    "WEBHOOK_TARGET",
    "check_webhook_url",
    "handle_webhook",
    "new_webhook_secret",
    "on_job_ended",
]

log = logging.getLogger(__name__)

WEBHOOK_TARGET = "webhook"
"""The task target that makes one delivery attempt (served with the control queue's targets)."""

RETRY_DELAYS: tuple[float, ...] = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
"""Seconds before attempts 2, 3, …: eight attempts over about 27.6 hours."""

MAX_RETRY_AFTER = 86_400.0
"""The longest ``Retry-After`` a receiver may ask for."""

EVENT_TYPES = {"COMPLETED": "job.completed", "FAILED": "job.failed", "CANCELLED": "job.cancelled"}
"""The event each final status sends."""

SECRET_BYTES = 32
"""Random bytes in a webhook secret (the spec asks for 24 to 64)."""


def new_webhook_secret() -> str:
    """A new signing secret in the spec's form: ``whsec_`` and base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def webhook_id_for(job_id: str, event_type: str) -> str:
    """The ``webhook-id`` of a job's event: derived, so a replayed end creates no second one."""
    digest = hashlib.sha256(f"{job_id}\x00{event_type}".encode()).hexdigest()[:32]
    return f"msg_{digest}"


def event_payload(job: Job, event_type: str) -> dict[str, Any]:
    """The event: ``type``, ``timestamp`` (when the job ended) and the job's counts in ``data``."""
    return {
        "type": event_type,
        "timestamp": isoformat(job.completed_at or job.created_at),
        "data": {
            "job_id": job.job_id,
            "status": job.status.value,
            "provider": job.provider,
            "model": job.model,
            "prompt_count": job.prompt_count,
            "completed_count": job.completed_count,
            "failed_count": job.failed_count,
            "created_at": isoformat(job.created_at),
            "completed_at": isoformat(job.completed_at),
            "error": job.error.to_dict() if job.error is not None else None,
        },
    }


def signed_headers(secret: str, webhook_id: str, body: bytes, now: datetime) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt."""
    return {
        "content-type": "application/json",
        "user-agent": "PromptForge-Webhooks/1.0",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, now, body),
    }


async def on_job_ended(deps: Deps, job_id: str) -> None:
    """Queue the job's end event for its webhook, if it has one; safe to call again."""
    job = await deps.store.get_job(job_id)
    if job is None or not job.status.final or job.webhook_url is None:
        return
    event_type = EVENT_TYPES[job.status.value]
    now = deps.clock.now()
    body = json.dumps(event_payload(job, event_type), separators=(",", ":"), ensure_ascii=False)
    delivery = WebhookDelivery(
        job_id=job_id,
        webhook_id=webhook_id_for(job_id, event_type),
        event_type=event_type,
        body=body,
        created_at=now,
        next_attempt_at=now,
    )
    stored = await deps.store.add_webhook_delivery(delivery)
    if stored.state is DeliveryState.PENDING and stored.attempts == 0:
        await deps.tasks.enqueue([_attempt_task(stored, 1, None)])


async def handle_webhook(deps: Deps, delivery: Delivery) -> HandlerResult:
    """Task handler for target ``webhook``: make one attempt, schedule the next if it failed."""
    job_id = str(delivery.payload["job_id"])
    webhook_id = str(delivery.payload["webhook_id"])
    attempt = int(delivery.payload["attempt"])
    record = await deps.store.get_webhook_delivery(job_id, webhook_id)
    if record is None or record.state is not DeliveryState.PENDING or record.attempts >= attempt:
        return HandlerResult(200)  # delivered, given up, or this attempt already made
    if record.attempts < attempt - 1:
        return HandlerResult(NOT_YET)  # the previous attempt is still recording: retry later
    now = deps.clock.now()
    result, final = await _attempt(deps, record, now)
    after = _after(record, attempt, result, now, final=final)
    if after.state is DeliveryState.PENDING:
        await deps.tasks.enqueue([_attempt_task(after, attempt + 1, after.next_attempt_at)])
    if await deps.store.update_webhook_delivery(after, expected_attempts=attempt - 1):
        log.info(
            "job %s: webhook %s attempt %d: %s",
            job_id,
            webhook_id,
            attempt,
            after.state.value if after.state is not DeliveryState.PENDING else after.last_error,
        )
    return HandlerResult(200)


async def _attempt(deps: Deps, record: WebhookDelivery, now: datetime) -> tuple[SendResult, bool]:
    """Send once; the result and whether it is final whatever it was (a refused URL)."""
    job = await deps.store.get_job(record.job_id)
    if job is None or job.webhook_url is None or job.webhook_secret is None:
        return SendResult(None, "the job has no webhook"), True
    body = record.body.encode("utf-8")
    headers = signed_headers(job.webhook_secret, record.webhook_id, body, now)
    try:
        result = await post(
            job.webhook_url,
            body,
            headers,
            now=now,
            allow_private=deps.config.webhook_allow_private,
        )
    except BadRequest as exc:  # the URL is refused now (DNS changed since init)
        return SendResult(None, exc.message), True
    return result, result.status == 410  # 410 Gone: the receiver wants no more


def _after(
    record: WebhookDelivery, attempt: int, result: SendResult, now: datetime, *, final: bool
) -> WebhookDelivery:
    """The delivery once attempt ``attempt`` gave ``result``."""
    done = replace(record, attempts=attempt, last_status=result.status, next_attempt_at=None)
    if result.delivered:
        return replace(done, state=DeliveryState.DELIVERED, last_error=None, ended_at=now)
    error = result.error or f"the receiver answered HTTP {result.status}"
    if final or attempt > len(RETRY_DELAYS):
        return replace(done, state=DeliveryState.FAILED, last_error=error, ended_at=now)
    delay = RETRY_DELAYS[attempt - 1] * random.uniform(0.9, 1.1)
    if result.retry_after is not None:
        delay = max(delay, min(result.retry_after, MAX_RETRY_AFTER))
    return replace(done, last_error=error, next_attempt_at=now + timedelta(seconds=delay))


def _attempt_task(delivery: WebhookDelivery, attempt: int, when: datetime | None) -> Task:
    return Task(
        queue=CONTROL_QUEUE,
        target=WEBHOOK_TARGET,
        payload={"job_id": delivery.job_id, "webhook_id": delivery.webhook_id, "attempt": attempt},
        name=webhook_task_name(delivery.webhook_id, attempt),
        schedule_time=when,
    )
