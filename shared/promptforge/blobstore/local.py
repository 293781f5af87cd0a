"""The embedded blob store: objects as files under ``root/bucket/name``.

Writes go to a temporary file beside the object, are fsynced, and are published with
``os.replace``, so a reader sees the old object or the new one, never half of one.
Each object's generation lives in a sidecar file ``name.__meta__``, written before the
object is replaced; generations only grow, even for two writes in the same nanosecond.
File I/O runs in worker threads, one chunk at a time. One lock per store orders
publishes, stats and directory changes; this store assumes one process owns ``root``.
"""

from __future__ import annotations

import contextlib
import os
import stat as stat_mode
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import BinaryIO

from anyio import CancelScope, to_thread

from promptforge.blobstore.base import BlobInfo
from promptforge.blobstore.concat import concatenate
from promptforge.blobstore.signing import (
    RESERVED_SUFFIXES,
    UrlSigner,
    check_bucket_name,
    check_object_name,
)
from promptforge.errors import BlobExistsError

META_SUFFIX = ".__meta__"
TEMP_SUFFIX = ".__tmp__"
DEFAULT_CHUNK_SIZE = 1 << 20
WRITE_BUFFER_SIZE = 256 << 10


class LocalBlobReader:
    """An object opened for reading: its size and generation fixed at open, bytes in chunks.

    The open file keeps the version it opened even if the object is replaced meanwhile.
    Iterate it, then ``aclose()`` (iterating to the end closes it too).
    """

    def __init__(self, file: BinaryIO, info: BlobInfo, chunk_size: int) -> None:
        self._file = file
        self.info = info
        self._remaining = info.size
        self._chunk_size = chunk_size
        self._closed = False

    def __aiter__(self) -> LocalBlobReader:
        return self

    async def __anext__(self) -> bytes:
        if self._closed or self._remaining <= 0:
            await self.aclose()
            raise StopAsyncIteration
        chunk = await to_thread.run_sync(self._file.read, min(self._chunk_size, self._remaining))
        if not chunk:
            await self.aclose()
            raise StopAsyncIteration
        self._remaining -= len(chunk)
        return chunk

    async def aclose(self) -> None:
        """Close the file; safe to call twice."""
        if not self._closed:
            self._closed = True
            with CancelScope(shield=True):
                await to_thread.run_sync(self._file.close)


