"""Count every billable Google Cloud operation at the adapters' client boundary (``bench cloud``).

Only ``promptforge bench cloud`` turns this on (``meter_deps`` on a function instance's
``Deps``, from the bench's wrapper of ``functions/NAME/main.py``); production code never
calls it, so a deployed function's behaviour is untouched. Each wrapper is a thin proxy
around the client object the adapter already holds:

- Firestore: the GAPIC client under ``firestore.AsyncClient`` (``_firestore_api``), one
  rule per RPC: documents returned (reads; a query that returns none costs one), writes
  and deletes from the mutations a commit carries (per document path, for the hottest
  document), transactions' begin/rollback free;
- Cloud Tasks: the ``CloudTasksAsyncClient``: every API call is a billable operation
  (Cloud Tasks counts an API call or a push delivery attempt);
- Cloud Storage: the storage client's HTTP session, each request classed A (inserts,
  uploads, lists, compose, rewrite, patch) or B (gets), deletes free.

An RPC the rules do not know is counted under ``unpriced`` (a test fails on any), so a
call cannot go uncounted silently.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

FIRESTORE_READ_RPCS = frozenset(
    {"batch_get_documents", "run_query", "list_documents", "get_document"}
)
"""RPCs that bill one read per document they return (at least one for a query)."""
FIRESTORE_ONE_READ_RPCS = frozenset(
    {"run_aggregation_query", "list_collection_ids", "partition_query"}
)
"""RPCs billed one read each (an aggregation reads one per 1,000 index entries)."""
FIRESTORE_WRITE_RPCS = frozenset({"commit", "batch_write"})
"""RPCs whose mutations are each one write or one delete."""
FIRESTORE_DOCUMENT_RPCS = frozenset({"create_document", "update_document", "delete_document"})
"""Single-document writes and deletes."""
FIRESTORE_FREE_RPCS = frozenset(
    {
        "begin_transaction",
        "rollback",
        "get_operation",
        "list_operations",
        "cancel_operation",
        "delete_operation",
    }
)
"""RPCs with no charge of their own."""
FIRESTORE_RPCS = FIRESTORE_READ_RPCS | FIRESTORE_ONE_READ_RPCS | FIRESTORE_WRITE_RPCS
FIRESTORE_RPCS |= FIRESTORE_DOCUMENT_RPCS | FIRESTORE_FREE_RPCS
TASKS_RPCS = frozenset(
    {
        "create_task",
        "delete_task",
        "get_task",
        "list_tasks",
        "run_task",
        "create_queue",
        "update_queue",
        "delete_queue",
        "get_queue",
        "list_queues",
        "pause_queue",
        "resume_queue",
        "purge_queue",
        "batch_create_tasks",
        "batch_delete_tasks",
        "get_cmek_config",
        "update_cmek_config",
        "get_operation",
    }
)
"""Cloud Tasks API calls: each at least one billable operation."""


@dataclass
class Meter:
    """Operation counts of one process; thread-safe (GCS calls run in worker threads)."""

    ops: Counter[str] = field(default_factory=Counter)
    """Billable operations by kind (``firestore.read``, ``tasks.api``, ``gcs.class_a``…)."""
    calls: Counter[str] = field(default_factory=Counter)
    """Client calls by RPC (``firestore.commit``…), billable or not."""
    document_writes: Counter[str] = field(default_factory=Counter)
    """Writes and deletes per Firestore document path."""
    unpriced: Counter[str] = field(default_factory=Counter)
    """Calls through a wrapper that no rule prices: must stay empty."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, kind: str, count: int = 1) -> None:
        """Count ``count`` operations of ``kind``."""
        with self._lock:
            self.ops[kind] += count

    def call(self, name: str) -> None:
        """Count one client call named ``name``."""
        with self._lock:
            self.calls[name] += 1

    def wrote(self, path: str, kind: str) -> None:
        """One write or delete (``kind``) of the document at ``path``."""
        with self._lock:
            self.ops[kind] += 1
            self.document_writes[path] += 1

    def miss(self, name: str) -> None:
        """A call no rule prices."""
        with self._lock:
            self.unpriced[name] += 1

    def snapshot(self) -> dict[str, Any]:
        """The counts as plain JSON-able dicts."""
        with self._lock:
            return {
                "ops": dict(self.ops),
                "calls": dict(self.calls),
                "document_writes": dict(self.document_writes),
                "unpriced": dict(self.unpriced),
            }


