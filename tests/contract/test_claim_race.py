"""Two deliveries of one prompt race to claim and record it: every interleaving, both stores.

``test_utils.orchestrate`` (google-cloud-testutils) runs two threads, each one delivery
of the same worker task, and drives them through every ordering of their turns: a turn
ends at each ``pragma: SYNCPOINT claim race`` below (before the claim, before the
provider call, before the record). Each thread opens its own store on its own event
loop (on SQLite its own connection, on Firestore its own client of one emulator
project), as two worker processes would. In every ordering at most one delivery calls
the provider, exactly one outcome is recorded and counted, and the prompt ends done.

The pauses sit on plain calls between the steps, never on an ``await`` line: a paused
thread is then never inside a store transaction (a Firestore transaction paused holding
its document would block the other thread's turn).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from test_utils.orchestrate import orchestrate

from promptforge.core.models import ClaimResult, Outcome
from promptforge.gcp.firestore_store import FirestoreJobStore
from promptforge.jobstore.base import JobStore
from promptforge.jobstore.sqlite import SqliteJobStore
from tests.contract._jobstore_data import T0, make_job, result
from tests.gcp.emulators import FirestoreEmulator, close_client

JOB = "job-race"
ROUNDS = 40  # prompts registered: one per ordering of the two deliveries' turns (15)
LEASE = timedelta(minutes=10)


@dataclass
class _Race:
    """What the deliveries of each round did: who called the provider, what was recorded."""

    calls: dict[int, list[str]] = field(default_factory=dict)
    recorded: dict[int, list[int]] = field(default_factory=dict)
    claims: dict[int, list[ClaimResult]] = field(default_factory=dict)


def _turn() -> None:
    """A point where the orchestrator may switch threads (the syncpoints are its callers)."""


async def _deliver(store: JobStore, prompt_id: str, holder: str, race: _Race, round_: int) -> None:
    """One delivery of the prompt's generation-0 task: claim, call, record."""
    _turn()  # pragma: SYNCPOINT claim race
    claim = await store.claim(JOB, prompt_id, 0, holder, T0 + LEASE, T0)
    race.claims.setdefault(round_, []).append(claim)
    if claim is not ClaimResult.CLAIMED:
        return
    _turn()  # pragma: SYNCPOINT claim race
    race.calls.setdefault(round_, []).append(holder)  # the provider call
    _turn()  # pragma: SYNCPOINT claim race
    recorded = await store.record_outcomes(JOB, [result(Outcome.prompt_key(prompt_id), 1)])
    race.recorded.setdefault(round_, []).append(recorded)


def _delivery(
    opener: Callable[[], AsyncIterator[JobStore]], holder: str, race: _Race
) -> Callable[[], None]:
    """A thread body for ``orchestrate``: its n-th run races for prompt n."""
    rounds = itertools.count()

    def run() -> None:
        round_ = next(rounds)

        async def go() -> None:
            async with asynccontextmanager(opener)() as store:
                await _deliver(store, f"p{round_}", holder, race, round_)

        asyncio.run(go())

    return run


async def _prepare(store: JobStore) -> None:
    await store.create_job(make_job(JOB))
    await store.register_prompts(JOB, [(f"p{n}", 1) for n in range(ROUNDS)])


@pytest.mark.parametrize("backend", ["sqlite", "firestore"])
def test_two_deliveries_never_both_call_or_both_record(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        path = tmp_path / "jobs.db"

        async def opener() -> AsyncIterator[JobStore]:
            async with SqliteJobStore(path) as store:
                yield store

    else:
        emulator: FirestoreEmulator = request.getfixturevalue("firestore_emulator")
        project = emulator.project()

        async def opener() -> AsyncIterator[JobStore]:
            client = emulator.client(project)
            try:
                yield FirestoreJobStore(client)
            finally:
                await close_client(client)

    async def prepare() -> None:
        async with asynccontextmanager(opener)() as store:
            await _prepare(store)

    asyncio.run(prepare())
    race = _Race()
    turns = orchestrate(
        _delivery(opener, "a", race), _delivery(opener, "b", race), name="claim race"
    )
    assert turns == (4, 2)  # run alone: a claims, calls, records; b then finds it DONE

    rounds = sorted(race.claims)
    assert len(rounds) == 15  # every ordering of a's 4 turns and b's 2: 6! / (4! 2!)
    for round_ in rounds:
        assert len(race.calls.get(round_, [])) == 1, (round_, race.claims[round_])
        assert sorted(race.recorded.get(round_, [])) == [1], (round_, race.recorded)
        assert sorted(race.claims[round_]) != [ClaimResult.CLAIMED] * 2

    async def check() -> None:
        async with asynccontextmanager(opener)() as store:
            job = await store.get_job(JOB)
            assert job is not None
            assert job.completed_count == len(rounds)  # one count per prompt raced for
            for round_ in rounds:
                again = await store.claim(JOB, f"p{round_}", 0, "c", T0 + LEASE, T0)
                assert again is ClaimResult.DONE

    asyncio.run(check())
