"""The test-only duplicate-delivery fault of the embedded runtime does what the suite relies on."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from promptforge.embedded.runtime import EmbeddedRuntime
from promptforge.settings import Settings
from promptforge.tasks.base import Delivery, HandlerResult

pytestmark = pytest.mark.anyio

DELIVERY = Delivery(queue="q", target="worker", name="t-1", payload={"n": 1}, attempt=1)


class _Recorder:
    """A core handler that notes how many of its calls overlap and answers from a script."""

    def __init__(self, answers: list[int]) -> None:
        self.answers = answers
        self.calls = 0
        self.running = 0
        self.most_at_once = 0

    async def __call__(self, deps: object, delivery: Delivery) -> HandlerResult:
        self.calls += 1
        answer = self.answers[self.calls - 1]
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        await asyncio.sleep(0.01)
        self.running -= 1
        return HandlerResult(answer)


async def _bound(tmp_path: Path, setting: str, target: str, handler: _Recorder) -> HandlerResult:
    runtime = EmbeddedRuntime(Settings(data_dir=tmp_path, fault_duplicate_delivery=setting))
    try:
        return await runtime._bind(target, handler)(DELIVERY)
    finally:
        await runtime.http.aclose()


async def test_a_listed_target_is_delivered_twice_at_once_then_again(tmp_path: Path) -> None:
    handler = _Recorder([409, 200, 200])
    answer = await _bound(tmp_path, "ingest, worker", "worker", handler)
    assert handler.calls == 3
    assert handler.most_at_once == 2  # the first two overlap, the third comes after
    assert answer.status == 200  # a queue drops a task once any delivery succeeded


async def test_the_queue_sees_the_first_answer_when_none_succeeded(tmp_path: Path) -> None:
    handler = _Recorder([503, 409, 409])
    answer = await _bound(tmp_path, "all", "finalize", handler)
    assert handler.calls == 3
    assert answer.status == 503


async def test_other_targets_and_the_default_are_delivered_once(tmp_path: Path) -> None:
    listed_elsewhere = _Recorder([200])
    assert (await _bound(tmp_path, "ingest", "worker", listed_elsewhere)).ok
    off = _Recorder([200])
    assert (await _bound(tmp_path, "", "worker", off)).ok
    assert listed_elsewhere.calls == off.calls == 1
