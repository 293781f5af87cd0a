"""The embedded task queue: dedupe, rate limits, concurrency, retries, dead letters, durability."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import sqlite3
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from promptforge.tasks._queue_runtime import DispatchBucket
from promptforge.tasks.base import Delivery, HandlerResult, QueueConfig, RetryConfig, Task
from promptforge.tasks.embedded import EmbeddedTaskQueue

pytestmark = pytest.mark.anyio

Respond = Callable[[Delivery], Awaitable[HandlerResult]]


async def _ok(_: Delivery) -> HandlerResult:
    return HandlerResult(200)


class Recorder:
    """A handler recording each delivery (name, attempt, monotonic time); ``respond`` answers."""

    def __init__(self, respond: Respond = _ok) -> None:
        self.respond = respond
        self.calls: list[tuple[str, int, float]] = []
        self.running = 0
        self.max_running = 0

    async def __call__(self, delivery: Delivery) -> HandlerResult:
        self.calls.append((delivery.name, delivery.attempt, time.monotonic()))
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            return await self.respond(delivery)
        finally:
            self.running -= 1

    def times(self, name: str) -> list[float]:
        return [t for n, _, t in self.calls if n == name]

    def attempts(self, name: str) -> list[int]:
        return [a for n, a, _ in self.calls if n == name]


async def wait_until(predicate: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def drained(queue: EmbeddedTaskQueue, name: str, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while await queue.pending(name):
        if time.monotonic() > deadline:
            raise AssertionError(f"queue {name!r} still has {await queue.pending(name)} tasks")
        await asyncio.sleep(0.02)


def fast(
    *,
    max_dispatches_per_second: float = 10_000.0,
    max_burst_size: int = 500,
    max_concurrent_dispatches: int = 100,
    retry: RetryConfig | None = None,
) -> QueueConfig:
    """A queue that does not limit a test unless told to."""
    return QueueConfig(
        max_dispatches_per_second=max_dispatches_per_second,
        max_burst_size=max_burst_size,
        max_concurrent_dispatches=max_concurrent_dispatches,
        retry=retry or RetryConfig(min_backoff=0.01, max_backoff=1.0),
    )


def tasks(count: int, queue: str = "q", target: str = "w", prefix: str = "t") -> list[Task]:
    return [Task(queue, target, {"i": i}, name=f"{prefix}{i:04d}") for i in range(count)]


@pytest.fixture
async def queue(tmp_path: Path) -> AsyncIterator[EmbeddedTaskQueue]:
    async with EmbeddedTaskQueue(tmp_path / "tasks.db") as q:
        yield q


def test_token_bucket_starts_full_refills_and_caps() -> None:
    bucket = DispatchBucket(rate=10.0, capacity=5, now=100.0)
    assert bucket.available(100.0) == 5
    bucket.take(5, 100.0)
    assert bucket.available(100.0) == 0
    assert bucket.wait_time(100.0) == pytest.approx(0.1)
    assert bucket.available(100.25) == 2
    assert bucket.available(200.0) == 5  # capped at the burst
    bucket.reconfigure(rate=1.0, capacity=2, now=200.0)
    assert bucket.available(200.0) == 2
    bucket.take(2, 200.0)
    assert bucket.wait_time(200.0) == pytest.approx(1.0)


async def test_named_tasks_are_deduplicated(tmp_path: Path) -> None:
    async with EmbeddedTaskQueue(tmp_path / "t.db", dedupe_seconds=0.0) as queue:
        await queue.ensure_queue("q", fast())
        batch = [Task("q", "w", {"n": 1}, name="a"), Task("q", "w", {"n": 2}, name="a")]
        batch += [Task("q", "w", {}, name="b"), Task("q", "w", {}), Task("q", "w", {})]
        assert await queue.enqueue(batch) == 4
        assert await queue.enqueue([Task("q", "w", {}, name="a")]) == 0
        assert await queue.purge_names() == 0  # a pending task keeps its name
        assert await queue.enqueue([Task("q", "w", {}, name="b"), Task("q", "w", {})]) == 1
        assert await queue.pending("q") == 5

        recorder = Recorder()
        queue.register("w", recorder)
        await queue.start()
        await drained(queue, "q")
        await queue.stop()
        names = [name for name, _, _ in recorder.calls]
        assert sorted(n for n in names if not n.startswith("task-")) == ["a", "b"]
        assert len(set(names)) == len(names) == 5

        # the name stays taken after its task completed, until purged
        assert await queue.enqueue([Task("q", "w", {}, name="a")]) == 0
        assert await queue.purge_names() == 2
        assert await queue.enqueue([Task("q", "w", {}, name="a")]) == 1


async def test_first_task_of_a_repeated_name_wins(queue: EmbeddedTaskQueue) -> None:
    await queue.ensure_queue("q", fast())
    await queue.enqueue([Task("q", "w", {"n": 1}, name="a"), Task("q", "w", {"n": 2}, name="a")])
    seen: list[dict[str, object]] = []

    async def handler(delivery: Delivery) -> HandlerResult:
        seen.append(delivery.payload)
        return HandlerResult(204)

    queue.register("w", handler)
    await queue.start()
    await drained(queue, "q")
    assert seen == [{"n": 1}]


async def test_unknown_queue_and_closed_queue_are_refused(tmp_path: Path) -> None:
    queue = EmbeddedTaskQueue(tmp_path / "t.db")
    with pytest.raises(RuntimeError):
        await queue.enqueue(tasks(1))
    async with queue:
        with pytest.raises(ValueError, match="unknown queue"):
            await queue.enqueue(tasks(1, queue="nope"))


async def test_queue_settings_persist_and_ensure_keeps_them(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    async with EmbeddedTaskQueue(path) as queue:
        await queue.ensure_queue("q", fast(max_burst_size=7))
        await queue.ensure_queue("q", fast(max_burst_size=9))
        await queue.update_queue("r", fast(max_concurrent_dispatches=3))
    with sqlite3.connect(path) as db:
        configs = {name: json.loads(text) for name, text in db.execute("SELECT * FROM queues")}
    db.close()
    assert configs["q"]["max_burst_size"] == 7
    assert configs["r"]["max_concurrent_dispatches"] == 3
    assert configs["q"]["retry"]["min_backoff"] == 0.01


async def test_rate_limit_and_burst_are_respected(queue: EmbeddedTaskQueue) -> None:
    await queue.ensure_queue("q", fast(max_dispatches_per_second=50.0, max_burst_size=5))
    await queue.enqueue(tasks(200))
    recorder = Recorder()
    queue.register("w", recorder)
    began = time.monotonic()
    await queue.start()
    await asyncio.sleep(1.0)
    await queue.stop()
    times = sorted(t - began for _, _, t in recorder.calls)
    first_second = [t for t in times if t <= 1.0]
    assert 35 <= len(first_second) <= 5 + 50 + 3
    busiest = max(sum(1 for u in times if t <= u < t + 0.2) for t in times)
    assert busiest <= 5 + 10 + 2
    assert await queue.pending("q") == 200 - len(times)


async def test_max_concurrent_dispatches_is_respected(queue: EmbeddedTaskQueue) -> None:
    await queue.ensure_queue("q", fast(max_concurrent_dispatches=3))
    await queue.enqueue(tasks(15))

    async def slow(_: Delivery) -> HandlerResult:
        await asyncio.sleep(0.03)
        return HandlerResult(200)

    recorder = Recorder(slow)
    queue.register("w", recorder)
    await queue.start()
    await drained(queue, "q")
    assert len(recorder.calls) == 15
    assert recorder.max_running == 3


async def test_due_tasks_go_out_in_schedule_order_and_future_ones_wait(
    queue: EmbeddedTaskQueue,
) -> None:
    await queue.ensure_queue("q", fast(max_concurrent_dispatches=1))
    now = datetime.now(UTC)
    past = [
        Task("q", "w", {}, name=f"p{i}", schedule_time=now - timedelta(seconds=i)) for i in range(5)
    ]
    future = Task("q", "w", {}, name="later", schedule_time=now + timedelta(seconds=0.4))
    await queue.enqueue([*past, future])
    assert (await queue.stats("q"))["due"] == 5
    recorder = Recorder()
    queue.register("w", recorder)
    began = time.monotonic()
    await queue.start()
    await drained(queue, "q")
    assert [name for name, _, _ in recorder.calls] == ["p4", "p3", "p2", "p1", "p0", "later"]
    assert recorder.times("later")[0] - began >= 0.35


async def test_retry_backoff_grows(queue: EmbeddedTaskQueue) -> None:
    retry = RetryConfig(min_backoff=0.05, max_backoff=5.0)
    await queue.ensure_queue("q", fast(retry=retry))

    async def flaky(delivery: Delivery) -> HandlerResult:
        return HandlerResult(200 if delivery.attempt >= 4 else 500)

    recorder = Recorder(flaky)
    queue.register("w", recorder)
    await queue.enqueue([Task("q", "w", {}, name="x")])
    await queue.start()
    await drained(queue, "q")
    assert recorder.attempts("x") == [1, 2, 3, 4]
    stamps = recorder.times("x")
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    for attempt, gap in enumerate(gaps, start=1):
        assert gap >= retry.backoff(attempt) - 0.01, gaps
    assert gaps[2] > gaps[0] * 2, gaps


async def test_retry_after_is_honoured_only_for_429_and_503(queue: EmbeddedTaskQueue) -> None:
    await queue.ensure_queue("q", fast())

    async def answer(delivery: Delivery) -> HandlerResult:
        if delivery.attempt > 1:
            return HandlerResult(200)
        status = {"throttled": 429, "unavailable": 503, "broken": 500}[delivery.name]
        return HandlerResult(status, retry_after=0.5)

    recorder = Recorder(answer)
    queue.register("w", recorder)
    names = ["throttled", "unavailable", "broken"]
    await queue.enqueue([Task("q", "w", {}, name=n) for n in names])
    await queue.start()
    await drained(queue, "q")
    gap = {n: recorder.times(n)[1] - recorder.times(n)[0] for n in names}
    assert gap["throttled"] >= 0.48
    assert gap["unavailable"] >= 0.48
    assert gap["broken"] < 0.3


async def test_max_attempts_moves_the_task_to_dead_letters(
    queue: EmbeddedTaskQueue, caplog: pytest.LogCaptureFixture
) -> None:
    retry = RetryConfig(min_backoff=0.01, max_attempts=3)
    await queue.ensure_queue("q", fast(retry=retry))

    async def failing(delivery: Delivery) -> HandlerResult:
        if delivery.name == "boom":
            raise RuntimeError("handler bug")
        return HandlerResult(422)

    recorder = Recorder(failing)
    queue.register("w", recorder)
    await queue.enqueue([Task("q", "w", {"k": 1}, name="bad"), Task("q", "w", {}, name="boom")])
    await queue.start()
    await drained(queue, "q")
    assert recorder.attempts("bad") == [1, 2, 3]
    assert recorder.attempts("boom") == [1, 2, 3]
    dead = {letter.name: letter for letter in await queue.dead_letters()}
    assert dead["bad"].last_status == 422
    assert dead["bad"].payload == {"k": 1}
    assert dead["bad"].attempts == 3
    assert dead["boom"].last_status == 500
    assert "handler bug" in caplog.text
    stats = await queue.stats("q")
    assert stats == {"pending": 0, "running": 0, "due": 0, "dead": 2}


async def test_a_handler_past_its_lease_is_retried(tmp_path: Path) -> None:
    async with EmbeddedTaskQueue(tmp_path / "t.db", lease_seconds=0.1) as queue:
        await queue.ensure_queue("q", fast())

        async def stuck_once(delivery: Delivery) -> HandlerResult:
            if delivery.attempt == 1:
                await asyncio.sleep(5)
            return HandlerResult(200)

        recorder = Recorder(stuck_once)
        queue.register("w", recorder)
        await queue.enqueue([Task("q", "w", {}, name="x")])
        await queue.start()
        await drained(queue, "q", within=3.0)
        assert recorder.attempts("x") == [1, 2]


async def test_update_queue_takes_effect_while_running(queue: EmbeddedTaskQueue) -> None:
    await queue.ensure_queue("q", fast(max_dispatches_per_second=2.0, max_burst_size=1))
    await queue.enqueue(tasks(40))
    recorder = Recorder()
    queue.register("w", recorder)
    await queue.start()
    await asyncio.sleep(0.3)
    assert len(recorder.calls) <= 2
    await queue.update_queue("q", fast(max_dispatches_per_second=400.0, max_burst_size=20))
    await drained(queue, "q", within=2.0)  # 20 s at the old rate
    assert len({name for name, _, _ in recorder.calls}) == 40


async def test_the_dispatcher_does_not_poll_when_idle(
    queue: EmbeddedTaskQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    await queue.ensure_queue("q", fast())
    store = queue._store
    claims = 0
    real_claim = store.claim

    async def counting_claim(*args: object) -> object:
        nonlocal claims
        claims += 1
        return await real_claim(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "claim", counting_claim)
    recorder = Recorder()
    queue.register("w", recorder)
    await queue.start()
    await asyncio.sleep(0.3)
    idle_claims = claims
    assert idle_claims <= 1
    await queue.enqueue(tasks(3))
    await wait_until(lambda: len(recorder.calls) == 3, within=1.0)
    await asyncio.sleep(0.3)
    assert claims - idle_claims <= 3


async def test_tasks_left_running_are_delivered_again_after_reopen(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    release = asyncio.Event()

    async def blocking(_: Delivery) -> HandlerResult:
        await release.wait()
        return HandlerResult(200)

    first = Recorder(blocking)
    queue = EmbeddedTaskQueue(path)
    await queue.open()
    await queue.ensure_queue("q", fast(max_concurrent_dispatches=2))
    await queue.enqueue(tasks(6))
    queue.register("w", first)
    await queue.start()
    await wait_until(lambda: len(first.calls) == 2)
    assert (await queue.stats("q"))["running"] == 2
    await queue.stop(grace=0.0)  # the in-flight handlers are abandoned mid-call
    await queue.close()
    with sqlite3.connect(path) as db:
        left = db.execute("SELECT name FROM tasks WHERE state = 'running'").fetchall()
    db.close()
    assert sorted(row[0] for row in left) == sorted(name for name, _, _ in first.calls)

    second = Recorder()
    async with EmbeddedTaskQueue(path) as reopened:
        stats = await reopened.stats("q")
        assert stats["running"] == 0
        assert stats["due"] == 6
        reopened.register("w", second)
        await reopened.start()
        await drained(reopened, "q")
    assert sorted(name for name, _, _ in second.calls) == [f"t{i:04d}" for i in range(6)]
    for name, _, _ in first.calls:
        assert second.attempts(name) == [2]


_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from promptforge.tasks.base import HandlerResult, QueueConfig, Task
    from promptforge.tasks.embedded import EmbeddedTaskQueue

    async def main(db: str, log: str, count: int) -> None:
        queue = EmbeddedTaskQueue(Path(db))
        await queue.open()
        await queue.ensure_queue("q", QueueConfig(
            max_dispatches_per_second=300.0, max_burst_size=10, max_concurrent_dispatches=5))
        await queue.enqueue([Task("q", "w", {"i": i}, name=f"t{i:04d}") for i in range(count)])

        async def handler(delivery):
            with open(log, "a") as out:
                out.write(delivery.name + "\\n")
            if delivery.payload["i"] >= 40:
                await asyncio.Event().wait()  # stuck until the process is killed
            return HandlerResult(200)

        queue.register("w", handler)
        await queue.start()
        await asyncio.Event().wait()

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    """
)


