"""Verify the OIDC token Cloud Tasks attaches to worker and controller calls.

Cloud Run already refuses callers without the invoker role when the function is
private; this is the function's own check that the call comes from PromptForge's
task service account, for this function (audience = its URL), signed by Google.
Google's signing keys are fetched once an hour, and again when a token names a key
not yet seen (keys rotate).
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from google.auth import exceptions as auth_exceptions
from google.auth import jwt

from promptforge.errors import PromptForgeError

GOOGLE_ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})
CERTS_TTL = 3600.0
REFRESH_AT_MOST_EVERY = 60.0
CLOCK_SKEW_SECONDS = 30


class TokenRejected(PromptForgeError):
    """A task call whose OIDC token is missing, malformed, expired, or not ours."""


class OidcVerifier:
    """Checks ``Authorization: Bearer <Google-signed ID token>`` on one function."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        audience: str,
        service_account: str | None,
        certs_url: str,
    ) -> None:
        self._http = http
        self._audience = audience
        self._service_account = service_account
        self._certs_url = certs_url
        self._certs: dict[str, str] = {}
        self._fetched_at = float("-inf")

    async def verify(self, authorization: str | None) -> dict[str, Any]:
        """The token's claims, or ``TokenRejected`` saying why."""
        token = _bearer(authorization)
        if time.monotonic() - self._fetched_at > CERTS_TTL:
            await self._refresh()
        try:
            claims = self._decode(token)
        except _UnknownKey:
            if time.monotonic() - self._fetched_at > REFRESH_AT_MOST_EVERY:
                await self._refresh()
            claims = self._decode(token)
        if claims.get("iss") not in GOOGLE_ISSUERS:
            raise TokenRejected(f"token issuer {claims.get('iss')!r} is not Google")
        if self._service_account is not None and (
            claims.get("email") != self._service_account or not claims.get("email_verified")
        ):
            raise TokenRejected(f"token is for {claims.get('email')!r}, not the task account")
        return claims

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.decode_header(token)  # type: ignore[no-untyped-call]
        except (ValueError, auth_exceptions.GoogleAuthError) as exc:
            raise TokenRejected(f"malformed token: {exc}") from exc
        if header.get("kid") not in self._certs:
            raise _UnknownKey(str(header.get("kid")))
        try:
            claims: dict[str, Any] = jwt.decode(  # type: ignore[no-untyped-call]
                token,
                certs=self._certs,
                audience=self._audience,
                clock_skew_in_seconds=CLOCK_SKEW_SECONDS,
            )
        except (ValueError, auth_exceptions.GoogleAuthError) as exc:
            raise TokenRejected(f"token rejected: {exc}") from exc
        return claims

    async def _refresh(self) -> None:
        response = await self._http.get(self._certs_url, timeout=10.0)
        response.raise_for_status()
        certs = response.json()
        if not isinstance(certs, dict):
            raise TokenRejected(f"{self._certs_url} did not return a key map")
        self._certs = {str(k): str(v) for k, v in certs.items()}
        self._fetched_at = time.monotonic()


class _UnknownKey(TokenRejected):
    """The token names a signing key the cached certificates do not hold."""


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise TokenRejected("no Authorization header")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenRejected("Authorization is not a bearer token")
    return token.strip()
