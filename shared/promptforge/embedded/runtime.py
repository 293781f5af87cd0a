"""The embedded runtime: SQLite, local files and the in-process dispatcher around the same core.

``EmbeddedRuntime`` owns every resource of one local PromptForge: open it, serve its
``app`` (API + signed blob URLs), and it ingests, dispatches, calls providers,
retunes rates and finalizes in the background until closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from promptforge.api.app import create_api_app
from promptforge.blobstore.base import BlobInfo
from promptforge.blobstore.http import blob_routes
from promptforge.blobstore.local import LocalBlobStore
from promptforge.blobstore.signing import MIN_SECRET_BYTES, UrlSigner
from promptforge.clock import Clock, SystemClock
from promptforge.core.cancel import handle_cancel
from promptforge.core.chunks import handle_chunk
from promptforge.core.control_chain import handle_control, step_if_due
from promptforge.core.credentials import Credentials
from promptforge.core.deps import CoreConfig, Deps
from promptforge.core.finalize import handle_finalize, handle_finalize_step
from promptforge.core.ingest import finalize_event_task, handle_ingest
from promptforge.core.queues import ensure_control_queue
from promptforge.core.tasknames import TaskTarget
from promptforge.core.uploads import handle_expire, start_stored_upload
from promptforge.core.webhooks import handle_webhook
from promptforge.core.worker import handle_prompt
from promptforge.errors import ConfigurationError
from promptforge.jobstore.sqlite import SqliteJobStore
from promptforge.lifecycle import AsyncResource
from promptforge.providers.catalogue import Catalogue
from promptforge.providers.http import provider_client
from promptforge.settings import Settings
from promptforge.tasks.base import Delivery, HandlerResult
from promptforge.tasks.embedded import EmbeddedTaskQueue

log = logging.getLogger(__name__)

_CoreHandler = Callable[[Deps, Delivery], Awaitable[HandlerResult]]
_Handler = Callable[[Delivery], Awaitable[HandlerResult]]


def signing_secret(settings: Settings) -> bytes:
    """The HMAC key for signed URLs: from settings, else generated once into ``data_dir``.

    Raises ``ConfigurationError`` for a key shorter than ``MIN_SECRET_BYTES``.
    """
    if settings.signing_secret is not None:
        return settings.signing_secret.get_secret_value().encode("utf-8")
    path = settings.data_dir / "signing.key"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    secret = path.read_text().strip().encode("utf-8")
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigurationError(
            f"{path} holds a signing key of {len(secret)} bytes; it needs at least "
            f"{MIN_SECRET_BYTES}. Delete the file to have a new key generated (upload and "
            "result URLs issued with the old key stop working)"
        )
    return secret


class EmbeddedRuntime(AsyncResource):
    """One machine's PromptForge: open, serve ``app``, close."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        data = Path(settings.data_dir)
        data.mkdir(parents=True, exist_ok=True)
        self.store = SqliteJobStore(data / "jobs.db")
        self.tasks = EmbeddedTaskQueue(data / "tasks.db", lease_seconds=settings.lease_seconds)
        self.blobs = LocalBlobStore(
            data / "blobs", UrlSigner(signing_secret(settings), settings.base_url)
        )
        self.http = provider_client(settings.max_concurrent_dispatches, settings.provider_timeout)
        self.deps = Deps(
            store=self.store,
            blobs=self.blobs,
            tasks=self.tasks,
            clock=self.clock,
            catalogue=Catalogue.load(settings.models_file),
            credentials=Credentials.from_settings(settings),
            http=self.http,
            config=CoreConfig.from_settings(settings),
        )
        self._controller: asyncio.Task[None] | None = None
        self.app = create_api_app(
            self.deps,
            blob_routes(
                self.blobs,
                max_upload_bytes=settings.max_upload_bytes,
                on_upload=self._on_upload,
                clock=self.clock,
            ),
        )

    async def open(self) -> None:
        """Open the stores, resume interrupted work and start dispatching and controlling."""
        await self.store.open()
        await self.tasks.open()
        released = await self.store.release_all_leases()
        if released:
            log.info("resumed: released %d prompt leases held by a previous process", released)
        await ensure_control_queue(self.deps)
        for job in await self.store.jobs_waiting_for_upload():
            await start_stored_upload(self.deps, job)
        for target, handler in (
            (TaskTarget.INGEST, handle_ingest),
            (TaskTarget.WORKER, handle_prompt),
            (TaskTarget.CHUNK, handle_chunk),  # chunk_prompts > 1 (default 1: none)
            (TaskTarget.FINALIZE, handle_finalize),
            (TaskTarget.FINALIZE_STEP, handle_finalize_step),  # a job of several parts
            (TaskTarget.EXPIRE, handle_expire),
            (TaskTarget.CANCEL, handle_cancel),
            (TaskTarget.WEBHOOK, handle_webhook),
            (TaskTarget.CONTROL, self._control_tick),  # the ticks of a batch line's own rate key
        ):
            # A worker may be holding an answer the provider is sending: let it finish.
            finish = target == "worker"
            self.tasks.register(target, self._bind(target, handler), finish_on_stop=finish)
        await self.tasks.start()
        self._controller = asyncio.create_task(self._control_loop(), name="controller")

    async def stop_work(self) -> None:
        """Stop taking work at once; let calls in flight end and be recorded.

        Workers run to their end (each call is bounded by its timeout); ``cancel_calls``
        (a second signal) cuts them off, and what an answered call records still runs to
        its end (``core.answers``). The API keeps answering until ``close``.
        """
        if self._controller is not None:
            self._controller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._controller
            self._controller = None
        await self.tasks.stop()
        await self.deps.answers.drain()

    async def close(self) -> None:
        """``stop_work``, then close the stores and the provider client."""
        await self.stop_work()
        await self.tasks.close()
        await self.http.aclose()
        await self.store.close()

    def cancel_calls(self) -> int:
        """Cut off the handlers still running (calls in flight are then like a kill's)."""
        return self.tasks.cancel_running()

    def _bind(self, target: str, handler: _CoreHandler) -> _Handler:
        deps = self.deps

        async def bound(delivery: Delivery) -> HandlerResult:
            return await handler(deps, delivery)

        faulty = {t.strip() for t in self.settings.fault_duplicate_delivery.split(",")}
        if target in faulty or "all" in faulty:
            log.warning("TEST FAULT: every %r task is delivered three times", target)
            return _delivered_thrice(bound)
        return bound

    async def _on_upload(self, info: BlobInfo) -> None:
        """The embedded equivalent of the GCS finalize event: a named, durable ingest task."""
        await self.tasks.enqueue([finalize_event_task(info.bucket, info.name, info.generation)])

    async def _control_tick(self, deps: Deps, delivery: Delivery) -> HandlerResult:
        """A key's chain of ticks (``core.control_chain``), beside the loop: a line's own
        rate key (``LineRoute``) is no job's key, so only its chain steps it."""
        return await handle_control(deps, delivery, period=self.settings.control_period)

    async def _control_loop(self) -> None:
        period = self.settings.control_period
        started = time.monotonic()
        while True:
            try:
                for key in await self.store.list_active_rate_keys():
                    await step_if_due(self.deps, key, period)
            except Exception:
                log.exception("controller tick failed; retrying next period")
            await asyncio.sleep(next_step_delay(started, time.monotonic(), period))


def next_step_delay(started: float, now: float, period: float) -> float:
    """Seconds from ``now`` until the controller loop's next step: the next multiple of
    ``period`` since ``started`` (Google's chain ticks at multiples of the period too).

    Sleeping a whole period after each round of steps made every period as long as the
    period plus the steps' store calls (under 1 % on a quiet machine, more when the store
    is slow): cuts reached the queue later than the controller (and the simulation)
    assume. A round that ran past a tick skips it rather than stepping twice in a row.
    """
    return period - (now - started) % period


def _delivered_thrice(handler: _Handler) -> _Handler:
    """TEST ONLY (``fault_duplicate_delivery``): each delivery twice at once, then a replay.

    The queue sees one answer: a 2xx if any of the three gave one (a queue drops a task
    once a delivery succeeds), else the original's answer or error.
    """

    async def thrice(delivery: Delivery) -> HandlerResult:
        answers = list(
            await asyncio.gather(handler(delivery), handler(delivery), return_exceptions=True)
        )
        answers += await asyncio.gather(handler(delivery), return_exceptions=True)
        for answer in answers:
            if isinstance(answer, HandlerResult) and answer.ok:
                return answer
        first = answers[0]
        if isinstance(first, BaseException):
            raise first
        return first

    return thrice
