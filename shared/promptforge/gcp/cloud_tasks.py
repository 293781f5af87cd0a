"""The task queue on Cloud Tasks: a queue per rate key, HTTP tasks with OIDC tokens, hashed names.

Every task is an HTTP POST of ``{"target": ..., "payload": ...}``: ``worker`` tasks go
to the worker function, every other target to the controller function, each with an
OIDC token for ``service_account`` whose audience is the function's URL. Named tasks
are idempotent: ``ALREADY_EXISTS`` (the name was used within about an hour) counts as
success, which is also what makes retrying a failed ``CreateTask`` safe. Cloud Tasks
chooses ``max_burst_size`` itself (the API field is output-only), caps a queue at 500
dispatches/s and 5,000 concurrent dispatches; larger requests are clamped here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import grpc  # type: ignore[import-untyped]
from google.api_core import exceptions as google_exceptions
from google.api_core import retry_async
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcAsyncIOTransport

from promptforge.core.tasknames import TaskTarget
from promptforge.tasks.base import QueueConfig, Task

log = logging.getLogger(__name__)

MAX_DISPATCHES_PER_SECOND = 500.0
MAX_CONCURRENT_DISPATCHES = 5000
WORKER_TARGETS = frozenset({TaskTarget.WORKER, TaskTarget.CHUNK})
"""What the worker function serves; every other target goes to the controller."""
LONG_TARGETS = frozenset(
    {TaskTarget.INGEST, TaskTarget.SLICE, TaskTarget.FINALIZE, TaskTarget.FINALIZE_STEP}
)
"""Targets that stream whole files: they get the longest dispatch deadline Cloud Tasks allows."""
LONG_DEADLINE = timedelta(minutes=30)

_RATE_FIELDS = (
    "rate_limits.max_dispatches_per_second",
    "rate_limits.max_concurrent_dispatches",
    "retry_config.max_attempts",
    "retry_config.min_backoff",
    "retry_config.max_backoff",
    "retry_config.max_doublings",
)

_TRANSIENT = retry_async.if_exception_type(
    google_exceptions.ServiceUnavailable,
    google_exceptions.DeadlineExceeded,
    google_exceptions.InternalServerError,
    google_exceptions.ResourceExhausted,
)
_NAMED_TASK_RETRY = retry_async.AsyncRetry(
    predicate=_TRANSIENT, initial=0.2, maximum=5.0, multiplier=2.0, timeout=60.0
)
"""CreateTask is not idempotent in general, but it is for named tasks: retry those."""


def emulator_client(host: str) -> tasks_v2.CloudTasksAsyncClient:
    """A client on a Cloud Tasks emulator at ``host:port`` (plain gRPC, no credentials)."""
    channel = grpc.aio.insecure_channel(host)
    return tasks_v2.CloudTasksAsyncClient(transport=CloudTasksGrpcAsyncIOTransport(channel=channel))


class CloudTasksQueue:
    """``TaskQueue`` on Cloud Tasks."""

    def __init__(
        self,
        client: tasks_v2.CloudTasksAsyncClient,
        *,
        project: str,
        location: str,
        worker_url: str,
        controller_url: str,
        service_account: str | None,
        concurrency: int = 64,
    ) -> None:
        self._client = client
        self._parent = f"projects/{project}/locations/{location}"
        self._worker_url = worker_url
        self._controller_url = controller_url
        self._service_account = service_account
        self._limit = asyncio.Semaphore(concurrency)
        self._known: set[str] = set()
        self._applied: dict[str, QueueConfig] = {}

    def queue_path(self, queue: str) -> str:
        """The full resource name of a queue id."""
        return f"{self._parent}/queues/{queue}"

    def url_for(self, target: str) -> str:
        """The function a target's tasks are sent to."""
        return self._worker_url if target in WORKER_TARGETS else self._controller_url

    async def ensure_queue(self, queue: str, config: QueueConfig) -> None:
        """Create the queue unless it exists (an existing queue keeps its settings)."""
        if queue in self._known:
            return
        try:
            await self._client.create_queue(
                parent=self._parent, queue=_queue_proto(self.queue_path(queue), config)
            )
            log.info("created queue %s", queue)
        except google_exceptions.AlreadyExists:
            pass
        self._known.add(queue)

    async def update_queue(self, queue: str, config: QueueConfig) -> None:
        """Apply rate limits and retry policy (skipped when this instance applied them last).

        A missing queue is not created again: it was retired (``core.control_chain``), and
        its name may not be reused; the key's next ingest creates its next queues.
        """
        if self._applied.get(queue) == config:
            return
        try:
            await self._client.update_queue(
                request=tasks_v2.UpdateQueueRequest(
                    queue=_queue_proto(self.queue_path(queue), config),
                    update_mask={"paths": list(_RATE_FIELDS)},
                )
            )
        except google_exceptions.NotFound:
            log.warning("queue %s is gone (retired); not updating it", queue)
            return
        self._applied[queue] = config

    async def delete_queues(self, queues: Sequence[str]) -> None:
        """Delete the queues and the tasks they hold (missing ones count as deleted)."""
        for queue in queues:
            with contextlib.suppress(google_exceptions.NotFound):
                await self._client.delete_queue(name=self.queue_path(queue))
            self._known.discard(queue)
            self._applied.pop(queue, None)
            log.info("deleted queue %s", queue)

    async def enqueue(self, tasks: Sequence[Task]) -> int:
        """Create the tasks concurrently; named tasks that exist already are skipped."""
        results = await asyncio.gather(
            *(self._create(task) for task in tasks), return_exceptions=True
        )
        created = 0
        for result in results:
            if isinstance(result, BaseException):
                raise result
            created += int(result)
        return created

    async def pending(self, queue: str) -> int:
        """How many tasks the queue holds (pages through them: for tests and tools)."""
        count = 0
        pager = await self._client.list_tasks(
            request=tasks_v2.ListTasksRequest(parent=self.queue_path(queue), page_size=1000)
        )
        async for _ in pager:
            count += 1
        return count

    async def delete(self, queue: str, names: Sequence[str]) -> int:
        """Delete the named tasks concurrently (one call each; gone ones are skipped)."""
        results = await asyncio.gather(*(self._delete(queue, name) for name in names))
        return sum(results)

    async def _delete(self, queue: str, name: str) -> bool:
        async with self._limit:
            try:
                await self._client.delete_task(name=f"{self.queue_path(queue)}/tasks/{name}")
            except google_exceptions.NotFound:
                return False
        return True

    async def aclose(self) -> None:
        """Close the client's channel."""
        await self._client.transport.close()  # type: ignore[no-untyped-call]

    async def _create(self, task: Task) -> bool:
        proto = self.task_proto(task)
        async with self._limit:
            try:
                await self._client.create_task(
                    parent=self.queue_path(task.queue),
                    task=proto,
                    retry=_NAMED_TASK_RETRY if task.name else None,
                )
            except google_exceptions.AlreadyExists:
                return False
        return True

    def task_proto(self, task: Task) -> tasks_v2.Task:
        """The Cloud Tasks message for one task."""
        url = self.url_for(task.target)
        body = json.dumps(
            {"target": task.target, "payload": task.payload},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode("utf-8")
        request = tasks_v2.HttpRequest(
            url=url,
            http_method=tasks_v2.HttpMethod.POST,
            headers={"Content-Type": "application/json"},
            body=body,
        )
        if self._service_account:
            request.oidc_token = tasks_v2.OidcToken(
                service_account_email=self._service_account, audience=url
            )
        fields: dict[str, Any] = {"http_request": request}
        if task.name:
            fields["name"] = f"{self.queue_path(task.queue)}/tasks/{task.name}"
        if task.schedule_time is not None:
            fields["schedule_time"] = task.schedule_time
        if task.target in LONG_TARGETS:
            fields["dispatch_deadline"] = LONG_DEADLINE
        return tasks_v2.Task(**fields)


def _queue_proto(name: str, config: QueueConfig) -> tasks_v2.Queue:
    rate = min(config.max_dispatches_per_second, MAX_DISPATCHES_PER_SECOND)
    if rate < config.max_dispatches_per_second:
        log.warning("queue %s: rate %.1f/s clamped to %.0f/s", name, rate, rate)
    retry = config.retry
    return tasks_v2.Queue(
        name=name,
        rate_limits=tasks_v2.RateLimits(
            max_dispatches_per_second=rate,
            max_concurrent_dispatches=min(
                config.max_concurrent_dispatches, MAX_CONCURRENT_DISPATCHES
            ),
        ),
        retry_config=tasks_v2.RetryConfig(
            max_attempts=retry.max_attempts,
            min_backoff=timedelta(seconds=retry.min_backoff),
            max_backoff=timedelta(seconds=retry.max_backoff),
            max_doublings=retry.max_doublings,
        ),
    )
