"""A stand-in for Cloud Run's front end in front of a private function (worker, controller).

On Google Cloud, Cloud Tasks attaches a Google-signed ID token to every task, and the
front end of the private function checks its signature, its audience and that the
caller may invoke the function, then **removes the signature** before the request
reaches the container (``header.payload.SIGNATURE_REMOVED_BY_GOOGLE``). The Cloud Tasks
emulator sends no token at all, so this proxy does both halves:

1. a request without ``Authorization`` gets the token Cloud Tasks would attach
   (``iss`` Google, ``aud`` the task's URL, ``email`` the task service account), signed
   with a key made at start-up;
2. the token's signature is checked against that key, its ``aud`` against ``audience``
   and its ``email`` against the invoker; a failure is answered 401/403 here, as the
   front end does, and never reaches the function;
3. the signature is replaced by ``SIGNATURE_REMOVED_BY_GOOGLE`` and the request is
   forwarded, so the function checks the claims the way it does on Cloud Run
   (``K_SERVICE`` set).

Run as ``python -m promptforge.devstack.front_end --upstream URL --invoker EMAIL
[--audience URL]``: it binds 127.0.0.1 on a free port, prints ``PORT <n>``, and takes
its own URL as the audience unless told another (a proxy in front of it). ``GET
/_certs`` serves the signing key's certificate the way Google's certs endpoint does.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from typing import Any

import httpx
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt, jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from promptforge.gcp.oidc import REMOVED_SIGNATURE

KEY_ID = "front-end-stand-in"
TOKEN_LIFETIME = 3600
UPSTREAM_TIMEOUT = 1900.0  # the controller's longest task: 30 min
_HOP_BY_HOP = frozenset(
    {"host", "content-length", "connection", "keep-alive", "transfer-encoding", "upgrade"}
)


def strip_signature(token: str) -> str:
    """What the front end passes on: the token with its signature removed."""
    header_and_payload, _, _ = token.rpartition(".")
    return f"{header_and_payload}.{REMOVED_SIGNATURE}"


class FrontEnd:
    """Checks and strips the token of each request, then forwards it to ``upstream``."""

    def __init__(self, upstream: str, *, audience: str, invoker: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.audience = audience
        self.invoker = invoker
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self._signer = crypt.RSASigner.from_string(pem, key_id=KEY_ID)  # type: ignore[no-untyped-call]
        self._client = httpx.AsyncClient(timeout=UPSTREAM_TIMEOUT)

    def certificate(self) -> str:
        """The signing key's public half, PEM (what a certs endpoint serves)."""
        public = self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return public.decode()

    def mint(self, *, now: float | None = None) -> str:
        """The token Cloud Tasks attaches to a task for ``audience`` as ``invoker``."""
        issued = int(now if now is not None else time.time())
        claims = {
            "iss": "https://accounts.google.com",
            "aud": self.audience,
            "sub": "0",
            "email": self.invoker,
            "email_verified": True,
            "iat": issued,
            "exp": issued + TOKEN_LIFETIME,
        }
        return str(jwt.encode(self._signer, claims).decode())  # type: ignore[no-untyped-call]

    def check(self, token: str) -> dict[str, Any]:
        """The claims, if the signature is ours, the audience ours and the caller the invoker."""
        claims: dict[str, Any] = jwt.decode(  # type: ignore[no-untyped-call]
            token, certs={KEY_ID: self.certificate()}, audience=self.audience
        )
        if claims.get("email") != self.invoker:
            raise PermissionError(f"{claims.get('email')!r} may not invoke this function")
        return claims

    async def certs(self, _: Request) -> Response:
        """``GET /_certs``: ``{key id: PEM}``, the shape of Google's v1 certs endpoint."""
        return JSONResponse({KEY_ID: self.certificate()})

    async def forward(self, request: Request) -> Response:
        """Check the caller's token (minting Cloud Tasks' if absent), strip it, pass it on."""
        authorization = request.headers.get("authorization")
        token = authorization.partition(" ")[2].strip() if authorization else self.mint()
        try:
            self.check(token)
        except PermissionError as exc:
            return _refusal(403, str(exc))
        except ValueError as exc:
            return _refusal(401, f"the ID token is not valid: {exc}")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers["authorization"] = f"Bearer {strip_signature(token)}"
        url = self.upstream + request.url.path
        try:
            got = await self._client.request(
                request.method, url, content=await request.body(), headers=headers
            )
        except httpx.TransportError as exc:
            return _refusal(503, f"the function did not answer: {type(exc).__name__}")
        keep = {k: v for k, v in got.headers.items() if k.lower() not in _HOP_BY_HOP}
        keep.pop("content-encoding", None)  # httpx decoded the body
        return Response(got.content, status_code=got.status_code, headers=keep)

    def app(self) -> Starlette:
        """The proxy as an ASGI app."""
        return Starlette(
            routes=[
                Route("/_certs", self.certs, methods=["GET"]),
                Route("/{path:path}", self.forward, methods=["GET", "POST"]),
            ]
        )


def _refusal(status: int, message: str) -> Response:
    return JSONResponse({"error": {"code": "front_end_refused", "message": message}}, status)


def main(argv: list[str] | None = None) -> int:
    """Serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--upstream", required=True, help="the function's own URL")
    parser.add_argument("--audience", help="the URL tasks are sent to (default: this proxy's)")
    parser.add_argument("--invoker", required=True, help="the task service account")
    args = parser.parse_args(argv)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    audience = args.audience or f"http://127.0.0.1:{port}"
    front = FrontEnd(args.upstream, audience=audience, invoker=args.invoker)
    print(f"PORT {port}", flush=True)
    config = uvicorn.Config(front.app(), log_level="warning", lifespan="off", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
