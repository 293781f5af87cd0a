"""What the four Cloud Functions do with a request: parse the trigger, call the core, answer.

``functions/<name>/main.py`` holds one module-level ``FunctionInstance`` and one
``functions_framework.aio`` entry point that calls it. The functions are ASGI: the
core is async-only and keeps async clients (gRPC channels, an HTTP pool) for the
life of the instance, which a WSGI function could only share by running a new event
loop per request. Nothing is read or built at import: settings and clients are made
on the first request and reused by every later one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from cloudevents.http.event import CloudEvent
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from promptforge.api.app import create_api_app
from promptforge.core.deps import Deps
from promptforge.core.ingest import finalize_event_task, job_id_from_object
from promptforge.gcp.handlers import TaskHandler, controller_routes, worker_routes
from promptforge.gcp.oidc import OidcVerifier, TokenRejected, verifier_mode
from promptforge.gcp.settings import FunctionRole, GcpSettings
from promptforge.gcp.wiring import build_deps, close_deps
from promptforge.logs import RedactingFilter, configure_logging, job_id_var, prompt_id_var
from promptforge.tasks.base import Delivery

log = logging.getLogger(__name__)

FINALIZED = "google.cloud.storage.object.v1.finalized"


class AsgiPassThrough(Response):
    """A "response" that hands the whole request to an ASGI app, which answers it."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__()
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app on the untouched request."""
        await self._app(scope, receive, send)


@dataclass
class _Built:
    settings: GcpSettings
    redactor: RedactingFilter
    http: httpx.AsyncClient
    verifier: OidcVerifier | None
    routes: dict[str, TaskHandler]
    deps: Deps | None = None
    api_app: ASGIApp | None = None


class FunctionInstance:
    """One function instance: settings, token check and clients, built once and reused."""

    def __init__(
        self, role: FunctionRole, settings_factory: Callable[[], GcpSettings] = GcpSettings
    ) -> None:
        self.role = role
        self._settings_factory = settings_factory
        self._built: _Built | None = None
        self._lock: asyncio.Lock | None = None

    async def api(self, request: Request) -> Response:
        """The api function: the public API app the embedded server serves too (auth inside)."""
        if request.url.path == "/healthz":  # liveness: answers before any client is built
            return JSONResponse({"status": "ok"})
        built = await self._ready(with_deps=True)
        if built.api_app is None:
            built.api_app = create_api_app(_deps(built))
        return AsgiPassThrough(built.api_app)

    async def ingest(self, event: CloudEvent) -> None:
        """The ingest function: a finalize event becomes the upload's (named) ingest task."""
        built = await self._ready(with_deps=False)
        if event["type"] != FINALIZED:
            log.warning("ignoring a %s event", event["type"])
            return
        data: dict[str, Any] = event.data if isinstance(event.data, dict) else {}
        bucket, name = str(data.get("bucket", "")), str(data.get("name", ""))
        if bucket != built.settings.input_bucket or job_id_from_object(name) is None:
            log.info("ignoring gs://%s/%s: not a job's upload", bucket, name)
            return
        generation = int(data["generation"])
        built = await self._ready(with_deps=True)
        created = await _deps(built).tasks.enqueue([finalize_event_task(bucket, name, generation)])
        log.info(
            "upload gs://%s/%s#%d: %s",
            bucket,
            name,
            generation,
            "ingest enqueued" if created else "already enqueued (replayed event)",
        )

    async def tasks(self, request: Request) -> Response:
        """The worker and controller functions: authenticate, route by target, answer."""
        if request.method == "GET" and request.url.path == "/healthz":
            return JSONResponse({"status": "ok"})  # liveness: no token, no client built
        if request.method != "POST":
            return _error(405, "method_not_allowed", "tasks arrive as POST requests")
        built = await self._ready(with_deps=False)
        if built.verifier is not None:
            try:
                await built.verifier.verify(request.headers.get("authorization"))
            except TokenRejected as exc:
                log.warning("refused a task call: %s", exc)
                return _error(401, "unauthenticated", "a valid OIDC token is required")
        envelope = _envelope(await request.body())
        if envelope is None:
            log.error("dropping a task whose body is not {target, payload}")
            return _error(200, "malformed_task", "dropped: the body is not {target, payload}")
        target, payload = envelope
        handler = built.routes.get(target)
        if handler is None:
            log.error("task target %r is not served by the %s function", target, self.role)
            return _error(404, "unknown_target", f"the {self.role} does not serve {target!r}")
        built = await self._ready(with_deps=True)
        delivery = Delivery(
            queue=request.headers.get("x-cloudtasks-queuename", "").rsplit("/", 1)[-1],
            target=target,
            name=request.headers.get("x-cloudtasks-taskname", ""),
            payload=payload,
            attempt=_int(request.headers.get("x-cloudtasks-taskretrycount")) + 1,
        )
        job_token = job_id_var.set(str(payload.get("job_id") or "") or None)
        prompt_token = prompt_id_var.set(str(payload.get("prompt_id") or "") or None)
        try:
            result = await handler(_deps(built), delivery)
        except Exception:
            log.exception("task %s (%s) failed; Cloud Tasks will retry it", delivery.name, target)
            return _error(500, "internal_error", "the task failed; it will be retried")
        finally:
            job_id_var.reset(job_token)
            prompt_id_var.reset(prompt_token)
        headers = {}
        if result.retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(result.retry_after)))
        return Response(status_code=result.status, headers=headers)

    async def aclose(self) -> None:
        """Close the instance's clients (a function instance simply exits; tests close)."""
        built, self._built = self._built, None
        if built is not None:
            await built.http.aclose()
            if built.deps is not None:
                await built.deps.answers.drain()  # answers received are recorded first
                await close_deps(built.deps)

    async def _ready(self, *, with_deps: bool) -> _Built:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._built is None:
                self._built = self._first_build()
            built = self._built
            if with_deps and built.deps is None:
                built.deps = await build_deps(built.settings, provider_keys=self.role == "worker")
                for secret in built.deps.credentials.secrets():
                    built.redactor.add(secret)
            return built

    def _first_build(self) -> _Built:
        settings = self._settings_factory()
        redactor = configure_logging(as_json=True)
        http = httpx.AsyncClient()
        verifier = None
        if self.role in ("worker", "controller"):
            audience = settings.worker_url if self.role == "worker" else settings.controller_url
            if settings.oidc_verify:
                verifier = OidcVerifier(
                    http,
                    audience=audience,
                    service_account=settings.tasks_service_account,
                    certs_url=settings.oidc_certs_url,
                    mode=verifier_mode(settings.k_service),
                )
            else:
                log.warning(
                    "%s: OIDC verification is OFF (PROMPTFORGE_OIDC_VERIFY=false); "
                    "this is for local emulators only",
                    self.role,
                )
        routes = (
            worker_routes()
            if self.role == "worker"
            else controller_routes(
                slice_lines=settings.ingest_slice_lines,
                period=settings.control_period,
                retire_after=settings.queue_retire_after,
            )
        )
        return _Built(settings, redactor, http, verifier, routes)


def _deps(built: _Built) -> Deps:
    if built.deps is None:  # pragma: no cover - _ready(with_deps=True) always builds them
        raise RuntimeError("dependencies are not built")
    return built.deps


def _envelope(body: bytes) -> tuple[str, dict[str, Any]] | None:
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    target, payload = data.get("target"), data.get("payload")
    if not isinstance(target, str) or not isinstance(payload, dict):
        return None
    return target, payload


def _int(value: str | None) -> int:
    try:
        return max(0, int(value or 0))
    except ValueError:
        return 0


def _error(status: int, code: str, message: str) -> Response:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)
