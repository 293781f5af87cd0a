"""What both batch formats share: a batch is a job, created from translated lines.

A batch's lines become a PromptForge JSONL file, one line per request with its own
``route`` (provider, model, options), written to the job's upload object; the job then
runs like any other (the ingest task is enqueued here, named like the upload event's, so
the Google runtime's own finalize event adds nothing). The job's metadata key
``pf_batch`` says which format created it and from what, so each format lists only its own.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

from promptforge.core.deps import Deps
from promptforge.core.ingest import finalize_event_task
from promptforge.core.messages import ChatMessage, parse_messages
from promptforge.core.models import Job, LineRoute, Outcome, OutcomeKind
from promptforge.core.requests import MAX_METADATA_PAIRS, parse_init_request
from promptforge.core.service import init_job
from promptforge.errors import BadRequest, NotFound
from promptforge.providers.catalogue import Catalogue
from promptforge.providers.registry import SUPPORTED_PROVIDERS

_HEX32 = re.compile(r"[0-9a-f]{32}")
"""A job id as batch and file ids spell it (ASCII only: ``int`` reads any Unicode digit)."""

BATCH_KEY = "pf_batch"
"""The job metadata key that marks a job as a batch: ``<format>:<source>``."""

MAX_USER_METADATA = MAX_METADATA_PAIRS - 1
"""Pairs a batch's own metadata may have (one is ``pf_batch``)."""

_PREFIXES = (
    ("gpt-", "openai"),
    ("chatgpt-", "openai"),
    ("claude-", "anthropic"),
    ("gemini-", "gemini"),
    ("mistral-", "mistral"),
)


def provider_for_model(catalogue: Catalogue, model: str) -> str | None:
    """The provider that serves ``model``: the catalogue's, else by its name's prefix
    (``gpt-``/``o<digit>`` OpenAI, ``claude-``, ``gemini-``, ``mistral-``); None if unknown."""
    for provider in SUPPORTED_PROVIDERS:
        if catalogue.find(provider, model) is not None:
            return provider
    for prefix, provider in _PREFIXES:
        if model.startswith(prefix):
            return provider
    if len(model) > 1 and model[0] == "o" and model[1].isdigit():
        return "openai"
    return None


@dataclass(frozen=True)
class BatchLine:
    """One request of a batch, translated: its id, chat messages and route."""

    custom_id: str
    messages: tuple[ChatMessage, ...]
    route: LineRoute

    def jsonl(self) -> bytes:
        """The PromptForge input line of this request."""
        body = {
            "prompt_id": self.custom_id,
            "messages": [m.to_dict() for m in self.messages],
            "route": self.route.to_dict(),
        }
        return (json.dumps(body, ensure_ascii=False) + "\n").encode()


def chat_messages(items: list[dict[str, Any]], where: str) -> tuple[ChatMessage, ...]:
    """Messages checked by PromptForge's one chat rule (``core.messages``), or a 400."""
    parsed = parse_messages(items)
    if not isinstance(parsed, tuple):
        raise BadRequest(parsed.code, f"{where}: {parsed.message}")
    return parsed


def text_of(content: object) -> object:
    """A message content as text: a string as is, a list of text parts joined."""
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        if parts and len(parts) == len(content) and all(isinstance(p, str) for p in parts):
            return "".join(str(p) for p in parts)
    return content


def route_for(catalogue: Catalogue, model: object, params: dict[str, Any], where: str) -> LineRoute:
    """The route of a request's ``model``, or a 400 ``model_not_found`` naming it."""
    if not isinstance(model, str) or not model:
        raise BadRequest("missing_model", f"{where}: body.model must be a model name")
    provider = provider_for_model(catalogue, model)
    if provider is None or catalogue.find(provider, model) is None:
        raise BadRequest(
            "model_not_found",
            f"{where}: model {model!r} is not one PromptForge can run; see the catalogue "
            "(promptforge models, or shared/promptforge/data/models.json)",
        )
    return LineRoute(provider, model, {k: v for k, v in params.items() if v is not None})


def batch_metadata(fmt: str, source: str, metadata: object) -> dict[str, str]:
    """The job metadata of a batch: the caller's pairs plus ``pf_batch``."""
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict) or len(metadata) > MAX_USER_METADATA:
        raise BadRequest(
            "invalid_metadata",
            f"metadata must be an object of at most {MAX_USER_METADATA} string pairs",
        )
    return {**{str(k): v for k, v in metadata.items()}, BATCH_KEY: f"{fmt}:{source}"}