async def test_a_killed_process_loses_nothing(tmp_path: Path) -> None:
    db, log, count = tmp_path / "t.db", tmp_path / "delivered.log", 200

    def lines() -> list[str]:
        return log.read_text().split() if log.exists() else []

    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _CHILD, str(db), str(log), str(count), start_new_session=True
    )
    try:
        await wait_until(lambda: len(lines()) >= 45 or child.returncode is not None, within=15.0)
        await asyncio.sleep(0.1)  # let the child record the 40 completions
    finally:
        if child.returncode is None:
            os.kill(child.pid, signal.SIGKILL)
        await child.wait()
    assert child.returncode == -signal.SIGKILL
    killed_mid_call = {name for name in lines() if int(name[1:]) >= 40}
    assert len(killed_mid_call) == 5  # the concurrency cap, all stuck in their handler

    redelivered: list[tuple[str, int]] = []

    async def handler(delivery: Delivery) -> HandlerResult:
        redelivered.append((delivery.name, delivery.attempt))
        return HandlerResult(200)

    async with EmbeddedTaskQueue(db) as queue:
        assert await queue.pending("q") == count - 40
        queue.register("w", handler)
        await queue.start()
        await drained(queue, "q", within=10.0)
        assert await queue.dead_letters() == []
    delivered = set(lines()) | {name for name, _ in redelivered}
    assert delivered == {f"t{i:04d}" for i in range(count)}
    assert killed_mid_call <= {name for name, attempt in redelivered if attempt == 2}
    assert len(redelivered) == count - 40
