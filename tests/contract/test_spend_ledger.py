"""The cost-cap ledger (``core.spend``) on both job stores: reserve, settle, stop, replay.

Concurrent reservations never grant past the cap, on either backend: the rule runs
inside each store's own transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from promptforge.core.spend import Ledger
from promptforge.gcp.firestore_store import FirestoreJobStore
from promptforge.jobstore.base import JobStore
from promptforge.jobstore.sqlite import SqliteJobStore
from tests.contract._jobstore_data import T0
from tests.gcp.emulators import FirestoreEmulator, close_client

JOB = "job-spend"


@pytest.mark.anyio
async def test_a_job_without_reservations_has_no_ledger(store: JobStore) -> None:
    assert await store.get_ledger(JOB) is None


@pytest.mark.anyio
async def test_reserve_then_settle_moves_the_hold_into_spent(store: JobStore) -> None:
    assert await store.reserve_spend(JOB, "p1", 0, 400, 1000, T0)
    assert await store.get_ledger(JOB) == Ledger(spent=0, reserved=400)
    await store.settle_spend(JOB, "p1", 0, 120)
    assert await store.get_ledger(JOB) == Ledger(spent=120, reserved=0)


@pytest.mark.anyio
async def test_replays_count_once(store: JobStore) -> None:
    assert await store.reserve_spend(JOB, "p1", 0, 400, 1000, T0)
    assert await store.reserve_spend(JOB, "p1", 0, 400, 1000, T0)  # a redelivery
    assert await store.get_ledger(JOB) == Ledger(spent=0, reserved=400)
    await store.settle_spend(JOB, "p1", 0, 100)
    await store.settle_spend(JOB, "p1", 0, 100)  # a retried settle
    assert await store.get_ledger(JOB) == Ledger(spent=100, reserved=0)


@pytest.mark.anyio
async def test_a_refusal_stops_the_budget_for_good(store: JobStore) -> None:
    assert await store.reserve_spend(JOB, "p1", 0, 600, 1000, T0)
    assert not await store.reserve_spend(JOB, "p2", 0, 600, 1000, T0)
    ledger = await store.get_ledger(JOB)
    assert ledger is not None
    assert ledger.stopped_at == T0
    assert (ledger.spent, ledger.reserved) == (0, 600)
    await store.settle_spend(JOB, "p1", 0, 10)
    # Plenty of room now, but the cap was reached once: nothing more starts.
    assert not await store.reserve_spend(JOB, "p3", 0, 1, 1000, T0)
    ledger = await store.get_ledger(JOB)
    assert ledger is not None
    assert (ledger.spent, ledger.reserved, ledger.stopped_at) == (10, 0, T0)


@pytest.mark.anyio
async def test_a_timed_out_call_is_charged_its_reservation(store: JobStore) -> None:
    assert await store.reserve_spend(JOB, "p1", 0, 400, 1000, T0)
    await store.settle_spend(JOB, "p1", 0, None)
    assert await store.get_ledger(JOB) == Ledger(spent=400, reserved=0)


@pytest.mark.anyio
async def test_an_unsettled_older_generation_is_charged_in_full(store: JobStore) -> None:
    assert await store.reserve_spend(JOB, "p1", 0, 400, 1000, T0)
    assert await store.reserve_spend(JOB, "p1", 1, 300, 1000, T0)
    assert await store.get_ledger(JOB) == Ledger(spent=400, reserved=300)
    await store.settle_spend(JOB, "p1", 0, 5)  # the old generation's late settle: nothing held
    assert await store.get_ledger(JOB) == Ledger(spent=400, reserved=300)


@pytest.mark.anyio
async def test_concurrent_reservations_never_pass_the_cap(store: JobStore) -> None:
    granted = await asyncio.gather(
        *(store.reserve_spend(JOB, f"p{i}", 0, 100, 1050, T0) for i in range(20))
    )
    assert sum(granted) == 10
    ledger = await store.get_ledger(JOB)
    assert ledger is not None
    assert ledger.reserved == 1000
    assert ledger.stopped


@pytest.mark.parametrize("backend", ["sqlite", "firestore"])
def test_processes_reserving_at_once_never_pass_the_cap(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Three threads, each its own event loop and store (as three worker processes): their
    transactions contend on the one ledger, and the cap still holds."""
    if backend == "sqlite":
        path = tmp_path / "jobs.db"

        @asynccontextmanager
        async def opened() -> AsyncIterator[JobStore]:
            async with SqliteJobStore(path) as store:
                yield store

    else:
        emulator: FirestoreEmulator = request.getfixturevalue("firestore_emulator")
        project = emulator.project()

        @asynccontextmanager
        async def opened() -> AsyncIterator[JobStore]:
            client = emulator.client(project)
            try:
                yield FirestoreJobStore(client)
            finally:
                await close_client(client)

    def worker(name: str) -> list[bool]:
        async def go() -> list[bool]:
            async with opened() as store:
                return [
                    await store.reserve_spend(JOB, f"{name}{i}", 0, 100, 450, T0) for i in range(3)
                ]

        return asyncio.run(go())

    with ThreadPoolExecutor(3) as pool:
        granted = [ok for answers in pool.map(worker, "abc") for ok in answers]

    async def ledger() -> Ledger | None:
        async with opened() as store:
            return await store.get_ledger(JOB)

    final = asyncio.run(ledger())
    assert sum(granted) == 4
    assert final is not None
    assert (final.reserved, final.stopped) == (400, True)
