"""What the core handlers need, built once by a runtime (embedded or Google) and passed in."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import httpx

from promptforge.blobstore.base import BlobStore
from promptforge.clock import Clock
from promptforge.core.answers import AnswerKeeper
from promptforge.core.credentials import Credentials
from promptforge.core.jobcache import JobCache
from promptforge.jobstore.base import JobStore
from promptforge.providers.catalogue import Catalogue
from promptforge.ratecontrol.controller import DEFAULT_CONFIG, ControllerConfig
from promptforge.settings import Settings
from promptforge.tasks.base import TaskQueue

CONTROL_QUEUE = "pf-control"
"""The queue for ingest, finalize and expiry tasks (prompts go to one queue per rate key)."""


@dataclass(frozen=True)
class CoreConfig:
    """The settings the core logic reads."""

    upload_url_ttl: int = 900
    results_url_ttl: int = 3600
    lines_per_part: int = 10_000
    max_line_bytes: int = 1_000_000
    ingest_batch: int = 500
    lease_seconds: float = 600.0
    provider_timeout: float = 300.0
    initial_rate: float = 1.0
    max_concurrent_dispatches: int = 1000
    queue_apply_delay: float = 0.0
    queue_rate_step: float = 0.0
    key_peak_rate: float = 450.0
    chunk_prompts: int = 1
    max_upload_bytes: int = 5 * 1024**3
    webhook_allow_private: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> CoreConfig:
        """The core's share of the operator settings."""
        return cls(
            upload_url_ttl=settings.upload_url_ttl,
            results_url_ttl=settings.results_url_ttl,
            lines_per_part=settings.lines_per_part,
            max_line_bytes=settings.max_line_bytes,
            lease_seconds=settings.lease_seconds,
            provider_timeout=settings.provider_timeout,
            initial_rate=settings.initial_rate,
            max_concurrent_dispatches=settings.max_concurrent_dispatches,
            queue_apply_delay=settings.queue_apply_delay,
            queue_rate_step=settings.queue_rate_step,
            key_peak_rate=settings.key_peak_rate,
            chunk_prompts=settings.chunk_prompts,
            max_upload_bytes=settings.max_upload_bytes,
            webhook_allow_private=settings.webhook_allow_private,
        )

    @property
    def rate_control(self) -> ControllerConfig:
        """The controller's tunables for this runtime's queues.

        A queue that applies a new rate late is ``gated``: workers thin dispatches
        down to the decided rate meanwhile (``ratecontrol.gate``). The controller's
        measurement windows stay its own (``ControllerConfig.control_period``),
        whatever period the runtime steps it at (``PROMPTFORGE_CONTROL_PERIOD``).
        """
        return replace(
            DEFAULT_CONFIG,
            apply_delay=self.queue_apply_delay,
            gated=self.queue_apply_delay > 0,
            queue_step=self.queue_rate_step,
        )


@dataclass
class Deps:
    """Ports and shared clients for the core handlers."""

    store: JobStore
    blobs: BlobStore
    tasks: TaskQueue
    clock: Clock
    catalogue: Catalogue
    credentials: Credentials
    http: httpx.AsyncClient
    config: CoreConfig
    jobs: JobCache = field(default_factory=JobCache)  # the worker's view of its jobs
    answers: AnswerKeeper = field(default_factory=AnswerKeeper)  # settles a shutdown waits for
