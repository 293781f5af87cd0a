"""The public HTTP API as a Starlette app: init, status, results; parse, call the core, render.

Every call authenticates its X-API-Key, then spends a token of that key's bucket for the
endpoint (``ratelimit.DEFAULT_LIMITS``; 429 ``rate_limited`` with ``Retry-After`` when
empty), and only then reads the body (at most 64 KiB) or looks up the job. Bodies sent to
the GET endpoints are never read.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from promptforge.api.ratelimit import DEFAULT_LIMITS, INIT, RESULTS, STATUS, RateLimiter
from promptforge.api.validate import validate_route
from promptforge.core.auth import authenticate_key
from promptforge.core.deps import Deps
from promptforge.core.requests import MAX_INIT_BODY_BYTES, parse_init_request
from promptforge.core.service import get_owned_job, init_job, job_results, job_status
from promptforge.errors import (
    ApiError,
    BadRequest,
    PayloadTooLarge,
    TooManyRequests,
    UnsupportedMediaType,
    insufficient_storage,
    storage_full,
)

log = logging.getLogger(__name__)

API_KEY_HEADER = "x-api-key"
MAX_JOB_ID_CHARS = 45
"""The longest UUID spelling ``uuid.UUID`` accepts: ``urn:uuid:`` and 36 characters."""


def api_routes(deps: Deps, limiter: RateLimiter | None = None) -> list[BaseRoute]:
    """The API's routes, to mount in the local server or serve from the api function.

    ``limiter`` holds the per-key request limits (default: ``DEFAULT_LIMITS``).
    """
    limits = limiter if limiter is not None else RateLimiter(DEFAULT_LIMITS)

    async def admit(request: Request, endpoint: str) -> str:
        """Authenticate the caller and charge the endpoint's limit; the caller's tenant."""
        record = await authenticate_key(deps.store, request.headers.get(API_KEY_HEADER))
        check_rate(limits, endpoint, record.key_id)
        return record.tenant_id

    async def init(request: Request) -> Response:
        tenant = await admit(request, INIT)
        require_json(request)
        body = await read_body(request, MAX_INIT_BODY_BYTES)
        created = await init_job(deps, tenant, parse_init_request(body))
        return JSONResponse(created, status_code=202)

    async def status(request: Request) -> Response:
        tenant = await admit(request, STATUS)
        job = await get_owned_job(deps, tenant, path_job_id(request))
        return JSONResponse(await job_status(deps, job))

    async def results(request: Request) -> Response:
        tenant = await admit(request, RESULTS)
        job = await get_owned_job(deps, tenant, path_job_id(request))
        page = results_page_params(request)
        return JSONResponse(await job_results(deps, job, **page))

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def openapi(_: Request) -> Response:
        return Response(openapi_spec(), media_type="application/json")

    return [
        Route("/v1/jobs/init", init, methods=["POST"]),
        Route("/v1/jobs/{job_id}/status", status, methods=["GET"]),
        Route("/v1/jobs/{job_id}/results", results, methods=["GET"]),
        validate_route(deps, admit),  # hooks branch: core/validate.py; re-home with the API
        Route("/healthz", health, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]


def openapi_spec() -> str:
    """The OpenAPI document shipped with the package."""
    return resources.files("promptforge.data").joinpath("openapi.json").read_text("utf-8")


def path_job_id(request: Request) -> str:
    """The ``{job_id}`` of the path, refusing what no UUID spelling can be.

    ``uuid.UUID`` reads any Unicode digit (32 Arabic-Indic ones make a UUID to it): only ASCII
    of UUID length goes on to the core, so a job has exactly the spellings its hex allows.
    """
    job_id: str = request.path_params["job_id"]
    if not job_id.isascii() or len(job_id) > MAX_JOB_ID_CHARS:
        raise BadRequest("invalid_job_id", "job_id must be the UUID that /v1/jobs/init returned")
    return job_id


def results_page_params(request: Request) -> dict[str, Any]:
    """``page_size`` and ``page_token`` of a /results query (the core checks their range)."""
    size, token = request.query_params.get("page_size"), request.query_params.get("page_token")
    if size is not None and not (size.isascii() and size.isdigit() and len(size) <= 6):
        raise BadRequest("invalid_page_size", "page_size must be a whole number of files")
    return {"page_size": None if size is None else int(size), "page_token": token}


def check_rate(limiter: RateLimiter, endpoint: str, key_id: str) -> None:
    """Spend one request of ``key_id``'s limit on ``endpoint``, or raise a 429."""
    decision = limiter.take(endpoint, key_id)
    if decision is None or decision.allowed:
        return
    wait = decision.retry_after_seconds
    raise TooManyRequests(
        "rate_limited",
        f"too many requests to {endpoint} with this API key (limit "
        f"{decision.limit.per_minute} a minute, bursts of {decision.limit.burst}); "
        f"retry after {wait} s",
        details={
            "limit_per_minute": decision.limit.per_minute,
            "burst": decision.limit.burst,
            "retry_after": wait,
        },
        headers={"Retry-After": str(wait)},
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


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing more than ``limit`` bytes without reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)
    return bytes(body)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        "body_too_large",
        f"request body is larger than {limit:,} bytes; send only the job's settings here "
        "and PUT the prompts file to the upload_url",
        details={"max_body_bytes": limit},
    )


async def _api_error(_: Request, exc: Exception) -> Response:
    if not isinstance(exc, ApiError):  # pragma: no cover - registered for ApiError only
        raise exc
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


async def _http_error(_: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):  # pragma: no cover
        raise exc
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    message = {
        404: "no such endpoint; see /openapi.json",
        405: "this endpoint does not accept that method; see /openapi.json",
    }.get(exc.status_code, str(exc.detail))
    body = {"error": {"code": code, "message": message, "status": exc.status_code}}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _storage_error(request: Request, exc: Exception) -> Response:
    """A store that failed: 507 ``insufficient_storage`` for a full disk, else the 500.

    Answered here rather than by the catch-all, so the connection stays usable.
    """
    if storage_full(exc):
        log.error("disk full: %s", exc)
        error = insufficient_storage("the request")
        return JSONResponse(error.body(), status_code=error.status, headers=error.headers)
    return await _internal_error(request, exc)


async def _internal_error(_: Request, exc: Exception) -> Response:
    log.error("unhandled error: %s", type(exc).__name__, exc_info=exc)
    body = {
        "error": {"code": "internal_error", "message": "internal error; retry later", "status": 500}
    }
    return JSONResponse(body, status_code=500)


ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]

EXCEPTION_HANDLERS: dict[Any, ExceptionHandler] = {
    ApiError: _api_error,
    HTTPException: _http_error,
    OSError: _storage_error,
    sqlite3.Error: _storage_error,
    Exception: _internal_error,
}


def create_api_app(
    deps: Deps, extra_routes: Sequence[BaseRoute] = (), *, limiter: RateLimiter | None = None
) -> Starlette:
    """The API app, with JSON error bodies for every failure and per-key request limits."""
    return Starlette(
        routes=[*api_routes(deps, limiter), *extra_routes],
        exception_handlers=EXCEPTION_HANDLERS,
    )
