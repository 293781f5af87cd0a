"""OpenAI's Files API on the blob store port: a file's bytes and its record, per tenant.

A file ``file-<hex>`` is two objects in the input bucket under ``<tenant>/files/``: its
content and a JSON record (``id, bytes, created_at, filename, purpose``). Deleting
rewrites the record as deleted and empties the content (the port has no delete). A
batch's output and error files are not stored: their ids name the job
(``file-out-<hex>``, ``file-err-<hex>``) and their content is made from its outcomes.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.datastructures import UploadFile

from promptforge.core.deps import Deps
from promptforge.errors import NotFound, PayloadTooLarge

OUTPUT_PREFIX = "file-out-"
ERROR_PREFIX = "file-err-"
_CHUNK = 1 << 20
_FILE_ID = re.compile(r"file-[0-9a-f]{32}")


def _content_name(tenant: str, file_id: str) -> str:
    return f"{tenant}/files/{file_id}.jsonl"


def _record_name(tenant: str, file_id: str) -> str:
    return f"{tenant}/files/{file_id}.json"


async def save_file(deps: Deps, tenant: str, upload: UploadFile, purpose: str) -> dict[str, Any]:
    """Store an uploaded file; its OpenAI file object."""
    file_id = f"file-{uuid.uuid4().hex}"
    writer = await deps.blobs.open_writer(deps.blobs.input_bucket, _content_name(tenant, file_id))
    size, limit = 0, deps.config.max_upload_bytes
    try:
        while chunk := await upload.read(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge("file_too_large", f"the file is larger than {limit:,} bytes")
            await writer.write(chunk)
    except BaseException:
        await writer.abort()
        raise
    info = await writer.close()
    record = {
        "id": file_id,
        "object": "file",
        "bytes": info.size,
        "created_at": int(deps.clock.now().timestamp()),
        "filename": upload.filename or "upload.jsonl",
        "purpose": purpose,
        "status": "processed",
    }
    await _write(deps, _record_name(tenant, file_id), json.dumps(record).encode())
    return record


async def file_record(deps: Deps, tenant: str, file_id: str) -> dict[str, Any]:
    """The tenant's stored file object, or a 404 ``file_not_found``."""
    name = _record_name(tenant, file_id) if _FILE_ID.fullmatch(file_id) else ""
    record: dict[str, Any] | None = None
    if name and await deps.blobs.stat(deps.blobs.input_bucket, name) is not None:
        data = b"".join([c async for c in deps.blobs.read(deps.blobs.input_bucket, name)])
        record = json.loads(data)
    if record is None or record.get("deleted"):
        raise NotFound("file_not_found", f"no file {file_id!r} for this API key")
    return record


def file_content(deps: Deps, tenant: str, file_id: str) -> AsyncIterator[bytes]:
    """The stored bytes of a file whose record exists."""
    return deps.blobs.read(deps.blobs.input_bucket, _content_name(tenant, file_id))


async def delete_file(deps: Deps, tenant: str, file_id: str) -> dict[str, Any]:
    """Mark a file deleted and drop its content; OpenAI's deletion object."""
    record = await file_record(deps, tenant, file_id)
    await _write(deps, _content_name(tenant, file_id), b"")
    record["deleted"] = True
    await _write(deps, _record_name(tenant, file_id), json.dumps(record).encode())
    return {"id": file_id, "object": "file", "deleted": True}


async def _write(deps: Deps, name: str, data: bytes) -> None:
    writer = await deps.blobs.open_writer(deps.blobs.input_bucket, name)
    await writer.write(data)
    await writer.close()
