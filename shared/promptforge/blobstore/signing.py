"""HMAC-signed blob URLs for the embedded blob store, and the object-name rules.

A signed URL names one object and allows exactly one method until an expiry::

    {base_url}/blobs/{bucket}/{name}?X-PF-Method=PUT&X-PF-Expires=1767226500
        &X-PF-Content-Type=application%2Foctet-stream&X-PF-Key=<8 hex digits>
        &X-PF-Signature=<64 hex digits>

The signature is HMAC-SHA256 over a canonical string: a version tag, then the method,
bucket, object name, expiry and bound content type, each percent-encoded (so no field can
contain the newline that separates them) and joined by newlines. ``X-PF-Content-Type`` is
present only when the URL binds one; for ``PUT`` the request's ``Content-Type`` must then
match it, for ``GET`` it is the type the download is served with. ``X-PF-Key`` names
the signing key (a digest of it that reveals nothing of it) and is signed too: a URL
that does not verify and names another key was signed before the server's secret
changed, which the refusal says (``signing_key_changed``) instead of calling the URL
tampered with.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from promptforge.clock import isoformat
from promptforge.errors import SignatureError

METHOD_PARAM = "X-PF-Method"
EXPIRES_PARAM = "X-PF-Expires"
CONTENT_TYPE_PARAM = "X-PF-Content-Type"
SIGNATURE_PARAM = "X-PF-Signature"
KEY_PARAM = "X-PF-Key"
SIGNED_PARAMS = (METHOD_PARAM, EXPIRES_PARAM, CONTENT_TYPE_PARAM, KEY_PARAM, SIGNATURE_PARAM)

SIGNABLE_METHODS = frozenset({"GET", "PUT"})
RESERVED_SUFFIXES = (".__meta__", ".__tmp__")
"""Name endings the local store keeps for its sidecar and temporary files."""

MAX_NAME_BYTES = 1024  # Cloud Storage's limit on an object name, in UTF-8 bytes
MAX_SEGMENT_BYTES = 200  # leaves room for the store's suffixes under the usual 255-byte limit
MIN_SECRET_BYTES = 16

_CANONICAL_VERSION = "PF-HMAC-SHA256-V1"
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]")
_EXPIRES_RE = re.compile(r"[1-9][0-9]{0,11}")
_SIGNATURE_RE = re.compile(r"[0-9a-f]{64}")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def check_bucket_name(bucket: str) -> None:
    """Refuse a bucket name outside Cloud Storage's rules (code ``invalid_bucket_name``)."""
    if not _BUCKET_RE.fullmatch(bucket):
        raise SignatureError(
            "invalid_bucket_name",
            f"bucket name {bucket!r} is not valid: use 3-63 lowercase letters, digits, "
            "'-', '_' or '.', starting and ending with a letter or digit",
        )


def check_object_name(name: str) -> None:
    """Refuse an object name that could escape its bucket or clash with the store's files.

    Names may contain ``/``; refused are: empty names, absolute paths, empty, ``.`` or
    ``..`` segments, NUL and other control characters, backslashes, names over 1024 UTF-8
    bytes or with a segment over 200, and segments ending in a reserved suffix.
    Raises ``SignatureError`` with code ``invalid_object_name``.
    """
    reason = _object_name_problem(name)
    if reason is not None:
        raise SignatureError("invalid_object_name", f"object name {name!r} is not valid: {reason}")


