"""The discrete-event loop and the Cloud Tasks queue model."""

from __future__ import annotations

import itertools

import pytest

from promptforge.sim.rates.cloudtasks import CloudTasksSpec, Done, QueueGroup, SimTask, picked_burst
from promptforge.sim.rates.engine import EventLoop


def test_callbacks_run_in_time_then_insertion_order() -> None:
    loop = EventLoop()
    seen: list[tuple[float, str]] = []
    loop.at(2.0, lambda: seen.append((loop.now, "b")))
    loop.at(1.0, lambda: seen.append((loop.now, "a")))
    loop.at(2.0, lambda: seen.append((loop.now, "c")))
    loop.run(until=10.0)
    assert seen == [(1.0, "a"), (2.0, "b"), (2.0, "c")]


def test_the_past_is_now_and_run_stops_at_until_or_stop() -> None:
    loop = EventLoop(start=5.0)
    seen: list[float] = []
    loop.at(1.0, lambda: seen.append(loop.now))  # in the past: runs at once, at 5
    loop.at(7.0, loop.stop)
    loop.at(8.0, lambda: seen.append(loop.now))
    loop.run(until=100.0)
    assert seen == [5.0]
    assert loop.now == 7.0
    loop.run(until=7.5)
    assert loop.now == 7.5 and seen == [5.0]
    loop.run(until=9.0)
    assert seen == [5.0, 8.0]


def _group(
    loop: EventLoop, rate: float, *, latency: float = 0.0, status: int = 200, **kw: object
) -> tuple[QueueGroup, list[float]]:
    """A queue whose handler answers ``status`` after ``latency``; returns dispatch times."""
    starts: list[float] = []

    def handler(task: SimTask, done: Done) -> None:
        starts.append(loop.now)
        loop.after(latency, lambda: done(status, 2.0 if status == 429 else None))

    return QueueGroup(loop, handler, rate=rate, **kw), starts  # type: ignore[arg-type]


def test_the_queue_dispatches_at_its_rate_after_a_burst() -> None:
    loop = EventLoop()
    group, starts = _group(loop, 10.0)
    for i in range(200):
        group.enqueue(i, key=i)
    loop.run(until=10.0)
    assert picked_burst(10.0) == 10
    assert sum(1 for s in starts if s == 0.0) == 10  # a full bucket goes at once
    assert len(starts) == pytest.approx(10 + 10 * 10, abs=2)
    gaps = [b - a for a, b in itertools.pairwise(starts[10:])]
    assert min(gaps) == pytest.approx(0.1, rel=1e-3)


def test_concurrency_caps_dispatch() -> None:
    loop = EventLoop()
    group, starts = _group(loop, 100.0, latency=1.0, concurrency=5)
    for i in range(100):
        group.enqueue(i, key=i)
    loop.run(until=3.5)
    assert len(starts) == 20  # 5 at a time, each taking a second


def test_rate_updates_reach_the_dispatcher_late() -> None:
    loop = EventLoop()
    spec = CloudTasksSpec(apply_delay=5.0)
    group, starts = _group(loop, 1.0, spec=spec)
    for i in range(1_000):
        group.enqueue(i, key=i)
    loop.at(10.0, lambda: group.update([20.0], 1000))
    loop.run(until=20.0)
    before = sum(1 for s in starts if 10.0 <= s < 15.0)
    after = sum(1 for s in starts if 15.5 <= s < 20.0)
    assert before <= 6
    assert after == pytest.approx(20 * 4.5, abs=3)


def test_429s_from_the_handler_back_off_and_throttle_the_queue() -> None:
    loop = EventLoop()
    spec = CloudTasksSpec(apply_delay=0.0, throttle_factor=0.5, throttle_seconds=10.0)
    group, starts = _group(loop, 10.0, status=429, spec=spec)
    group.enqueue("only", key=0)
    loop.run(until=30.0)
    # Retried no sooner than its Retry-After (2 s) and the queue's growing backoff.
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps[0] >= 2.0
    assert gaps == sorted(gaps)
    assert group.queues[0].throttled_until > 0


def test_shards_split_the_tasks_by_key() -> None:
    loop = EventLoop()
    group, starts = _group(loop, 40.0, shards=4)
    for i in range(400):
        group.enqueue(i, key=i)
    assert [len(q) for q in group.queues] == [100, 100, 100, 100]
    loop.run(until=5.0)
    # Each shard gets a quarter of the rate (and of the burst).
    assert len(starts) == pytest.approx(4 * (10 + 10 * 5), abs=4)
