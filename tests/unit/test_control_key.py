"""`control_key` keeps the jobs registered with a rate key while it steps the controller."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from promptforge.clock import FakeClock
from promptforge.core.control import control_key
from promptforge.core.deps import CoreConfig, Deps
from promptforge.jobstore.sqlite import SqliteJobStore
from promptforge.ratecontrol.base import Observation
from promptforge.tasks.base import QueueConfig

KEY = "openai|gpt-4o-mini|default"


class _RacingStore(SqliteJobStore):
    """A store where a second job registers with the key while the controller steps."""

    async def drain_observations(self, rate_key: str) -> list[Observation]:
        drained = await super().drain_observations(rate_key)
        saved = await self.load_rate_state(rate_key) or {}
        saved["jobs"] = {**saved.get("jobs", {}), "job-new": {"rpm": 120, "tpm": None}}
        await self.save_rate_state(rate_key, saved)
        return drained


class _Queues:
    def __init__(self) -> None:
        self.updates: list[tuple[str, QueueConfig]] = []

    async def update_queue(self, queue: str, config: QueueConfig) -> None:
        self.updates.append((queue, config))


@pytest.mark.anyio
async def test_a_job_registered_during_a_step_is_kept(tmp_path: Path) -> None:
    async with _RacingStore(tmp_path / "jobs.db") as store:
        await store.save_rate_state(
            KEY, {"queue": "pf-q", "jobs": {"job-gone": {"rpm": None, "tpm": None}}}
        )
        queues = _Queues()
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
        assert set(saved["jobs"]) == {"job-new"}
        assert [queue for queue, _ in queues.updates] == ["pf-q"]


@pytest.mark.anyio
@pytest.mark.parametrize("apply_delay", [0.0, 5.0])
async def test_a_gated_ramp_configures_the_queue_ahead_of_the_decided_rate(
    tmp_path: Path, apply_delay: float
) -> None:
    async with SqliteJobStore(tmp_path / "jobs.db") as store:
        await store.save_rate_state(KEY, {"queue": "pf-q", "jobs": {}})
        queues = _Queues()
        deps: Any = SimpleNamespace(
            store=store,
            tasks=queues,
            clock=FakeClock(),
            config=CoreConfig(initial_rate=1.0, queue_apply_delay=apply_delay),
        )
        rate = await control_key(cast(Deps, deps), KEY)
        saved = await store.load_rate_state(KEY)
        assert saved is not None
        decision = saved["decision"]
        assert decision["rate"] == 1.0
        # Gated (a late queue), before any call has answered the queue runs ahead by the
        # first-answer headroom (that answer may state the limits); else at the rate.
        expected = CoreConfig().rate_control.first_answer_headroom if apply_delay else 1.0
        assert decision["queue_rate"] == decision["applied_rate"] == rate == expected
        assert [config.max_dispatches_per_second for _, config in queues.updates] == [expected]
        assert saved["state"]["configured"][-1][1] == expected
