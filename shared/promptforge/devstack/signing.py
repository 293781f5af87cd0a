"""A locally made service-account key that signs V4 URLs (checked by the GCS stand-in).

Signed URLs against an emulator need credentials that can sign: a service-account key
file with a fresh RSA key works with ``KeySigner`` (``PROMPTFORGE_SIGNING_KEY_FILE``), and
its public half lets ``devstack.gcs`` check every signature as GCS would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

SIGNER_EMAIL = "pf-signer@pf-test.iam.gserviceaccount.com"


@dataclass(frozen=True)
class SigningKey:
    """The key file (for ``PROMPTFORGE_SIGNING_KEY_FILE``) and its public half."""

    key_file: Path
    public_pem: Path
    public_key: rsa.RSAPublicKey
    info: dict[str, str]


def make_signing_key(directory: Path, email: str = SIGNER_EMAIL) -> SigningKey:
    """Generate an RSA key; write it as a service-account key file and a public PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "project_id": email.split("@")[1].split(".", maxsplit=1)[0],
        "private_key_id": "local-key",
        "private_key": private,
        "client_email": email,
        "client_id": "1",
        "token_uri": "http://127.0.0.1:9/token",  # never called: signing needs no token
    }
    key_file = directory / "signer.json"
    key_file.write_text(json.dumps(info))
    key_file.chmod(0o600)
    public_pem = directory / "signer.pub.pem"
    public_pem.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return SigningKey(key_file, public_pem, key.public_key(), info)