async def create_batch_job(
    deps: Deps,
    tenant: str,
    lines: list[BatchLine],
    metadata: dict[str, str],
    name: str | None = None,
) -> Job:
    """Create the job of a batch, store its lines as the job's input and start ingest."""
    first = lines[0].route
    init: dict[str, Any] = {"provider": first.provider, "model": first.model, "metadata": metadata}
    if name is not None:
        init["name"] = name
    created = await init_job(deps, tenant, parse_init_request(json.dumps(init).encode()))
    job = await deps.store.get_job(created["job_id"])
    if job is None:  # pragma: no cover - just created
        raise RuntimeError("the batch's job vanished")
    writer = await deps.blobs.open_writer(deps.blobs.input_bucket, job.upload_object)
    try:
        for line in lines:
            await writer.write(line.jsonl())
    except BaseException:
        await writer.abort()
        raise
    info = await writer.close()
    await deps.tasks.enqueue([finalize_event_task(info.bucket, info.name, info.generation)])
    return job


def job_id_of(object_id: str, prefix: str) -> str | None:
    """The job id inside ``<prefix><32 hex>``, or None."""
    tail = object_id[len(prefix) :]
    if not object_id.startswith(prefix) or not _HEX32.fullmatch(tail):
        return None
    return str(uuid.UUID(hex=tail))


async def batch_job(deps: Deps, tenant: str, batch_id: str, prefix: str, fmt: str) -> Job:
    """The tenant's job behind a batch id of format ``fmt``, or a 404."""
    job_id = job_id_of(batch_id, prefix)
    job = await deps.store.get_job(job_id) if job_id else None
    if job is None or job.tenant_id != tenant or not is_format(job, fmt):
        raise missing(batch_id)
    return job


def missing(batch_id: str) -> NotFound:
    """The 404 of a batch id that names no batch of the caller's."""
    return NotFound("batch_not_found", f"no batch {batch_id!r} for this API key")


def _tombstone(job: Job) -> str:
    return f"{job.tenant_id}/batches/{job.job_id}.deleted"


async def mark_deleted(deps: Deps, job: Job) -> None:
    """Hide an ended batch from its format (the job itself stays, as every job does)."""
    writer = await deps.blobs.open_writer(deps.blobs.input_bucket, _tombstone(job))
    await writer.write(b"{}")
    await writer.close()


async def is_deleted(deps: Deps, job: Job) -> bool:
    """Whether the batch was deleted through its format."""
    return await deps.blobs.stat(deps.blobs.input_bucket, _tombstone(job)) is not None


def is_format(job: Job, fmt: str) -> bool:
    """Whether ``job`` is a batch created through format ``fmt``."""
    return job.metadata.get(BATCH_KEY, "").startswith(fmt + ":")


def user_metadata(job: Job) -> dict[str, str]:
    """The batch's metadata as its creator gave it."""
    return {k: v for k, v in job.metadata.items() if k != BATCH_KEY}


def source_of(job: Job) -> str:
    """What the batch was created from (the OpenAI input file id)."""
    return job.metadata.get(BATCH_KEY, ":").split(":", 1)[1]


async def list_batches(
    deps: Deps, tenant: str, fmt: str, limit: int, after: Job | None
) -> tuple[list[Job], bool]:
    """The tenant's batches of ``fmt``, newest first, ``limit`` after ``after``; has_more."""
    found: list[Job] = []
    before = (after.created_at, after.job_id) if after is not None else None
    while len(found) <= limit:
        page = await deps.store.list_jobs(tenant, 100, before=before)
        found += [job for job in page if is_format(job, fmt)]
        if len(page) < 100:
            break
        before = (page[-1].created_at, page[-1].job_id)
    return found[:limit], len(found) > limit


async def outcomes(deps: Deps, job: Job) -> AsyncIterator[Outcome]:
    """Every outcome recorded for the job so far: results, then errors."""
    for kind in (OutcomeKind.RESULT, OutcomeKind.ERROR):
        async for outcome in deps.store.iter_outcomes(job.job_id, kind):
            yield outcome


def error_of(record: dict[str, Any]) -> tuple[str, str]:
    """An error outcome's code and message."""
    error = record.get("error") or {}
    return str(error.get("code", "error")), str(error.get("message", ""))


def seconds(value: Any) -> int | None:
    """A datetime as Unix seconds."""
    return int(value.timestamp()) if value is not None else None


def jsonl_lines(records: Iterable[dict[str, Any]]) -> bytes:
    """Records as JSONL."""
    return b"".join((json.dumps(r, ensure_ascii=False) + "\n").encode() for r in records)
