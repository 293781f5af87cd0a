"""The public API's use cases: init, status, results. HTTP-free; the web layer is thin.

List, cancel and the streamed results are in ``core.manage``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from promptforge.clock import isoformat
from promptforge.core.deps import Deps
from promptforge.core.idempotency import job_for_key
from promptforge.core.jobtasks import expire_task
from promptforge.core.models import GenerationParams, Job, JobStatus
from promptforge.core.requests import InitRequest
from promptforge.core.spend import check_priced, status_fields
from promptforge.core.webhooks import check_webhook_url, new_webhook_secret
from promptforge.errors import BadRequest, Conflict, NotFound, Unprocessable
from promptforge.prompts.jobs import job_target
from promptforge.providers.catalogue import Catalogue
from promptforge.providers.registry import SUPPORTED_PROVIDERS, get_adapter

UPLOAD_CONTENT_TYPE = "application/octet-stream"
EXPIRY_GRACE_SECONDS = 60
"""The expiry check runs this long after the upload URL expires (an upload may be finishing),
or one URL lifetime if that is shorter."""


def upload_object_name(tenant_id: str, job_id: str) -> str:
    """Where a job's input lives in the input bucket."""
    return f"{tenant_id}/{job_id}/prompts.jsonl"


def result_object_name(job: Job, filename: str) -> str:
    """Where a job's output file lives in the output bucket."""
    return f"{job.tenant_id}/{job.job_id}/{filename}"


async def init_job(
    deps: Deps, tenant_id: str, request: InitRequest, idempotency_key: str | None = None
) -> dict[str, Any]:
    """Create a job and a signed upload URL; the body of the 202 answer.

    With an ``idempotency_key``, the same key and request within 24 h answer the job the
    first one created (``core.idempotency``), and the same key with another request is a 409.
    """
    target = await job_target(deps, tenant_id, request)
    check_supported(deps, target.provider, target.model, target.params)
    check_priced(deps.catalogue, target.provider, target.model, request.max_cost_usd)
    if request.webhook_url is not None:
        await check_webhook_url(
            request.webhook_url, allow_private=deps.config.webhook_allow_private
        )
    now = deps.clock.now()
    job_id = str(uuid.uuid4())
    if idempotency_key is not None:
        job_id, earlier = await job_for_key(deps, tenant_id, idempotency_key, request, job_id)
        if earlier is not None:
            return await init_answer(deps, earlier)
    expires_at = now + timedelta(seconds=deps.config.upload_url_ttl)
    job = Job(
        job_id=job_id,
        tenant_id=tenant_id,
        provider=target.provider,
        model=target.model,
        max_retries=request.max_retries,
        created_at=now,
        upload_expires_at=expires_at,
        upload_object=upload_object_name(tenant_id, job_id),
        rpm=request.rpm,
        tpm=request.tpm,
        params=target.params,
        name=request.name,
        metadata=dict(request.metadata or {}),
        webhook_url=request.webhook_url,
        webhook_secret=new_webhook_secret() if request.webhook_url is not None else None,
        max_cost_usd=request.max_cost_usd,
        dedupe=request.dedupe,
    )
    try:
        await deps.store.create_job(job)
    except ValueError:
        raced = await deps.store.get_job(job_id) if idempotency_key is not None else None
        if raced is None:
            raise
        return await init_answer(deps, raced)  # a retry with the same key created it first
    await deps.tasks.enqueue([expire_task(job_id, expire_check_at(deps, job))])
    return await init_answer(deps, job)


def expire_check_at(deps: Deps, job: Job) -> datetime:
    """When the upload-expiry check of a waiting job runs: a grace after its upload deadline."""
    grace = timedelta(seconds=min(EXPIRY_GRACE_SECONDS, deps.config.upload_url_ttl))
    return job.upload_expires_at + grace


async def init_answer(deps: Deps, job: Job) -> dict[str, Any]:
    """The 202 body for ``job``: its id, a signed upload URL until its upload deadline, and
    its webhook secret when it has a webhook (an idempotent replay answers the same)."""
    upload_url = await deps.blobs.signed_url(
        deps.blobs.input_bucket,
        job.upload_object,
        method="PUT",
        expires_at=job.upload_expires_at,
        content_type=UPLOAD_CONTENT_TYPE,
    )
    body: dict[str, Any] = {
        "job_id": job.job_id,
        "upload_url": upload_url,
        "expires_at": isoformat(job.upload_expires_at),
    }
    if job.webhook_secret is not None:
        body["webhook_secret"] = job.webhook_secret
    return body


def check_supported(deps: Deps, provider: str, model: str, params: GenerationParams) -> None:
    """A 422 unless the provider, model and options are supported."""
    check_model(deps.catalogue, provider, model)
    unsupported = get_adapter(provider).unsupported(params)
    if unsupported:
        raise Unprocessable(
            "unsupported_option",
            f"{provider} cannot honour: {', '.join(unsupported)}; remove them",
            details={"options": unsupported},
        )


def check_model(catalogue: Catalogue, provider: str, model: str) -> None:
    """422 ``unsupported_provider`` or ``unsupported_model`` unless PromptForge can run it."""
    if provider not in SUPPORTED_PROVIDERS:
        raise Unprocessable(
            "unsupported_provider",
            f"provider {provider!r} is not supported; use one of: "
            + ", ".join(SUPPORTED_PROVIDERS),
            details={"supported": list(SUPPORTED_PROVIDERS)},
        )
    if catalogue.find(provider, model) is None:
        known = catalogue.models_for(provider)
        raise Unprocessable(
            "unsupported_model",
            f"model {model!r} is not in the catalogue for {provider}; "
            f"known models: {', '.join(known)}",
            details={"supported": known},
        )


