"""The SQLite store writes observations with its own fast encoder: same JSON as ``to_dict``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptforge.jobstore._sqlite_schema import plain
from promptforge.jobstore.fields import dumps
from promptforge.jobstore.sqlite import SqliteJobStore
from promptforge.providers.base import CallOutcome, RateSignals
from promptforge.ratecontrol.base import Observation

FULL = Observation(
    at=1_700_000_000.25,
    outcome=CallOutcome.RATE_LIMITED,
    input_tokens=12,
    output_tokens=0,
    latency=0.125,
    signals=RateSignals(
        limit_requests=500,
        limit_tokens=200_000,
        remaining_requests=0,
        remaining_tokens=1234,
        reset_requests=0.5,
        reset_tokens=6.0,
        limit_input_tokens=450_000,
        remaining_input_tokens=449_000,
        limit_output_tokens=90_000,
        remaining_output_tokens=89_000,
        retry_after=1.5,
        daily_quota_exhausted=True,
    ),
)


def test_plain_gives_what_to_dict_gives() -> None:
    assert json.loads(dumps(plain(FULL))) == json.loads(json.dumps(FULL.to_dict()))
    assert plain([FULL, (CallOutcome.SUCCESS, {"k": FULL.signals})]) == [
        FULL.to_dict(),
        ["success", {"k": FULL.to_dict()["signals"]}],
    ]


@pytest.mark.anyio
async def test_observations_come_back_as_they_went_in(tmp_path: Path) -> None:
    plain_one = Observation(at=2.0, outcome=CallOutcome.SUCCESS, input_tokens=3, output_tokens=4)
    async with SqliteJobStore(tmp_path / "jobs.db") as store:
        await store.append_observations("k", [FULL, plain_one])
        assert await store.drain_observations("k") == [FULL, plain_one]
        assert await store.drain_observations("k") == []
