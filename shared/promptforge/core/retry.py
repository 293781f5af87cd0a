"""Rerun the failures: a new job over exactly the prompts of an ended job that failed.

``POST /v1/jobs/{id}/retry`` reads the ended job's ``errors.jsonl`` outcomes and picks
the prompts whose error code is asked for (by default ``core.error_codes.RETRYABLE_CODES``:
what a new attempt could end otherwise). Their original lines are copied, server-side,
from the job's stored input into the new job's input (nothing is uploaded again), and
that input is ingested like an upload. The new job has the parent's settings (provider,
model, options, rate limits, webhook and its secret, ``dedupe``, ``max_cost_usd``: a
fresh cap of the same size), ``parent_job_id``, and optionally its own ``max_retries``.

Refusals: a job that has not ended is a 409 ``job_not_finished``; a selection with no
prompt is a 409 ``nothing_to_retry`` (the job's state, not the request, is what is in
the way); an input error's code (those lines never became prompts) is a 400
``code_not_retryable``; a code neither known nor on any of the job's errors is a 400
``unknown_error_code``; a job whose input is no longer stored is a 409 ``input_gone``.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from promptforge.core.deps import Deps
from promptforge.core.error_codes import (
    ANSWER_TOO_LARGE,
    RETRYABLE_CODES,
    error_code,
    is_input_error,
)
from promptforge.core.ingest import finalize_event_task
from promptforge.core.jobtasks import expire_task
from promptforge.core.jsonl import LineSplitter, RawLine
from promptforge.core.models import Job, OutcomeKind
from promptforge.core.service import expire_check_at, get_owned_job, upload_object_name
from promptforge.errors import BadRequest, Conflict

MAX_RETRY_BODY_BYTES = 8 * 1024
"""The largest retry body accepted (50 codes of 64 characters fit easily)."""
MAX_CODES = 50
RESERVED_METADATA_PREFIX = "pf_"
"""Metadata keys PromptForge sets itself (a drop-in batch's ``pf_batch``): not inherited, so
the new job is a plain job, not another view's batch."""

ErrorCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class RetryRequest(BaseModel):
    """``POST /v1/jobs/{job_id}/retry``: which failures to run again (the body may be empty)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    codes: Annotated[list[ErrorCode], Field(min_length=1, max_length=MAX_CODES)] | None = Field(
        None,
        description="Re-run the prompts whose error has one of these codes. Default: every "
        "error a retry could fix (" + ", ".join(sorted(RETRYABLE_CODES)) + "); never input "
        "errors such as invalid_json or duplicate_prompt_id.",
    )
    max_retries: int | None = Field(
        None, ge=0, le=20, description="The new job's max_retries (default: the parent's)."
    )


@dataclass
class _Errors:
    """The ended job's errors: each prompt error's line by code, and the input errors' codes."""

    lines_by_code: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    input_codes: set[str] = field(default_factory=set)


async def retry_job(
    deps: Deps, tenant_id: str, job_id: str, request: RetryRequest
) -> dict[str, Any]:
    """Create the job that re-runs ``job_id``'s chosen failures; the body of the 202 answer."""
    parent = await get_owned_job(deps, tenant_id, job_id)
    if not parent.status.final:
        raise Conflict(
            "job_not_finished",
            f"job {parent.job_id} is {parent.status.value}; retry its failures once it has "
            "ended (poll /status)",
        )
    errors = await _errors(deps, parent)
    codes = _chosen_codes(errors, request.codes)
    found = errors.lines_by_code
    counts = {code: len(found[code]) for code in sorted(codes) if code in found}
    lines = {line for code in counts for line in found[code]}
    if not lines:
        raise Conflict(
            "nothing_to_retry",
            f"job {parent.job_id} has no prompt error with code {', '.join(sorted(codes))}; "
            f"its prompt errors: {_census(errors) or 'none'}",
            details={"codes": sorted(codes), "error_codes": _counts(errors)},
        )
    if await deps.blobs.stat(deps.blobs.input_bucket, parent.upload_object) is None:
        raise Conflict(
            "input_gone",
            f"job {parent.job_id}'s input file is no longer stored; submit the lines again",
        )
    child = _child_job(deps, parent, request.max_retries)
    await deps.store.create_job(child)
    await deps.tasks.enqueue([expire_task(child.job_id, expire_check_at(deps, child))])
    await _copy_lines(deps, parent, child, lines)
    return {
        "job_id": child.job_id,
        "parent_job_id": parent.job_id,
        "status": child.status.value,
        "retried_count": len(lines),
        "codes": counts,
    }


async def _errors(deps: Deps, job: Job) -> _Errors:
    errors = _Errors()
    async for outcome in deps.store.iter_outcomes(job.job_id, OutcomeKind.ERROR):
        code = error_code(outcome)
        if is_input_error(outcome):
            errors.input_codes.add(code)
        else:
            errors.lines_by_code[code].append(outcome.line)
    return errors


def _chosen_codes(errors: _Errors, asked: list[str] | None) -> set[str]:
    """The codes to re-run: ``asked`` once checked, else the retryable ones."""
    if asked is None:
        return set(RETRYABLE_CODES)
    chosen = set(asked)
    refused = sorted(chosen & errors.input_codes - set(errors.lines_by_code))
    if refused:
        raise BadRequest(
            "code_not_retryable",
            f"{', '.join(refused)}: input errors, lines that never became prompts; a retry "
            "would fail them the same way. Fix those lines and submit them as a new job",
            details={"codes": refused},
        )
    known = RETRYABLE_CODES | {ANSWER_TOO_LARGE} | set(errors.lines_by_code)
    unknown = sorted(chosen - known)
    if unknown:
        raise BadRequest(
            "unknown_error_code",
            f"unknown error code(s) {', '.join(unknown)}; this job's prompt errors: "
            f"{_census(errors) or 'none'}, and a retry also knows "
            f"{', '.join(sorted(RETRYABLE_CODES))}",
            details={"codes": unknown, "error_codes": _counts(errors)},
        )
    return chosen


def _counts(errors: _Errors) -> dict[str, int]:
    return {code: len(lines) for code, lines in sorted(errors.lines_by_code.items())}


def _census(errors: _Errors) -> str:
    return ", ".join(f"{code} ({count})" for code, count in _counts(errors).items())


def _child_job(deps: Deps, parent: Job, max_retries: int | None) -> Job:
    now = deps.clock.now()
    job_id = str(uuid.uuid4())
    return Job(
        job_id=job_id,
        tenant_id=parent.tenant_id,
        provider=parent.provider,
        model=parent.model,
        max_retries=parent.max_retries if max_retries is None else max_retries,
        created_at=now,
        upload_expires_at=now + timedelta(seconds=deps.config.upload_url_ttl),
        upload_object=upload_object_name(parent.tenant_id, job_id),
        rpm=parent.rpm,
        tpm=parent.tpm,
        credential=parent.credential,
        params=parent.params,
        name=parent.name,
        metadata={
            key: value
            for key, value in parent.metadata.items()
            if not key.startswith(RESERVED_METADATA_PREFIX)
        },
        webhook_url=parent.webhook_url,
        webhook_secret=parent.webhook_secret,
        parent_job_id=parent.job_id,
        dedupe=parent.dedupe,
        max_schema_retries=parent.max_schema_retries,
        max_cost_usd=parent.max_cost_usd,  # a fresh cap of the same size: a new job's ledger
    )


async def _copy_lines(deps: Deps, parent: Job, child: Job, lines: set[int]) -> None:
    """Stream the parent's input into the child's, keeping the chosen lines; start its ingest.

    Lines are numbered as ingest numbers them (``core.jsonl.LineSplitter``), so a line
    number of ``errors.jsonl`` is the line copied.
    """
    splitter = LineSplitter(deps.config.max_line_bytes)
    writer = await deps.blobs.open_writer(deps.blobs.input_bucket, child.upload_object)
    try:
        async for chunk in deps.blobs.read(deps.blobs.input_bucket, parent.upload_object):
            await _write_chosen(writer.write, splitter.feed(chunk), lines)
        await _write_chosen(writer.write, splitter.close(), lines)
    except BaseException:
        await writer.abort()
        raise
    info = await writer.close()
    # Named by the object: the upload event the write may raise (Google) adds nothing.
    await deps.tasks.enqueue([finalize_event_task(info.bucket, info.name, info.generation)])


async def _write_chosen(
    write: Callable[[bytes], Awaitable[None]], raw_lines: Iterable[RawLine], lines: set[int]
) -> None:
    chosen = b"".join(raw.data + b"\n" for raw in raw_lines if raw.number in lines)
    if chosen:
        await write(chosen)
