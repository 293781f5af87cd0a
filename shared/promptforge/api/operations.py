"""What an API operation is: its route, its models and its documented failures, as data.

``api.routes.API_OPERATIONS`` lists every operation once; ``api.app`` builds the Starlette
routes from it (the embedded server and the Google api function serve that one app) and
``api.openapi`` builds the OpenAPI document from it, so adding an endpoint is adding one
entry there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from promptforge.core.deps import Deps
from promptforge.errors import ApiError, BadRequest


@dataclass(frozen=True)
class Call:
    """One authenticated request: the runtime's ports, the request and the caller's tenant."""

    deps: Deps
    request: Request
    tenant: str


_Q = TypeVar("_Q", bound=BaseModel)
Handler = Callable[[Call], Awaitable[Response]]
ErrorShape = Callable[[ApiError], Response]
"""Renders an error in another API's shape (a drop-in format's, ``formats/``)."""


@dataclass(frozen=True)
class Failure:
    """A documented error answer: its status, when it happens, and its codes."""

    status: int
    description: str
    codes: tuple[str, ...]


@dataclass(frozen=True)
class Operation:
    """One method on one path, with everything both the router and the document need.

    ``handler`` None means the route is served elsewhere (the embedded blob URLs) and only
    documented here. ``body`` is a JSON body's model; ``raw_body`` a non-JSON body's media
    type (``body_optional``: it may be absent). ``streams`` is the media type of an
    alternative streamed success body.
    ``limited`` says the per-key request limit of ``label`` applies (``api.throttle``) to
    an authenticated operation. ``error_shape`` renders its errors (the key check's too)
    in the shape of the API it imitates (documented by ``error_body``), not PromptForge's.
    """

    method: str
    path: str
    operation_id: str
    summary: str
    handler: Handler | None
    response: type[BaseModel] | None
    status: int = 200
    description: str = ""
    body: type[BaseModel] | None = None
    raw_body: str | None = None
    body_optional: bool = False
    query: type[BaseModel] | None = None
    headers: tuple[tuple[str, str], ...] = ()
    streams: str | None = None
    authenticated: bool = True
    limited: bool = True
    failures: tuple[Failure, ...] = ()
    links: dict[str, Any] = field(default_factory=dict)
    error_shape: ErrorShape | None = None
    error_body: type[BaseModel] | None = None

    @property
    def label(self) -> str:
        """``POST /v1/jobs/init``: the operation's name in logs, limits and tests."""
        return f"{self.method} {self.path}"


def imitated_api(
    error_shape: ErrorShape, error_body: type[BaseModel], failures: tuple[Failure, ...]
) -> Callable[..., Operation]:
    """The maker of an imitated API's operations (a drop-in format's, ``formats/``).

    ``op("METHOD /path", operation_id, summary, handler, response, **fields)`` is an
    ``Operation`` answering errors in that API's shape, documenting its ``failures``,
    outside PromptForge's per-key request limits (``docs/compat.md``).
    """

    def op(
        route: str, op_id: str, summary: str, handler: Handler, response: Any, **fields: Any
    ) -> Operation:
        method, path = route.split(" ", 1)
        return Operation(
            method,
            path,
            op_id,
            summary,
            handler,
            response,
            error_shape=error_shape,
            error_body=error_body,
            failures=failures,
            limited=False,
            **fields,
        )

    return op


def render(model: type[BaseModel], data: object, status: int = 200) -> Response:
    """``data`` checked against its documented model, as JSON (unset optional fields left out)."""
    body = model.model_validate(data).model_dump(mode="json", exclude_unset=True)
    return JSONResponse(body, status_code=status)


def parse_query(model: type[_Q], request: Request) -> _Q:
    """The query string as ``model``, or a 400 naming the parameter: ``missing_parameter``,
    ``unknown_parameter`` (where the model forbids others) or ``invalid_parameter``."""
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        name = ".".join(str(part) for part in first["loc"])
        code = _PARAMETER_CODES.get(first["type"], "invalid_parameter")
        where = f"query parameter {name!r}" if name else "query"  # "" : the parameters together
        raise BadRequest(code, f"{where}: {first['msg']}", details={"parameter": name}) from exc


_PARAMETER_CODES = {"missing": "missing_parameter", "extra_forbidden": "unknown_parameter"}
