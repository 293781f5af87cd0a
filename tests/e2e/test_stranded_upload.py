"""A stored upload always starts its job (issue 19, defect 5).

The blob PUT stores the file, then enqueues its ingest. Whatever comes between the two
(a kill, a full disk), the stored upload must run: the embedded runtime looks for
stored uploads of waiting jobs at start-up, the expiry check starts a stored upload's
ingest instead of leaving the job waiting, and a retried PUT reports the stored file
again (then answers 409 ``upload_exists``). Real ``promptforge serve`` processes; the
full-disk case mounts a small tmpfs (root only).
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx
import pytest

from tests.e2e.jobs import (
    Finished,
    assert_exactly_once,
    download,
    init_job,
    jsonl,
    make_prompts,
    wait_final,
)
from tests.e2e.processes import create_key, server, simulator

pytestmark = [pytest.mark.e2e]

OCTET = {"Content-Type": "application/octet-stream"}
PROMPTS = 40


def _store_as_if_uploaded(data: Path, upload_url: str, body: bytes) -> None:
    """Put the file where the PUT stores it, with no ingest enqueued: what a kill between
    ``os.replace`` and the enqueue leaves behind."""
    path = unquote(urlsplit(upload_url).path).removeprefix("/blobs/")
    target = data / "blobs" / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(body)


def _check_done(client: httpx.Client, url: str, key: str, job_id: str, ids: list[str]) -> None:
    status = wait_final(client, url, key, job_id, timeout=120)
    assert status["status"] == "COMPLETED", status
    assert_exactly_once(Finished(status, download(client, url, key, job_id)), ids)


def test_an_upload_stored_without_its_ingest_runs_after_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    key = create_key(data, "t")
    prompts = make_prompts(PROMPTS)
    with simulator(tmp_path) as sim, httpx.Client(timeout=30) as client:
        first = server(data, sim.url)
        first.start("/healthz")
        try:
            job = init_job(client, first.url, key)
        finally:
            first.kill()
        _store_as_if_uploaded(data, job["upload_url"], jsonl(prompts))
        second = server(data, sim.url)
        second.start("/healthz")
        try:
            ids = [p["prompt_id"] for p in prompts]
            _check_done(client, second.url, key, job["job_id"], ids)
        finally:
            second.stop()


def test_an_upload_stored_without_its_ingest_runs_by_the_expiry_check(tmp_path: Path) -> None:
    data = tmp_path / "data"
    key = create_key(data, "t")
    prompts = make_prompts(PROMPTS)
    with simulator(tmp_path) as sim, httpx.Client(timeout=30) as client:
        proc = server(data, sim.url, PROMPTFORGE_UPLOAD_URL_TTL="3")
        proc.start("/healthz")
        try:
            job = init_job(client, proc.url, key)
            _store_as_if_uploaded(data, job["upload_url"], jsonl(prompts))
            ids = [p["prompt_id"] for p in prompts]
            _check_done(client, proc.url, key, job["job_id"], ids)
        finally:
            proc.stop()


@contextlib.contextmanager
def _small_tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(folder: Path, leave_pages: int) -> Path:
    """Fill the file system of ``folder`` but ``leave_pages`` 4 KiB pages."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    size = filler.stat().st_size
    os.truncate(filler, max(size - leave_pages * 4096, 0))
    return filler


def test_a_full_disk_after_storing_the_upload_is_507_and_the_retry_starts_the_job(
    tmp_path: Path,
) -> None:
    with _small_tmpfs(tmp_path / "disk", "8m") as disk:
        data = disk / "data"
        key = create_key(data, "t")
        prompts = make_prompts(90)  # 7.6 KiB: the 8 KiB PUT
        body = jsonl(prompts)
        assert 4096 < len(body) <= 8192  # the file fits in the pages left, its ingest does not
        with simulator(tmp_path) as sim, httpx.Client(timeout=30) as client:
            proc = server(data, sim.url)
            proc.start("/healthz")
            try:
                job = init_job(client, proc.url, key)
                time.sleep(1.0)  # let the server's start-up writes settle before filling
                filler = _fill(disk, leave_pages=3)
                put = client.put(job["upload_url"], content=body, headers=OCTET)
                assert put.status_code == 507, put.text
                assert put.json()["error"]["code"] == "insufficient_storage"
                filler.unlink()  # the operator frees space; the client retries its PUT
                again = client.put(job["upload_url"], content=body, headers=OCTET)
                assert again.status_code == 409, again.text
                assert again.json()["error"]["code"] == "upload_exists"
                ids = [p["prompt_id"] for p in prompts]
                _check_done(client, proc.url, key, job["job_id"], ids)
            finally:
                proc.stop()
