"""The rate controller on the Google path: the stack of test_google_path.py, in a module of
its own (a stack of its own) so that its two long rate tests (a limit that must be met and
then followed; 210 s of the 380 s the path took in one file) can run on one xdist worker
while the rest of the path runs on the other (``--dist loadfile`` sends whole files).

The anthropic key meets 429s until the controller's ticks bring its queue down to the
simulator's 90 RPM, and its ticks stop once the key has no work; the gemini key states no
limit at all, and its rate must find 60 RPM and then follow the rise to 120 RPM.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx
import pytest

from promptforge.core.models import RateKey
from promptforge.core.tasknames import queue_for
from promptforge.gcp.cloud_tasks import CloudTasksQueue
from promptforge.gcp.firestore_store import FirestoreJobStore
from tests.e2e.jobs import Finished, assert_exactly_once, jsonl, make_prompts
from tests.gcp.emulators import close_client
from tests.gcp.test_google_path import (
    CONTROL_PERIOD,
    HIDDEN_RISE,
    RETIRE_AFTER,
    GoogleStack,
    _download,
    _init,
    _put,
    _status,
    stack,
)

pytestmark = [pytest.mark.anyio, pytest.mark.e2e, pytest.mark.slow]
__all__ = ["stack"]  # the Google stack fixture, one per module


async def test_429s_are_retried_while_the_controller_ticks_and_it_stops_after(
    stack: GoogleStack,
) -> None:
    """Anthropic allows 90 RPM in the simulator: the queue meets 429s for a while."""
    prompts = make_prompts(12, prefix="a")
    key = RateKey("anthropic", "claude-3-5-haiku-20241022")
    client = stack.firestore.client(stack.project)
    store = FirestoreJobStore(client)
    queue = stack.task_queue()
    ticks_seen: set[float] = set()
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            before = (await http.get(f"{stack.simulator_url}/_sim/stats")).json()["anthropic"]
            job = await _init(http, stack, provider="anthropic", model=key.model)
            await _put(http, job["upload_url"], jsonl(prompts))
            deadline = time.monotonic() + 150.0
            status = await _status(http, stack, job["job_id"])
            while status["status"] not in ("COMPLETED", "FAILED"):
                assert time.monotonic() < deadline, f"{status}\n{stack.logs()}"
                saved = await store.load_rate_state(key.id)
                ticks_seen.add(saved.decision.at if saved and saved.decision else 0.0)
                await asyncio.sleep(0.25)
                status = await _status(http, stack, job["job_id"])
            files = await _download(http, stack, job["job_id"])
            after = (await http.get(f"{stack.simulator_url}/_sim/stats")).json()["anthropic"]
        assert status["status"] == "COMPLETED", f"{status}\n{stack.logs()}"
        finished = Finished(status, files)
        assert_exactly_once(finished, [p["prompt_id"] for p in prompts])
        assert len(finished.results) == 12  # every 429 was retried, none counted as a failure
        assert after["rate_limited"] > before["rate_limited"], (before, after)
        assert after["successes"] - before["successes"] == 12  # one successful call per prompt
        # While the key had work, the controller stepped again and again (one step a period).
        assert len(ticks_seen - {0.0}) >= 3, sorted(ticks_seen)
        # Once no job on the key is processing, the key's queue retires after RETIRE_AFTER
        # (deleted, with a tombstone), and the chain of ticks ends.
        # Wait for the event (retired and no tick queued), not for a fixed time: a tick being
        # delivered is briefly in no list, and a loaded machine runs the chain late.
        stop_by = time.monotonic() + RETIRE_AFTER + 120 * CONTROL_PERIOD
        while True:
            pending = await _pending_ticks(queue)
            state = await store.load_rate_state(key.id)
            retired = state is not None and state.queue is None
            if (retired and not pending) or time.monotonic() > stop_by:
                break
            await asyncio.sleep(0.5)
        assert pending == [], "the controller kept ticking after the key ran out of work"
        assert state is not None and state.queue is None, state
        assert [t.base for t in state.retired] == [queue_for(key)]
        listed = await queue._client.list_queues(parent=queue.queue_path("x").rsplit("/", 2)[0])
        names = [q.name.rsplit("/", 1)[-1] async for q in listed]
        assert "pf-control" in names and queue_for(key) not in names
    finally:
        await queue.aclose()
        await close_client(client)


async def test_a_headerless_keys_queue_rate_follows_its_hidden_limit(stack: GoogleStack) -> None:
    """The Google runtime's controller (the shared core, gated, stepping as a task chain,
    its queue dispatching at the rate it configures) finds a limit no response states:
    the rate it decides settles near 60 RPM, then follows the limit up to 120 RPM."""
    prompts = make_prompts(160, prefix="g")
    key = RateKey("gemini", "gemini-2.5-flash")
    client = stack.firestore.client(stack.project)
    store = FirestoreJobStore(client)
    seen: list[tuple[float, float, float]] = []  # (s since the limits started, rate, queue's)
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            (await http.post(f"{stack.simulator_url}/_sim/reset")).raise_for_status()
            started = time.monotonic()
            job = await _init(http, stack, provider="gemini", model=key.model)
            await _put(http, job["upload_url"], jsonl(prompts))
            deadline = started + 300.0
            status = await _status(http, stack, job["job_id"])
            while status["status"] not in ("COMPLETED", "FAILED"):
                assert time.monotonic() < deadline, f"{status}\n{seen}\n{stack.logs()}"
                saved = await store.load_rate_state(key.id)
                if saved is not None and saved.decision is not None:
                    decided = saved.decision
                    seen.append((time.monotonic() - started, decided.rate, decided.applied_rate))
                await asyncio.sleep(0.5)
                status = await _status(http, stack, job["job_id"])
            files = await _download(http, stack, job["job_id"])
            stats = (await http.get(f"{stack.simulator_url}/_sim/stats")).json()["gemini"]
        assert status["status"] == "COMPLETED", f"{status}\n{stack.logs()}"
        assert_exactly_once(Finished(status, files), [p["prompt_id"] for p in prompts])
        assert stats["successes"] == len(prompts)
        assert stats["rate_limited"] <= 0.1 * stats["requests"], (stats, seen)
        # Before the rise: near the hidden 1 call/s (once slow start has met it).
        settled = [rate for at, rate, _ in seen if HIDDEN_RISE - 15.0 <= at <= HIDDEN_RISE]
        assert settled, seen
        assert 0.6 <= statistics.median(settled) <= 1.5, seen
        # After it: up to the hidden 2 calls/s while the job still has work.
        risen = [rate for at, rate, _ in seen if at > HIDDEN_RISE]
        assert risen, seen
        assert max(risen) >= 0.8 * 2.0, seen
        # The queue is configured at the decided rate, or above it while the rate ramps
        # (the workers' gate thins dispatches down to the decided one).
        assert all(queued >= 0.99 * rate for _, rate, queued in seen), seen
    finally:
        await close_client(client)


async def _pending_ticks(queue: CloudTasksQueue) -> list[str]:
    pager = await queue._client.list_tasks(parent=queue.queue_path("pf-control"))
    return [task.name async for task in pager if task.name.rsplit("/", 1)[-1].startswith("c-")]