class LocalBlobWriter:
    """Streams an object into a temporary file and publishes it on ``close``."""

    def __init__(
        self, store: LocalBlobStore, bucket: str, name: str, temp: Path, *, if_absent: bool = False
    ) -> None:
        self._store = store
        self._bucket = bucket
        self._name = name
        self._temp = temp
        self._if_absent = if_absent
        self._file: BinaryIO = temp.open("r+b")
        self._buffer = bytearray()
        self._size = 0
        self._state = "open"

    async def write(self, data: bytes) -> None:
        """Append bytes (buffered up to 256 KiB before they go to disk)."""
        self._check_open()
        self._buffer += data
        self._size += len(data)
        if len(self._buffer) >= WRITE_BUFFER_SIZE:
            await self._flush()

    async def close(self) -> BlobInfo:
        """Fsync and publish the object atomically; returns its new metadata."""
        self._check_open()
        self._state = "closing"
        try:
            await self._flush()
            generation = await to_thread.run_sync(self._publish)
        except BaseException:
            self._state = "open"
            await self.abort()
            raise
        self._state = "closed"
        return BlobInfo(self._bucket, self._name, self._size, generation)

    async def abort(self) -> None:
        """Discard the temporary file; a no-op once closed or aborted. Runs even if cancelled."""
        if self._state in ("closed", "aborted"):
            return
        self._state = "aborted"
        self._buffer.clear()
        with CancelScope(shield=True):
            await to_thread.run_sync(self._discard)

    def _check_open(self) -> None:
        """Refuse use after close or abort."""
        if self._state != "open":
            raise ValueError(f"the writer for {self._bucket}/{self._name} is {self._state}")

    async def _flush(self) -> None:
        """Hand the buffered bytes to a worker thread."""
        if self._buffer:
            data = bytes(self._buffer)
            self._buffer.clear()
            await to_thread.run_sync(self._file.write, data)

    def _publish(self) -> int:
        """Fsync, then replace the sidecar and the object; returns the generation."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return self._store._publish(self._bucket, self._name, self._temp, self._if_absent)

    def _discard(self) -> None:
        """Close and delete the temporary file, then prune empty folders."""
        self._file.close()
        self._store._discard_temp(self._bucket, self._temp)


class LocalBlobStore:
    """A ``BlobStore`` on the local file system, with URLs signed by a ``UrlSigner``."""

    def __init__(
        self,
        root: Path,
        signer: UrlSigner,
        *,
        input_bucket: str = "promptforge-input",
        output_bucket: str = "promptforge-output",
    ) -> None:
        check_bucket_name(input_bucket)
        check_bucket_name(output_bucket)
        self.root = root
        self.signer = signer
        self.input_bucket = input_bucket
        self.output_bucket = output_bucket
        self._lock = threading.Lock()

    def path_for(self, bucket: str, name: str) -> Path:
        """The file of ``bucket/name``; raises ``SignatureError`` for a name that is not valid."""
        check_bucket_name(bucket)
        check_object_name(name)
        return self.root.joinpath(bucket, *name.split("/"))

    async def stat(self, bucket: str, name: str) -> BlobInfo | None:
        """Metadata, or None if the object does not exist."""
        path = self.path_for(bucket, name)
        return await to_thread.run_sync(self._stat, bucket, name, path)

    async def read(
        self, bucket: str, name: str, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> AsyncIterator[bytes]:
        """Stream an object's bytes; raises ``FileNotFoundError`` if it is missing."""
        reader = await self.open_reader(bucket, name, chunk_size)
        try:
            async for chunk in reader:
                yield chunk
        finally:
            await reader.aclose()

    async def open_reader(
        self, bucket: str, name: str, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> LocalBlobReader:
        """Open an object for streaming; raises ``FileNotFoundError`` if it is missing."""
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        path = self.path_for(bucket, name)
        file, info = await to_thread.run_sync(self._open_for_read, bucket, name, path)
        return LocalBlobReader(file, info, chunk_size)

    async def open_writer(
        self, bucket: str, name: str, *, if_absent: bool = False
    ) -> LocalBlobWriter:
        """Start writing an object; it replaces any previous one when the writer closes.

        With ``if_absent`` the object is only created, never replaced: closing the writer
        raises ``BlobExistsError`` if the object exists by then (GCS's
        ``ifGenerationMatch=0``). Raises ``FileExistsError`` when a folder part of the name
        is an existing object, ``IsADirectoryError`` when other objects already use the
        name as a folder.
        """
        path = self.path_for(bucket, name)
        temp = await to_thread.run_sync(self._create_temp, bucket, name, path)
        writer = partial(LocalBlobWriter, if_absent=if_absent)
        return await to_thread.run_sync(writer, self, bucket, name, temp)

    async def compose(self, bucket: str, sources: Sequence[str], name: str) -> BlobInfo:
        """Write ``name`` as the concatenation of ``sources`` (``blobstore.concat``)."""
        return await concatenate(self, bucket, sources, name)

    async def delete(self, bucket: str, name: str) -> None:
        """Delete an object and its sidecar; a no-op if it does not exist."""
        path = self.path_for(bucket, name)
        await to_thread.run_sync(self._delete, bucket, path)

    async def list_blobs(self, bucket: str, prefix: str = "") -> list[BlobInfo]:
        """Every object in ``bucket`` whose name starts with ``prefix``, sorted by name."""
        check_bucket_name(bucket)
        return await to_thread.run_sync(self._list, bucket, prefix)

    async def signed_url(
        self,
        bucket: str,
        name: str,
        *,
        method: str,
        expires_at: datetime,
        content_type: str | None = None,
    ) -> str:
        """A URL that allows exactly ``method`` on this object until ``expires_at``."""
        return self.signer.sign(
            bucket, name, method=method, expires_at=expires_at, content_type=content_type
        )

    # Blocking helpers, run in worker threads. ------------------------------------------

    def _stat(self, bucket: str, name: str, path: Path) -> BlobInfo | None:
        """Size and generation read together under the store lock."""
        with self._lock:
            try:
                st = path.stat()
            except (FileNotFoundError, NotADirectoryError):
                return None
            if not stat_mode.S_ISREG(st.st_mode):
                return None
            return BlobInfo(bucket, name, st.st_size, _read_generation(path, st))

    def _open_for_read(self, bucket: str, name: str, path: Path) -> tuple[BinaryIO, BlobInfo]:
        """Open the current version and its metadata together."""
        with self._lock:
            try:
                file = path.open("rb")
            except (NotADirectoryError, IsADirectoryError) as exc:
                raise FileNotFoundError(f"no object {bucket}/{name}") from exc
            try:
                st = os.fstat(file.fileno())
                info = BlobInfo(bucket, name, st.st_size, _read_generation(path, st))
            except BaseException:
                file.close()
                raise
        return file, info

    def _create_temp(self, bucket: str, name: str, path: Path) -> Path:
        """Make the object's folders and an empty temporary file beside it."""
        with self._lock:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except (FileExistsError, NotADirectoryError) as exc:
                raise FileExistsError(
                    f"cannot write {bucket}/{name}: a folder in its name is an existing object"
                ) from exc
            if path.is_dir():
                raise IsADirectoryError(
                    f"cannot write {bucket}/{name}: other objects use it as a folder"
                )
            fd, temp = tempfile.mkstemp(
                prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent
            )
            os.close(fd)
        return Path(temp)

    def _publish(self, bucket: str, name: str, temp: Path, if_absent: bool = False) -> int:
        """Write the next generation to the sidecar, then replace the object."""
        path = self.path_for(bucket, name)
        meta = _meta_path(path)
        with self._lock:
            if if_absent and path.exists():
                raise BlobExistsError(f"{bucket}/{name} already exists")
            generation = max(time.time_ns(), _previous_generation(path) + 1)
            fd, meta_temp = tempfile.mkstemp(
                prefix=f".{meta.name}.", suffix=TEMP_SUFFIX, dir=path.parent
            )
            try:
                with os.fdopen(fd, "w", encoding="ascii") as handle:
                    handle.write(f"{generation}\n")
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(meta_temp, meta)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(meta_temp)
                raise
            os.replace(temp, path)
            _fsync_dir(path.parent)
        return generation

    def _discard_temp(self, bucket: str, temp: Path) -> None:
        """Remove a temporary file and any folders it leaves empty."""
        with self._lock:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            self._prune(bucket, temp.parent)

    def _delete(self, bucket: str, path: Path) -> None:
        """Remove the object, then its sidecar, then empty folders."""
        with self._lock:
            for target in (path, _meta_path(path)):
                with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                    if target.is_file():
                        target.unlink()
            self._prune(bucket, path.parent)

    def _prune(self, bucket: str, folder: Path) -> None:
        """Remove empty folders from ``folder`` up to, not including, the bucket folder."""
        top = self.root / bucket
        while folder != top and top in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent

    def _list(self, bucket: str, prefix: str) -> list[BlobInfo]:
        """Walk the bucket folder, skipping sidecars and temporary files."""
        top = self.root / bucket
        found: list[BlobInfo] = []
        for path in _walk_files(top):
            name = path.relative_to(top).as_posix()
            if name.startswith(prefix) and not path.name.endswith(RESERVED_SUFFIXES):
                info = self._stat(bucket, name, path)
                if info is not None:
                    found.append(info)
        return sorted(found, key=lambda info: info.name)


def _walk_files(top: Path) -> Iterator[Path]:
    """Every regular file under ``top`` (nothing if it does not exist)."""
    for folder, _dirs, files in os.walk(top):
        for file in files:
            yield Path(folder, file)


def _meta_path(path: Path) -> Path:
    """The sidecar file that holds the object's generation."""
    return path.with_name(path.name + META_SUFFIX)


def _read_generation(path: Path, st: os.stat_result) -> int:
    """The generation from the sidecar, or the file's mtime when there is none."""
    try:
        return int(_meta_path(path).read_text(encoding="ascii").strip())
    except (FileNotFoundError, ValueError):
        return st.st_mtime_ns


def _previous_generation(path: Path) -> int:
    """The generation to exceed: the sidecar's, else the file's mtime, else 0."""
    try:
        return int(_meta_path(path).read_text(encoding="ascii").strip())
    except (FileNotFoundError, ValueError):
        pass
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return 0


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
