"""Reading a request: its ``{job_id}``, its body within a limit, its JSON label.

Every operation (``api.routes``, ``api.prompt_routes``, ``formats``) reads its request
through these, so a limit or a refusal reads the same on every route.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request

from promptforge.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

MAX_JOB_ID_CHARS = 45
"""The longest UUID spelling ``uuid.UUID`` accepts: ``urn:uuid:`` and 36 characters."""


def path_job_id(request: Request) -> str:
    """The ``{job_id}`` of the path, refusing what no UUID spelling can be.

    ``uuid.UUID`` reads any Unicode digit (32 Arabic-Indic ones make a UUID to it): only ASCII
    of UUID length goes on to the core, so a job has exactly the spellings its hex allows.
    """
    job_id: str = request.path_params["job_id"]
    if not job_id.isascii() or len(job_id) > MAX_JOB_ID_CHARS:
        raise BadRequest("invalid_job_id", "job_id must be the UUID that /v1/jobs/init returned")
    return job_id


async def read_body(request: Request, limit: int, hint: str) -> bytes:
    """The request body, refusing more than ``limit`` bytes without reading it all."""
    chunks = bytearray()
    async for chunk in limited_stream(request, limit, hint):
        chunks += chunk
    return bytes(chunks)


async def limited_stream(request: Request, limit: int, hint: str) -> AsyncIterator[bytes]:
    """The body's chunks as they arrive, with a 413 once more than ``limit`` bytes came."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit, hint)
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise _too_large(limit, hint)
        yield chunk


def _too_large(limit: int, hint: str) -> PayloadTooLarge:
    return PayloadTooLarge(
        "body_too_large",
        f"request body is larger than {limit:,} bytes; {hint}",
        details={"max_body_bytes": limit},
    )


def require_json(request: Request) -> None:
    """Refuse a body labelled as anything but JSON (415); a body with no label is read as JSON."""
    label = request.headers.get("content-type")
    if label is None:
        return
    media_type = label.split(";", 1)[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        return
    raise UnsupportedMediaType(
        "unsupported_media_type",
        f"the body is labelled {label!r}; send the job's settings as JSON with "
        "'Content-Type: application/json'",
    )
