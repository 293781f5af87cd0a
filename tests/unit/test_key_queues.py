"""A rate key's queues: how many, where prompts go, and the worker's admission gate.

Cloud Tasks caps a queue at 500 dispatches/s, so an uncapped key spreads its prompts
over several queues; a re-enqueued prompt stays in its queue; where queues apply a
new rate late, a dispatch the controller no longer wants is deferred, not called.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from promptforge.core.deps import CoreConfig
from promptforge.core.ingest import ingest_file
from promptforge.core.models import Job, JobStatus
from promptforge.core.queues import (
    SHARD_RATE,
    KeyQueues,
    ensure_rate_queue,
    key_queues,
    key_shards,
)
from promptforge.core.ratestate import RateKeyState
from promptforge.core.requests import InitRequest
from promptforge.core.service import init_job
from promptforge.core.worker import handle_prompt
from promptforge.embedded.runtime import EmbeddedRuntime
from promptforge.ratecontrol.controller import ControllerState
from promptforge.ratecontrol.state import Ceilings
from promptforge.settings import Settings
from promptforge.tasks.base import Delivery
from tests.unit._embedded import idle_runtime

pytestmark = pytest.mark.anyio

MAX_RATE = CoreConfig().rate_control.max_rate


PEAK = Settings().key_peak_rate


def test_an_uncapped_key_gets_queues_for_the_operators_peak_rate() -> None:
    assert key_shards(Ceilings(), PEAK, MAX_RATE) == 1  # the default: one queue's worth
    assert key_shards(Ceilings(), MAX_RATE, MAX_RATE) * SHARD_RATE >= MAX_RATE
    assert key_shards(Ceilings(), MAX_RATE, MAX_RATE) > 1
    assert key_shards(Ceilings(), 10 * MAX_RATE, MAX_RATE) == key_shards(
        Ceilings(), MAX_RATE, MAX_RATE
    )


def test_an_rpm_ceiling_sizes_the_queues() -> None:
    assert key_shards(Ceilings(rpm=600), MAX_RATE, MAX_RATE) == 1
    assert key_shards(Ceilings(rpm=27_000), PEAK, MAX_RATE) == 1  # 450/s: one queue
    assert key_shards(Ceilings(rpm=60_000), PEAK, MAX_RATE) == 3  # 1,000/s
    assert key_shards(Ceilings(rpm=10**9), PEAK, MAX_RATE) == key_shards(
        Ceilings(), MAX_RATE, MAX_RATE
    )


def test_prompts_go_to_every_shard_and_always_the_same_one() -> None:
    queues = KeyQueues("pf-rk-x", 5)
    chosen = [queues.for_prompt(f"p{i}") for i in range(500)]
    assert set(chosen) == set(queues.names)
    assert chosen == [queues.for_prompt(f"p{i}") for i in range(500)]
    assert min(chosen.count(name) for name in queues.names) > 50
    assert KeyQueues("pf-rk-x").names == ["pf-rk-x"]


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[EmbeddedRuntime]:
    settings = Settings(
        data_dir=tmp_path, port=0, openai_api_key="sk-test-x", key_peak_rate=MAX_RATE
    )
    async with idle_runtime(settings) as built:
        yield built


async def _job(runtime: EmbeddedRuntime, prompts: int, rpm: int | None = None) -> Job:
    deps = runtime.deps
    request = InitRequest(provider="openai", model="gpt-4o-mini", rpm=rpm)
    created = await init_job(deps, "t", request)
    job = await deps.store.get_job(str(created["job_id"]))
    assert job is not None
    rows = [{"prompt_id": f"p{i}", "prompt": f"ask {i}"} for i in range(prompts)]
    writer = await deps.blobs.open_writer(deps.blobs.input_bucket, job.upload_object)
    await writer.write(b"".join(json.dumps(row).encode() + b"\n" for row in rows))
    await writer.close()
    await deps.store.transition(job.job_id, JobStatus.WAITING_FOR_UPLOAD, JobStatus.PROCESSING)
    return job


async def _pending(runtime: EmbeddedRuntime, queues: KeyQueues) -> list[int]:
    return [await runtime.deps.tasks.pending(name) for name in queues.names]


async def test_ingest_spreads_an_uncapped_job_over_the_keys_queues(
    runtime: EmbeddedRuntime,
) -> None:
    job = await _job(runtime, 200)
    assert await ingest_file(runtime.deps, job, runtime.deps.blobs.input_bucket) == 200
    queues = await key_queues(runtime.deps, job.rate_key)
    assert queues.shards == key_shards(Ceilings(), MAX_RATE, MAX_RATE) > 1
    pending = await _pending(runtime, queues)
    assert sum(pending) == 200 and all(pending)


async def test_a_capped_job_uses_one_queue_and_a_second_job_keeps_the_keys_queues(
    runtime: EmbeddedRuntime,
) -> None:
    first = await _job(runtime, 10, rpm=600)
    assert await ensure_rate_queue(runtime.deps, first) == KeyQueues(
        (await key_queues(runtime.deps, first.rate_key)).base, 1
    )
    second = await _job(runtime, 10)  # uncapped, while the first is registered
    assert (await ensure_rate_queue(runtime.deps, second)).shards == 1


class _Provider:
    """An OpenAI stand-in that counts calls and answers 429 (so the prompt is re-enqueued)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        body = {"error": {"message": "Rate limit reached", "type": "requests"}}
        return httpx.Response(429, json=body, headers={"retry-after": "1"})


