"""An async HTTP client for the PromptForge API: init, upload, status, results, download.

Every call maps failures to one exception, :class:`ClientError`, built from the
``{"error": {"code", "message", "status"}}`` body the API returns (or from the XML
error a signed storage URL returns), with a hint saying what to fix. Transport
failures become a :class:`ClientError` with ``status`` 0 naming the URL. Polling and
backoff belong to the caller (``submit.py``): this module makes one request per call.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import httpx

from promptforge.errors import PromptForgeError

__all__ = ["ClientError", "PromptForgeClient"]


class ClientError(PromptForgeError):
    """A failed API or storage call: HTTP ``status`` (0 = no response), ``code``, ``message``.

    ``str(error)`` reads as one sentence for a terminal: the server's message, the
    code and status, and a hint on what to fix.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        hint: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.hint = hint
        self.retry_after = retry_after
        where = f"HTTP {status}" if status else "no response"
        text = f"{message} [{code}, {where}]"
        super().__init__(f"{text}. {hint}" if hint else text)

    @property
    def retryable(self) -> bool:
        """True when the same call may succeed later: no response, 408, 429 or 5xx."""
        return self.status in (0, 408, 429) or self.status >= 500


class PromptForgeClient:
    """Talks to one PromptForge API at ``base_url`` with one API key.

    Pass ``http`` to share (or mock) an ``httpx.AsyncClient``; otherwise the client
    builds its own and closes it in :meth:`aclose` / ``async with``.
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

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> PromptForgeClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def init_job(
        self,
        provider: str,
        model: str,
        *,
        max_retries: int = 3,
        rpm: int | None = None,
        tpm: int | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/jobs/init``: create a job; returns ``{job_id, upload_url, expires_at}``."""
        body: dict[str, Any] = dict(params or {})
        body.update(provider=provider, model=model, max_retries=max_retries)
        if rpm is not None:
            body["rpm"] = rpm
        if tpm is not None:
            body["tpm"] = tpm
        url = f"{self.base_url}/v1/jobs/init"
        response = await self._send("POST", url, json=body, headers=self._auth())
        await _raise_for_status(response, context=_INIT_HINTS)
        return _json_object(response, url, required=("job_id", "upload_url"))

    async def upload(self, upload_url: str, path: Path) -> None:
        """``PUT`` the file at ``path`` to a signed upload URL, streamed in chunks."""
        size = (await anyio.Path(path).stat()).st_size
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        response = await self._send(
            "PUT", upload_url, content=_read_chunks(path, size), headers=headers
        )
        await _raise_for_status(response, context=_UPLOAD_HINTS)

    async def status(self, job_id: str) -> dict[str, Any]:
        """``GET /v1/jobs/{job_id}/status``: the job's status and counters."""
        url = f"{self.base_url}/v1/jobs/{_job_segment(job_id)}/status"
        response = await self._send("GET", url, headers=self._auth())
        await _raise_for_status(response, context=_JOB_HINTS)
        return _json_object(response, url, required=("job_id", "status"))

    async def results(self, job_id: str) -> dict[str, Any]:
        """``GET /v1/jobs/{job_id}/results``, every page: the signed URLs of the job's files."""
        url = f"{self.base_url}/v1/jobs/{_job_segment(job_id)}/results"
        files: list[Any] = []
        token: str | None = None
        while True:
            params = {} if token is None else {"page_token": token}
            response = await self._send("GET", url, headers=self._auth(), params=params)
            await _raise_for_status(response, context={**_JOB_HINTS, **_RESULTS_HINTS})
            data = _json_object(response, url, required=("job_id", "files"))
            if not isinstance(data["files"], list):
                raise ClientError(
                    response.status_code, "bad_response", f"{url}: 'files' not a list"
                )
            files += data["files"]
            token = data.pop("next_page_token", None)
            if not token:
                return {**data, "files": files}

    async def download(self, file_url: str, dest: Path) -> int:
        """Stream a signed file URL to ``dest`` (atomically, via ``.part``); returns its size."""
        partial = dest.with_name(dest.name + ".part")
        written = 0
        try:
            async with self._http.stream("GET", file_url) as response:
                await _raise_for_status(response, context=_DOWNLOAD_HINTS)
                async with await anyio.open_file(partial, "wb") as out:
                    async for chunk in response.aiter_bytes(CHUNK_SIZE):
                        await out.write(chunk)
                        written += len(chunk)
        except BaseException as exc:
            partial.unlink(missing_ok=True)  # never leave half a file behind, even on Ctrl-C
            if isinstance(exc, httpx.HTTPError):
                raise _network_error("GET", file_url, exc) from exc
            raise
        await anyio.Path(partial).replace(dest)
        return written

    def _auth(self) -> dict[str, str]:
        return {"X-API-Key": self._api_key}

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise _network_error(method, url, exc) from exc


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
            0, "file_changed", f"{path} shrank from {size} to {sent} bytes", hint=_RETRY
        )


