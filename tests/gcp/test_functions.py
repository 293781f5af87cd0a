"""The function entry points: OIDC on worker and controller, cheap answers before any client.

Tokens are real Google-style ID tokens (RS256, ``kid`` header), signed with a local
key whose public half a local certs endpoint serves, as Google's does.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import functions_framework
import httpx
import pytest
from cloudevents.http.event import CloudEvent
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt, jwt
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from promptforge.embedded.server import BackgroundServer
from promptforge.gcp.functions import FunctionInstance
from promptforge.gcp.settings import GcpSettings

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
SA = "pf-tasks@pf-test.iam.gserviceaccount.com"
WORKER_URL = "https://worker.example"
CONTROLLER_URL = "https://controller.example"


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="module")
def google_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _token(key: rsa.RSAPrivateKey, kid: str = "k1", **claims: Any) -> str:
    now = int(time.time())
    payload = {
        "iss": "https://accounts.google.com",
        "aud": WORKER_URL,
        "sub": "1234",
        "email": SA,
        "email_verified": True,
        "iat": now,
        "exp": now + 600,
        **claims,
    }
    signer = crypt.RSASigner.from_string(_pem(key), key_id=kid)
    return jwt.encode(signer, payload).decode()


@pytest.fixture
async def certs_url(google_key: rsa.RSAPrivateKey) -> AsyncIterator[str]:
    async def certs(_: Any) -> JSONResponse:
        return JSONResponse({"k1": _public_pem(google_key)})

    async with BackgroundServer(Starlette(routes=[Route("/certs", certs)])) as server:
        yield f"{server.url}/certs"


def _settings(**extra: Any) -> GcpSettings:
    values: dict[str, Any] = {
        "gcp_project": "pf-test",
        "input_bucket": "pf-in",
        "output_bucket": "pf-out",
        "worker_url": WORKER_URL,
        "controller_url": CONTROLLER_URL,
        "tasks_service_account": SA,
        **extra,
    }
    return GcpSettings(**values)


@pytest.fixture
def no_google_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Building any Google client here would fail: proves a path builds none."""
    for name in ("FIRESTORE_EMULATOR_HOST", "STORAGE_EMULATOR_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))


@asynccontextmanager
async def _client(instance: FunctionInstance) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=[Route("/{path:path}", instance.tasks, methods=["GET", "POST"])])
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url=WORKER_URL) as http:
            yield http
    finally:
        await instance.aclose()


@pytest.mark.usefixtures("no_google_credentials")
async def test_worker_accepts_only_google_signed_tokens_for_itself(
    google_key: rsa.RSAPrivateKey, certs_url: str
) -> None:
    instance = FunctionInstance("worker", lambda: _settings(oidc_certs_url=certs_url))
    body = {"target": "not-a-target", "payload": {}}
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    refused = {
        "no token": None,
        "not bearer": f"Basic {_token(google_key)}",
        "garbage": "Bearer not.a.token",
        "for the controller": f"Bearer {_token(google_key, aud=CONTROLLER_URL)}",
        "another account": f"Bearer {_token(google_key, email='intruder@x.example')}",
        "unverified email": f"Bearer {_token(google_key, email_verified=False)}",
        "expired": f"Bearer {_token(google_key, iat=1_000_000, exp=1_000_600)}",
        "not Google": f"Bearer {_token(google_key, iss='https://evil.example')}",
        "forged": f"Bearer {_token(other_key)}",
        "unknown key": f"Bearer {_token(other_key, kid='k2')}",
    }
    async with _client(instance) as http:
        for case, authorization in refused.items():
            headers = {"Authorization": authorization} if authorization else {}
            got = await http.post("/", json=body, headers=headers)
            assert got.status_code == 401, case
        good = {"Authorization": f"Bearer {_token(google_key)}"}
        routed = await http.post("/", json=body, headers=good)
        malformed = await http.post("/", content=b"[1, 2]", headers=good)
        wrong_method = await http.get("/", headers=good)
    # Past the token check: routing answers (no Google client was needed for either).
    assert routed.status_code == 404 and routed.json()["error"]["code"] == "unknown_target"
    assert malformed.status_code == 200 and malformed.json()["error"]["code"] == "malformed_task"
    assert wrong_method.status_code == 405


@pytest.mark.usefixtures("no_google_credentials")
async def test_the_switch_that_turns_verification_off_is_explicit() -> None:
    on = FunctionInstance("controller", _settings)
    off = FunctionInstance("controller", lambda: _settings(oidc_verify=False))
    body = {"target": "no-such-target", "payload": {}}
    async with _client(on) as http:
        assert (await http.post("/", json=body)).status_code == 401
    async with _client(off) as http:
        assert (await http.post("/", json=body)).status_code == 404


@pytest.mark.usefixtures("no_google_credentials")
async def test_ingest_ignores_other_objects_without_building_clients() -> None:
    instance = FunctionInstance("ingest", _settings)
    for bucket, name in (("pf-out", "t/j/prompts.jsonl"), ("pf-in", "t/j/notes.txt")):
        event = CloudEvent(
            {
                "type": "google.cloud.storage.object.v1.finalized",
                "source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
            },
            {"bucket": bucket, "name": name, "generation": "1"},
        )
        await instance.ingest(event)  # returns without touching Firestore or Cloud Tasks
    await instance.aclose()


@pytest.fixture
def function_env(monkeypatch: pytest.MonkeyPatch, no_google_credentials: None) -> Iterator[None]:
    settings = {
        "GCP_PROJECT": "pf-test",
        "INPUT_BUCKET": "pf-in",
        "OUTPUT_BUCKET": "pf-out",
        "WORKER_URL": WORKER_URL,
        "CONTROLLER_URL": CONTROLLER_URL,
        "TASKS_SERVICE_ACCOUNT": SA,
    }
    for name, value in settings.items():
        monkeypatch.setenv(f"PROMPTFORGE_{name}", value)
    yield


@pytest.mark.usefixtures("function_env")
@pytest.mark.parametrize(
    ("name", "method", "path", "status"),
    [
        ("api", "GET", "/healthz", 200),
        ("worker", "POST", "/", 401),
        ("controller", "POST", "/", 401),
        ("ingest", "POST", "/", 400),  # not a CloudEvent
    ],
)
async def test_functions_framework_serves_each_main_as_an_asgi_function(
    name: str, method: str, path: str, status: int
) -> None:
    app = functions_framework.create_app(name, str(ROOT / "functions" / name / "main.py"))
    assert isinstance(app, Starlette), "the entry point must be an ASGI (aio) function"
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://fn") as http:
        got = await http.request(method, path, content=json.dumps({"x": 1}))
    assert got.status_code == status, got.text