@pytest.fixture
async def provider(runtime: EmbeddedRuntime) -> AsyncIterator[_Provider]:
    """The runtime's provider calls go to a ``_Provider`` that answers 429."""
    answering = _Provider()
    runtime.deps.http = httpx.AsyncClient(transport=httpx.MockTransport(answering))
    try:
        yield answering
    finally:
        await runtime.deps.http.aclose()


async def _deliver_all(runtime: EmbeddedRuntime, job: Job, queues: KeyQueues) -> list[str]:
    """Deliver generation 0 of every prompt from its queue; returns the queues they came from."""
    sources = []
    for i in range(40):
        prompt_id = f"p{i}"
        queue = queues.for_prompt(prompt_id)
        payload = {
            "job_id": job.job_id,
            "prompt_id": prompt_id,
            "line": i + 1,
            "prompt": f"ask {i}",
            "generation": 0,
            "attempt": 0,
        }
        answer = await handle_prompt(runtime.deps, Delivery(queue, "worker", prompt_id, payload, 1))
        assert answer.ok
        sources.append(queue)
    return sources


async def _registered(runtime: EmbeddedRuntime, prompts: int) -> tuple[Job, KeyQueues]:
    job = await _job(runtime, prompts)
    queues = await ensure_rate_queue(runtime.deps, job)
    await runtime.deps.store.register_prompts(
        job.job_id, [(f"p{i}", i + 1) for i in range(prompts)]
    )
    return job, queues


async def test_a_rate_limited_prompt_goes_back_to_the_queue_it_came_from(
    runtime: EmbeddedRuntime, provider: _Provider
) -> None:
    job, queues = await _registered(runtime, 40)
    sources = await _deliver_all(runtime, job, queues)
    assert provider.calls == 40
    expected = [sources.count(name) for name in queues.names]
    assert await _pending(runtime, queues) == expected


async def _gated(
    runtime: EmbeddedRuntime, state: ControllerState, key: str, apply_delay: float = 5.0
) -> None:
    """Save ``state`` as the key's controller state, its queues applying rates late."""
    runtime.deps.config = replace(runtime.deps.config, queue_apply_delay=apply_delay)
    saved = await runtime.deps.store.load_rate_state(key) or RateKeyState()
    await runtime.deps.store.save_rate_state(key, replace(saved, state=state))


async def test_the_gate_defers_dispatches_above_the_decided_rate_without_calling(
    runtime: EmbeddedRuntime, provider: _Provider
) -> None:
    job, queues = await _registered(runtime, 40)
    now = runtime.deps.clock.now().timestamp()
    # The queue still dispatches at 100/s (set 60 s ago); the controller now wants 10/s.
    cut = ControllerState(rate=10.0, updated_at=now, history=((now - 60, 100.0), (now, 10.0)))
    # Applied 10 min late: a loaded machine taking seconds over the 40 deliveries still
    # finds the queue at 100/s (with 5 s, the cut reached the queue mid-test, and all passed).
    await _gated(runtime, cut, job.rate_key.id, apply_delay=600.0)
    sources = await _deliver_all(runtime, job, queues)
    # About one dispatch in ten goes through; every other one is deferred, uncalled.
    assert 0 < provider.calls <= 12
    assert sum(await _pending(runtime, queues)) == 40  # each prompt's next generation
    assert [sources.count(n) for n in queues.names] == await _pending(runtime, queues)


async def test_a_paused_key_defers_every_dispatch(
    runtime: EmbeddedRuntime, provider: _Provider
) -> None:
    job, queues = await _registered(runtime, 40)
    now = runtime.deps.clock.now().timestamp()
    paused = ControllerState(
        rate=10.0, updated_at=now, paused_until=now + 30, history=((now - 60, 10.0),)
    )
    await _gated(runtime, paused, job.rate_key.id)
    await _deliver_all(runtime, job, queues)
    assert provider.calls == 0
    assert sum(await _pending(runtime, queues)) == 40


async def test_without_a_late_queue_there_is_no_gate(
    runtime: EmbeddedRuntime, provider: _Provider
) -> None:
    job, queues = await _registered(runtime, 40)
    now = runtime.deps.clock.now().timestamp()
    cut = ControllerState(rate=10.0, updated_at=now, history=((now - 60, 100.0), (now, 10.0)))
    await _gated(runtime, cut, job.rate_key.id, apply_delay=0.0)
    await _deliver_all(runtime, job, queues)
    assert provider.calls == 40
