"""The worker and controller served as deployed: functions-framework, ``K_SERVICE`` set.

On Cloud Run the front end checks the token's signature and removes it; the function
then checks the claims itself. Each function here runs as its own process exactly as
``functions-framework --target NAME --source main.py`` in ``functions/NAME`` with the
settings Terraform gives it, and is called the way the front end would pass calls on.
The calls carry an unknown task target, so an accepted call is answered 404 by routing
without building any Google client; a refused one is 401.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt, jwt
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from promptforge.devstack.front_end import strip_signature
from promptforge.embedded.server import BackgroundServer
from promptforge.gcp.oidc import (
    REMOVED_SIGNATURE,
    OidcVerifier,
    TokenRejected,
    check_claims,
    verifier_mode,
)
from promptforge.gcp.settings import GcpSettings
from tests.gcp.stand_ins import StandIn, free_port, spawn_function, wait_until_serving

ROOT = Path(__file__).resolve().parents[2]
SA = "pf-tasks@pf-test.iam.gserviceaccount.com"
BODY = {"target": "no-such-target", "payload": {}}


def _token(key: rsa.RSAPrivateKey, audience: str, **claims: Any) -> str:
    now = int(time.time())
    payload = {
        "iss": "https://accounts.google.com",
        "aud": audience,
        "sub": "1",
        "email": SA,
        "email_verified": True,
        "iat": now,
        "exp": now + 3600,
        **claims,
    }
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return str(jwt.encode(crypt.RSASigner.from_string(pem, key_id="k1"), payload).decode())


@pytest.fixture(scope="module")
def google_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, StandIn]]:
    """The worker and the controller on functions-framework with Cloud Run's environment."""
    tmp = tmp_path_factory.mktemp("deployed")
    ports = {name: free_port() for name in ("worker", "controller")}
    env = {
        "PATH": "/usr/bin:/bin",
        "K_SERVICE": "pf-dev-fn",  # Cloud Run sets it on every deployed function
        "PROMPTFORGE_GCP_PROJECT": "pf-test",
        "PROMPTFORGE_INPUT_BUCKET": "pf-in",
        "PROMPTFORGE_OUTPUT_BUCKET": "pf-out",
        "PROMPTFORGE_WORKER_URL": f"http://127.0.0.1:{ports['worker']}",
        "PROMPTFORGE_CONTROLLER_URL": f"http://127.0.0.1:{ports['controller']}",
        "PROMPTFORGE_TASKS_SERVICE_ACCOUNT": SA,
        # Unreachable on purpose: a stripped token needs no key, and nothing else may pass.
        "PROMPTFORGE_OIDC_CERTS_URL": "http://127.0.0.1:9/certs",
        "GOOGLE_APPLICATION_CREDENTIALS": str(tmp / "missing.json"),
    }
    servers: dict[str, StandIn] = {}
    try:
        for name, port in ports.items():
            servers[name] = spawn_function(name, port, env, tmp / f"{name}.log")
        wait_until_serving(list(servers.values()))
        yield servers
    finally:
        for server in servers.values():
            server.stop()


@pytest.mark.parametrize("name", ["worker", "controller"])
def test_the_deployed_function_trusts_the_front_end_and_checks_the_claims(
    deployed: dict[str, StandIn], google_key: rsa.RSAPrivateKey, name: str
) -> None:
    server = deployed[name]
    own = server.url
    other = deployed["controller" if name == "worker" else "worker"].url
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    stripped = {
        "another account": _token(google_key, own, email="intruder@pf-test.example"),
        "unverified email": _token(google_key, own, email_verified=False),
        "another audience": _token(google_key, other),
        "expired": _token(google_key, own, iat=now - 7200, exp=now - 3600),
        "not Google": _token(google_key, own, iss="https://evil.example"),
    }
    refused = {case: f"Bearer {strip_signature(token)}" for case, token in stripped.items()}
    refused["forged signature"] = f"Bearer {_token(forger, own)}"
    refused["no token"] = ""
    refused["not bearer"] = f"Basic {strip_signature(_token(google_key, own))}"
    refused["garbage with the marker"] = f"Bearer e30.e30.{REMOVED_SIGNATURE}"
    with httpx.Client(base_url=own, timeout=30) as http:
        health = http.get("/healthz")
        accepted = http.post(
            "/",
            json=BODY,
            headers={"Authorization": f"Bearer {strip_signature(_token(google_key, own))}"},
        )
        answers = {
            case: http.post("/", json=BODY, headers={"Authorization": value} if value else {})
            for case, value in refused.items()
        }
    assert health.status_code == 200, health.text
    assert accepted.status_code == 404, accepted.text  # past the token check: routing answers
    assert accepted.json()["error"]["code"] == "unknown_target"
    assert {case: got.status_code for case, got in answers.items()} == dict.fromkeys(refused, 401)


def test_the_mode_follows_k_service() -> None:
    assert verifier_mode("pf-dev-worker") == "cloud-run"
    assert verifier_mode(None) == "full" and verifier_mode("") == "full"


@pytest.mark.anyio
async def test_full_verification_refuses_a_stripped_token(google_key: rsa.RSAPrivateKey) -> None:
    """Off Cloud Run nothing has checked the signature: the marker is not a signature."""
    public = google_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    async def certs(_: Any) -> JSONResponse:
        return JSONResponse({"k1": public.decode()})

    token = _token(google_key, "https://w")
    async with (
        BackgroundServer(Starlette(routes=[Route("/certs", certs)])) as server,
        httpx.AsyncClient() as http,
    ):
        verifier = OidcVerifier(
            http, audience="https://w", service_account=SA, certs_url=f"{server.url}/certs"
        )
        assert (await verifier.verify(f"Bearer {token}"))["email"] == SA
        with pytest.raises(TokenRejected, match="token rejected"):
            await verifier.verify(f"Bearer {strip_signature(token)}")


def test_claims_need_iat_and_exp_and_a_google_lifetime() -> None:
    now = time.time()
    good = {
        "iss": "https://accounts.google.com",
        "aud": "https://w",
        "email": SA,
        "email_verified": True,
        "iat": int(now),
        "exp": int(now) + 3600,
    }
    check_claims(good, audience="https://w", service_account=SA, now=now)
    for bad in (
        {"iat": None},
        {"exp": None},
        {"iat": int(now) + 600},
        {"exp": int(now) + 86400},
        {"email_verified": "true"},
    ):
        with pytest.raises(TokenRejected, match="token"):
            check_claims({**good, **bad}, audience="https://w", service_account=SA, now=now)


def test_on_cloud_run_the_token_check_cannot_be_turned_off_or_left_without_an_account() -> None:
    base = {
        "gcp_project": "p",
        "input_bucket": "i",
        "output_bucket": "o",
        "worker_url": "https://w",
        "controller_url": "https://c",
        "K_SERVICE": "pf-dev-worker",
    }
    with pytest.raises(ValueError, match="OIDC_VERIFY=false is for local emulators only"):
        GcpSettings.model_validate({**base, "tasks_service_account": SA, "oidc_verify": False})
    with pytest.raises(ValueError, match="PROMPTFORGE_TASKS_SERVICE_ACCOUNT"):
        GcpSettings.model_validate(base)
    assert GcpSettings.model_validate({**base, "tasks_service_account": SA}).k_service
