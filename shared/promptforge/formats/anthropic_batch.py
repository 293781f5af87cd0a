"""Anthropic's Message Batches API over PromptForge jobs, as the official ``anthropic`` SDK
calls it (``x-api-key``; ``anthropic-version`` is accepted and not needed).

A message batch is a job (``formats.common``) named ``msgbatch_<hex>``; each request's
``params.model`` picks its provider, and every answer comes back as an Anthropic
``message`` with its usage, whichever provider gave it. Errors have Anthropic's shape.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from starlette.responses import JSONResponse, Response, StreamingResponse

from promptforge.api.operations import Call, Failure, Operation, imitated_api, parse_query, render
from promptforge.clock import isoformat
from promptforge.core.manage import cancel_job
from promptforge.core.models import Job
from promptforge.errors import ApiError, BadRequest, Conflict, PayloadTooLarge
from promptforge.formats import common
from promptforge.formats.schemas import (
    AnthropicBatch,
    AnthropicBatchCreate,
    AnthropicBatchDeleted,
    AnthropicBatchList,
    AnthropicError,
    AnthropicListQuery,
)

FORMAT = "anthropic"
PREFIX = "msgbatch_"
MAX_REQUESTS = 100_000
"""Anthropic's limit of requests in one message batch."""
EXPIRY = timedelta(hours=24)
_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_STOP = {"stop": "end_turn", "STOP": "end_turn", "length": "max_tokens", "MAX_TOKENS": "max_tokens"}
_STOP |= {"model_length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error"}
_ERROR_TYPES |= {404: "not_found_error", 409: "invalid_request_error", 413: "request_too_large"}
_ERROR_TYPES |= {422: "invalid_request_error", 429: "rate_limit_error"}


def anthropic_error(exc: ApiError) -> Response:
    """``{"type": "error", "error": {type, message}}`` with the error's status."""
    kind = _ERROR_TYPES.get(exc.status, "api_error")
    body = {"type": "error", "error": {"type": kind, "message": f"{exc.code}: {exc.message}"}}
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)


async def _create(call: Call) -> Response:
    limit = call.deps.config.max_upload_bytes
    raw = await call.request.body()
    if len(raw) > limit:
        raise PayloadTooLarge("request_too_large", f"the body is larger than {limit:,} bytes")
    try:
        body = AnthropicBatchCreate.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise BadRequest("invalid_request", f"{where}: {first['msg']}") from exc
    if len(body.requests) > MAX_REQUESTS:
        raise BadRequest("too_many_requests", f"a batch has at most {MAX_REQUESTS:,} requests")
    seen: set[str] = set()
    lines = [_line(call, index, item, seen) for index, item in enumerate(body.requests)]
    metadata = common.batch_metadata(FORMAT, "requests", None)
    job = await common.create_batch_job(call.deps, call.tenant, lines, metadata)
    return render(AnthropicBatch, await _batch(call, job))


def openai_parts(content: object) -> object:
    """Messages' ``image`` blocks (base64 or url source) as the ``image_url`` parts a chat
    line holds (``core.content``); anything else as it is, for the chat rule to judge."""
    if not isinstance(content, list):
        return content
    return [_image_url(block) for block in content]


def _image_url(block: object) -> object:
    if not isinstance(block, dict) or block.get("type") != "image":
        return block
    source = block.get("source")
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "base64" and isinstance(source, dict):
        url = f"data:{source.get('media_type')};base64,{source.get('data')}"
    elif kind == "url" and isinstance(source, dict):
        url = str(source.get("url"))
    else:
        return block  # refused by the chat rule as an unsupported part
    return {"type": "image_url", "image_url": {"url": url}}


