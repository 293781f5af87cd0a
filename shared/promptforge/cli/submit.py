"""``promptforge submit``: init a job, upload the file, follow it, download its results.

The steps a user of the quickstart runs by hand, in one call. Interrupting it
(Ctrl-C) never stops the job: it runs server-side, and the message printed says how
to pick it up again (``promptforge status JOB_ID``, ``promptforge results JOB_ID --out DIR``).
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from rich.console import Console
from rich.markup import escape

from promptforge.cli.progress import JobProgress
from promptforge.client import ClientError, PromptForgeClient
from promptforge.errors import CodedError

__all__ = [
    "InputFileError",
    "SubmitSummary",
    "check_input_file",
    "fetch_results",
    "submit_file",
    "wait_for_job",
]


class InputFileError(CodedError):
    """The prompts file cannot be submitted (missing, unreadable, empty); ``code`` says which."""


@dataclass(frozen=True)
class SubmitSummary:
    """How a submitted job ended and where its output files were written."""

    job_id: str
    status: str
    prompt_count: int
    completed_count: int
    failed_count: int
    files: list[Path]
    elapsed_seconds: float
    error: dict[str, Any] | None


async def check_input_file(path: Path) -> int:
    """Check ``path`` is a readable, non-empty regular file; returns its size in bytes."""
    apath = anyio.Path(path)
    if not await apath.exists():
        raise InputFileError("file_not_found", f"{path}: no such file")
    if not await apath.is_file():
        raise InputFileError("not_a_file", f"{path} is not a regular file: pass a .jsonl file")
    try:
        async with await anyio.open_file(path, "rb") as source:
            await source.read(1)
    except OSError as exc:
        raise InputFileError("file_unreadable", f"{path} cannot be read: {exc.strerror}") from exc
    size = (await apath.stat()).st_size
    if size == 0:
        raise InputFileError(
            "file_empty",
            f'{path} is empty: write one JSON object per line, {{"prompt_id": ..., "prompt": ...}}',
        )
    return size


async def submit_file(
    client: PromptForgeClient,
    path: Path,
    *,
    provider: str | None,
    model: str | None,
    out_dir: Path,
    max_retries: int = 3,
    rpm: int | None = None,
    tpm: int | None = None,
    params: dict[str, Any] | None = None,
    labels: dict[str, Any] | None = None,
    poll_interval: float = 1.0,
    show_progress: bool = True,
    console: Console | None = None,
) -> SubmitSummary:
    """Run one prompts file end to end and download every output file to ``out_dir/<job_id>/``.

    ``labels`` are init's name, metadata, webhook_url and idempotency_key (None: not sent),
    and ``prompt`` (a prompt version to run, ``cli.prompts_commands.prompt_target``).
    Raises :class:`InputFileError` before any API call if the file is not usable, and
    :class:`ClientError` when a call fails for good. On Ctrl-C (``CancelledError`` or
    ``KeyboardInterrupt``) it prints how to resume and re-raises.
    """
    started = time.monotonic()
    size = await check_input_file(path)
    console = console or Console()
    extra = {name: value for name, value in (labels or {}).items() if value is not None}
    job = await client.init_job(
        provider, model, max_retries=max_retries, rpm=rpm, tpm=tpm, params=params, **extra
    )
    job_id = str(job["job_id"])
    if job.get("webhook_secret"):
        console.print(
            f"webhook secret (shown once; verify deliveries with it): {job['webhook_secret']}",
            highlight=False,
            soft_wrap=True,
        )
    if show_progress:
        console.print(
            f"Job [bold]{job_id}[/] created ({_target(provider, model, extra)}); "
            f"uploading {escape(path.name)} ({_human_size(size)})",
            highlight=False,
            soft_wrap=True,
        )
    try:
        await client.upload(str(job["upload_url"]), path)
    except (asyncio.CancelledError, KeyboardInterrupt):
        _notice(
            console,
            f"Upload interrupted: job {job_id} has no input and will expire unused. "
            "Run submit again.",
        )
        raise

    try:
        if show_progress:
            with JobProgress(job_id, console=console) as progress:
                final = await wait_for_job(
                    client,
                    job_id,
                    poll_interval=poll_interval,
                    on_status=progress.update,
                    on_retry=lambda exc, delay: _notice(
                        console, f"Status check failed ({exc}); retrying in {delay:.0f} s"
                    ),
                )
        else:
            final = await wait_for_job(client, job_id, poll_interval=poll_interval)
    except (asyncio.CancelledError, KeyboardInterrupt):
        _notice(
            console,
            f"Stopped following job {job_id}; it keeps running on the server.\n"
            f"  Check it:      promptforge status {job_id}\n"
            f"  Get results:   promptforge results {job_id} --out {out_dir}",
        )
        raise

    try:
        files = await _fetch_final_results(client, final, out_dir)
    except (asyncio.CancelledError, KeyboardInterrupt):
        _notice(
            console,
            f"Download interrupted. Fetch the results of job {job_id} again with:\n"
            f"  promptforge results {job_id} --out {out_dir}",
        )
        raise
    error = final.get("error")
    return SubmitSummary(
        job_id=job_id,
        status=str(final["status"]),
        prompt_count=_int(final.get("prompt_count")),
        completed_count=_int(final.get("completed_count")),
        failed_count=_int(final.get("failed_count")),
        files=files,
        elapsed_seconds=time.monotonic() - started,
        error=error if isinstance(error, dict) else None,
    )


async def wait_for_job(
    client: PromptForgeClient,
    job_id: str,
    *,
    poll_interval: float = 1.0,
    on_status: Callable[[dict[str, Any]], None] | None = None,
    on_retry: Callable[[ClientError, float], None] | None = None,
    patience: float = 120.0,
    max_poll_interval: float = 10.0,
) -> dict[str, Any]:
    """Poll the job's status until ``COMPLETED`` or ``FAILED``; returns the final status body.

    The wait between polls starts at ``poll_interval`` and grows by half each poll up
    to ``max_poll_interval``: a long job is checked every few seconds, not every second
    (each status call reads the job and its counters on the server).

    Transient failures (no response, 408, 429, 5xx) are retried with exponential
    backoff (honouring ``Retry-After``) for up to ``patience`` seconds in a row, each
    reported to ``on_retry(error, delay)``; any other :class:`ClientError` is raised
    at once.
    """
    if poll_interval <= 0:
        raise ValueError(f"poll_interval must be positive, got {poll_interval}")
    failing_since: float | None = None
    backoff = poll_interval
    interval = poll_interval
    progress = _Progress()
    while True:
        try:
            status = await client.status(job_id)
        except ClientError as exc:
            now = time.monotonic()
            failing_since = failing_since if failing_since is not None else now
            if not exc.retryable or now - failing_since >= patience:
                raise
            backoff = min(backoff * 2, _MAX_BACKOFF)
            delay = max(backoff, exc.retry_after or 0.0)
            if on_retry is not None:
                on_retry(exc, delay)
            await anyio.sleep(delay)
            continue
        failing_since, backoff = None, poll_interval
        if on_status is not None:
            on_status(status)
        if status.get("status") in _FINAL:
            return status
        await anyio.sleep(min(interval, max(poll_interval, progress.eta(status))))
        interval = min(interval * _POLL_GROWTH, max(max_poll_interval, poll_interval))


class _Progress:
    """The job's finishing pace from successive status bodies, to poll near its end.

    A long job is polled every ``max_poll_interval``; once the prompts still to finish
    would take less than that at the pace seen since the first poll, the next poll is
    due when they should be done, so a job is not noticed up to ten seconds late.
    """

    def __init__(self) -> None:
        self._first: tuple[float, int] | None = None

    def eta(self, status: dict[str, Any]) -> float:
        """Seconds until every prompt seen so far should be finished (inf while unknown)."""
        done = _int(status.get("completed_count")) + _int(status.get("failed_count"))
        now = time.monotonic()
        if self._first is None:
            self._first = (now, done)
            return math.inf
        started, done_then = self._first
        if done <= done_then or now <= started:
            return math.inf
        pace = (done - done_then) / (now - started)
        return max(0, _int(status.get("prompt_count")) - done) / pace


async def fetch_results(client: PromptForgeClient, job_id: str, out_dir: Path) -> list[Path]:
    """Download every output file of a finished job into ``out_dir/<job_id>/``; returns the paths.

    A download refused with a 4xx (typically a signed URL past its 60 minutes) is
    retried once with a fresh listing. Raises :class:`ClientError` (409) if the job
    has not finished.
    """
    listing = await client.results(job_id)
    target = out_dir / _safe_name(job_id, what="job id")
    await anyio.Path(target).mkdir(parents=True, exist_ok=True)
    files = _file_entries(listing)
    paths: list[Path] = []
    refreshed: dict[str, str] | None = None
    for name, url in files.items():
        dest = target / name
        try:
            await client.download(url, dest)
        except ClientError as exc:
            if not 400 <= exc.status < 500:
                raise
            if refreshed is None:
                refreshed = _file_entries(await client.results(job_id))
            if name not in refreshed or refreshed[name] == url:
                raise
            await client.download(refreshed[name], dest)
        paths.append(dest)
    return paths


async def _fetch_final_results(
    client: PromptForgeClient, final: dict[str, Any], out_dir: Path
) -> list[Path]:
    """Results of a finished job; a ``FAILED`` job without results yields no files."""
    job_id = str(final["job_id"])
    try:
        return await fetch_results(client, job_id, out_dir)
    except ClientError as exc:
        if final.get("status") == "FAILED" and exc.status in (404, 409):
            return []
        raise


def _file_entries(listing: dict[str, Any]) -> dict[str, str]:
    """``{safe filename: url}`` from a results body, in the server's order."""
    entries: dict[str, str] = {}
    for item in listing.get("files", []):
        if not isinstance(item, dict) or not item.get("filename") or not item.get("url"):
            raise ClientError(0, "bad_response", f"malformed entry in results 'files': {item!r}")
        name = _safe_name(str(item["filename"]), what="file name")
        if name in entries:
            raise ClientError(0, "bad_response", f"results list {name!r} twice")
        entries[name] = str(item["url"])
    return entries


def _safe_name(name: str, *, what: str) -> str:
    """``name`` if it is one plain path component, else a ClientError (no path traversal)."""
    if name in ("", ".", "..") or os.sep in name or "/" in name or "\\" in name or "\0" in name:
        raise ClientError(0, "bad_response", f"refusing unsafe {what} from the server: {name!r}")
    return name


def _target(provider: str | None, model: str | None, init: dict[str, Any]) -> str:
    """What the job runs, for the progress line."""
    prompt = init.get("prompt")
    if isinstance(prompt, dict):
        return "prompt " + "@".join(str(v) for v in prompt.values())
    return f"{provider}/{model}"


def _notice(console: Console, text: str) -> None:
    console.print(text, style="yellow", highlight=False, markup=False, soft_wrap=True)


def _human_size(size: int) -> str:
    if size < 1024:
        return f"{size:,} bytes"
    value = size / 1024
    for unit in ("KB", "MB"):
        if value < 1024:
            return f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} GB"


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


_FINAL = ("COMPLETED", "FAILED")
_MAX_BACKOFF = 30.0
_POLL_GROWTH = 1.5