class _CountedStream:
    """A server stream passed through, counting what ``count`` says each response holds."""

    def __init__(self, stream: Any, count: Callable[[Any], int], done: Callable[[int], None]):
        self._stream = stream
        self._count = count
        self._done = done

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        total = 0
        try:
            async for response in self._stream:
                total += self._count(response)
                yield response
        finally:
            self._done(total)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class MeteredFirestoreApi:
    """The Firestore GAPIC client, each RPC counted by its billing rule."""

    def __init__(self, api: Any, meter: Meter) -> None:
        self._api = api
        self._meter = meter

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._api, name)
        if name.startswith("_") or not callable(target) or name in ("transport",):
            return target
        if name not in FIRESTORE_RPCS:
            self._meter.miss(f"firestore.{name}")
            return target
        return self._wrap(name, target)

    def _wrap(self, name: str, rpc: Callable[..., Any]) -> Callable[..., Any]:
        meter = self._meter

        async def metered(*args: Any, **kwargs: Any) -> Any:
            meter.call(f"firestore.{name}")
            result = await rpc(*args, **kwargs)
            request = kwargs.get("request", args[0] if args else None)
            if name in FIRESTORE_WRITE_RPCS:
                _count_mutations(meter, request)
            elif name == "delete_document":
                meter.wrote(
                    str(getattr(request, "name", kwargs.get("name", ""))), "firestore.delete"
                )
            elif name in FIRESTORE_DOCUMENT_RPCS:
                meter.wrote(str(getattr(result, "name", "")), "firestore.write")
            elif name in FIRESTORE_ONE_READ_RPCS:
                meter.add("firestore.read")
            elif name in ("batch_get_documents", "run_query"):
                floor = 1 if name == "run_query" else 0
                return _CountedStream(
                    result,
                    _documents_in,
                    lambda n: meter.add("firestore.read", max(n, floor)),
                )
            elif name == "list_documents":
                meter.add("firestore.read", max(1, len(getattr(result, "documents", []))))
            elif name == "get_document":
                meter.add("firestore.read")
            return result

        return metered


def _documents_in(response: Any) -> int:
    """Documents one streamed response bills: a found or missing get, a query's document."""
    if _has(response, "found") or _has(response, "missing"):
        return 1
    return 1 if _has(response, "document") else 0


def _has(message: Any, name: str) -> bool:
    raw = getattr(message, "_pb", message)
    try:
        return bool(raw.HasField(name))
    except (ValueError, AttributeError):
        return False


def _count_mutations(meter: Meter, request: Any) -> None:
    writes = getattr(request, "writes", None)
    if writes is None and isinstance(request, dict):
        writes = request.get("writes", [])
    for write in writes or []:
        raw = getattr(write, "_pb", write)
        operation = raw.WhichOneof("operation")
        if operation == "delete":
            meter.wrote(raw.delete, "firestore.delete")
        elif operation == "update":
            meter.wrote(raw.update.name, "firestore.write")
        elif operation == "transform":
            meter.wrote(raw.transform.document, "firestore.write")


class MeteredTasksClient:
    """The Cloud Tasks client: every API call one billable operation."""

    def __init__(self, client: Any, meter: Meter) -> None:
        self._client = client
        self._meter = meter

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._client, name)
        if name.startswith("_") or not callable(target) or name.endswith("_path"):
            return target
        if name not in TASKS_RPCS:
            self._meter.miss(f"tasks.{name}")
            return target
        meter = self._meter

        async def metered(*args: Any, **kwargs: Any) -> Any:
            meter.call(f"tasks.{name}")
            result = await target(*args, **kwargs)
            meter.add("tasks.api", _tasks_operations(name, args, kwargs, result))
            return result

        return metered


def _tasks_operations(name: str, args: Any, kwargs: dict[str, Any], result: Any) -> int:
    """Billable operations of one call: one per task a batch or a list touches, at least 1."""
    request = kwargs.get("request", args[0] if args else None)
    if name == "batch_create_tasks":
        return max(1, len(getattr(request, "requests", []) or []))
    if name == "batch_delete_tasks":
        return max(1, len(getattr(request, "names", []) or []))
    if name == "list_tasks":  # the first page only (later pages: tools and tests, not jobs)
        return max(1, len(getattr(getattr(result, "_response", None), "tasks", []) or []))
    return 1


class MeteredHttp:
    """The storage client's HTTP session: each request a class A or B operation (or free)."""

    def __init__(self, session: Any, meter: Meter) -> None:
        self._session = session
        self._meter = meter

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        """Count the request by its class, then send it."""
        kind = gcs_class(method, url)
        self._meter.call(f"gcs.{method.upper()}")
        if kind is not None:
            self._meter.add(kind)
        return self._session.request(method, url, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def gcs_class(method: str, url: str) -> str | None:
    """``gcs.class_a``, ``gcs.class_b`` or ``None`` (free) for one JSON-API request."""
    verb = method.upper()
    if verb == "DELETE":
        return None
    if verb in ("POST", "PUT", "PATCH"):
        return "gcs.class_a"
    path = urlparse(url).path.rstrip("/")
    if path.endswith("/o") or path.endswith("/b"):  # listing objects or buckets
        return "gcs.class_a"
    return "gcs.class_b"


def meter_deps(deps: Any, meter: Meter) -> None:
    """Wrap the clients of a Google ``Deps`` (built by ``gcp.wiring.build_deps``) in place."""
    firestore = deps.store._client
    firestore._firestore_api_internal = MeteredFirestoreApi(firestore._firestore_api, meter)
    deps.tasks._client = MeteredTasksClient(deps.tasks._client, meter)
    storage = deps.blobs._client
    storage._http_internal = MeteredHttp(storage._http, meter)
