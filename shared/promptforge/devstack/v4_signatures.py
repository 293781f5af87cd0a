"""Check GCS V4 signed URLs as GCS does: rebuild the canonical request, verify the signature.

The GCS emulators accept any query string; the GCS stand-in (``devstack.gcs``)
runs every signed request through ``check_v4`` first, so a URL whose method, object,
content type, host or expiry does not match what was signed is refused as GCS would.
Spec: https://cloud.google.com/storage/docs/authentication/signatures
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, quote

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ALGORITHM = "GOOG4-RSA-SHA256"


class SignatureRefused(Exception):
    """Why GCS would refuse a signed request."""


def is_signed(query: str) -> bool:
    """Whether a request carries a V4 signature."""
    return any(key == "X-Goog-Signature" for key, _ in parse_qsl(query, keep_blank_values=True))


def check_v4(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    public_key: rsa.RSAPublicKey,
    *,
    now: datetime | None = None,
) -> None:
    """Raise ``SignatureRefused`` unless the request matches its V4 signature and is unexpired.

    ``path`` is the raw (still percent-encoded) path; ``headers`` are keyed in lower case.
    """
    params = parse_qsl(query, keep_blank_values=True)
    fields = dict(params)
    for required in (
        "X-Goog-Algorithm",
        "X-Goog-Credential",
        "X-Goog-Date",
        "X-Goog-Expires",
        "X-Goog-SignedHeaders",
        "X-Goog-Signature",
    ):
        if required not in fields:
            raise SignatureRefused(f"missing {required}")
    if fields["X-Goog-Algorithm"] != ALGORITHM:
        raise SignatureRefused(f"unsupported algorithm {fields['X-Goog-Algorithm']}")
    signed_at = datetime.strptime(fields["X-Goog-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    expires = int(fields["X-Goog-Expires"])
    if expires > 7 * 86400:
        raise SignatureRefused("X-Goog-Expires is longer than 7 days")
    if (now or datetime.now(UTC)) > signed_at + timedelta(seconds=expires):
        raise SignatureRefused("ExpiredToken: the signed URL has expired")
    signed_headers = fields["X-Goog-SignedHeaders"].split(";")
    canonical_headers = "".join(
        f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in signed_headers
    )
    canonical_query = "&".join(
        sorted(
            f"{quote(key, safe='~')}={quote(value, safe='~')}"
            for key, value in params
            if key != "X-Goog-Signature"
        )
    )
    canonical_request = "\n".join(
        [
            method.upper(),
            path,
            canonical_query,
            canonical_headers,
            ";".join(signed_headers),
            "UNSIGNED-PAYLOAD",
        ]
    )
    scope = fields["X-Goog-Credential"].split("/", 1)[1]
    string_to_sign = "\n".join(
        [
            ALGORITHM,
            fields["X-Goog-Date"],
            scope,
            hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
        ]
    )
    try:
        signature = bytes.fromhex(fields["X-Goog-Signature"])
        public_key.verify(
            signature, string_to_sign.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256()
        )
    except (ValueError, InvalidSignature) as exc:
        raise SignatureRefused(
            "SignatureDoesNotMatch: the request does not match what was signed "
            f"(method, object, headers {', '.join(signed_headers)})"
        ) from exc