def _object_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid object name, or None if it is."""
    if not name:
        return "it is empty"
    if _CONTROL_RE.search(name):
        return "it contains a NUL or another control character"
    if "\\" in name:
        return "it contains a backslash"
    if name.startswith("/"):
        return "it is an absolute path"
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        return "it is not valid UTF-8"
    if len(encoded) > MAX_NAME_BYTES:
        return f"it is longer than {MAX_NAME_BYTES} bytes"
    for segment in name.split("/"):
        if segment in ("", ".", ".."):
            return "it has an empty, '.' or '..' path segment"
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            return f"a path segment is longer than {MAX_SEGMENT_BYTES} bytes"
        if segment.endswith(RESERVED_SUFFIXES):
            return f"a path segment ends in a reserved suffix {RESERVED_SUFFIXES}"
    return None


def normalize_content_type(value: str) -> str:
    """Lower-case a content type and drop the spaces around its ``;`` separators."""
    return ";".join(part.strip() for part in value.split(";")).strip().lower()


class UrlSigner:
    """Signs and verifies blob URLs with HMAC-SHA256 under one secret."""

    def __init__(self, secret: bytes, base_url: str) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"the signing secret must be at least {MIN_SECRET_BYTES} bytes")
        self._secret = secret
        self.base_url = base_url.rstrip("/")
        self.key_id = hmac.new(secret, b"promptforge key id", hashlib.sha256).hexdigest()[:8]

    def sign(
        self,
        bucket: str,
        name: str,
        *,
        method: str,
        expires_at: datetime,
        content_type: str | None,
    ) -> str:
        """A URL allowing ``method`` on ``bucket/name`` until ``expires_at`` (whole seconds)."""
        check_bucket_name(bucket)
        check_object_name(name)
        if method not in SIGNABLE_METHODS:
            raise ValueError(f"only {sorted(SIGNABLE_METHODS)} can be signed, not {method!r}")
        if expires_at.tzinfo is None:
            raise ValueError("expires_at must be timezone-aware")
        expires = str(math.floor(expires_at.timestamp()))
        if not _EXPIRES_RE.fullmatch(expires):
            raise ValueError(f"expires_at {expires_at.isoformat()} is out of range")
        bound = normalize_content_type(content_type) if content_type else ""
        params = {METHOD_PARAM: method, EXPIRES_PARAM: expires}
        if bound:
            params[CONTENT_TYPE_PARAM] = bound
        params[KEY_PARAM] = self.key_id
        params[SIGNATURE_PARAM] = self._digest(method, bucket, name, expires, bound, self.key_id)
        path = f"/blobs/{bucket}/{quote(name, safe='/')}"
        return f"{self.base_url}{path}?{urlencode(params, quote_via=quote, safe='')}"

    def verify(
        self,
        bucket: str,
        name: str,
        *,
        method: str,
        query: Mapping[str, str],
        content_type: str | None,
        now: datetime,
    ) -> None:
        """Accept a request for ``method`` on ``bucket/name``, or raise ``SignatureError``.

        ``query`` is the request's decoded query string, ``content_type`` its
        ``Content-Type`` header (checked for ``PUT`` only). The signature is checked first,
        so a tampered URL is always ``signature_mismatch``; then the method, the expiry
        (expired from the expiry second on) and the content type.
        """
        check_bucket_name(bucket)
        check_object_name(name)
        signature = query.get(SIGNATURE_PARAM, "")
        if not signature:
            raise SignatureError(
                "missing_signature",
                f"the URL has no {SIGNATURE_PARAM}; use the signed URL exactly as returned",
            )
        signed_method, expires, bound = _signed_fields(query, signature)
        key_id = query.get(KEY_PARAM, "")
        expected = self._digest(signed_method, bucket, name, expires, bound, key_id)
        if not hmac.compare_digest(expected, signature):
            if key_id and key_id != self.key_id:
                raise SignatureError(
                    "signing_key_changed",
                    "this URL was signed with a key the server no longer has: its signing "
                    "secret changed after the URL was issued. Get a new URL: "
                    + _new_url_hint(signed_method),
                )
            raise SignatureError(
                "signature_mismatch",
                "the URL signature does not match its object, method or expiry; "
                "the URL was changed or truncated - use it exactly as returned",
            )
        if method != signed_method:
            raise SignatureError("method_not_allowed", _method_message(signed_method, method))
        if now.timestamp() >= int(expires):
            raise SignatureError("url_expired", _expired_message(signed_method, int(expires)))
        if signed_method == "PUT" and bound:
            sent = normalize_content_type(content_type) if content_type else ""
            if sent != normalize_content_type(bound):
                raise SignatureError(
                    "content_type_mismatch",
                    f"this upload URL requires 'Content-Type: {bound}' but the request sent "
                    f"{content_type!r}; send that header",
                )

    def _digest(  # noqa: PLR0917 (the signed fields, in canonical order)
        self, method: str, bucket: str, name: str, expires: str, content_type: str, key_id: str
    ) -> str:
        """Hex HMAC-SHA256 of the canonical string for these fields (the key id if named)."""
        fields: tuple[str, ...] = (_CANONICAL_VERSION, method, bucket, name, expires, content_type)
        if key_id:  # URLs issued before key ids existed sign without one
            fields += (key_id,)
        canonical = "\n".join(quote(field, safe="") for field in fields)
        return hmac.new(self._secret, canonical.encode("utf-8"), hashlib.sha256).hexdigest()


def _signed_fields(query: Mapping[str, str], signature: str) -> tuple[str, str, str]:
    """The signed method, expiry and content type, refusing malformed values."""
    if not _SIGNATURE_RE.fullmatch(signature):
        raise SignatureError(
            "malformed_signature", f"{SIGNATURE_PARAM} must be 64 lowercase hex digits"
        )
    method = query.get(METHOD_PARAM, "")
    if method not in SIGNABLE_METHODS:
        raise SignatureError(
            "malformed_signature", f"{METHOD_PARAM} must be one of {sorted(SIGNABLE_METHODS)}"
        )
    expires = query.get(EXPIRES_PARAM, "")
    if not _EXPIRES_RE.fullmatch(expires):
        raise SignatureError(
            "malformed_signature", f"{EXPIRES_PARAM} must be a unix time in whole seconds"
        )
    return method, expires, query.get(CONTENT_TYPE_PARAM, "")


def _method_message(signed: str, tried: str) -> str:
    """Explain which method a URL allows and where to get one for the other."""
    if signed == "PUT":
        hint = "it is an upload URL; download results with the URLs from GET /v1/jobs/{id}/results"
    else:
        hint = "it is a download URL; upload with the upload_url from POST /v1/jobs/init"
    return f"this URL allows {signed} only, not {tried}: {hint}"


def _new_url_hint(signed: str) -> str:
    """Where a fresh URL of this kind comes from."""
    if signed == "PUT":
        return "call POST /v1/jobs/init again for a new upload URL"
    return "call GET /v1/jobs/{id}/results again for new links"


def _expired_message(signed: str, expires: int) -> str:
    """Say when the URL expired and how to get a fresh one."""
    moment = isoformat(datetime.fromtimestamp(expires, UTC))
    if signed == "PUT":
        return f"the upload URL expired at {moment}; call /v1/jobs/init again for a new one"
    return (
        f"the download URL expired at {moment}; "
        "call GET /v1/jobs/{id}/results again for new links"
    )
