"""Check the OIDC token Cloud Tasks attaches to worker and controller calls.

Two modes, chosen at cold start (``verifier_mode``):

- **behind Cloud Run** (``K_SERVICE`` is set, as on every deployed function): Cloud
  Run's front end has already checked the Google signature and the invoker role, and
  it *removes the signature* before the request reaches the container: the token
  arrives as ``header.payload.SIGNATURE_REMOVED_BY_GOOGLE``. The function trusts the
  front end for the signature and checks every claim itself (``check_claims``). A
  token that still carries a signature must verify against Google's keys; anything
  else (a forged signature, no token) is refused.
- **full** (local serving, tests): the signature is verified against Google's public
  keys, fetched once an hour and again when a token names a key not yet seen (keys
  rotate), then the same claims are checked.

The claims: ``iss`` is Google, ``aud`` is this function's own URL, ``email`` is the
task service account with ``email_verified``, ``iat``/``exp`` bracket now (with
``CLOCK_SKEW_SECONDS``).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any, Literal

import httpx
from google.auth import exceptions as auth_exceptions
from google.auth import jwt

from promptforge.errors import PromptForgeError

GOOGLE_ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})
REMOVED_SIGNATURE = "SIGNATURE_REMOVED_BY_GOOGLE"
"""What Cloud Run's front end writes in place of a token's signature once it checked it."""
CERTS_TTL = 3600.0
REFRESH_AT_MOST_EVERY = 60.0
CLOCK_SKEW_SECONDS = 30
MAX_LIFETIME_SECONDS = 3600 + CLOCK_SKEW_SECONDS
"""Google ID tokens live one hour: a longer ``exp - iat`` is not one of them."""

VerifierMode = Literal["cloud-run", "full"]
"""``cloud-run``: the front end checked the signature; ``full``: check it here."""


class TokenRejected(PromptForgeError):
    """A task call whose OIDC token is missing, malformed, expired, or not ours."""


def verifier_mode(k_service: str | None) -> VerifierMode:
    """``cloud-run`` when Cloud Run named the service (``K_SERVICE``), else ``full``."""
    return "cloud-run" if k_service else "full"


def check_claims(
    claims: dict[str, Any], *, audience: str, service_account: str | None, now: float
) -> None:
    """Raise ``TokenRejected`` unless the claims are Google's, for ``audience`` and the account."""
    if claims.get("iss") not in GOOGLE_ISSUERS:
        raise TokenRejected(f"token issuer {claims.get('iss')!r} is not Google")
    if claims.get("aud") != audience:
        raise TokenRejected(f"token audience {claims.get('aud')!r} is not {audience!r}")
    if service_account is not None and (
        claims.get("email") != service_account or claims.get("email_verified") is not True
    ):
        raise TokenRejected(f"token is for {claims.get('email')!r}, not the task account")
    issued, expires = claims.get("iat"), claims.get("exp")
    if not isinstance(issued, int | float) or not isinstance(expires, int | float):
        raise TokenRejected("token has no iat/exp")
    if issued > now + CLOCK_SKEW_SECONDS:
        raise TokenRejected("token is issued in the future")
    if expires < now - CLOCK_SKEW_SECONDS:
        raise TokenRejected("token has expired")
    if expires - issued > MAX_LIFETIME_SECONDS:
        raise TokenRejected("token lives longer than a Google ID token")


class OidcVerifier:
    """Checks ``Authorization: Bearer <Google ID token>`` on one function."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        audience: str,
        service_account: str | None,
        certs_url: str,
        mode: VerifierMode = "full",
    ) -> None:
        self._http = http
        self._audience = audience
        self._service_account = service_account
        self._certs_url = certs_url
        self.mode: VerifierMode = mode
        self._certs: dict[str, str] = {}
        self._fetched_at = float("-inf")

    async def verify(self, authorization: str | None) -> dict[str, Any]:
        """The token's claims, or ``TokenRejected`` saying why."""
        token = _bearer(authorization)
        if self.mode == "cloud-run" and token.rsplit(".", 1)[-1] == REMOVED_SIGNATURE:
            claims = _unsigned_claims(token)
        else:
            claims = await self._signed_claims(token)
        check_claims(
            claims,
            audience=self._audience,
            service_account=self._service_account,
            now=time.time(),
        )
        return claims

    async def _signed_claims(self, token: str) -> dict[str, Any]:
        if time.monotonic() - self._fetched_at > CERTS_TTL:
            await self._refresh()
        try:
            return self._decode(token)
        except _UnknownKey:
            if time.monotonic() - self._fetched_at > REFRESH_AT_MOST_EVERY:
                await self._refresh()
            return self._decode(token)

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
        try:
            response = await self._http.get(self._certs_url, timeout=10.0)
            response.raise_for_status()
            certs = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise TokenRejected(f"cannot read Google's keys at {self._certs_url}: {exc}") from exc
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


def _unsigned_claims(token: str) -> dict[str, Any]:
    """The payload of ``header.payload.SIGNATURE_REMOVED_BY_GOOGLE`` (a well-formed RS256 JWT)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenRejected("malformed token: not three segments")
    try:
        header, claims = (json.loads(_b64url(part)) for part in parts[:2])
    except (ValueError, binascii.Error) as exc:
        raise TokenRejected(f"malformed token: {exc}") from exc
    if not isinstance(header, dict) or header.get("alg") != "RS256":
        raise TokenRejected("token is not an RS256 Google ID token")
    if not isinstance(claims, dict):
        raise TokenRejected("malformed token: the payload is not an object")
    return claims


def _b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
