"""Every error PromptForge raises, in one tree.

    PromptForgeError
    ├── CodedError                a refusal with a machine-readable ``code`` beside its message
    │   ├── ApiError              an HTTP API error: status, code, message
    │   │   ├── BadRequest            400: malformed JSON, missing or wrongly typed fields
    │   │   ├── Unauthorized          401: missing or invalid X-API-Key
    │   │   ├── Forbidden             403: a signed blob URL refused
    │   │   ├── NotFound              404: no such job for this tenant
    │   │   ├── MethodNotAllowed      405: a blob URL answers GET, HEAD and PUT only
    │   │   ├── Conflict              409: the job is not in a state that allows the call
    │   │   ├── PayloadTooLarge       413: request or upload larger than the stated limit
    │   │   ├── UnsupportedMediaType  415: a body whose Content-Type the call does not take
    │   │   ├── Unprocessable         422: unsupported provider, model or option
    │   │   ├── TooManyRequests       429: per-key API request limit, with retry_after
    │   │   └── InsufficientStorage   507: the server's disk is full
    │   ├── SignatureError        a signed URL that is tampered with, expired or misused
    │   ├── UnsupportedContent    a prompt part the provider cannot take (an image type): that
    │   │                         prompt's error
    │   ├── InputFileError        an input file ``promptforge submit`` cannot send (cli.submit)
    │   ├── TemplateProblem       a prompt template a row cannot fill (prompts.render)
    │   └── ContentProblem        a chat line's content parts refused at ingest (core.content)
    ├── TokenRejected             a task call without a valid OIDC token (gcp.oidc)
    ├── BlobExistsError           a create-only blob write found the object already there
    ├── StoreContention           a compare-and-set that kept losing to other writers
    ├── MissingCredential         no credential is configured for a provider (a LookupError)
    ├── ConfigurationError        an operator's file or setting that cannot be used
    │   ├── CatalogueError        a model catalogue file with an invalid entry
    │   └── CredentialsError      a secrets source with an invalid entry (the key never shown)
    ├── ClientError               the Python client: a failed API or storage call (the client)
    ├── WireError                 the provider simulator refusing a request (sim.providers.wire)
    ├── SignatureRefused          the GCS stand-in refusing a V4 signature (devstack.v4_signatures)
    └── StandInError              a stand-in that did not start or stopped (devstack.processes)

The classes defined beside the code that raises them (the module is named in brackets)
stay there because they belong to one tool (the client, the CLI, the simulator, the dev
stack) or one runtime (Google's OIDC check); the rest are here.

Provider failures are not exceptions: a provider call returns a ``CallResult`` whose
``outcome`` (success / rate_limited / transient / permanent) the worker turns into
queue behaviour, the way dramatiq's ``Retry`` is a signal rather than an error.

API errors render as ``{"error": {"code": ..., "message": ..., "status": ...}}``.
"""

from __future__ import annotations

import errno
import sqlite3
from typing import Any


class PromptForgeError(Exception):
    """Base of every PromptForge error."""


class CodedError(PromptForgeError):
    """A refusal with a machine-readable ``code`` beside a ``message`` that says what to fix."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ApiError(CodedError):
    """An error the HTTP API returns to the caller."""

    status: int = 500

    def __init__(
        self,
        code: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(code, message)
        self.details = details or {}
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON error body: code, message, status and optional details."""
        error: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            error["details"] = self.details
        return {"error": error}


class BadRequest(ApiError):
    """400: the request is malformed or misses a required field."""

    status = 400


class Unauthorized(ApiError):
    """401: the API key is missing or not valid."""

    status = 401


class Forbidden(ApiError):
    """403: the caller may not do this (a signed URL that does not allow it)."""

    status = 403


class NotFound(ApiError):
    """404: the resource does not exist (or belongs to another tenant)."""

    status = 404


class MethodNotAllowed(ApiError):
    """405: the path exists but does not answer this method."""

    status = 405


class Conflict(ApiError):
    """409: the resource is in a state that does not allow this call."""

    status = 409


class PayloadTooLarge(ApiError):
    """413: the body is larger than the stated limit."""

    status = 413


class UnsupportedMediaType(ApiError):
    """415: the body's Content-Type is not one the call accepts."""

    status = 415


class Unprocessable(ApiError):
    """422: the request is well-formed but names something unsupported."""

    status = 422


class TooManyRequests(ApiError):
    """429: the caller exceeded an API request limit."""

    status = 429


class InsufficientStorage(ApiError):
    """507: the server could not store the request (its disk is full); retry later."""

    status = 507


class SignatureError(CodedError):
    """A signed URL failed verification; ``code`` says why."""


class BlobExistsError(PromptForgeError):
    """A create-only write found the object already there."""


class StoreContention(PromptForgeError):
    """A compare-and-set write that kept finding its record changed since it read it."""


class MissingCredential(PromptForgeError, LookupError):
    """No credential is configured for a provider; the message says what to set."""


class UnsupportedContent(CodedError):
    """A prompt holds a part its provider cannot take; ``code`` names why (the prompt's error)."""


class ConfigurationError(PromptForgeError):
    """A file or setting the operator gave that cannot be used; the message names it."""


class CatalogueError(ConfigurationError):
    """A catalogue file that cannot be read or holds an invalid entry."""


class CredentialsError(ConfigurationError):
    """A secrets source that cannot be read or holds an invalid entry (the key never shown)."""


def storage_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a full disk or quota: ENOSPC, EDQUOT, SQLITE_FULL."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if isinstance(seen, sqlite3.Error) and (
            getattr(seen, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
            or "database or disk is full" in str(seen)
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def insufficient_storage(what: str) -> InsufficientStorage:
    """The 507 for ``what`` (e.g. "the upload") failing on a full disk."""
    return InsufficientStorage(
        "insufficient_storage",
        f"{what} could not be stored: the server's disk is full; retry once the operator "
        "has freed space",
        headers={"Retry-After": "60"},
    )
