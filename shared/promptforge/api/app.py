"""The public HTTP API as a Starlette app, built from ``api.routes.API_OPERATIONS``.

Every authenticated call first checks its API key (``X-API-Key``, or
``Authorization: Bearer``), then spends a token of that key's bucket for the operation
(``throttle.DEFAULT_LIMITS``; 429 ``rate_limited`` with ``Retry-After`` when empty), and
only then does the handler read a body or look a job up. Errors are JSON
``{"error": {code, message, status}}``; a body never meets a framework's generic 422.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from functools import cache
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from promptforge.api.bodies import path_job_id, read_body
from promptforge.api.openapi import openapi_document
from promptforge.api.operations import Call, Operation
from promptforge.api.routes import API_OPERATIONS
from promptforge.api.throttle import DEFAULT_LIMITS, RateLimiter
from promptforge.core.auth import authenticate_key
from promptforge.core.deps import Deps
from promptforge.errors import ApiError, TooManyRequests, insufficient_storage, storage_full

__all__ = ["api_routes", "create_api_app", "openapi_spec", "path_job_id", "read_body"]

log = logging.getLogger(__name__)

API_KEY_HEADER = "x-api-key"
BEARER = "bearer "


def presented_key(request: Request) -> str | None:
    """The API key of the request: ``X-API-Key``, else an ``Authorization: Bearer`` token."""
    key = request.headers.get(API_KEY_HEADER)
    if key:
        return key
    authorization = request.headers.get("authorization", "")
    if authorization[: len(BEARER)].lower() == BEARER:
        return authorization[len(BEARER) :].strip() or None
    return None


def api_routes(deps: Deps, limiter: RateLimiter | None = None) -> list[BaseRoute]:
    """The API's routes, to mount in the embedded server or serve from the api function.

    ``limiter`` holds the per-key request limits (default: ``DEFAULT_LIMITS``).
    """
    limits = limiter if limiter is not None else RateLimiter(DEFAULT_LIMITS)
    routes: list[BaseRoute] = [
        Route(op.path, _endpoint(op, deps, limits), methods=[op.method])
        for op in API_OPERATIONS
        if op.handler is not None
    ]

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def openapi(_: Request) -> Response:
        return Response(openapi_spec(), media_type="application/json")

    routes += [
        Route("/healthz", health, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
    return routes


def _endpoint(
    op: Operation, deps: Deps, limits: RateLimiter
) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint of ``op``: authenticate, charge the limit, then handle."""
    handler = op.handler
    if handler is None:  # pragma: no cover - only served operations get an endpoint
        raise ValueError(f"{op.label} has no handler")

    async def endpoint(request: Request) -> Response:
        try:
            record = await authenticate_key(deps.store, presented_key(request))
            check_rate(limits, op.label, record.key_id)
            return await handler(Call(deps, request, record.tenant_id))
        except ApiError as exc:
            if op.error_shape is None:
                raise
            return op.error_shape(exc)

    return endpoint


@cache
def openapi_spec() -> str:
    """The OpenAPI document, generated from the operations and their models."""
    return json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"


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
