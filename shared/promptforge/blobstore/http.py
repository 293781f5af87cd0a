"""HTTP routes that serve the embedded blob store's signed URLs.

``PUT /blobs/{bucket}/{name}`` streams an upload into the store and reports it to
``on_upload`` (the embedded runtime emits the object-finalize event there);
``GET /blobs/{bucket}/{name}`` streams a download. Both need a URL signed by the store's
``UrlSigner``; errors are JSON ``{"error": {"code", "message", "status"}}``:
400 for a bad bucket or object name, 403 for a refused signature (its ``SignatureError``
code), 404 ``object_not_found``, 405 ``method_not_allowed``, 409 ``object_name_conflict``,
409 ``upload_exists``, 413 ``upload_too_large``, 500 ``upload_not_reported``,
507 ``insufficient_storage`` (the disk is full: the partial file is dropped and the
rest of the body read, so the connection stays usable). Uploads are create-only: a
replayed upload URL is refused (on Cloud Storage the signer's IAM role cannot overwrite
either), but the refusal first reports the stored object to ``on_upload`` again, so an
upload whose report failed (a 500 or 507 after the file was stored) starts its job on
the client's retry.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from promptforge.blobstore.base import BlobInfo
from promptforge.blobstore.local import (
    LocalBlobReader,
    LocalBlobStore,
    LocalBlobWriter,
)
from promptforge.blobstore.signing import CONTENT_TYPE_PARAM, SIGNED_PARAMS
from promptforge.clock import Clock
from promptforge.errors import (
    ApiError,
    BadRequest,
    BlobExistsError,
    Conflict,
    Forbidden,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    SignatureError,
    insufficient_storage,
    storage_full,
)

log = logging.getLogger(__name__)

BLOB_PATH = "/blobs/{bucket}/{name:path}"
DRAIN_LIMIT_BYTES = 64 << 20
"""Of a refused upload, read and drop at most this much before answering."""

_OTHER_METHODS = ["DELETE", "OPTIONS", "PATCH", "POST"]
_NAME_CODES = frozenset({"invalid_object_name", "invalid_bucket_name"})
_MEDIA_TYPES = {".jsonl": "application/x-ndjson", ".json": "application/json"}


class _UploadNotReportedError(ApiError):
    """500: the upload was stored, but reporting it failed: a retried PUT reports it again."""

    status = 500


class _ReaderResponse(StreamingResponse):
    """Streams a ``LocalBlobReader`` and closes it however the response ends."""

    def __init__(self, reader: LocalBlobReader, headers: dict[str, str]) -> None:
        super().__init__(reader, headers=headers)
        self._reader = reader

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._reader.aclose()


def blob_routes(
    store: LocalBlobStore,
    *,
    max_upload_bytes: int,
    on_upload: Callable[[BlobInfo], Awaitable[None]],
    clock: Clock,
    drain_bytes: int = DRAIN_LIMIT_BYTES,
) -> list[Route]:
    """The routes serving ``store``'s signed URLs, for the embedded server to mount.

    ``on_upload`` is awaited after each stored upload, before the 200; if it raises, the
    object stays stored and the client sees a 500 (507 for a full disk). A retried PUT
    reports the stored object again, then answers 409 ``upload_exists``; ``on_upload``
    must therefore be idempotent (the embedded runtime's is a named task).
    ``drain_bytes`` bounds how much of a refused upload is read so its client sees the answer.
    """
    if max_upload_bytes <= 0:
        raise ValueError("max_upload_bytes must be positive")
    handlers = _BlobHandlers(store, max_upload_bytes, on_upload, clock, drain_bytes)
    return [
        Route(BLOB_PATH, handlers.put, methods=["PUT"]),
        Route(BLOB_PATH, handlers.get, methods=["GET"]),  # Starlette adds HEAD
        Route(BLOB_PATH, _other_method, methods=_OTHER_METHODS),
    ]


class _BlobHandlers:
    """The endpoint functions, closed over the store and its settings."""

    def __init__(
        self,
        store: LocalBlobStore,
        max_upload_bytes: int,
        on_upload: Callable[[BlobInfo], Awaitable[None]],
        clock: Clock,
        drain_bytes: int,
    ) -> None:
        self._store = store
        self._max = max_upload_bytes
        self._on_upload = on_upload
        self._clock = clock
        self._drain_bytes = drain_bytes

    async def put(self, request: Request) -> Response:
        """Verify a signed upload URL, stream the body into the store, report the upload."""
        bucket, name = request.path_params["bucket"], request.path_params["name"]
        async with contextlib.aclosing(request.stream()) as body:
            declared: int | None = None
            try:
                declared = _content_length(request)
                self._verify(request, bucket, name, "PUT", request.headers.get("content-type"))
                if declared is not None and declared > self._max:
                    raise self._too_large()
                stored = await self._store.stat(bucket, name)
                if stored is not None:
                    await self._report(stored)
                    raise _already_uploaded(bucket, name)
                writer = await _open_writer(self._store, bucket, name)
            except ApiError as exc:
                return await self._refuse(exc, body, remaining=declared)
            size = 0
            try:
                async for chunk in body:
                    size += len(chunk)
                    if size > self._max:  # only a chunked body gets here: h11 holds the length
                        await writer.abort()
                        return await self._refuse(self._too_large(), body, remaining=None)
                    await writer.write(chunk)
                info = await writer.close()
            except BlobExistsError:  # a concurrent PUT of the same URL finished first
                return await self._refuse(_already_uploaded(bucket, name), body, remaining=None)
            except ClientDisconnect:
                await writer.abort()
                return Response(status_code=400)  # nobody is listening any more
            except OSError as exc:
                await writer.abort()
                if not storage_full(exc):
                    raise
                left = None if declared is None else declared - size
                return await self._refuse(insufficient_storage("the upload"), body, remaining=left)
            except BaseException:
                await writer.abort()
                raise
        try:
            await self._report(info)
        except ApiError as exc:
            return _error_response(exc)
        result = {"bucket": info.bucket, "name": info.name, "size": info.size}
        return JSONResponse(result | {"generation": info.generation})

    async def _report(self, info: BlobInfo) -> None:
        """Hand a stored upload to ``on_upload``; its failure becomes a 507 or a 500."""
        try:
            await self._on_upload(info)
        except Exception as exc:
            if storage_full(exc):
                raise insufficient_storage("the upload was stored but its processing") from exc
            log.exception("reporting the upload %s/%s failed", info.bucket, info.name)
            raise _UploadNotReportedError(
                "upload_not_reported",
                "the file was stored but its processing could not be started; PUT the same "
                "URL again to retry (it answers 409 upload_exists once processing has started)",
            ) from exc

    async def _refuse(
        self, error: ApiError, body: AsyncIterator[bytes], *, remaining: int | None
    ) -> Response:
        """Answer ``error`` to an upload whose body is not (fully) read.

        Clients such as httpx send the whole body before reading the answer, so up to
        ``drain_bytes`` of it are read and dropped first; when more than that is left (or
        announced by Content-Length), the answer closes the connection instead.
        """
        drained = remaining is None or remaining <= self._drain_bytes
        if drained:
            drained = await _drain(body, self._drain_bytes)
        if not drained:
            error.headers["Connection"] = "close"
        return _error_response(error)

    async def get(self, request: Request) -> Response:
        """Verify a signed download URL and stream the object (headers only for HEAD)."""
        bucket, name = request.path_params["bucket"], request.path_params["name"]
        try:
            self._verify(request, bucket, name, "GET", None)
        except ApiError as exc:
            return _error_response(exc)
        try:
            reader = await self._store.open_reader(bucket, name)
        except FileNotFoundError:
            return _error_response(
                NotFound("object_not_found", f"no object {name!r} in bucket {bucket!r}")
            )
        headers = {
            "Content-Type": request.query_params.get(CONTENT_TYPE_PARAM) or _media_type(name),
            "Content-Length": str(reader.info.size),
            "X-PF-Generation": str(reader.info.generation),
        }
        if request.method == "HEAD":
            await reader.aclose()
            return Response(headers=headers)
        return _ReaderResponse(reader, headers)

    def _verify(
        self, request: Request, bucket: str, name: str, method: str, content_type: str | None
    ) -> None:
        """Check the URL's signature, turning a refusal into a 400 or 403 API error."""
        try:
            for param in SIGNED_PARAMS:
                if len(request.query_params.getlist(param)) > 1:
                    raise SignatureError(
                        "malformed_signature", f"{param} appears more than once in the URL"
                    )
            self._store.signer.verify(
                bucket,
                name,
                method=method,
                query=request.query_params,
                content_type=content_type,
                now=self._clock.now(),
            )
        except SignatureError as exc:
            error_class = BadRequest if exc.code in _NAME_CODES else Forbidden
            raise error_class(exc.code, exc.message) from exc

    def _too_large(self) -> PayloadTooLarge:
        """The 413 for an upload over the limit."""
        return PayloadTooLarge(
            "upload_too_large",
            f"the upload is larger than the limit of {self._max} bytes; split the file",
            details={"max_upload_bytes": self._max},
        )


async def _other_method(request: Request) -> Response:
    """Refuse methods other than GET, HEAD and PUT as JSON."""
    return _error_response(
        MethodNotAllowed(
            "method_not_allowed",
            f"blob URLs accept GET, HEAD and PUT, not {request.method}",
            headers={"Allow": "GET, HEAD, PUT"},
        )
    )


async def _open_writer(store: LocalBlobStore, bucket: str, name: str) -> LocalBlobWriter:
    """Open a writer; a name that clashes with a folder is a 409, a full disk a 507."""
    try:
        return await store.open_writer(bucket, name, if_absent=True)
    except (FileExistsError, IsADirectoryError) as exc:
        raise Conflict("object_name_conflict", str(exc)) from exc
    except OSError as exc:
        if storage_full(exc):
            raise insufficient_storage("the upload") from exc
        raise


def _already_uploaded(bucket: str, name: str) -> Conflict:
    """Uploads are create-only: a replayed upload URL never replaces the file a job has."""
    return Conflict(
        "upload_exists",
        f"{bucket}/{name} has already been uploaded and its processing started; an upload "
        "URL works once. To run another file, create a new job with POST /v1/jobs/init.",
    )


def _content_length(request: Request) -> int | None:
    """The declared body size, or None for a chunked body."""
    value = request.headers.get("content-length")
    if value is None:
        return None
    if not value.isdigit():
        raise BadRequest("invalid_content_length", f"Content-Length {value!r} is not a number")
    return int(value)


async def _drain(body: AsyncIterator[bytes], limit: int) -> bool:
    """Read and drop the rest of a body; False if it is longer than ``limit`` or cut off."""
    drained = 0
    try:
        async for chunk in body:
            drained += len(chunk)
            if drained > limit:
                return False
    except ClientDisconnect:
        return False
    return True


def _media_type(name: str) -> str:
    """The download's content type, from the object name's extension."""
    for extension, media_type in _MEDIA_TYPES.items():
        if name.endswith(extension):
            return media_type
    return "application/octet-stream"


def _error_response(error: ApiError) -> JSONResponse:
    """Render an ``ApiError`` as its JSON body and status."""
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)
