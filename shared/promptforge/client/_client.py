"""An async HTTP client for the PromptForge API: one method per call, one request each.

Failures raise :class:`~promptforge.client.ClientError` (``client._errors``) with a hint
saying what to fix. Polling and backoff belong to the caller (the CLI's ``submit.py``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import httpx

from promptforge.client._errors import (
    CANCEL_HINTS,
    DOWNLOAD_HINTS,
    INIT_HINTS,
    JOB_HINTS,
    LIST_HINTS,
    PROMPT_HINTS,
    RESULTS_HINTS,
    RETRY,
    RETRY_HINTS,
    UPLOAD_HINTS,
    ClientError,
    job_segment,
    json_object,
    network_error,
    raise_for_status,
)
from promptforge.lifecycle import AsyncResource

__all__ = ["CHUNK_SIZE", "PromptForgeClient"]

CHUNK_SIZE = 256 * 1024
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)


class PromptForgeClient(AsyncResource):
    """Talks to one PromptForge API at ``base_url`` with one API key.

    Pass ``http`` to share (or mock) an ``httpx.AsyncClient``; otherwise the client
    builds its own and closes it in :meth:`close` / ``async with``.
    """

    def __init__(
        self, base_url: str, api_key: str, *, http: httpx.AsyncClient | None = None
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
        if not api_key:
            raise ValueError("api_key is empty: set PROMPTFORGE_API_KEY")
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=DEFAULT_TIMEOUT)

    async def close(self) -> None:
        """Close the HTTP client if this object created it (``async with`` does it on exit)."""
        if self._owns_http:
            await self._http.aclose()

    aclose = close
    """httpx's name for :meth:`close`."""

    async def init_job(
        self,
        provider: str | None,
        model: str | None,
        *,
        max_retries: int = 3,
        rpm: int | None = None,
        tpm: int | None = None,
        params: dict[str, Any] | None = None,
        name: str | None = None,
        metadata: Mapping[str, str] | None = None,
        webhook_url: str | None = None,
        idempotency_key: str | None = None,
        prompt: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/jobs/init``: create a job; returns ``{job_id, upload_url, expires_at}``
        (and ``webhook_secret`` with a ``webhook_url``). With an ``idempotency_key`` a retry
        of the same request answers the same job. ``prompt`` (``prompt_version_id``, or
        ``prompt`` and an optional ``tag``) runs a prompt version instead of
        ``provider``/``model`` (pass None for those)."""
        body: dict[str, Any] = dict(params or {})
        body.update(dict(prompt or {}), max_retries=max_retries)
        if provider is not None and model is not None:
            body.update(provider=provider, model=model)
        optional = {"rpm": rpm, "tpm": tpm, "name": name, "webhook_url": webhook_url}
        body.update({field: value for field, value in optional.items() if value is not None})
        if metadata is not None:
            body["metadata"] = dict(metadata)
        headers = self._auth()
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        url = f"{self.base_url}/v1/jobs/init"
        response = await self._send("POST", url, json=body, headers=headers)
        await raise_for_status(response, context=INIT_HINTS)
        return json_object(response, url, required=("job_id", "upload_url"))

    async def submit(self, path: Path, provider: str, model: str, **init: Any) -> dict[str, Any]:
        """Create a job for the JSONL file at ``path`` and upload it; the init answer.

        ``init`` takes :meth:`init_job`'s options. Follow the job with :meth:`status`.
        """
        job = await self.init_job(provider, model, **init)
        await self.upload(str(job["upload_url"]), path)
        return job

    async def upload(self, upload_url: str, path: Path) -> None:
        """``PUT`` the file at ``path`` to a signed upload URL, streamed in chunks."""
        size = (await anyio.Path(path).stat()).st_size
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        response = await self._send(
            "PUT", upload_url, content=_read_chunks(path, size), headers=headers
        )
        await raise_for_status(response, context=UPLOAD_HINTS)

    async def status(self, job_id: str) -> dict[str, Any]:
        """``GET /v1/jobs/{job_id}/status``: the job's status and counters."""
        url = f"{self.base_url}/v1/jobs/{job_segment(job_id)}/status"
        response = await self._send("GET", url, headers=self._auth())
        await raise_for_status(response, context=JOB_HINTS)
        return json_object(response, url, required=("job_id", "status"))

    async def list_jobs(self, limit: int = 20, after: str | None = None) -> dict[str, Any]:
        """``GET /v1/jobs``: ``{data, has_more}``, the newest jobs first; pass the last
        ``job_id`` as ``after`` for the next page."""
        params: dict[str, str | int] = {"limit": limit}
        if after is not None:
            params["after"] = after
        url = f"{self.base_url}/v1/jobs"
        response = await self._send("GET", url, params=params, headers=self._auth())
        await raise_for_status(response, context=LIST_HINTS)
        return json_object(response, url, required=("data", "has_more"))

    async def cancel(self, job_id: str) -> dict[str, Any]:
        """``POST /v1/jobs/{job_id}/cancel``: stop the job; its status (it ends CANCELLED
        once the calls in flight have finished)."""
        url = f"{self.base_url}/v1/jobs/{job_segment(job_id)}/cancel"
        response = await self._send("POST", url, headers=self._auth())
        await raise_for_status(response, context={**JOB_HINTS, **CANCEL_HINTS})
        return json_object(response, url, required=("job_id", "status"))

    async def retry(
        self, job_id: str, codes: Sequence[str] | None = None, max_retries: int | None = None
    ) -> dict[str, Any]:
        """``POST /v1/jobs/{job_id}/retry``: a new job over the ended job's failed prompts
        (``codes``, default every error a retry could fix); ``{job_id, parent_job_id,
        retried_count, codes}``."""
        body: dict[str, Any] = {}
        if codes is not None:
            body["codes"] = list(codes)
        if max_retries is not None:
            body["max_retries"] = max_retries
        url = f"{self.base_url}/v1/jobs/{job_segment(job_id)}/retry"
        response = await self._send("POST", url, json=body, headers=self._auth())
        await raise_for_status(response, context={**JOB_HINTS, **RETRY_HINTS})
        return json_object(response, url, required=("job_id", "parent_job_id", "retried_count"))

    async def validate(
        self, path: Path, provider: str, model: str, *, max_tokens: int | None = None
    ) -> dict[str, Any]:
        """``POST /v1/jobs/validate``: ``{valid, prompt_count, errors, estimate}`` for the file
        at ``path`` (streamed), creating nothing; ``max_tokens`` as the job would set it."""
        size = (await anyio.Path(path).stat()).st_size
        headers = {**self._auth(), "Content-Type": "application/x-ndjson"}
        url = f"{self.base_url}/v1/jobs/validate"
        response = await self._send(
            "POST",
            url,
            params={
                "provider": provider,
                "model": model,
                **({"max_tokens": str(max_tokens)} if max_tokens is not None else {}),
            },
            content=_read_chunks(path, size),
            headers={**headers, "Content-Length": str(size)},
        )
        await raise_for_status(response, context=INIT_HINTS)
        return json_object(response, url, required=("valid", "prompt_count", "errors"))

    async def results(self, job_id: str) -> dict[str, Any]:
        """``GET /v1/jobs/{job_id}/results``, every page: the signed URLs of the job's files."""
        url = f"{self.base_url}/v1/jobs/{job_segment(job_id)}/results"
        files: list[Any] = []
        token: str | None = None
        while True:
            params = {} if token is None else {"page_token": token}
            response = await self._send("GET", url, headers=self._auth(), params=params)
            await raise_for_status(response, context={**JOB_HINTS, **RESULTS_HINTS})
            data = json_object(response, url, required=("job_id", "files"))
            if not isinstance(data["files"], list):
                raise ClientError(
                    response.status_code, "bad_response", f"{url}: 'files' not a list"
                )
            files += data["files"]
            token = data.pop("next_page_token", None)
            if not token:
                return {**data, "files": files}

    async def stream_results(self, job_id: str) -> AsyncIterator[dict[str, Any]]:
        """Every result line recorded so far, then every error line (``"type": "error"``),
        one dict at a time, while the job runs or after."""
        url = f"{self.base_url}/v1/jobs/{job_segment(job_id)}/results"
        params = {"output_type": "stream"}
        try:
            async with self._http.stream(
                "GET", url, params=params, headers=self._auth()
            ) as response:
                await raise_for_status(response, context=JOB_HINTS)
                async for line in response.aiter_lines():
                    if line:
                        yield json.loads(line)
        except httpx.HTTPError as exc:
            raise network_error("GET", url, exc) from exc

    async def download(self, file_url: str, dest: Path) -> int:
        """Stream a signed file URL to ``dest`` (atomically, via ``.part``); returns its size."""
        partial = dest.with_name(dest.name + ".part")
        written = 0
        try:
            async with self._http.stream("GET", file_url) as response:
                await raise_for_status(response, context=DOWNLOAD_HINTS)
                async with await anyio.open_file(partial, "wb") as out:
                    async for chunk in response.aiter_bytes(CHUNK_SIZE):
                        await out.write(chunk)
                        written += len(chunk)
        except BaseException as exc:
            partial.unlink(missing_ok=True)  # never leave half a file behind, even on Ctrl-C
            if isinstance(exc, httpx.HTTPError):
                raise network_error("GET", file_url, exc) from exc
            raise
        await anyio.Path(partial).replace(dest)
        return written

    async def prompts(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """A prompt registry call (``/v1/prompts…``, ``/v1/prompt_versions…``): its JSON,
        or ``{}`` for an answer without a body (tagging)."""
        url = f"{self.base_url}{path}"
        response = await self._send(method, url, json=body, headers=self._auth())
        await raise_for_status(response, context=PROMPT_HINTS)
        return {} if response.status_code == 204 else json_object(response, url, required=())

    def _auth(self) -> dict[str, str]:
        return {"X-API-Key": self._api_key}

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise network_error(method, url, exc) from exc


async def _read_chunks(path: Path, size: int) -> AsyncIterator[bytes]:
    """Yield the file in ``CHUNK_SIZE`` pieces; fail if it changes size while read."""
    sent = 0
    async with await anyio.open_file(path, "rb") as source:
        while chunk := await source.read(min(CHUNK_SIZE, size - sent)):
            sent += len(chunk)
            yield chunk
            if sent >= size:
                break
    if sent != size:
        raise ClientError(
            0, "file_changed", f"{path} shrank from {size} to {sent} bytes", hint=RETRY
        )
