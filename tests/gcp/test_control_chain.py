"""The controller as a chain of named tick tasks: one per period while a key has work, then none.

Once the key has been idle long enough, its queues are retired: a tombstone in the rate
state, the next epoch for the key's next queues (a deleted name is never used again). An
ingest racing the retirement either keeps the queues or gets the next epoch's, never a
queue being deleted (every write to the rate state is a compare-and-set).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from promptforge.clock import FakeClock
from promptforge.core.control_chain import control_task, handle_control
from promptforge.core.credentials import Credentials
from promptforge.core.deps import CoreConfig, Deps
from promptforge.core.models import Job, JobStatus
from promptforge.core.queues import KeyQueues, ensure_rate_queue, key_queues
from promptforge.core.ratestate import RateKeyState
from promptforge.core.tasknames import TaskTarget, queue_for
from promptforge.jobstore.sqlite import SqliteJobStore
from promptforge.providers.catalogue import Catalogue
from promptforge.tasks.base import Delivery, QueueConfig, Task

pytestmark = pytest.mark.anyio

PERIOD = 2.0


class NamedQueue:
    """Keeps tasks by name (Cloud Tasks dedupe) and the last config of each queue."""

    def __init__(self) -> None:
        self.tasks: dict[str, Task] = {}
        self.configs: dict[str, QueueConfig] = {}

    async def ensure_queue(self, queue: str, config: QueueConfig) -> None:
        self.configs.setdefault(queue, config)

    async def update_queue(self, queue: str, config: QueueConfig) -> None:
        self.configs[queue] = config

    async def enqueue(self, tasks: Sequence[Task]) -> int:
        new = [t for t in tasks if t.name not in self.tasks]
        self.tasks.update({str(t.name): t for t in new})
        return len(new)

    async def pending(self, queue: str) -> int:
        return len(self.tasks)

    def ticks(self) -> list[Task]:
        return [t for t in self.tasks.values() if t.target == TaskTarget.CONTROL]


class HookedStore(SqliteJobStore):
    """Runs ``before_save`` (once) just before a rate-state save it ``matches``: another
    writer landing between that writer's read and its write."""

    before_save: Callable[[], Awaitable[object]] | None = None
    matches: Callable[[RateKeyState], bool] = staticmethod(lambda state: False)

    async def save_rate_state(self, rate_key: str, state: RateKeyState) -> bool:
        hook = self.before_save
        if hook is not None and self.matches(state):
            self.before_save = None
            await hook()
        return await super().save_rate_state(rate_key, state)


@dataclass
class World:
    deps: Deps
    clock: FakeClock
    queue: NamedQueue
    store: HookedStore


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    store = HookedStore(tmp_path / "jobs.db")
    await store.open()
    clock = FakeClock(datetime(2030, 1, 1, 0, 0, 0, 300_000, tzinfo=UTC))
    queue = NamedQueue()
    async with httpx.AsyncClient() as http:
        deps = Deps(
            store=store,
            blobs=_NoBlobs(),  # type: ignore[arg-type]  # the controller reads no blob
            tasks=queue,
            clock=clock,
            catalogue=Catalogue.load(),
            credentials=Credentials({}),
            http=http,
            config=CoreConfig(),
        )
        try:
            yield World(deps, clock, queue, store)
        finally:
            await store.close()


class _NoBlobs:
    input_bucket, output_bucket = "pf-in", "pf-out"


async def _processing_job(world: World) -> Job:
    job, _ = await _ingest(world)
    return job


async def _ingest(world: World) -> tuple[Job, KeyQueues]:
    """A job that starts processing, registered with its key (what ingest does)."""
    now = world.clock.now()
    job = Job(
        job_id=str(uuid.uuid4()),
        tenant_id="t",
        provider="openai",
        model="gpt-4o-mini",
        max_retries=3,
        created_at=now,
        upload_expires_at=now + timedelta(minutes=15),
        upload_object="t/x/prompts.jsonl",
    )
    await world.store.create_job(job)
    await world.store.transition(job.job_id, JobStatus.WAITING_FOR_UPLOAD, JobStatus.PROCESSING)
    return job, await ensure_rate_queue(world.deps, job)