async def _raise_for_status(response: httpx.Response, *, context: dict[int, str]) -> None:
    """Raise a :class:`ClientError` for a non-2xx response, with the best hint we have."""
    if response.is_success:
        return
    raw = await response.aread()
    status = response.status_code
    code, message = _parse_error_body(raw, response.headers.get("content-type", ""))
    if not code:
        code = f"http_{status}"
    if not message:
        message = f"{response.request.method} {_redact(str(response.request.url))} failed"
    hint = context.get(status) or _GENERIC_HINTS.get(status) or (_RETRY if status >= 500 else None)
    raise ClientError(status, code, message, hint=hint, retry_after=_retry_after(response.headers))


def _parse_error_body(raw: bytes, content_type: str) -> tuple[str, str]:
    """``(code, message)`` from a PromptForge JSON error or a storage XML error, else blanks."""
    text = raw.decode("utf-8", errors="replace").strip()
    if "json" in content_type or text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict):
            return str(error.get("code") or ""), str(error.get("message") or "")
    if text.startswith("<"):
        code = re.search(r"<Code>([^<]*)</Code>", text)
        message = re.search(r"<(?:Message|Details)>([^<]*)</", text)
        return (code.group(1) if code else ""), (message.group(1) if message else "")
    return "", text[:200]


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: the caller's own backoff applies


def _json_object(
    response: httpx.Response, url: str, *, required: tuple[str, ...]
) -> dict[str, Any]:
    """The response body as a JSON object holding ``required`` keys, else a ClientError."""
    try:
        data = response.json()
    except ValueError as exc:
        raise ClientError(
            response.status_code, "bad_response", f"{url} did not return JSON", hint=_SERVER
        ) from exc
    if not isinstance(data, dict) or any(key not in data for key in required):
        raise ClientError(
            response.status_code,
            "bad_response",
            f"{url} returned an unexpected body (expected keys: {', '.join(required)})",
            hint=_SERVER,
        )
    return data


def _network_error(method: str, url: str, exc: httpx.HTTPError) -> ClientError:
    """A ClientError (status 0) naming the request, with a hint that fits the failure."""
    kind = type(exc).__name__
    detail = str(exc) or kind
    if isinstance(exc, httpx.ConnectError):
        hint = "Check the server URL (--url / PROMPTFORGE_URL) and that the server is running"
    elif method == "PUT":
        hint = (
            "The connection broke during the upload: if the file is over the server's upload"
            " limit, split it; otherwise run submit again"
        )
    else:
        hint = _RETRY
    return ClientError(0, "network_error", f"{method} {_redact(url)}: {detail} ({kind})", hint=hint)


def _redact(url: str) -> str:
    """Drop the query string (signatures) from a URL before it is printed."""
    return url.split("?", 1)[0]


def _job_segment(job_id: str) -> str:
    """The job id as a URL path segment; rejects ids that would change the path."""
    if not job_id or "/" in job_id or "?" in job_id or "#" in job_id:
        raise ValueError(f"not a job id: {job_id!r}")
    return job_id


CHUNK_SIZE = 256 * 1024
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)

_RETRY = "This is usually temporary: try again in a moment"
_SERVER = "Check that --url points at a PromptForge server"
_GENERIC_HINTS: dict[int, str] = {
    400: "Fix the request as the message says",
    401: "Check your API key (PROMPTFORGE_API_KEY)",
    403: "Your API key is not allowed to do this",
    404: "Check the job id and that it belongs to this API key",
    413: "The body is larger than the server accepts: split the file into smaller ones",
    429: "Too many API requests: wait a moment and try again",
}
_INIT_HINTS: dict[int, str] = {
    422: "Check --provider (openai, anthropic, gemini, mistral), --model and the options",
}
_UPLOAD_HINTS: dict[int, str] = {
    400: "The signed upload URL was rejected: run submit again to get a fresh one",
    403: "The signed upload URL expired (15 minutes) or was altered: run submit again",
    404: "The signed upload URL is unknown: run submit again",
    409: "This job already has its upload: submit the file as a new job",
}
_JOB_HINTS: dict[int, str] = {
    404: "No such job for this API key: check the job id",
}
_RESULTS_HINTS: dict[int, str] = {
    409: "The job has not finished yet: follow it with `promptforge status JOB_ID`",
}
_DOWNLOAD_HINTS: dict[int, str] = {
    400: "The signed download URL was rejected: fetch fresh URLs with `promptforge results`",
    403: "The download URL expired (60 minutes): fetch fresh URLs with `promptforge results`",
    404: "The result file is gone: fetch the list again with `promptforge results`",
}
