"""V4 signed URLs for GCS objects: with a local service-account key, or through IAM signBlob.

In Cloud Functions the runtime identity has no private key: ``IamSigner`` signs with
the IAM Credentials ``signBlob`` API as a service account (``roles/iam.serviceAccountTokenCreator``
on itself), authenticated by the runtime's access token. ``KeySigner`` holds a key
locally; the tests use it with a freshly generated RSA key, so their URLs carry real
V4 signatures. Both are synchronous (the storage library is): callers run them in a thread.
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import google.auth
import google.auth.transport.requests
from google.auth.credentials import Credentials
from google.oauth2 import service_account

SIGNING_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)


class V4Signer(Protocol):
    """Makes a V4 signed URL for one blob."""

    def sign(
        self, blob: Any, *, method: str, expiration: datetime, content_type: str | None
    ) -> str:
        """A URL allowing ``method`` on ``blob`` until ``expiration``, bound to ``content_type``."""
        ...


class KeySigner:
    """Signs with a service-account private key held in memory."""

    def __init__(self, credentials: service_account.Credentials, endpoint: str) -> None:
        self._credentials = credentials
        self._endpoint = endpoint.rstrip("/")

    @classmethod
    def from_file(cls, path: Path, endpoint: str) -> KeySigner:
        """A signer from a service-account JSON key file."""
        credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
            str(path)
        )
        return cls(credentials, endpoint)

    @property
    def email(self) -> str:
        """The service account the URLs are signed as."""
        return str(self._credentials.service_account_email)

    def sign(
        self, blob: Any, *, method: str, expiration: datetime, content_type: str | None
    ) -> str:
        """A V4 URL signed with the local key."""
        url: str = blob.generate_signed_url(
            version="v4",
            method=method,
            expiration=expiration,
            content_type=content_type,
            credentials=self._credentials,
            api_access_endpoint=self._endpoint,
        )
        return url


class IamSigner:
    """Signs through IAM signBlob as ``email`` (default: the runtime's own service account).

    ``credentials`` default to the application-default ones, looked up on first use.
    """

    def __init__(
        self, email: str | None, endpoint: str, credentials: Credentials | None = None
    ) -> None:
        self._credentials = credentials
        self._email = email
        self._endpoint = endpoint.rstrip("/")
        self._lock = threading.Lock()

    def sign(
        self, blob: Any, *, method: str, expiration: datetime, content_type: str | None
    ) -> str:
        """A V4 URL whose signature IAM computes."""
        token, email = self._token_and_email()
        url: str = blob.generate_signed_url(
            version="v4",
            method=method,
            expiration=expiration,
            content_type=content_type,
            service_account_email=email,
            access_token=token,
            api_access_endpoint=self._endpoint,
        )
        return url

    def _token_and_email(self) -> tuple[str, str]:
        with self._lock:
            if self._credentials is None:
                # The function's own identity, looked up on first use (not at cold start).
                self._credentials, _ = google.auth.default(scopes=SIGNING_SCOPES)
            credentials = self._credentials
            if not credentials.valid:
                credentials.refresh(  # type: ignore[no-untyped-call]
                    google.auth.transport.requests.Request()
                )
            email = self._email or getattr(credentials, "service_account_email", None)
            if not email or email == "default":
                raise RuntimeError(
                    "cannot tell which service account signs URLs; "
                    "set PROMPTFORGE_SIGNING_SERVICE_ACCOUNT"
                )
            return str(credentials.token), str(email)