def _tick(task: Task) -> Delivery:
    return Delivery("pf-control", task.target, str(task.name), task.payload, 1)


def test_ticks_are_named_per_period_and_due_at_its_start() -> None:
    at = datetime(2030, 1, 1, 0, 0, 10, 500_000, tzinfo=UTC)
    first = control_task("openai~m~default", PERIOD, at)
    same_period = control_task("openai~m~default", PERIOD, at + timedelta(seconds=1.2))
    next_period = control_task("openai~m~default", PERIOD, at + timedelta(seconds=1.6))
    other_key = control_task("anthropic~m~default", PERIOD, at)
    assert first.name == same_period.name != next_period.name
    assert first.name != other_key.name
    assert first.schedule_time == datetime(2030, 1, 1, 0, 0, 12, tzinfo=UTC)
    assert next_period.schedule_time == datetime(2030, 1, 1, 0, 0, 14, tzinfo=UTC)
    assert first.name is not None and first.name.startswith("c-") and len(first.name) == 42


async def test_the_chain_runs_while_a_job_processes_and_stops_after(world: World) -> None:
    job = await _processing_job(world)
    key = job.rate_key.id
    start = control_task(key, PERIOD, world.clock.now())
    await world.deps.tasks.enqueue([start, start])  # two ingests starting the chain: one tick
    assert len(world.queue.ticks()) == 1

    world.clock.advance(PERIOD)
    assert (await handle_control(world.deps, _tick(start), period=PERIOD)).ok
    state = await world.store.load_rate_state(key)
    assert state is not None and state.decision is not None
    stepped_at = state.decision.at
    assert stepped_at == world.clock.now().timestamp()
    assert len(world.queue.ticks()) == 2  # the next tick is queued

    # The same tick delivered again right away: no second step, no second next tick.
    assert (await handle_control(world.deps, _tick(start), period=PERIOD)).ok
    again = await world.store.load_rate_state(key)
    assert again is not None and again.decision is not None
    assert again.decision.at == stepped_at
    assert len(world.queue.ticks()) == 2

    await world.store.transition(job.job_id, JobStatus.PROCESSING, JobStatus.COMPLETED)
    world.clock.advance(PERIOD)
    following = max(world.queue.ticks(), key=lambda t: t.payload["tick"])
    assert (await handle_control(world.deps, _tick(following), period=PERIOD)).ok
    assert len(world.queue.ticks()) == 2  # no job processing: the chain ends here


RETIRE_AFTER = 60.0


async def test_an_idle_keys_queues_retire_and_its_next_job_gets_new_names(world: World) -> None:
    deleted: list[list[str]] = []

    async def delete(names: Sequence[str]) -> None:
        deleted.append(list(names))

    async def tick(task: Task) -> None:
        answer = await handle_control(
            world.deps, _tick(task), period=PERIOD, retire_after=RETIRE_AFTER, delete_queues=delete
        )
        assert answer.ok

    job = await _processing_job(world)
    key = job.rate_key
    first = (await key_queues(world.deps, key)).base
    assert first == queue_for(key)
    await world.store.transition(job.job_id, JobStatus.PROCESSING, JobStatus.COMPLETED)
    world.clock.advance(PERIOD)
    await tick(control_task(key.id, PERIOD, world.clock.now()))
    assert deleted == []  # idle from now on: a check is due once RETIRE_AFTER has passed
    check = max(world.queue.ticks(), key=lambda t: t.payload["tick"])
    assert check.schedule_time is not None
    idle_for = (check.schedule_time - world.clock.now()).total_seconds()
    assert RETIRE_AFTER - 2 * PERIOD <= idle_for <= RETIRE_AFTER

    world.clock.advance(RETIRE_AFTER)
    await tick(check)
    assert deleted == [[first]]
    state = await world.store.load_rate_state(key.id)
    assert state is not None and state.queue is None and state.epoch == 1
    assert [t.base for t in state.retired] == [first]
    await tick(check)  # delivered twice: nothing more to delete
    assert deleted == [[first]]

    again = await _processing_job(world)  # the key's next job: queues of the next epoch
    queues = await key_queues(world.deps, again.rate_key)
    assert queues.base == queue_for(key, 1) != first
    assert queues.base in world.queue.configs


