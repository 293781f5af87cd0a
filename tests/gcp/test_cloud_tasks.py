"""CloudTasksQueue against the Cloud Tasks emulator, plus what the emulator cannot show.

The emulator delivers HTTP tasks and honours ``schedule_time``; it ignores rate limits,
``UpdateQueue``, OIDC and name dedupe, so those are checked on the messages the adapter
builds and with a recording client. Its launcher's ``--enforce-rates`` adds queue rates
and ``UpdateQueue`` (checked here, used by the Google path's rate-control test).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.api_core import exceptions as google_exceptions
from google.cloud import tasks_v2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from promptforge.core.tasknames import prompt_task_name
from promptforge.embedded.server import BackgroundServer
from promptforge.gcp.cloud_tasks import CloudTasksQueue
from promptforge.tasks.base import QueueConfig, RetryConfig, Task
from tests.gcp.stand_ins import TasksStandIn, tasks_stand_in

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

SA = "pf-tasks@pf-test.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TasksStandIn]:
    with tasks_stand_in(tmp_path_factory.mktemp("tasks")) as stand_in:
        yield stand_in


class Receiver:
    """A local HTTP endpoint recording what Cloud Tasks delivers."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()

    async def handle(self, request: Request) -> Response:
        self.calls.append(
            {
                "path": request.url.path,
                "headers": {k.lower(): v for k, v in request.headers.items()},
                "body": json.loads(await request.body()),
                "at": datetime.now(UTC),
            }
        )
        self.arrived.set()
        return Response(status_code=200)

    async def wait_for(self, count: int, within: float = 15.0) -> None:
        try:
            async with asyncio.timeout(within):
                while True:
                    self.arrived.clear()
                    if len(self.calls) >= count:
                        return
                    await self.arrived.wait()
        except TimeoutError:
            raise AssertionError(f"{len(self.calls)} of {count} tasks delivered") from None


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    recv = Receiver()
    app = Starlette(routes=[Route("/{path:path}", recv.handle, methods=["POST"])])
    async with BackgroundServer(app) as server:
        yield recv, server.url


def _queue(client: tasks_v2.CloudTasksAsyncClient, base: str, **extra: Any) -> CloudTasksQueue:
    return CloudTasksQueue(
        client,
        project="pf-test",
        location="us-central1",
        worker_url=f"{base}/worker",
        controller_url=f"{base}/controller",
        service_account=extra.pop("service_account", None),
        **extra,
    )


async def test_tasks_reach_their_function_with_the_envelope_and_headers(
    emulator: TasksStandIn, receiver: tuple[Receiver, str]
) -> None:
    recv, base = receiver
    queue = _queue(emulator.client(), base)
    try:
        await queue.ensure_queue("pf-rk-test1", QueueConfig(max_dispatches_per_second=5.0))
        await queue.ensure_queue("pf-control", QueueConfig())
        name = prompt_task_name("job-1", "p1", 0)
        created = await queue.enqueue(
            [
                Task("pf-rk-test1", "worker", {"job_id": "job-1", "prompt_id": "p1"}, name=name),
                Task("pf-control", "finalize", {"job_id": "job-1"}, name="f-abc"),
            ]
        )
        assert created == 2
        await recv.wait_for(2)
    finally:
        await queue.aclose()
    by_path = {call["path"]: call for call in recv.calls}
    worker = by_path["/worker"]
    assert worker["body"] == {
        "target": "worker",
        "payload": {"job_id": "job-1", "prompt_id": "p1"},
    }
    assert worker["headers"]["x-cloudtasks-taskname"] == name
    assert worker["headers"]["x-cloudtasks-queuename"].endswith("/queues/pf-rk-test1")
    assert worker["headers"]["x-cloudtasks-taskretrycount"] == "0"
    assert by_path["/controller"]["body"]["target"] == "finalize"


async def test_schedule_time_delays_delivery(
    emulator: TasksStandIn, receiver: tuple[Receiver, str]
) -> None:
    recv, base = receiver
    queue = _queue(emulator.client(), base)
    due = datetime.now(UTC) + timedelta(seconds=1.5)
    try:
        await queue.ensure_queue("pf-control", QueueConfig())
        await queue.enqueue([Task("pf-control", "expire", {"job_id": "j"}, schedule_time=due)])
        assert await queue.pending("pf-control") >= 1
        await recv.wait_for(1)
    finally:
        await queue.aclose()
    assert recv.calls[0]["at"] >= due - timedelta(milliseconds=50)


async def test_update_queue_is_well_formed_for_the_real_api(
    emulator: TasksStandIn, receiver: tuple[Receiver, str]
) -> None:
    _, base = receiver
    queue = _queue(emulator.client(), base)
    config = QueueConfig(
        max_dispatches_per_second=12.5,
        max_concurrent_dispatches=300,
        retry=RetryConfig(min_backoff=1.0, max_backoff=300.0, max_doublings=8),
    )
    try:
        await queue.ensure_queue("pf-rk-update", QueueConfig())
        await queue.update_queue("pf-rk-update", config)  # the emulator accepts, then ignores
        await queue.delete_queues(["pf-rk-update", "pf-rk-never-made"])
        listed = await queue._client.list_queues(parent=queue.queue_path("x").rsplit("/", 2)[0])
        assert "pf-rk-update" not in [q.name.rsplit("/", 1)[-1] async for q in listed]
    finally:
        await queue.aclose()


