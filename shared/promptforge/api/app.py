"""The public HTTP API as a Starlette app: init, status, results; parse, call the core, render."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from promptforge.core.auth import authenticate
from promptforge.core.deps import Deps
from promptforge.core.requests import MAX_INIT_BODY_BYTES, parse_init_request
from promptforge.core.service import get_owned_job, init_job, job_results, job_status
from promptforge.errors import ApiError, PayloadTooLarge

log = logging.getLogger(__name__)

API_KEY_HEADER = "x-api-key"


def api_routes(deps: Deps) -> list[BaseRoute]:
    """The API's routes, to mount in the local server or serve from the api function."""

    async def init(request: Request) -> Response:
        tenant = await authenticate(deps.store, request.headers.get(API_KEY_HEADER))
        body = await read_body(request, MAX_INIT_BODY_BYTES)
        created = await init_job(deps, tenant, parse_init_request(body))
        return JSONResponse(created, status_code=202)

    async def status(request: Request) -> Response:
        tenant = await authenticate(deps.store, request.headers.get(API_KEY_HEADER))
        job = await get_owned_job(deps, tenant, request.path_params["job_id"])
        return JSONResponse(await job_status(deps, job))

    async def results(request: Request) -> Response:
        tenant = await authenticate(deps.store, request.headers.get(API_KEY_HEADER))
        job = await get_owned_job(deps, tenant, request.path_params["job_id"])
        return JSONResponse(await job_results(deps, job))

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def openapi(_: Request) -> Response:
        return Response(openapi_spec(), media_type="application/json")

    return [
        Route("/v1/jobs/init", init, methods=["POST"]),
        Route("/v1/jobs/{job_id}/status", status, methods=["GET"]),
        Route("/v1/jobs/{job_id}/results", results, methods=["GET"]),
        Route("/healthz", health, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]


def openapi_spec() -> str:
    """The OpenAPI document shipped with the package."""
    return resources.files("promptforge.data").joinpath("openapi.json").read_text("utf-8")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing more than ``limit`` bytes without reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge("body_too_large", f"request body is larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge("body_too_large", f"request body is larger than {limit} bytes")
    return bytes(body)


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
    Exception: _internal_error,
}


def create_api_app(deps: Deps, extra_routes: Sequence[BaseRoute] = ()) -> Starlette:
    """The API app, with JSON error bodies for every failure."""
    return Starlette(
        routes=[*api_routes(deps), *extra_routes],
        exception_handlers=EXCEPTION_HANDLERS,
    )
