"""OpenAI's Files + Batches API over PromptForge jobs, as the official ``openai`` SDK calls it.

A batch is a job (``formats.common``): ``batch_<hex>`` names it, its lines are the input
file's requests with their own models, its status and counts are the job's, and its output
and error files are made from the job's outcomes when read (``chat.completion`` bodies with
the usage mapped, whichever provider answered). Every error has OpenAI's shape.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response, StreamingResponse

from promptforge.api.operations import Call, Failure, Operation, imitated_api, parse_query, render
from promptforge.core.manage import cancel_job
from promptforge.core.models import Job, JobStatus
from promptforge.errors import ApiError, BadRequest, PayloadTooLarge
from promptforge.formats import common, files, openai_lines
from promptforge.formats.openai_lines import ENDPOINT
from promptforge.formats.schemas import (
    OpenAIBatch,
    OpenAIBatchCreate,
    OpenAIBatchList,
    OpenAIError,
    OpenAIFile,
    OpenAIFileDeleted,
    OpenAIListQuery,
)

FORMAT = "openai"
PREFIX = "batch_"
EXPIRY = timedelta(hours=24)


def openai_error(exc: ApiError) -> Response:
    """``{"error": {message, type, param, code}}`` with the error's status."""
    kind = "invalid_request_error" if exc.status < 500 else "server_error"
    param = exc.details.get("parameter") if exc.details else None
    body = {"error": {"message": exc.message, "type": kind, "param": param, "code": exc.code}}
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)


async def _upload_file(call: Call) -> Response:
    limit = call.deps.config.max_upload_bytes
    declared = call.request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge("file_too_large", f"the file is larger than {limit:,} bytes")
    try:
        async with call.request.form(max_files=1, max_fields=4) as form:
            record = await _save_upload(call, form.get("purpose"), form.get("file"))
    except HTTPException as exc:
        message = f"the body is not multipart form data: {exc.detail}"
        raise BadRequest("invalid_multipart", message) from None
    return render(OpenAIFile, record)


async def _save_upload(call: Call, purpose: object, upload: object) -> dict[str, Any]:
    if not isinstance(upload, UploadFile):
        raise BadRequest("missing_file", "send the file as multipart field 'file'")
    if purpose != "batch":
        raise BadRequest(
            "invalid_purpose",
            f"purpose {purpose!r} is not supported; PromptForge keeps files with "
            "purpose=batch only",
            details={"parameter": "purpose"},
        )
    return await files.save_file(call.deps, call.tenant, upload, "batch")


def _file_id(call: Call) -> str:
    return str(call.request.path_params["file_id"])


async def _get_file(call: Call) -> Response:
    file_id = _file_id(call)
    job = await _output_job(call, file_id)
    if job is not None:
        record = {
            "id": file_id,
            "object": "file",
            "bytes": 0,
            "created_at": common.seconds(job.completed_at),
        }
        return render(
            OpenAIFile, {**record, "filename": f"{file_id}.jsonl", "purpose": "batch_output"}
        )
    return render(OpenAIFile, await files.file_record(call.deps, call.tenant, file_id))


async def _file_content(call: Call) -> Response:
    file_id = _file_id(call)
    job = await _output_job(call, file_id)
    if job is not None:
        errors = file_id.startswith(files.ERROR_PREFIX)
        return StreamingResponse(
            openai_lines.output_lines(call.deps, job, errors), media_type="application/jsonl"
        )
    await files.file_record(call.deps, call.tenant, file_id)
    content = files.file_content(call.deps, call.tenant, file_id)
    return StreamingResponse(content, media_type="application/jsonl")


async def _delete_file(call: Call) -> Response:
    return render(
        OpenAIFileDeleted, await files.delete_file(call.deps, call.tenant, _file_id(call))
    )


async def _output_job(call: Call, file_id: str) -> Job | None:
    """The ended batch whose output or error file ``file_id`` names, else None."""
    for prefix in (files.OUTPUT_PREFIX, files.ERROR_PREFIX):
        if file_id.startswith(prefix):
            batch_id = PREFIX + file_id[len(prefix) :]
            job = await common.batch_job(call.deps, call.tenant, batch_id, PREFIX, FORMAT)
            if job.status.final:
                return job
    return None


async def _create_batch(call: Call) -> Response:
    try:
        body = OpenAIBatchCreate.model_validate_json(await call.request.body())
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        param = ".".join(str(p) for p in first["loc"])
        raise BadRequest(
            "invalid_request", f"{param}: {first['msg']}", details={"parameter": param}
        ) from exc
    if body.endpoint != ENDPOINT:
        raise BadRequest(
            "invalid_endpoint",
            f"endpoint {body.endpoint!r} is not supported; use {ENDPOINT}",
            details={"parameter": "endpoint"},
        )
    if body.completion_window != "24h":
        raise BadRequest(
            "invalid_completion_window",
            "completion_window must be 24h",
            details={"parameter": "completion_window"},
        )
    record = await files.file_record(call.deps, call.tenant, body.input_file_id)
    if record.get("purpose") != "batch":
        raise BadRequest(
            "invalid_file_purpose",
            f"file {body.input_file_id} has purpose {record.get('purpose')!r}; upload it with "
            "purpose=batch",
            details={"parameter": "input_file_id"},
        )
    lines = await openai_lines.read_lines(call.deps, call.tenant, body.input_file_id)
    metadata = common.batch_metadata(FORMAT, body.input_file_id, body.metadata)
    job = await common.create_batch_job(call.deps, call.tenant, lines, metadata, body.job_name)
    return render(OpenAIBatch, _batch(job))