@pytest.fixture(scope="module")
def rated_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TasksStandIn]:
    with tasks_stand_in(tmp_path_factory.mktemp("rated"), enforce_rates=True) as stand_in:
        yield stand_in


async def test_the_rate_enforcing_stand_in_dispatches_at_the_queues_rate(
    rated_emulator: TasksStandIn, receiver: tuple[Receiver, str]
) -> None:
    """With ``--enforce-rates`` the emulator dispatches at the configured rate, and an
    ``UpdateQueue`` changes it (what the Google path's rate-control test relies on)."""
    recv, base = receiver
    queue = _queue(rated_emulator.client(), base)
    tasks = [Task("pf-rk-rated", "worker", {"n": n}) for n in range(10)]
    try:
        await queue.ensure_queue("pf-rk-rated", QueueConfig(max_dispatches_per_second=4.0))
        await queue.enqueue(tasks)
        await recv.wait_for(10, within=60.0)
        slow = [call["at"] for call in recv.calls]
        await queue.update_queue("pf-rk-rated", QueueConfig(max_dispatches_per_second=100.0))
        await queue.enqueue(tasks)
        await recv.wait_for(20, within=60.0)
        fast = [call["at"] for call in recv.calls[10:]]
    finally:
        await queue.aclose()
    # 4/s with a burst of one second's rate: at least 10 - 4 intervals of 0.25 s apart.
    assert (slow[-1] - slow[0]).total_seconds() >= 6 * 0.25 - 0.05
    # At 100/s the same ten go out faster than at 4/s could (one task at a time: the
    # receiver's own time bounds it, not the rate).
    assert (fast[-1] - fast[0]).total_seconds() < (slow[-1] - slow[0]).total_seconds()


class _RecordingClient:
    """Records the admin and task calls; ``AlreadyExists`` for names seen before."""

    def __init__(self) -> None:
        self.created: list[tasks_v2.Task] = []
        self.updates: list[tasks_v2.UpdateQueueRequest] = []
        self.queues: list[tasks_v2.Queue] = []
        self.missing_queues: set[str] = set()

    async def create_task(self, *, parent: str, task: tasks_v2.Task, retry: Any) -> Any:
        if any(t.name == task.name for t in self.created if task.name):
            raise google_exceptions.AlreadyExists("task exists")
        self.created.append(task)
        return task

    async def create_queue(self, *, parent: str, queue: tasks_v2.Queue) -> Any:
        self.queues.append(queue)
        return queue

    async def update_queue(self, *, request: tasks_v2.UpdateQueueRequest) -> Any:
        if request.queue.name in self.missing_queues:
            self.missing_queues.discard(request.queue.name)
            raise google_exceptions.NotFound("no queue")
        self.updates.append(request)
        return request.queue


def _recorded(**extra: Any) -> tuple[_RecordingClient, CloudTasksQueue]:
    client = _RecordingClient()
    return client, _queue(client, "https://fn.example", **extra)  # type: ignore[arg-type]


async def test_named_tasks_are_deduplicated_and_carry_oidc_tokens() -> None:
    client, queue = _recorded(service_account=SA)
    when = datetime(2030, 1, 1, tzinfo=UTC)
    tasks = [
        Task("pf-rk-a", "worker", {"n": 1}, name="p-1", schedule_time=when),
        Task("pf-control", "slice", {"n": 2}, name="s-1"),
    ]
    assert await queue.enqueue(tasks) == 2
    assert await queue.enqueue(tasks) == 0  # ALREADY_EXISTS counts as done, not as an error
    worker, sliced = client.created
    assert worker.name == "projects/pf-test/locations/us-central1/queues/pf-rk-a/tasks/p-1"
    assert worker.http_request.url == "https://fn.example/worker"
    assert worker.http_request.oidc_token.service_account_email == SA
    assert worker.http_request.oidc_token.audience == "https://fn.example/worker"
    assert worker.schedule_time == when
    assert sliced.http_request.url == "https://fn.example/controller"
    assert sliced.dispatch_deadline == timedelta(minutes=30)
    assert json.loads(sliced.http_request.body) == {"target": "slice", "payload": {"n": 2}}


async def test_update_queue_clamps_sets_the_mask_and_skips_repeats() -> None:
    client, queue = _recorded()
    fast = QueueConfig(max_dispatches_per_second=900.0, max_concurrent_dispatches=9000)
    await queue.update_queue("pf-rk-b", fast)
    await queue.update_queue("pf-rk-b", fast)
    assert len(client.updates) == 1
    request = client.updates[0]
    assert request.queue.rate_limits.max_dispatches_per_second == 500.0
    assert request.queue.rate_limits.max_concurrent_dispatches == 5000
    assert request.queue.rate_limits.max_burst_size == 0  # output-only: never sent
    assert "rate_limits.max_burst_size" not in request.update_mask.paths
    assert "rate_limits.max_dispatches_per_second" in request.update_mask.paths
    # A missing queue was retired: its name may not be reused, so it is not created again.
    client.missing_queues.add("projects/pf-test/locations/us-central1/queues/pf-rk-c")
    await queue.update_queue("pf-rk-c", QueueConfig(max_dispatches_per_second=2.0))
    assert client.queues == []
