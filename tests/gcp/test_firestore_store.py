"""What only the Firestore job store has: its document layout, ids, shards, commit limits.

The behaviour it shares with the SQLite store is ``tests/contract/test_jobstore_contract.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from google.api_core.exceptions import Aborted
from google.cloud.firestore import AsyncClient, AsyncTransaction

from promptforge.core.models import ClaimResult, JobStatus, Outcome
from promptforge.core.ratestate import RateKeyState
from promptforge.gcp import _firestore_items, _firestore_rate, _firestore_tx
from promptforge.gcp._firestore_codec import hashed_id, safe_id
from promptforge.gcp._firestore_tx import run_transaction
from promptforge.gcp.firestore_store import FirestoreJobStore, firestore_indexes
from promptforge.providers.base import CallOutcome
from promptforge.ratecontrol.base import Observation
from tests.contract._jobstore_data import ERROR, RESULT, T0, error, make_job, result
from tests.gcp.emulators import FirestoreEmulator, start_firestore_emulator

pytestmark = pytest.mark.anyio

INDEX_FILE = Path(__file__).parents[2] / "shared" / "promptforge" / "gcp" / "firestore_indexes.json"
ODD = ["a/b", ".", "..", "__name__", "%2F", "ü 🚀", "x" * 256, "p:1", " "]


@pytest.fixture
async def client(firestore_emulator: FirestoreEmulator) -> AsyncIterator[AsyncClient]:
    """A client on a fresh emulator project."""
    async with firestore_emulator.connect() as opened:
        yield opened


@pytest.fixture
def store(client: AsyncClient) -> FirestoreJobStore:
    """A store with the default layout."""
    return FirestoreJobStore(client)


def test_safe_ids_are_valid_distinct_and_decodable() -> None:
    texts = [*ODD, "job-1", "openai~gpt-4o~default", "%", "%25", "___", "__x_"]
    ids = [safe_id(text) for text in texts]
    assert len(set(ids)) == len(texts)
    for text, encoded in zip(texts, ids, strict=True):
        assert unquote(encoded) == text
        assert "/" not in encoded and encoded not in {".", ".."}
        assert not (encoded.startswith("__") and encoded.endswith("__") and len(encoded) >= 4)
    assert safe_id("0c7d-uuid~like_ids") == "0c7d-uuid~like_ids"  # readable in the console
    with pytest.raises(ValueError, match="empty"):
        safe_id("")
    with pytest.raises(ValueError, match="too long"):
        safe_id("/" * 600)
    assert len({hashed_id(f"p:{i:04d}") for i in range(1000)}) == 1000
    assert len(hashed_id("x" * 5000)) == 64


def test_index_file_matches_the_layout() -> None:
    declared = json.loads(INDEX_FILE.read_text())
    assert declared == firestore_indexes("pf")
    groups = {index["collectionGroup"] for index in declared["indexes"]}
    assert groups == {"pf_jobs", "items", "outcome_sets", "pf_prompts", "pf_prompt_versions"}
    assert firestore_indexes("blue")["indexes"][0]["collectionGroup"] == "blue_jobs"


async def test_odd_ids_round_trip(store: FirestoreJobStore) -> None:
    for job_id in ["team/../x", "__job__", "..", "ü"]:
        await store.create_job(make_job(job_id))
        loaded = await store.get_job(job_id)
        assert loaded is not None and loaded.job_id == job_id
    await store.create_job(make_job())
    assert await store.register_prompts("job-1", [(p, i) for i, p in enumerate(ODD)]) == [None] * 9
    assert await store.register_prompts("job-1", [("a/b", 7), ("..", 2)]) == [0, None]
    until = T0 + timedelta(minutes=1)
    for prompt_id in ODD:
        assert await store.claim("job-1", prompt_id, 0, "w", until, T0) is ClaimResult.CLAIMED
    outcomes = [result(Outcome.prompt_key(p), i) for i, p in enumerate(ODD)]
    assert await store.record_outcomes("job-1", outcomes) == 9
    assert [o async for o in store.iter_outcomes("job-1", RESULT)] == outcomes
    assert await store.claim("job-1", "a/b", 0, "w", until, T0) is ClaimResult.DONE

    key = "gemini~models/gemini-1.5-flash~team/key"
    await store.save_rate_state(key, RateKeyState(queue="pf-q", shards=2))
    await store.append_observations(key, [Observation(1.0, CallOutcome.SUCCESS)])
    assert await store.load_rate_state(key) == RateKeyState(queue="pf-q", shards=2)
    assert await store.load_rate_state("gemini~models") is None
    assert await store.drain_observations(key) == [Observation(1.0, CallOutcome.SUCCESS)]


async def test_a_prompt_keeps_lease_and_outcome_on_one_document(
    store: FirestoreJobStore, client: AsyncClient
) -> None:
    await store.create_job(make_job())
    await store.register_prompts("job-1", [("p/1", 3)])
    doc = client.collection("pf_jobs").document("job-1").collection("items")
    doc_ref = doc.document(hashed_id("p:p/1"))
    await store.claim("job-1", "p/1", 0, "w1", T0 + timedelta(minutes=5), T0)
    leased = (await doc_ref.get()).to_dict()
    assert leased is not None
    assert (leased["prompt_line"], leased["lease_holder"], leased["done"]) == (3, "w1", False)
    assert "kind" not in leased

    await store.record_outcomes("job-1", [result("p:p/1", 3, 4, 5)])
    recorded = (await doc_ref.get()).to_dict()
    assert recorded is not None
    assert (recorded["kind"], recorded["line"], recorded["done"]) == ("result", 3, True)
    assert recorded["lease_holder"] is None and recorded["lease_until"] is None
    assert json.loads(recorded["record"]) == result("p:p/1", 3, 4, 5).record
    assert len(await doc.get()) == 1


async def test_counters_are_spread_over_shards(client: AsyncClient) -> None:
    store = FirestoreJobStore(client, counter_shards=8)
    await store.create_job(make_job())
    outcomes = [result(f"p:{i}", i, 1, 2) if i % 3 else error(f"l:{i}", i) for i in range(120)]
    counts = await asyncio.gather(*(store.record_outcomes("job-1", [o]) for o in outcomes))
    assert sum(counts) == 120

    shards = await client.collection("pf_jobs").document("job-1").collection("counters").get()
    assert 2 <= len(shards) <= 8  # 120 random picks of 8 leave none empty but by a fluke
    assert {shard.id for shard in shards} <= {str(i) for i in range(8)}
    assert max((s.to_dict() or {})["completed_count"] for s in shards) < 80
    totals = {
        name: sum((s.to_dict() or {})[name] for s in shards)
        for name in ("completed_count", "failed_count", "input_tokens", "output_tokens")
    }
    assert totals == {
        "completed_count": 80,
        "failed_count": 40,
        "input_tokens": 80,
        "output_tokens": 160,
    }
    job = await store.get_job("job-1")
    assert job is not None and (job.completed_count, job.failed_count) == (80, 40)

    single = FirestoreJobStore(client, prefix="one", counter_shards=1)
    await single.create_job(make_job())
    await single.record_outcomes("job-1", outcomes[:10])
    await single.record_outcomes("job-1", outcomes[10:20])
    counters = client.collection("one_jobs").document("job-1").collection("counters")
    assert [shard.id for shard in await counters.get()] == ["0"]


async def test_get_job_is_one_snapshot(
    store: FirestoreJobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.create_job(make_job())
    await store.record_outcomes("job-1", [result("p:first", 1)])
    read_counters = store._counters

    async def outcome_lands_in_between(job_id: str, read_time: datetime) -> dict[str, int]:
        await store.record_outcomes("job-1", [result("p:between", 2)])
        return await read_counters(job_id, read_time)

    monkeypatch.setattr(store, "_counters", outcome_lands_in_between)
    job = await store.get_job("job-1")
    assert job is not None and job.completed_count == 1  # as of the job document's read
    monkeypatch.undo()
    job = await store.get_job("job-1")
    assert job is not None and job.completed_count == 2


async def test_batches_are_split_into_commits(
    store: FirestoreJobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes: list[int] = []
    real_record = _firestore_items.record

    async def counting(layout: Any, job_id: str, chunk: Sequence[Outcome], shards: int) -> int:
        sizes.append(len(chunk))
        return await real_record(layout, job_id, chunk, shards)

    monkeypatch.setattr(_firestore_items, "record", counting)
    await store.create_job(make_job())
    outcomes = [error(f"l:{i}", i) for i in range(1000)]
    assert await store.record_outcomes("job-1", outcomes + outcomes[:5]) == 1000
    assert sizes == [400, 400, 200]

    # Large records: commits stay under about 3 MiB (the emulator refuses 4 MiB messages).
    sizes.clear()
    big = [result(f"p:big{i}", i) for i in range(20)]
    big = [Outcome(o.key, o.kind, o.line, {"result": "x" * 300_000}) for o in big]
    assert await store.record_outcomes("job-1", big) == 20
    assert sizes == [10, 10]
    job = await store.get_job("job-1")
    assert job is not None and (job.completed_count, job.failed_count) == (20, 1000)
    streamed = [o async for o in store.iter_outcomes("job-1", RESULT)]
    assert streamed == big


async def test_iter_outcomes_with_a_page_boundary_at_the_end(client: AsyncClient) -> None:
    small = FirestoreJobStore(client, page_size=3)
    await small.create_job(make_job())
    await small.record_outcomes("job-1", [result(f"p:{i}", 8 - i) for i in range(9)])
    await small.record_outcomes("job-1", [error("l:4", 4)])
    streamed = [o async for o in small.iter_outcomes("job-1", RESULT)]
    assert [o.line for o in streamed] == list(range(9))
    assert [o.key async for o in small.iter_outcomes("job-1", ERROR)] == ["l:4"]


async def test_prefixes_keep_stores_apart(client: AsyncClient) -> None:
    green, blue = FirestoreJobStore(client), FirestoreJobStore(client, prefix="blue")
    await green.create_job(make_job())
    await green.save_rate_state("k", RateKeyState(queue="pf-q"))
    assert await blue.get_job("job-1") is None
    assert await blue.load_rate_state("k") is None
    await blue.create_job(make_job(tenant_id="tenant-blue"))
    assert [j.tenant_id for j in await green.list_jobs("tenant-a")] == ["tenant-a"]
    assert await green.list_jobs("tenant-blue") == []
    for bad in ["", "pf/x", "9lives", "a" * 64]:
        with pytest.raises(ValueError, match="prefix"):
            FirestoreJobStore(client, prefix=bad)
    with pytest.raises(ValueError, match="counter_shards"):
        FirestoreJobStore(client, counter_shards=0)


async def test_concurrent_drains_take_each_observation_once(
    store: FirestoreJobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_firestore_rate, "DRAIN_CHUNK", 50)  # two transactions per drain
    key = "openai~gpt-4o-mini~default"
    sent = [Observation(float(i), CallOutcome.SUCCESS, i) for i in range(80)]
    await store.append_observations(key, sent)
    first, second = await asyncio.gather(
        store.drain_observations(key), store.drain_observations(key)
    )
    assert sorted([*first, *second], key=lambda o: o.at) == sent
    assert await store.drain_observations(key) == []


async def test_transactions_retry_aborted_reads_only(
    client: AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_firestore_tx, "_FIRST_PAUSE", 0.001)
    calls: list[str] = []

    async def flaky(transaction: AsyncTransaction) -> str:
        calls.append("flaky")
        if len(calls) < 3:
            raise Aborted("contention on a read")
        return "done"

    assert await run_transaction(client, flaky) == "done"
    assert calls == ["flaky"] * 3

    async def refused(transaction: AsyncTransaction) -> str:
        calls.append("refused")
        raise ValueError("no job")

    with pytest.raises(ValueError, match="no job"):
        await run_transaction(client, refused)
    assert calls.count("refused") == 1

    async def hopeless(transaction: AsyncTransaction) -> str:
        calls.append("hopeless")
        raise Aborted("always")

    with pytest.raises(Aborted):
        await run_transaction(client, hopeless)
    assert calls.count("hopeless") == 6


def test_a_missing_cloud_sdk_fails_loudly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(pytest.fail.Exception, match="gcloud"):
        start_firestore_emulator(tmp_path / "log")


def test_the_emulator_runs_in_its_own_process_group(firestore_emulator: FirestoreEmulator) -> None:
    assert firestore_emulator.host.startswith("127.0.0.1:")
    assert os.getpgid(firestore_emulator.process.pid) == firestore_emulator.process.pid
    assert firestore_emulator.process.poll() is None


async def test_every_document_but_api_keys_expires_with_the_results(client: AsyncClient) -> None:
    """The TTL field: a finished job goes with its result files; the rest outlives any task."""
    retention = timedelta(days=3)
    store = FirestoreJobStore(client, retention=retention)
    began = datetime.now(UTC)
    await store.create_job(make_job())
    await store.register_prompts("job-1", [("p1", 1), ("p2", 2)])
    await store.record_outcomes("job-1", [result("p:p1", 1, 4, 5), error("l:9", 9)])
    await store.append_observations("k", [Observation(at=1.0, outcome=CallOutcome.SUCCESS)])
    await store.save_rate_state("k", RateKeyState(queue="pf-q"))
    job = client.collection("pf_jobs").document("job-1")
    written = [
        *(await job.collection("items").get()),
        *(await job.collection("counters").get()),
        *(await client.collection("pf_rate_keys").document("k").collection("observations").get()),
        *(await client.collection("pf_rate_keys").document("k").collection("states").get()),
        await job.get(),
    ]
    floor = began + retention + timedelta(days=31)
    assert len(written) == 8  # 3 items, 1 counter shard, 1 observation, rate state + marker, job
    assert all(doc.to_dict()["expires_at"] >= floor for doc in written)  # type: ignore[index]
    ended = T0 + timedelta(days=1)
    assert await store.transition(
        "job-1", JobStatus.WAITING_FOR_UPLOAD, JobStatus.FAILED, completed_at=ended
    )
    assert (await job.get()).to_dict()["expires_at"] == ended + retention  # type: ignore[index]
    declared = {
        o["collectionGroup"] for o in firestore_indexes("pf")["fieldOverrides"] if o.get("ttl")
    }
    assert declared == {
        "pf_jobs", "items", "counters", "chunks", "outcome_sets", "webhooks", "pf_rate_keys",
        "states", "observations",
    }  # fmt: skip


async def test_the_rate_state_is_a_log_of_documents_each_written_once(client: AsyncClient) -> None:
    """Each save creates the next version's document and deletes the one it was read at, in
        one commit: one document stays, none is written twice, and a stale writer (however many
        versions behind, or one that read no state) writes nothing. A state saved before versions
    is read as version 0."""
    store = FirestoreJobStore(client)
    key = client.collection("pf_rate_keys").document("k")
    legacy = RateKeyState(queue="pf-old", epoch=2)
    await key.set({"rate_key": "k", "state": json.dumps(legacy.to_dict())})
    read = await store.load_rate_state("k")
    assert read == legacy and read is not None and read.version == 0

    saved = read
    for steps in (1, 2, 3):
        assert await store.save_rate_state("k", replace(saved, steps=steps))
        loaded = await store.load_rate_state("k")
        assert loaded is not None and loaded.version == steps and loaded.steps == steps
        saved = loaded
    assert not (await key.get()).exists  # the first save took the old document's place
    assert [d.id for d in await key.collection("states").get()] == ["000000000000", "000000000003"]

    for stale in (read, replace(saved, version=1), replace(saved, version=2)):
        assert not await store.save_rate_state("k", replace(stale, epoch=9))
    assert [d.id for d in await key.collection("states").get()] == ["000000000000", "000000000003"]
    assert await store.load_rate_state("k") == saved
