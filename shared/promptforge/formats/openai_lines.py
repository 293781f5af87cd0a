"""OpenAI batch lines: the input file's requests into PromptForge lines, outcomes back out.

In: each ``{custom_id, method, url, body}`` line is checked (JSON, url, model, a unique
custom_id, PromptForge's chat rule) and becomes a ``BatchLine`` with its own route. Out: a
result outcome is a ``chat.completion`` body (usage mapped from whichever provider
answered), an error outcome an error-file line.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

from promptforge.core.deps import Deps
from promptforge.core.jsonl import LineSplitter, RawLine
from promptforge.core.models import Job
from promptforge.errors import BadRequest
from promptforge.formats import common, files

ENDPOINT = "/v1/chat/completions"
MAX_REQUESTS = 50_000
"""OpenAI's limit of requests in one batch file."""
_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "STOP": "stop", "max_tokens": "length"}
_FINISH |= {"MAX_TOKENS": "length", "model_length": "length", "tool_use": "tool_calls"}


async def read_lines(deps: Deps, tenant: str, file_id: str) -> list[common.BatchLine]:
    """The file's requests translated, or a 400 naming the first bad line."""
    splitter = LineSplitter(deps.config.max_line_bytes)
    lines: list[common.BatchLine] = []
    seen: set[str] = set()
    async for chunk in files.file_content(deps, tenant, file_id):
        for raw in splitter.feed(chunk):
            _add_line(deps, raw, lines, seen)
    for raw in splitter.close():
        _add_line(deps, raw, lines, seen)
    if not lines:
        raise BadRequest("empty_file", f"file {file_id} has no requests")
    return lines


def _add_line(deps: Deps, raw: RawLine, out: list[common.BatchLine], seen: set[str]) -> None:
    where = f"line {raw.number}"
    data = raw.data
    if raw.too_long:
        raise BadRequest("line_too_long", f"{where} is longer than the line limit")
    if not data.strip():
        return
    try:
        value = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise BadRequest("invalid_json_line", f"{where} is not valid JSON") from exc
    if not isinstance(value, dict) or not isinstance(value.get("body"), dict):
        raise BadRequest("invalid_line", f"{where}: a line is {{custom_id, method, url, body}}")
    custom_id = value.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id or len(custom_id) > 256:
        raise BadRequest("invalid_custom_id", f"{where}: custom_id must be a non-empty string")
    if custom_id in seen:
        raise BadRequest("duplicate_custom_id", f"{where}: custom_id {custom_id!r} is repeated")
    if value.get("method", "POST") != "POST" or value.get("url") != ENDPOINT:
        raise BadRequest(
            "invalid_url", f"{where}: url must be {ENDPOINT} with method POST, as the batch's"
        )
    if len(out) >= MAX_REQUESTS:
        raise BadRequest("too_many_requests", f"a batch has at most {MAX_REQUESTS:,} requests")
    body: dict[str, Any] = value["body"]
    given = body.get("messages")
    items = [
        {"role": m.get("role"), "content": common.text_of(m.get("content"))}
        if isinstance(m, dict)
        else m
        for m in (given if isinstance(given, list) else [])
    ]
    messages = common.chat_messages(items, where)
    stop = body.get("stop")
    params = {
        "max_tokens": body.get("max_completion_tokens", body.get("max_tokens")),
        "temperature": body.get("temperature"),
        "top_p": body.get("top_p"),
        "stop": [stop] if isinstance(stop, str) else stop,
        "seed": body.get("seed"),
        "response_format": body.get("response_format"),
    }
    route = common.route_for(deps.catalogue, body.get("model"), params, where)
    seen.add(custom_id)
    out.append(common.BatchLine(custom_id, messages, route))


async def output_lines(deps: Deps, job: Job, errors: bool) -> AsyncIterator[bytes]:
    async for outcome in common.outcomes(deps, job):
        if (outcome.kind.value == "error") != errors:
            continue
        record = outcome.record
        custom_id = record.get("prompt_id")
        digest = hashlib.sha256(f"{job.job_id}|{outcome.key}".encode()).hexdigest()[:24]
        line: dict[str, Any] = {"id": f"batch_req_{digest}", "custom_id": custom_id}
        if errors:
            code, message = common.error_of(record)
            line |= {"response": None, "error": {"code": code, "message": message}}
        else:
            body = _completion(record, digest, common.seconds(job.started_processing_at))
            line |= {"response": {"status_code": 200, "request_id": f"req_{digest}", "body": body}}
            line["error"] = None
        yield (json.dumps(line, ensure_ascii=False) + "\n").encode()


def _completion(record: dict[str, Any], digest: str, created: int | None) -> dict[str, Any]:
    """A result outcome as a ``chat.completion`` (usage mapped from the provider's)."""
    reason = record.get("finish_reason") or "stop"
    prompt_tokens, completion_tokens = record.get("input_tokens", 0), record.get("output_tokens", 0)
    return {
        "id": f"chatcmpl-{digest}",
        "object": "chat.completion",
        "created": created or 0,
        "model": record.get("model"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": record.get("result", "")},
                "finish_reason": _FINISH.get(reason, reason),
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
