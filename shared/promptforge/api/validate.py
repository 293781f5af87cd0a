"""``POST /v1/jobs/validate?provider=&model=``: judge a JSONL body as ingest would, create nothing.

The caller is authenticated and charged before a byte of the body is read; the body
is streamed (up to the upload limit) into ``core.validate``, never held whole.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from promptforge.api.ratelimit import VALIDATE
from promptforge.core.deps import Deps
from promptforge.core.validate import Validator, validate_stream
from promptforge.errors import BadRequest, PayloadTooLarge

Admit = Callable[[Request, str], Awaitable[str]]
"""Authenticate a request and charge an endpoint's limit; the caller's tenant."""

PATH = "/v1/jobs/validate"


def validate_route(deps: Deps, admit: Admit) -> Route:
    """The validate route, admitting callers with the app's ``admit``."""

    async def validate(request: Request) -> Response:
        await admit(request, VALIDATE)
        unknown = sorted(set(request.query_params) - {"provider", "model"})
        if unknown:
            raise BadRequest(
                "unknown_parameter",
                f"unknown query parameter(s): {', '.join(unknown)}; only provider and model",
                details={"parameters": unknown},
            )
        provider, model = _query(request, "provider"), _query(request, "model")
        limit = deps.config.max_upload_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)
        validator = Validator(
            deps.catalogue, provider, model, max_line_bytes=deps.config.max_line_bytes
        )
        report = await validate_stream(_bounded(request.stream(), limit), validator)
        return JSONResponse(report.model_dump())

    return Route(PATH, validate, methods=["POST"])


def _query(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if not value:
        raise BadRequest(
            "missing_parameter",
            f"query parameter {name!r} is required: POST {PATH}?provider=openai&model=gpt-4o-mini",
            details={"parameter": name},
        )
    return value


async def _bounded(chunks: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    """The body's chunks, refusing (413) once more than ``limit`` bytes came."""
    seen = 0
    async for chunk in chunks:
        seen += len(chunk)
        if seen > limit:
            raise _too_large(limit)
        yield chunk


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        "body_too_large",
        f"the file is larger than the upload limit of {limit:,} bytes; split it into several jobs",
        details={"max_body_bytes": limit},
    )