def _status(job: Job) -> str:
    if job.status is JobStatus.PROCESSING:
        return "cancelling" if job.cancel_requested_at is not None else "in_progress"
    return {
        JobStatus.WAITING_FOR_UPLOAD: "validating",
        JobStatus.COMPLETED: "completed",
        JobStatus.FAILED: "failed",
        JobStatus.CANCELLED: "cancelled",
    }[job.status]


def _batch(job: Job) -> dict[str, Any]:
    """The job as OpenAI's batch object."""
    hex_id = job.job_id.replace("-", "")
    final = job.status.final
    ended = common.seconds(job.completed_at)
    status = _status(job)
    body: dict[str, Any] = {
        "id": PREFIX + hex_id,
        "object": "batch",
        "endpoint": ENDPOINT,
        "input_file_id": common.source_of(job),
        "completion_window": "24h",
        "status": status,
        "created_at": common.seconds(job.created_at),
        "in_progress_at": common.seconds(job.started_processing_at),
        "expires_at": common.seconds(job.created_at + EXPIRY),
        "finalizing_at": ended if status == "completed" else None,
        "completed_at": ended if status == "completed" else None,
        "failed_at": ended if status == "failed" else None,
        "cancelling_at": common.seconds(job.cancel_requested_at),
        "cancelled_at": ended if status == "cancelled" else None,
        "expired_at": None,
        "request_counts": {
            "total": max(job.prompt_count, job.accounted),
            "completed": job.completed_count,
            "failed": job.failed_count,
        },
        "output_file_id": files.OUTPUT_PREFIX + hex_id if final and job.completed_count else None,
        "error_file_id": files.ERROR_PREFIX + hex_id if final and job.failed_count else None,
        "errors": {"object": "list", "data": [job.error.to_dict()]} if job.error else None,
        "metadata": common.user_metadata(job),
    }
    if job.name is not None:
        body["job_name"] = job.name
    return body


def _batch_id(call: Call) -> str:
    return str(call.request.path_params["batch_id"])


async def _get_batch(call: Call) -> Response:
    job = await common.batch_job(call.deps, call.tenant, _batch_id(call), PREFIX, FORMAT)
    return render(OpenAIBatch, _batch(job))


async def _cancel_batch(call: Call) -> Response:
    job = await common.batch_job(call.deps, call.tenant, _batch_id(call), PREFIX, FORMAT)
    if not job.status.final and job.cancel_requested_at is None:
        await cancel_job(call.deps, call.tenant, job.job_id)
    fresh = await common.batch_job(call.deps, call.tenant, _batch_id(call), PREFIX, FORMAT)
    return render(OpenAIBatch, _batch(fresh))


async def _list_batches(call: Call) -> Response:
    query = parse_query(OpenAIListQuery, call.request)
    after = None
    if query.after is not None:
        after = await common.batch_job(call.deps, call.tenant, query.after, PREFIX, FORMAT)
    jobs, more = await common.list_batches(call.deps, call.tenant, FORMAT, query.limit, after)
    data = [_batch(job) for job in jobs]
    first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
    page = {"object": "list", "data": data, "first_id": first, "last_id": last, "has_more": more}
    return render(OpenAIBatchList, page)


_BAD = Failure(400, "Bad input, in OpenAI's error shape.", ("invalid_request",))
_MISSING = Failure(
    404, "No such file or batch for this API key.", ("file_not_found", "batch_not_found")
)


_TOO_LARGE = Failure(413, "A file over the upload limit.", ("file_too_large",))


_op = imitated_api(openai_error, OpenAIError, (_BAD, _MISSING, _TOO_LARGE))


OPERATIONS: tuple[Operation, ...] = (
    _op(
        "POST /v1/files",
        "openaiUploadFile",
        "OpenAI: upload a batch input file (purpose=batch)",
        _upload_file,
        OpenAIFile,
        raw_body="multipart/form-data",
    ),
    _op(
        "GET /v1/files/{file_id}",
        "openaiGetFile",
        "OpenAI: a file's object",
        _get_file,
        OpenAIFile,
    ),
    _op(
        "GET /v1/files/{file_id}/content",
        "openaiFileContent",
        "OpenAI: a file's content (JSONL)",
        _file_content,
        None,
        streams="application/jsonl",
    ),
    _op(
        "DELETE /v1/files/{file_id}",
        "openaiDeleteFile",
        "OpenAI: delete a file",
        _delete_file,
        OpenAIFileDeleted,
    ),
    _op(
        "POST /v1/batches",
        "openaiCreateBatch",
        "OpenAI: create a batch (a PromptForge job)",
        _create_batch,
        OpenAIBatch,
        body=OpenAIBatchCreate,
    ),
    _op(
        "GET /v1/batches",
        "openaiListBatches",
        "OpenAI: the caller's batches, newest first",
        _list_batches,
        OpenAIBatchList,
        query=OpenAIListQuery,
    ),
    _op(
        "GET /v1/batches/{batch_id}",
        "openaiGetBatch",
        "OpenAI: a batch",
        _get_batch,
        OpenAIBatch,
    ),
    _op(
        "POST /v1/batches/{batch_id}/cancel",
        "openaiCancelBatch",
        "OpenAI: cancel a batch (cancelling, then cancelled; finished lines kept)",
        _cancel_batch,
        OpenAIBatch,
    ),
)
"""The OpenAI Files + Batches operations, registered in ``api.routes.API_OPERATIONS``."""
