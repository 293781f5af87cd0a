"""The job-store contract runs against every backend: SQLite, and Firestore on its emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Protocol

import pytest

from promptforge.gcp.firestore_store import FirestoreJobStore
from promptforge.jobstore.base import JobStore
from promptforge.jobstore.sqlite import SqliteJobStore
from tests.gcp.emulators import FirestoreEmulator, firestore_emulator

__all__ = ["ListingJobStore", "firestore_emulator", "store"]


class ListingJobStore(JobStore, Protocol):
    """The port plus the listings both backends offer the runtimes (besides ``list_jobs``)."""

    async def list_active_rate_keys(self) -> list[str]:
        """Rate keys of jobs in PROCESSING."""
        ...

    async def expired_waiting_jobs(self, now: datetime) -> list[str]:
        """Jobs whose upload URL expired."""
        ...


@pytest.fixture(params=["sqlite", "firestore"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ListingJobStore]:
    """An empty store of each backend (Firestore: a fresh emulator project)."""
    if request.param == "sqlite":
        async with SqliteJobStore(tmp_path / "state" / "jobs.db") as opened:
            yield opened
    else:
        emulator: FirestoreEmulator = request.getfixturevalue("firestore_emulator")
        async with emulator.connect() as client:
            yield FirestoreJobStore(client)
