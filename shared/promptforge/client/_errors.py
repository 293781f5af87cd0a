"""The client's one exception, :class:`ClientError`, and how HTTP answers become one.

A failure is built from the ``{"error": {"code", "message", "status"}}`` body the API
returns (or from the XML error a signed storage URL returns), with a hint saying what
to fix. Transport failures become a :class:`ClientError` with ``status`` 0 naming the URL.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from promptforge.errors import PromptForgeError

__all__ = [
    "CANCEL_HINTS",
    "DOWNLOAD_HINTS",
    "INIT_HINTS",
    "JOB_HINTS",
    "LIST_HINTS",
    "RESULTS_HINTS",
    "RETRY",
    "RETRY_HINTS",
    "UPLOAD_HINTS",
    "ClientError",
    "job_segment",
    "json_object",
    "network_error",
    "raise_for_status",
]


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


async def raise_for_status(response: httpx.Response, *, context: dict[int, str]) -> None:
    """Raise a :class:`ClientError` for a non-2xx response, with the best hint we have."""
    if response.is_success:
        return
    raw = await response.aread()
    status = response.status_code
    code, message = _parse_error_body(raw, response.headers.get("content-type", ""))
    if not code:
        code = f"http_{status}"
    if not message:
        message = f"{response.request.method} {redact(str(response.request.url))} failed"
    hint = context.get(status) or _GENERIC_HINTS.get(status) or (RETRY if status >= 500 else None)
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


def json_object(response: httpx.Response, url: str, *, required: tuple[str, ...]) -> dict[str, Any]:
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


def network_error(method: str, url: str, exc: httpx.HTTPError) -> ClientError:
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
        hint = RETRY
    return ClientError(0, "network_error", f"{method} {redact(url)}: {detail} ({kind})", hint=hint)


def redact(url: str) -> str:
    """Drop the query string (signatures) from a URL before it is printed."""
    return url.split("?", 1)[0]


def job_segment(job_id: str) -> str:
    """The job id as a URL path segment; rejects ids that would change the path."""
    if not job_id or "/" in job_id or "?" in job_id or "#" in job_id:
        raise ValueError(f"not a job id: {job_id!r}")
    return job_id


RETRY = "This is usually temporary: try again in a moment"
_SERVER = "Check that --url points at a PromptForge server"
_GENERIC_HINTS: dict[int, str] = {
    400: "Fix the request as the message says",
    401: "Check your API key (PROMPTFORGE_API_KEY)",
    403: "Your API key is not allowed to do this",
    404: "Check the job id and that it belongs to this API key",
    413: "The body is larger than the server accepts: split the file into smaller ones",
    429: "Too many API requests: wait a moment and try again",
}
INIT_HINTS: dict[int, str] = {
    422: "Check --provider, --model and the options (the message names what the server runs)",
}
UPLOAD_HINTS: dict[int, str] = {
    400: "The signed upload URL was rejected: run submit again to get a fresh one",
    403: "The signed upload URL expired (15 minutes) or was altered: run submit again",
    404: "The signed upload URL is unknown: run submit again",
    409: "This job already has its upload: submit the file as a new job",
}
PROMPT_HINTS: dict[int, str] = {
    404: "No such prompt, version or tag for this API key: check `promptforge prompts list`",
    422: "Fix the field named in the message (Phoenix's prompt version format)",
}
JOB_HINTS: dict[int, str] = {
    404: "No such job for this API key: check the job id",
}
RESULTS_HINTS: dict[int, str] = {
    409: "The job has not finished yet: follow it with `promptforge jobs status JOB_ID`, "
    "or read what is done so far with `promptforge jobs results JOB_ID --stream`",
}
CANCEL_HINTS: dict[int, str] = {
    409: "The job has already ended: nothing to cancel",
}
RETRY_HINTS: dict[int, str] = {
    400: "Name error codes of this job's prompt errors (see its errors.jsonl), or none for "
    "every error a retry could fix",
    409: "Wait for the job to end (`promptforge jobs status JOB_ID`); if it has, none of its "
    "prompts failed with those codes",
}
LIST_HINTS: dict[int, str] = {
    400: "Pass --after the job_id of the last job of the previous page, and --limit 1-100",
}
DOWNLOAD_HINTS: dict[int, str] = {
    400: "The signed download URL was rejected: fetch fresh URLs with `promptforge results`",
    403: "The download URL expired (60 minutes): fetch fresh URLs with `promptforge results`",
    404: "The result file is gone: fetch the list again with `promptforge results`",
}
