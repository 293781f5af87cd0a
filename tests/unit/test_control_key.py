"""`control_key` keeps the jobs registered with a rate key while it steps the controller, and
saves its step with a compare-and-set: a tick delivered twice steps once, a step that dies
before its save changes nothing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from promptforge.clock import FakeClock
from promptforge.core.control import control_key
from promptforge.core.deps import CoreConfig, Deps
from promptforge.core.queues import rate_moved
from promptforge.core.ratestate import RateKeyState
from promptforge.jobstore.sqlite import SqliteJobStore
from promptforge.providers.base import CallOutcome
from promptforge.ratecontrol.base import Observation
from promptforge.ratecontrol.state import Ceilings
from promptforge.tasks.base import QueueConfig
from tests.unit._queues import RecordingQueues

KEY = "openai|gpt-4o-mini|default"


class _RacingStore(SqliteJobStore):
    """A store where a second job registers with the key while the controller steps."""

    async def drain_observations(self, rate_key: str) -> list[Observation]:
        drained = await super().drain_observations(rate_key)
        saved = await self.load_rate_state(rate_key) or RateKeyState()
        jobs = {**saved.jobs, "job-new": Ceilings(rpm=120)}
        await self.save_rate_state(rate_key, replace(saved, jobs=jobs))
        return drained


@pytest.mark.anyio
async def test_a_job_registered_during_a_step_is_kept(tmp_path: Path) -> None:
    async with _RacingStore(tmp_path / "jobs.db") as store:
        await store.save_rate_state(KEY, RateKeyState(queue="pf-q", jobs={"job-gone": Ceilings()}))
        queues = RecordingQueues()
        deps: Any = SimpleNamespace(
            store=store,
            tasks=queues,
            clock=FakeClock(),
            config=CoreConfig(initial_rate=1.0, max_concurrent_dispatches=100),
        )
        rate = await control_key(cast(Deps, deps), KEY)
        assert rate is not None
        saved = await store.load_rate_state(KEY)
        assert saved is not None
        # job-gone is not PROCESSING (no such job): dropped; job-new arrived mid-step: kept.
        assert set(saved.jobs) == {"job-new"}
        assert [queue for queue, _ in queues.updates] == ["pf-q"]


@pytest.mark.anyio
@pytest.mark.parametrize("apply_delay", [0.0, 5.0])
async def test_a_gated_ramp_configures_the_queue_ahead_of_the_decided_rate(
    tmp_path: Path, apply_delay: float
) -> None:
    async with SqliteJobStore(tmp_path / "jobs.db") as store:
        await store.save_rate_state(KEY, RateKeyState(queue="pf-q"))
        queues = RecordingQueues()
        deps: Any = SimpleNamespace(
            store=store,
            tasks=queues,
            clock=FakeClock(),
            config=CoreConfig(initial_rate=1.0, queue_apply_delay=apply_delay),
        )
        rate = await control_key(cast(Deps, deps), KEY)
        saved = await store.load_rate_state(KEY)
        assert saved is not None
        decision = saved.decision
        assert decision is not None and decision.rate == 1.0
        # Gated (a late queue), before any call has answered the queue runs ahead by the
        # first-answer headroom (that answer may state the limits); else at the rate.
        expected = CoreConfig().rate_control.first_answer_headroom if apply_delay else 1.0
        assert decision.queue_rate == decision.applied_rate == rate == expected
        assert [config.max_dispatches_per_second for _, config in queues.updates] == [expected]
        assert saved.state is not None and saved.state.configured[-1][1] == expected


@pytest.mark.anyio
async def test_a_queue_is_updated_only_when_its_rate_moves_a_meaningful_step(
    tmp_path: Path,
) -> None:
    """Another controller instance knows the rate the queue has: it is stored, not cached."""
    async with SqliteJobStore(tmp_path / "jobs.db") as store:
        await store.save_rate_state(KEY, RateKeyState(queue="pf-q"))
        clock = FakeClock()
        queues = RecordingQueues()
        deps: Any = SimpleNamespace(
            store=store,
            tasks=queues,
            clock=clock,
            config=CoreConfig(initial_rate=1.0, queue_rate_step=0.1),
        )
        for _ in range(5):  # no observation: the rate does not move
            await control_key(cast(Deps, deps), KEY)
            clock.advance(2.0)
        assert len(queues.updates) == 1, "only the first step configures the queue"
        saved = await store.load_rate_state(KEY)
        assert saved is not None and saved.decision is not None
        assert saved.decision.sent_rate == 1.0
        # The queue was last sent 5% off (under the step): still no update.
        await store.save_rate_state(KEY, _sent(saved, 1.05))
        await control_key(cast(Deps, deps), KEY)
        assert len(queues.updates) == 1
        # 20% off: the queue is brought to the rate, and the stored rate follows.
        saved = await store.load_rate_state(KEY)
        assert saved is not None
        await store.save_rate_state(KEY, _sent(saved, 1.25))
        await control_key(cast(Deps, deps), KEY)
        assert [config.max_dispatches_per_second for _, config in queues.updates] == [1.0, 1.0]
        saved = await store.load_rate_state(KEY)
        assert saved is not None and saved.decision is not None
        assert saved.decision.sent_rate == 1.0


def _sent(saved: RateKeyState, rate: float) -> RateKeyState:
    """``saved`` as if its queue had last been configured at ``rate``."""
    assert saved.decision is not None
    return replace(saved, decision=replace(saved.decision, sent_rate=rate))


def test_rate_moved_by_a_step() -> None:
    assert rate_moved(None, 5.0, 0.1)  # never sent
    assert not rate_moved(10.0, 10.9, 0.1) and not rate_moved(10.0, 9.1, 0.1)
    assert rate_moved(10.0, 11.0, 0.1) and rate_moved(10.0, 9.0, 0.1)
    assert rate_moved(10.0, 0.001, 0.1)  # a pause always goes through
    assert rate_moved(10.0, 10.01, 0.0) and not rate_moved(10.0, 10.0, 0.0)


def _observation(at: float) -> Observation:
    return Observation(at=at, outcome=CallOutcome.SUCCESS, input_tokens=10, latency=0.2)


@pytest.mark.anyio
async def test_a_tick_delivered_twice_at_once_steps_once_and_loses_no_observation(
    tmp_path: Path,
) -> None:
    """Both deliveries read the same state; the second to save finds it moved on, saves
    nothing and puts back what it drained, for the next step."""
    async with SqliteJobStore(tmp_path / "jobs.db") as store:
        await store.save_rate_state(KEY, RateKeyState(queue="pf-q"))
        deps: Any = SimpleNamespace(
            store=store,
            tasks=RecordingQueues(),
            clock=FakeClock(),
            config=CoreConfig(initial_rate=1.0),
        )
        read = await store.load_rate_state(KEY)  # what both deliveries read
        assert read is not None
        await store.append_observations(KEY, [_observation(1.0)])
        assert await control_key(cast(Deps, deps), KEY, saved=read) is not None
        first = await store.load_rate_state(KEY)
        assert first is not None and first.steps == 1 and first.version == read.version + 1

        await store.append_observations(KEY, [_observation(2.0)])
        assert await control_key(cast(Deps, deps), KEY, saved=read) is None
        after = await store.load_rate_state(KEY)
        assert after == first and after is not None and after.version == first.version
        assert await store.drain_observations(KEY) == [_observation(2.0)]


@pytest.mark.anyio
async def test_a_step_that_dies_before_its_save_leaves_the_state_as_it_was(
    tmp_path: Path,
) -> None:
    """A crash between read and write writes nothing; the next step goes on from the state
    last saved, and its queue update is sent again (the stored ``sent_rate`` never moved)."""

    class _Dying(RecordingQueues):
        async def update_queue(self, queue: str, config: QueueConfig) -> None:
            raise ConnectionError("instance stopped")

    async with SqliteJobStore(tmp_path / "jobs.db") as store:
        await store.save_rate_state(KEY, RateKeyState(queue="pf-q"))
        before = await store.load_rate_state(KEY)
        config = CoreConfig(initial_rate=1.0)
        dying: Any = SimpleNamespace(store=store, tasks=_Dying(), clock=FakeClock(), config=config)
        with pytest.raises(ConnectionError):
            await control_key(cast(Deps, dying), KEY)
        saved = await store.load_rate_state(KEY)
        assert saved == before and saved is not None and saved.version == 1

        queues = RecordingQueues()
        deps: Any = SimpleNamespace(store=store, tasks=queues, clock=FakeClock(), config=config)
        assert await control_key(cast(Deps, deps), KEY) == 1.0
        saved = await store.load_rate_state(KEY)
        assert saved is not None and saved.version == 2 and saved.steps == 1
        assert [queue for queue, _ in queues.updates] == ["pf-q"]


@pytest.mark.anyio
async def test_ticks_missed_for_a_while_step_from_the_newest_state(tmp_path: Path) -> None:
    """A gap in the chain (ticks lost for minutes) leaves no gap in the state's versions:
    the next step reads the newest and writes the one after it."""
    async with SqliteJobStore(tmp_path / "jobs.db") as store:
        await store.save_rate_state(KEY, RateKeyState(queue="pf-q"))
        clock = FakeClock()
        deps: Any = SimpleNamespace(
            store=store, tasks=RecordingQueues(), clock=clock, config=CoreConfig(initial_rate=1.0)
        )
        await control_key(cast(Deps, deps), KEY)
        clock.advance(300.0)
        await store.append_observations(KEY, [_observation(clock.now().timestamp())])
        await control_key(cast(Deps, deps), KEY)
        saved = await store.load_rate_state(KEY)
        assert saved is not None and saved.version == 3 and saved.steps == 2
        assert saved.decision is not None and saved.decision.at == clock.now().timestamp()
        assert saved.state is not None and saved.state.latency == 0.2  # the observation folded
