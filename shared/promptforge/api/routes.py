"""Every operation of the public API, once: route, handler, models and documented failures.

Both runtimes serve these (``api.app.create_api_app``) and the OpenAPI document is built
from them (``api.openapi``). Each handler runs after the caller's key and per-key limit
were checked (``api.app``), and only then reads its body or looks a job up.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel
from starlette.responses import Response, StreamingResponse

from promptforge.api import blob_routes
from promptforge.api import prompt_routes as prompts
from promptforge.api.bodies import limited_stream, path_job_id, read_body, require_json
from promptforge.api.operations import Call, Failure, Operation, parse_query, render
from promptforge.api.schemas import (
    InitResponse,
    JobList,
    JobResults,
    JobStatusBody,
    ListQuery,
    ResultsQuery,
    RetryCreated,
    ValidateQuery,
)
from promptforge.core.idempotency import check_idempotency_key
from promptforge.core.jsonl import validate_line
from promptforge.core.manage import cancel_job, list_jobs, stream_outcomes
from promptforge.core.requests import (
    MAX_INIT_BODY_BYTES,
    InitRequest,
    parse_init_request,
    parse_small_body,
)
from promptforge.core.retry import MAX_RETRY_BODY_BYTES, RetryRequest, retry_job
from promptforge.core.service import (
    get_owned_job,
    init_job,
    job_results,
    job_status,
)
from promptforge.core.validate import ValidationReport, Validator, validate_stream
from promptforge.formats import anthropic_batch, openai_batch
from promptforge.prompts.jobs import LineValidator, version_reader

_Q = TypeVar("_Q", bound=BaseModel)
NDJSON = blob_routes.NDJSON


async def _init(call: Call) -> Response:
    hint = "send only the job's settings here and PUT the prompts file to the upload_url"
    require_json(call.request)
    body = await read_body(call.request, MAX_INIT_BODY_BYTES, hint)
    key = check_idempotency_key(call.request.headers.get("idempotency-key"))
    created = await init_job(call.deps, call.tenant, parse_init_request(body), key)
    return render(InitResponse, created, 202)


async def _list(call: Call) -> Response:
    query = parse_query(ListQuery, call.request)
    return render(JobList, await list_jobs(call.deps, call.tenant, query.limit, query.after))


async def _status(call: Call) -> Response:
    job = await get_owned_job(call.deps, call.tenant, path_job_id(call.request))
    return render(JobStatusBody, await job_status(call.deps, job))


async def _results(call: Call) -> Response:
    query = parse_query(ResultsQuery, call.request)
    job = await get_owned_job(call.deps, call.tenant, path_job_id(call.request))
    if query.output_type == "stream":
        return StreamingResponse(stream_outcomes(call.deps, job), media_type=NDJSON)
    listing = await job_results(
        call.deps, job, page_size=query.page_size, page_token=query.page_token
    )
    return render(JobResults, listing)


async def _cancel(call: Call) -> Response:
    cancelled = await cancel_job(call.deps, call.tenant, path_job_id(call.request))
    return render(JobStatusBody, cancelled, 202)


async def _retry(call: Call) -> Response:
    require_json(call.request)
    hint = "send only {codes, max_retries}"
    body = await read_body(call.request, MAX_RETRY_BODY_BYTES, hint)
    request = parse_small_body(RetryRequest, body)
    created = await retry_job(call.deps, call.tenant, path_job_id(call.request), request)
    return render(RetryCreated, created, 202)


async def _validate(call: Call) -> Response:
    query = parse_query(ValidateQuery, call.request)
    config = call.deps.config
    hint = "split it into several jobs"
    provider, model = query.provider, query.model
    validate: LineValidator = validate_line
    max_tokens, system = query.max_tokens, None
    if query.prompt_version_id is not None:
        target, validate = await version_reader(call.deps, call.tenant, query.prompt_version_id)
        provider, model = target.provider, target.model
        max_tokens, system = max_tokens or target.params.max_tokens, target.params.system
    assert provider is not None and model is not None
    chunks = limited_stream(call.request, config.max_upload_bytes, hint)
    validator = Validator(
        call.deps.catalogue,
        provider,
        model,
        max_line_bytes=config.max_line_bytes,
        validate=validate,
        max_tokens=max_tokens,
        system=system,
    )
    return render(ValidationReport, await validate_stream(chunks, validator))


_JOB_PATH_FAILURES = (
    Failure(400, "The job id is not a UUID.", ("invalid_job_id",)),
    Failure(
        404,
        "No such job for this API key (another tenant's job looks the same).",
        ("job_not_found",),
    ),
)
_LINKS = {
    "status": {
        "operationId": "jobStatus",
        "parameters": {"job_id": "$response.body#/job_id"},
        "description": "Poll the job's status.",
    },
    "results": {
        "operationId": "jobResults",
        "parameters": {"job_id": "$response.body#/job_id"},
        "description": "List the job's files once it has ended.",
    },
    "cancel": {
        "operationId": "cancelJob",
        "parameters": {"job_id": "$response.body#/job_id"},
        "description": "Cancel the job.",
    },
}
API_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "POST",
        "/v1/jobs/init",
        "initJob",
        "Create a job and get a signed upload URL",
        _init,
        InitResponse,
        status=202,
        body=InitRequest,
        headers=(
            (
                "Idempotency-Key",
                "Makes init safe to retry: the same key and body within 24 h answer the "
                "first job (same job_id); the same key with another body is a 409.",
            ),
        ),
        failures=(
            Failure(
                400,
                "Malformed JSON (or nested over 64 levels), a missing, unknown or wrongly "
                "typed field, or an unusable Idempotency-Key.",
                (
                    "malformed_json",
                    "missing_field",
                    "unknown_field",
                    "invalid_field",
                    "invalid_idempotency_key",
                ),
            ),
            Failure(
                409,
                "The Idempotency-Key was used in the last 24 h with another body.",
                ("idempotency_key_reused",),
            ),
            Failure(413, "Body larger than 64 KiB.", ("body_too_large",)),
            prompts.INIT_PROMPT_404,
            Failure(
                422,
                "Unsupported provider, model or option (or prompt template); a cost cap on "
                "a model with no known price; a response_format schema that is not valid.",
                (
                    "unsupported_provider",
                    "unsupported_model",
                    "unsupported_option",
                    "unsupported_template",
                    "unpriced_model",
                    "invalid_response_format",
                ),
            ),
        ),
        links=_LINKS,
    ),
    Operation(
        "POST",
        "/v1/jobs/validate",
        "validateFile",
        "Check a JSONL file as ingest would, without creating a job",
        _validate,
        ValidationReport,
        description="Every problem a job of this file would meet (valid: false if any); an "
        "unknown provider or model is one of them, with line null. The body is the JSONL "
        "file as it is (any content type); an empty or absent one is reported as empty_file.",
        raw_body="application/octet-stream",
        body_optional=True,
        query=ValidateQuery,
        failures=(
            Failure(
                400,
                "Neither provider and model nor prompt_version_id in the query, one invalid, "
                "or another parameter in it.",
                ("missing_parameter", "invalid_parameter", "unknown_parameter"),
            ),
            Failure(
                404,
                "prompt_version_id names no prompt version of the caller's.",
                ("prompt_version_not_found",),
            ),
            Failure(413, "Larger than the upload limit.", ("body_too_large",)),
            Failure(
                422,
                "The prompt version's provider or template cannot run as a job.",
                ("unsupported_provider", "unsupported_template"),
            ),
        ),
    ),
    Operation(
        "GET",
        "/v1/jobs",
        "listJobs",
        "The caller's jobs, newest first, a page at a time",
        _list,
        JobList,
        query=ListQuery,
        failures=(
            Failure(
                400,
                "limit out of 1-100, or after is not one of the caller's jobs.",
                ("invalid_parameter", "invalid_cursor"),
            ),
        ),
    ),
    Operation(
        "GET",
        "/v1/jobs/{job_id}/status",
        "jobStatus",
        "A job's progress",
        _status,
        JobStatusBody,
        failures=_JOB_PATH_FAILURES,
    ),
    Operation(
        "GET",
        "/v1/jobs/{job_id}/results",
        "jobResults",
        "Signed download URLs of an ended job's files, or every line so far as one stream",
        _results,
        JobResults,
        query=ResultsQuery,
        streams=NDJSON,
        failures=(
            *_JOB_PATH_FAILURES,
            Failure(
                400,
                "output_type, page_size or page_token is not valid.",
                ("invalid_parameter", "invalid_page_token"),
            ),
            Failure(409, "output_type=urls and the job has not ended yet.", ("job_not_finished",)),
        ),
    ),
    Operation(
        "POST",
        "/v1/jobs/{job_id}/cancel",
        "cancelJob",
        "Stop a job: nothing more is dispatched, calls in flight finish, the rest is cancelled",
        _cancel,
        JobStatusBody,
        status=202,
        description="The job ends CANCELLED once its calls in flight have finished; every "
        "prompt that did not run is in errors.jsonl with code cancelled.",
        failures=(
            *_JOB_PATH_FAILURES,
            Failure(409, "The job has already ended.", ("job_ended",)),
        ),
    ),
    Operation(
        "POST",
        "/v1/jobs/{job_id}/retry",
        "retryJob",
        "Re-run an ended job's failures as a new job, from its stored lines (no re-upload)",
        _retry,
        RetryCreated,
        status=202,
        body=RetryRequest,
        body_optional=True,
        description="The new job runs exactly the prompts whose error has one of the codes "
        "(default: every error a retry could fix), with the parent's settings and "
        "parent_job_id; input errors (invalid_json, duplicate_prompt_id, ...) are never "
        "re-run. Nothing to re-run is a 409 (the job's state is what stands in the way).",
        failures=(
            *_JOB_PATH_FAILURES,
            Failure(
                400,
                "Malformed body, an unknown field, a code naming an input error, or a code "
                "neither known nor on any of the job's errors.",
                (
                    "malformed_json",
                    "unknown_field",
                    "invalid_field",
                    "code_not_retryable",
                    "unknown_error_code",
                ),
            ),
            Failure(
                409,
                "The job has not ended, none of its prompts failed with the codes, or its "
                "input file is no longer stored.",
                ("job_not_finished", "nothing_to_retry", "input_gone"),
            ),
            Failure(413, "Body larger than 8 KiB.", ("body_too_large",)),
            Failure(415, "A body labelled as anything but JSON.", ("unsupported_media_type",)),
        ),
        links={"status": _LINKS["status"]},
    ),
    *blob_routes.OPERATIONS,  # signed blob URLs (embedded runtime): api/blob_routes.py
    prompts.CREATE_PROMPT,
    prompts.LIST_PROMPTS,
    prompts.LIST_VERSIONS,
    prompts.LATEST_VERSION,
    prompts.GET_VERSION,
    prompts.TAG_VERSION,
    prompts.VERSION_TAGS,
    prompts.TAGGED_VERSION,
    *openai_batch.OPERATIONS,  # OpenAI Files + Batches: formats/openai_batch.py
    *anthropic_batch.OPERATIONS,  # Anthropic Message Batches: formats/anthropic_batch.py
)
"""The public API, in the order the document lists it (``/healthz`` and ``/openapi.json``
are added by ``api.app``)."""
