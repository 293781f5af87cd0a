"""Build the core's ``Deps`` from ``GcpSettings``: Firestore, GCS, Cloud Tasks, Secret Manager.

Called once per function instance. The client libraries find emulators the usual way
(``FIRESTORE_EMULATOR_HOST``, ``STORAGE_EMULATOR_HOST``); Cloud Tasks has no such
variable, so ``PROMPTFORGE_TASKS_EMULATOR_HOST`` selects a plain-gRPC client.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
from google.cloud import firestore, tasks_v2
from google.cloud.secretmanager import SecretManagerServiceAsyncClient

from promptforge.clock import Clock, SystemClock
from promptforge.core.credentials import Credentials
from promptforge.core.deps import CoreConfig, Deps
from promptforge.gcp.cloud_tasks import CloudTasksQueue, emulator_client
from promptforge.gcp.firestore_store import FirestoreJobStore
from promptforge.gcp.gcs_signing import IamSigner, KeySigner, V4Signer
from promptforge.gcp.gcs_store import GcsBlobStore
from promptforge.gcp.secrets import credentials_from_secret_manager
from promptforge.gcp.settings import GcpSettings
from promptforge.providers.catalogue import Catalogue


async def build_deps(
    settings: GcpSettings, *, provider_keys: bool = False, clock: Clock | None = None
) -> Deps:
    """Every port on its Google adapter; provider keys are read only when ``provider_keys``."""
    store = FirestoreJobStore(
        firestore.AsyncClient(project=settings.gcp_project, database=settings.firestore_database),
        prefix=settings.firestore_prefix,
        retention=timedelta(days=settings.retention_days),
    )
    blobs = GcsBlobStore.from_client(
        settings.gcp_project,
        input_bucket=settings.input_bucket,
        output_bucket=settings.output_bucket,
        signer=url_signer(settings),
    )
    deps = Deps(
        store=store,
        blobs=blobs,
        tasks=task_queue(settings),
        clock=clock or SystemClock(),
        catalogue=Catalogue.load(settings.models_file),
        credentials=await provider_credentials(settings) if provider_keys else Credentials({}),
        http=httpx.AsyncClient(
            limits=httpx.Limits(
                max_connections=settings.max_concurrent_dispatches,
                max_keepalive_connections=200,
            ),
            timeout=settings.provider_timeout,
        ),
        config=_core_config(settings),
    )
    # The control queue is Terraform's (google_cloud_tasks_queue.control): nothing creates
    # a queue at cold start, and no function needs the right to.
    return deps


async def close_deps(deps: Deps) -> None:
    """Close what ``build_deps`` opened (function instances simply exit instead)."""
    await deps.http.aclose()
    if isinstance(deps.tasks, CloudTasksQueue):
        await deps.tasks.aclose()


@contextlib.asynccontextmanager
async def open_firestore_store(
    project: str, *, database: str = "(default)", prefix: str = "pf"
) -> AsyncIterator[FirestoreJobStore]:
    """A job store on one Firestore database, its gRPC channel closed on exit (for the CLI)."""
    client = firestore.AsyncClient(project=project, database=database)
    try:
        yield FirestoreJobStore(client, prefix=prefix)
    finally:
        await client._firestore_api.transport.close()  # AsyncClient has no public close


def url_signer(settings: GcpSettings) -> V4Signer:
    """A local key when one is configured (tests, stand-ins), else IAM signBlob."""
    if settings.signing_key_file is not None:
        return KeySigner.from_file(settings.signing_key_file, settings.storage_signing_endpoint)
    return IamSigner(settings.signing_service_account, settings.storage_signing_endpoint)


def task_queue(settings: GcpSettings) -> CloudTasksQueue:
    """Cloud Tasks, or its emulator when ``tasks_emulator_host`` is set."""
    client = (
        emulator_client(settings.tasks_emulator_host)
        if settings.tasks_emulator_host
        else tasks_v2.CloudTasksAsyncClient()
    )
    return CloudTasksQueue(
        client,
        project=settings.gcp_project,
        location=settings.queue_location,
        worker_url=settings.worker_url,
        controller_url=settings.controller_url,
        service_account=settings.tasks_service_account,
    )


async def provider_credentials(settings: GcpSettings) -> Credentials:
    """Provider keys from Secret Manager (or, for local stand-ins, from the environment)."""
    if settings.provider_keys_from == "environment":
        return Credentials.from_settings(settings)
    client = SecretManagerServiceAsyncClient()
    try:
        return await credentials_from_secret_manager(settings, client)
    finally:
        await client.transport.close()  # type: ignore[no-untyped-call]


def _core_config(settings: GcpSettings) -> CoreConfig:
    """The core's settings; a chunk never holds more prompts than a slice has lines.

    A key's queues dispatch chunks at its rate / ``chunk_prompts`` (``core.queues``), so
    chunks must be full to call at the rate: a slice's prompts make the chunks, so a
    chunk larger than a slice would never be full.
    """
    config = CoreConfig.from_settings(settings)
    chunk = min(config.chunk_prompts, settings.ingest_slice_lines)
    return dataclasses.replace(config, chunk_prompts=chunk)