def _line(call: Call, index: int, item: dict[str, Any], seen: set[str]) -> common.BatchLine:
    """One request translated, or a 400 naming it."""
    where = f"requests[{index}]"
    custom_id, params = item.get("custom_id"), item.get("params")
    if not isinstance(custom_id, str) or not _CUSTOM_ID.match(custom_id):
        raise BadRequest(
            "invalid_custom_id", f"{where}.custom_id must match ^[a-zA-Z0-9_-]{{1,64}}$"
        )
    if custom_id in seen:
        raise BadRequest("duplicate_custom_id", f"{where}: custom_id {custom_id!r} is repeated")
    if not isinstance(params, dict):
        raise BadRequest("invalid_params", f"{where}.params must be an object")
    max_tokens = params.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise BadRequest("invalid_max_tokens", f"{where}.params.max_tokens: a positive integer")
    given = params.get("messages")
    items: list[dict[str, Any]] = []
    system = common.text_of(params.get("system"))
    if system is not None:
        items.append({"role": "system", "content": system})
    for message in given if isinstance(given, list) else []:
        content = (
            common.text_of(openai_parts(message.get("content")))
            if isinstance(message, dict)
            else None
        )
        items.append({"role": message.get("role"), "content": content} if content else message)
    if not isinstance(given, list):
        items.append({"role": "user", "content": None})
    messages = common.chat_messages(items, f"{where}.params")
    options = {
        "max_tokens": max_tokens,
        "temperature": params.get("temperature"),
        "top_p": params.get("top_p"),
        "stop": params.get("stop_sequences"),
    }
    route = common.route_for(call.deps.catalogue, params.get("model"), options, where)
    seen.add(custom_id)
    return common.BatchLine(custom_id, messages, route)


def job_batch_id(job: Job) -> str:
    """The message batch id of a job."""
    return PREFIX + job.job_id.replace("-", "")


async def _batch(call: Call, job: Job) -> dict[str, Any]:
    """The job as Anthropic's message batch object."""
    batch_id = job_batch_id(job)
    total = max(job.prompt_count, job.accounted)
    counts = {"processing": 0, "succeeded": job.completed_count, "errored": 0, "canceled": 0}
    counts["expired"] = 0
    if job.status.final:
        canceled = await _canceled_count(call, job)
        counts |= {"errored": job.failed_count - canceled, "canceled": canceled}
        status = "ended"
    else:
        counts |= {"processing": total - job.accounted, "errored": job.failed_count}
        status = "canceling" if job.cancel_requested_at is not None else "in_progress"
    base = str(call.request.base_url).rstrip("/")
    return {
        "id": batch_id,
        "type": "message_batch",
        "processing_status": status,
        "request_counts": counts,
        "created_at": isoformat(job.created_at),
        "expires_at": isoformat(job.created_at + EXPIRY),
        "ended_at": isoformat(job.completed_at) if job.status.final else None,
        "cancel_initiated_at": isoformat(job.cancel_requested_at),
        "archived_at": None,
        "results_url": f"{base}/v1/messages/batches/{batch_id}/results"
        if job.status.final
        else None,
    }


async def _canceled_count(call: Call, job: Job) -> int:
    canceled = 0
    async for outcome in common.outcomes(call.deps, job):
        if outcome.kind.value == "error" and common.error_of(outcome.record)[0] == "cancelled":
            canceled += 1
    return canceled


async def _job(call: Call, batch_id: str | None = None) -> Job:
    """The caller's batch named by ``batch_id`` (by default the path's), or a 404."""
    if batch_id is None:
        batch_id = str(call.request.path_params["batch_id"])
    job = await common.batch_job(call.deps, call.tenant, batch_id, PREFIX, FORMAT)
    if await common.is_deleted(call.deps, job):
        raise common.missing(batch_id)
    return job


async def _get(call: Call) -> Response:
    return render(AnthropicBatch, await _batch(call, await _job(call)))


async def _cancel(call: Call) -> Response:
    job = await _job(call)
    if not job.status.final and job.cancel_requested_at is None:
        await cancel_job(call.deps, call.tenant, job.job_id)
    return render(AnthropicBatch, await _batch(call, await _job(call)))


async def _delete(call: Call) -> Response:
    job = await _job(call)
    if not job.status.final:
        raise Conflict("batch_not_ended", "a batch can be deleted once it has ended; cancel it")
    await common.mark_deleted(call.deps, job)
    return render(AnthropicBatchDeleted, {"id": job_batch_id(job), "type": "message_batch_deleted"})


