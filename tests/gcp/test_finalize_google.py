"""The fanned-out finalize on the Google stores: the Firestore emulator and the GCS stand-in.

Two jobs hold the same outcomes, some on their items (line errors, per-prompt results)
and most in chunks' outcome sets whose lines straddle the parts. One is finalized in one
step (``lines_per_part`` above its size), the other with ``lines_per_part`` set small in
the settings, so its parts are read by line range from Firestore, its error objects are
joined by GCS ``compose`` and its work objects deleted. Downloaded through their V4
signed URLs, the second job's files are the first job's, byte for byte.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import cast

import httpx
import pytest

from promptforge.clock import SystemClock
from promptforge.core.chunk_records import ChunkSpec
from promptforge.core.deps import CoreConfig, Deps
from promptforge.core.finalize_steps import ERRORS_FILE, WORK_FOLDER
from promptforge.core.models import Job, JobStatus, Outcome, OutcomeKind, PromptTask
from promptforge.core.service import job_results
from promptforge.gcp.firestore_store import FirestoreJobStore
from promptforge.gcp.gcs_signing import KeySigner
from promptforge.gcp.gcs_store import GcsBlobStore
from promptforge.settings import Settings
from tests.contract._jobstore_data import make_job
from tests.finalize_driver import NamedQueue, drain, finalize, single_pass
from tests.gcp.emulators import FirestoreEmulator
from tests.gcp.stand_ins import GcsStandIn, SigningKey, gcs_stand_in, make_signing_key

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

INPUT, OUTPUT = "pf-final-input", "pf-final-output"
LINES = 30
PER_PART = 7  # five parts: [1, 8), [8, 15), [15, 22), [22, 29), [29, end)
LINE_ERRORS = (4, 15, 30)  # recorded on their items, as ingest records a bad line
ALONE = (9, 22)  # per-prompt results on their items
CHUNKS = ((1, 3, 5, 6, 8, 10, 11, 13), (2, 7, 12, 14, 16, 18, 20), (17, 19, 21, 23, 24, 25))
CHUNKS += ((26, 27, 28, 29),)


@dataclass
class Stores:
    """The emulator-backed stores one test uses."""

    jobs: FirestoreJobStore
    blobs: GcsBlobStore
    gcs: GcsStandIn


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    return make_signing_key(tmp_path_factory.mktemp("signing"))


@pytest.fixture(scope="module")
def gcs(tmp_path_factory: pytest.TempPathFactory, key: SigningKey) -> Iterator[GcsStandIn]:
    with gcs_stand_in(tmp_path_factory.mktemp("gcs"), key, [INPUT, OUTPUT]) as stand_in:
        yield stand_in


@pytest.fixture
async def stores(
    firestore_emulator: FirestoreEmulator, gcs: GcsStandIn, key: SigningKey
) -> AsyncIterator[Stores]:
    signer = KeySigner.from_file(key.key_file, gcs.url)
    blobs = GcsBlobStore(gcs.client(), input_bucket=INPUT, output_bucket=OUTPUT, signer=signer)
    async with firestore_emulator.connect() as client:
        yield Stores(FirestoreJobStore(client, counter_shards=4, page_size=3), blobs, gcs)


def _deps(stores: Stores, lines_per_part: int) -> tuple[Deps, NamedQueue]:
    queue = NamedQueue()
    config = CoreConfig.from_settings(Settings(lines_per_part=lines_per_part))
    deps = SimpleNamespace(
        store=stores.jobs, blobs=stores.blobs, tasks=queue, clock=SystemClock(), config=config
    )
    return cast(Deps, deps), queue


def _outcome(line: int) -> Outcome:
    if line in LINE_ERRORS:
        record = {"line": line, "error": {"code": "invalid_json", "message": "not JSON"}}
        return Outcome(Outcome.line_key(line), OutcomeKind.ERROR, line, record)
    if line % 6 == 0:
        record = {"prompt_id": f"p{line}", "error": {"code": "retries_exhausted", "message": "5xx"}}
        return Outcome(Outcome.prompt_key(f"p{line}"), OutcomeKind.ERROR, line, record)
    record = {"prompt_id": f"p{line}", "result": f"réponse {line}", "tokens_used": 5}
    return Outcome(Outcome.prompt_key(f"p{line}"), OutcomeKind.RESULT, line, record, 2, 3)


async def _ready_job(store: FirestoreJobStore, job_id: str) -> Job:
    """A PROCESSING job with an outcome for each of ``LINES`` lines, most in outcome sets."""
    await store.create_job(make_job(job_id))
    await store.transition(job_id, JobStatus.WAITING_FOR_UPLOAD, JobStatus.PROCESSING)
    await store.register_prompts(job_id, [(f"p{line}", line) for line in ALONE])
    chunked = [line for chunk in CHUNKS for line in chunk]
    await store.register_chunk_prompts(job_id, [(f"p{line}", line) for line in chunked])
    await store.record_outcomes(job_id, [_outcome(n) for n in (*LINE_ERRORS, *ALONE)])
    for lines in CHUNKS:
        spec = ChunkSpec.of("q", [PromptTask(job_id, f"p{n}", n, f"prompt {n}") for n in lines])
        await store.create_chunks(job_id, [spec])
        half = len(lines) // 2  # two checkpoints, the later lines first
        for batch in (lines[half:], lines[:half]):
            await store.write_checkpoint(job_id, spec.chunk_id, [_outcome(n) for n in batch], [])
    await store.update_ingest_progress(job_id, LINES, done=True)
    job = await store.get_job(job_id)
    assert job is not None and job.ready_to_finalize, job
    return job


async def _download(deps: Deps, job_id: str) -> dict[str, bytes]:
    """Every file of the ended job, fetched through its signed URL (checked by the stand-in)."""
    job = await deps.store.get_job(job_id)
    assert job is not None and job.status is JobStatus.COMPLETED, job
    listing = await job_results(deps, job)
    files: dict[str, bytes] = {}
    async with httpx.AsyncClient(timeout=30) as http:
        for entry in listing["files"]:
            got = await http.get(entry["url"])
            assert got.status_code == 200, got.text
            files[entry["filename"]] = got.content
    return files


async def test_a_job_of_five_parts_downloads_what_one_step_writes(stores: Stores) -> None:
    one_step, _ = _deps(stores, lines_per_part=1000)
    single = await _ready_job(stores.jobs, "job-single")
    assert (await finalize(one_step, single)).ok
    expected = await _download(one_step, "job-single")
    assert sorted(expected) == [ERRORS_FILE, "results_part_001.jsonl"]
    assert expected["results_part_001.jsonl"] == await single_pass(
        one_step, single, OutcomeKind.RESULT
    )

    fanned, queue = _deps(stores, lines_per_part=PER_PART)
    job = await _ready_job(stores.jobs, "job-fanned")
    assert (await finalize(fanned, job)).ok
    assert len(queue.pending) == 5
    assert await drain(fanned, queue) == [
        *(f"part-{i:06d}" for i in (2, 3, 4, 5, 1)),  # part 1 last: its mark says all are queued
        "merge-1-000001",
        "end",
    ]
    files = await _download(fanned, "job-fanned")
    parts = [name for name in files if name != ERRORS_FILE]
    assert len(parts) >= 3 and parts == sorted(parts)
    assert b"".join(files[name] for name in parts) == expected["results_part_001.jsonl"]
    assert files[ERRORS_FILE] == expected[ERRORS_FILE]
    listed = stores.gcs.client().bucket(OUTPUT).list_blobs(prefix="tenant-a/job-fanned/")
    names = sorted(blob.name.removeprefix("tenant-a/job-fanned/") for blob in listed)
    assert names == sorted(files)  # the work objects are gone
    assert not any(name.startswith(WORK_FOLDER) for name in names)