async def get_owned_job(deps: Deps, tenant_id: str, job_id: str) -> Job:
    """The tenant's job; another tenant's job is as missing as a job that never existed."""
    try:
        canonical = str(uuid.UUID(job_id))
    except ValueError as exc:
        raise BadRequest(
            "invalid_job_id", "job_id must be the UUID that /v1/jobs/init returned"
        ) from exc
    job = await deps.store.get_job(canonical)
    if job is None or job.tenant_id != tenant_id:
        raise NotFound("job_not_found", f"no job {canonical} for this API key")
    return job


async def job_status(deps: Deps, job: Job) -> dict[str, Any]:
    """The status body: the seed's fields, then PromptForge's additions."""
    info = deps.catalogue.find(job.provider, job.model)
    cost = (
        deps.catalogue.estimate_cost(info, job.input_tokens, job.output_tokens)
        if info is not None
        else None
    )
    rate_state = await deps.store.load_rate_state(job.rate_key.id)
    decision = rate_state.decision if rate_state else None
    rate = decision.rate if decision else None
    body: dict[str, Any] = {
        "job_id": job.job_id,
        "status": job.status.value,
        "prompt_count": job.prompt_count,
        "completed_count": job.completed_count,
        "failed_count": job.failed_count,
        "created_at": isoformat(job.created_at),
        "started_processing_at": isoformat(job.started_processing_at),
        "completed_at": isoformat(job.completed_at),
        "provider": job.provider,
        "model": job.model,
        "ingest_complete": job.ingest_done,
        "tokens_used": job.input_tokens + job.output_tokens,
        "input_tokens": job.input_tokens,
        "output_tokens": job.output_tokens,
        "estimated_cost_usd": round(cost, 6) if cost is not None else None,
        "dispatch_rate_rpm": round(rate * 60, 1)
        if rate is not None and job.status is JobStatus.PROCESSING
        else None,
        "upload_expires_at": isoformat(job.upload_expires_at)
        if job.status is JobStatus.WAITING_FOR_UPLOAD
        else None,
        "error": job.error.to_dict() if job.error is not None else None,
        "name": job.name,
        "metadata": dict(job.metadata),
        "webhook_url": job.webhook_url,
        "cancel_requested_at": isoformat(job.cancel_requested_at),
        # Rerun the failures, pay once for duplicates (core/retry.py, core/dedupe.py).
        "parent_job_id": job.parent_job_id,
        "dedupe": job.dedupe,
        "deduplicated_count": job.deduplicated_count,
    }
    ledger = await deps.store.get_ledger(job.job_id) if job.max_cost_usd is not None else None
    body.update(status_fields(job, ledger))  # the cost cap (core.spend)
    return body


async def job_results(
    deps: Deps, job: Job, *, page_size: int | None = None, page_token: str | None = None
) -> dict[str, Any]:
    """One page of signed download URLs of a finished job's files (``next_page_token`` if more)."""
    if not job.status.final:
        raise Conflict(
            "job_not_finished",
            f"job {job.job_id} is {job.status.value}; poll /status until it has ended "
            "(COMPLETED, FAILED or CANCELLED), or stream what is done so far with "
            "?output_type=stream",
        )
    size = _page_size(page_size)
    start = _page_start(page_token, len(job.result_files))
    names = job.result_files[start : start + size]
    files = await sign_result_urls(deps, job, names)
    body: dict[str, Any] = {"job_id": job.job_id, "status": job.status.value, "files": files}
    if start + size < len(job.result_files):
        body["next_page_token"] = str(start + size)
    return body


RESULTS_PAGE_SIZE = 1000
"""Files per /results page by default and at most: a 10-million-prompt job has 1,001."""
SIGNING_CONCURRENCY = 32
"""URLs signed at once: on Google each is an IAM signBlob call (~50 ms), one at a time would
take the api function past its timeout on a large job."""


async def sign_result_urls(
    deps: Deps, job: Job, filenames: Sequence[str], *, concurrency: int = SIGNING_CONCURRENCY
) -> list[dict[str, Any]]:
    """``{filename, url, expires_at}`` for each file, signed ``concurrency`` at a time, in order."""
    expires_at = deps.clock.now() + timedelta(seconds=deps.config.results_url_ttl)
    limit = asyncio.Semaphore(concurrency)

    async def sign(filename: str) -> dict[str, Any]:
        async with limit:
            url = await deps.blobs.signed_url(
                deps.blobs.output_bucket,
                result_object_name(job, filename),
                method="GET",
                expires_at=expires_at,
            )
        return {"filename": filename, "url": url, "expires_at": isoformat(expires_at)}

    return list(await asyncio.gather(*(sign(name) for name in filenames)))


def _page_size(requested: int | None) -> int:
    if requested is None:
        return RESULTS_PAGE_SIZE
    if not 1 <= requested <= RESULTS_PAGE_SIZE:
        raise BadRequest(
            "invalid_page_size", f"page_size must be between 1 and {RESULTS_PAGE_SIZE}"
        )
    return requested


def _page_start(token: str | None, total: int) -> int:
    if token is None:
        return 0
    if not (token.isascii() and token.isdigit()) or int(token) >= max(total, 1):
        raise BadRequest(
            "invalid_page_token",
            "page_token must be the next_page_token of the previous page; start without one",
        )
    return int(token)