async def _list(call: Call) -> Response:
    query = parse_query(AnthropicListQuery, call.request)
    after = await _job(call, query.after_id) if query.after_id is not None else None
    jobs, more = await common.list_batches(call.deps, call.tenant, FORMAT, query.limit, after)
    data = [await _batch(call, job) for job in jobs if not await common.is_deleted(call.deps, job)]
    first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
    page = {"data": data, "has_more": more, "first_id": first, "last_id": last}
    return render(AnthropicBatchList, page)


async def _results(call: Call) -> Response:
    job = await _job(call)
    if not job.status.final:
        raise Conflict("batch_not_ended", "results are ready once processing_status is ended")
    return StreamingResponse(_result_lines(call, job), media_type="application/binary")


async def _result_lines(call: Call, job: Job) -> AsyncIterator[bytes]:
    async for outcome in common.outcomes(call.deps, job):
        record = outcome.record
        result: dict[str, Any]
        if outcome.kind.value == "result":
            result = {"type": "succeeded", "message": _message(job, outcome.key, record)}
        else:
            code, message = common.error_of(record)
            if code == "cancelled":
                result = {"type": "canceled"}
            else:
                error = {"type": "invalid_request_error", "message": f"{code}: {message}"}
                result = {"type": "errored", "error": {"type": "error", "error": error}}
        line = {"custom_id": record.get("prompt_id"), "result": result}
        yield (json.dumps(line, ensure_ascii=False) + "\n").encode()


def _message(job: Job, key: str, record: dict[str, Any]) -> dict[str, Any]:
    """A result outcome as an Anthropic ``message`` (usage mapped)."""
    digest = hashlib.sha256(f"{job.job_id}|{key}".encode()).hexdigest()[:24]
    reason = record.get("finish_reason") or "end_turn"
    return {
        "id": f"msg_{digest}",
        "type": "message",
        "role": "assistant",
        "model": record.get("model"),
        "content": [{"type": "text", "text": record.get("result", "")}],
        "stop_reason": _STOP.get(reason, reason),
        "stop_sequence": None,
        "usage": {
            "input_tokens": record.get("input_tokens", 0),
            "output_tokens": record.get("output_tokens", 0),
        },
    }


_op = imitated_api(
    anthropic_error,
    AnthropicError,
    (
        Failure(400, "Bad input, in Anthropic's error shape.", ("invalid_request",)),
        Failure(404, "No such batch for this API key.", ("batch_not_found",)),
        Failure(409, "The batch has not ended (results, delete).", ("batch_not_ended",)),
        Failure(413, "A body over the upload limit.", ("request_too_large",)),
    ),
)

_ONE = "/v1/messages/batches/{batch_id}"
OPERATIONS: tuple[Operation, ...] = (
    _op("POST /v1/messages/batches", "anthropicCreateBatch",
        "Anthropic: create a message batch (a PromptForge job)", _create, AnthropicBatch,
        body=AnthropicBatchCreate),
    _op("GET /v1/messages/batches", "anthropicListBatches",
        "Anthropic: the caller's message batches, newest first", _list, AnthropicBatchList,
        query=AnthropicListQuery),
    _op(f"GET {_ONE}", "anthropicGetBatch", "Anthropic: a message batch", _get, AnthropicBatch),
    _op(f"POST {_ONE}/cancel", "anthropicCancelBatch", "Anthropic: cancel a message batch",
        _cancel, AnthropicBatch),
    _op(f"DELETE {_ONE}", "anthropicDeleteBatch", "Anthropic: delete an ended message batch",
        _delete, AnthropicBatchDeleted),
    _op(f"GET {_ONE}/results", "anthropicBatchResults",
        "Anthropic: an ended batch's results (JSONL)", _results, None,
        streams="application/binary"),
)  # fmt: skip
"""The Anthropic Message Batches operations, registered in ``api.routes.API_OPERATIONS``."""