async def test_work_arriving_while_idle_keeps_the_queues(world: World) -> None:
    deleted: list[Sequence[str]] = []

    async def delete(names: Sequence[str]) -> None:
        deleted.append(names)

    job = await _processing_job(world)
    await world.store.transition(job.job_id, JobStatus.PROCESSING, JobStatus.COMPLETED)
    start = control_task(job.rate_key.id, PERIOD, world.clock.now())
    await handle_control(
        world.deps, _tick(start), period=PERIOD, retire_after=RETIRE_AFTER, delete_queues=delete
    )
    await _processing_job(world)  # an ingest on the key clears the idle mark
    world.clock.advance(RETIRE_AFTER + PERIOD)
    check = max(world.queue.ticks(), key=lambda t: t.payload["tick"])
    await handle_control(
        world.deps, _tick(check), period=PERIOD, retire_after=RETIRE_AFTER, delete_queues=delete
    )
    assert deleted == []
    state = await world.store.load_rate_state(job.rate_key.id)
    assert state is not None
    assert state.queue == queue_for(job.rate_key) and state.idle_since is None


async def _idle_key_due_to_retire(world: World, deleted: list[list[str]]) -> tuple[Job, Task]:
    """A key whose job ended RETIRE_AFTER ago, and the tick that will retire its queues."""
    job = await _processing_job(world)
    await world.store.transition(job.job_id, JobStatus.PROCESSING, JobStatus.COMPLETED)
    start = control_task(job.rate_key.id, PERIOD, world.clock.now())
    await _retiring_tick(world, start, deleted)
    world.clock.advance(RETIRE_AFTER + PERIOD)
    return job, max(world.queue.ticks(), key=lambda t: t.payload["tick"])


async def _retiring_tick(world: World, task: Task, deleted: list[list[str]]) -> None:
    async def delete(names: Sequence[str]) -> None:
        deleted.append(list(names))

    answer = await handle_control(
        world.deps, _tick(task), period=PERIOD, retire_after=RETIRE_AFTER, delete_queues=delete
    )
    assert answer.ok


async def test_an_ingest_between_the_retiring_ticks_read_and_write_keeps_the_queues(
    world: World,
) -> None:
    deleted: list[list[str]] = []
    old, check = await _idle_key_due_to_retire(world, deleted)
    arrived: list[Job] = []

    async def ingest() -> None:
        arrived.append(await _processing_job(world))

    world.store.before_save = ingest
    world.store.matches = lambda state: state.queue is None  # the tombstone
    ticks = len(world.queue.ticks())
    await _retiring_tick(world, check, deleted)

    assert deleted == []  # the tick read again, found the key busy and kept its queues
    state = await world.store.load_rate_state(old.rate_key.id)
    assert state is not None and state.queue == queue_for(old.rate_key) and state.epoch == 0
    assert state.idle_since is None and set(state.jobs) == {arrived[0].job_id}
    assert len(world.queue.ticks()) == ticks + 1  # and the chain goes on


async def test_an_ingest_that_read_before_the_tombstone_gets_the_next_epochs_queues(
    world: World,
) -> None:
    deleted: list[list[str]] = []
    old, check = await _idle_key_due_to_retire(world, deleted)
    first = queue_for(old.rate_key)

    async def retiring_tick() -> None:
        await _retiring_tick(world, check, deleted)

    world.store.before_save = retiring_tick
    world.store.matches = lambda state: state.queue is not None and state.idle_since is None
    job, queues = await _ingest(world)

    assert deleted == [[first]]
    assert queues.base == queue_for(old.rate_key, 1) != first
    assert queues.base in world.queue.configs  # created for the prompts it will send
    state = await world.store.load_rate_state(old.rate_key.id)
    assert state is not None and state.queue == queues.base and state.epoch == 1
    assert set(state.jobs) == {job.job_id} and [t.base for t in state.retired] == [first]
