"""What an API operation is: its route, its models and its documented failures, as data.

``api.routes.API_OPERATIONS`` lists every operation once; ``api.app`` builds the Starlette
routes from it (the embedded server and the Google api function serve that one app) and
``api.openapi`` builds the OpenAPI document from it, so adding an endpoint is adding one
entry there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from promptforge.core.deps import Deps


@dataclass(frozen=True)
class Call:
    """One authenticated request: the runtime's ports, the request and the caller's tenant."""

    deps: Deps
    request: Request
    tenant: str


Handler = Callable[[Call], Awaitable[Response]]


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
    ``limited`` says the per-key request limit of ``label`` applies (``api.ratelimit``) to
    an authenticated operation.
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

    @property
    def label(self) -> str:
        """``POST /v1/jobs/init``: the operation's name in logs, limits and tests."""
        return f"{self.method} {self.path}"
